"""The seminar record: what comms staff write after a seminar, validated.

`load_record` reads a record from YAML or JSON and reports every problem at once, each on
one line as `FILE:LINE PATH: message`, so staff can fix a record in one pass.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import re
import unicodedata
from collections.abc import Iterator
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import yaml
from pydantic import (
    ValidationError,
)
from pydantic_core import ErrorDetails

from newsletter.core.errors import RecordError
from newsletter.issue.model import Asset
from newsletter.record.assets import (
    BUDGET_BYTES,
    MAX_IMAGE_BYTES,
    AssetError,
    read_photo,
    read_regular_file,
)
from newsletter.record.model import LoadedRecord, Record, Speaker, describe
from newsletter.record.photos import PHOTO_WIDTH, prepare_image

FORMATS = {".yaml": "yaml", ".yml": "yaml", ".json": "json"}

# Bounds on what a record may make the loader do. A record is a few KB with a few hundred
# values; YAML aliases can make a few hundred bytes stand for billions of values ("billion
# laughs"), so values are counted as aliases expand them, and refused past the limit.
MAX_RECORD_BYTES = 1024 * 1024
MAX_ALIASES = 50
MAX_DEPTH = 32
MAX_VALUES = 10_000
# Characters of text once aliases are expanded: one long string repeated by aliases.
MAX_TEXT = MAX_RECORD_BYTES

# ---------------------------------------------------------------------------------------
# Loading

Loc = tuple[str | int, ...]


class _Problems:
    """Problems found in one file, kept with their line so they can be listed in order."""

    def __init__(self, shown_as: str) -> None:
        self.shown_as = shown_as
        self._items: list[tuple[int, str]] = []

    def add(self, line: int | None, loc: Loc, message: str) -> None:
        where = self.shown_as if line is None else f"{self.shown_as}:{line}"
        path = _format_loc(loc)
        self._items.append(
            (line or 0, f"{where} {path}: {message}" if path else f"{where}: {message}")
        )

    def __bool__(self) -> bool:
        return bool(self._items)

    def error(self) -> RecordError:
        return RecordError([text for _, text in sorted(self._items, key=lambda item: item[0])])


def load_record(
    path: Path, *, max_photo_bytes: int = MAX_IMAGE_BYTES, photo_budget_bytes: int = BUDGET_BYTES
) -> LoadedRecord:
    """Read, validate and gather the photos of the record at `path`.

    Raises RecordError listing every problem found, not just the first. Photos must be
    files in the record's folder of at most `max_photo_bytes` each; each is prepared for
    mail (`newsletter.record.photos`) to weigh at most `photo_budget_bytes` where it can.
    """
    problems = _Problems(str(path))
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        problems.add(
            None,
            (),
            f"unsupported record format {path.suffix or '(none)'!r}; use .yaml, .yml or .json",
        )
        raise problems.error()
    text = _read_text(path, problems)
    parsed = _parse_json(text, problems) if fmt == "json" else _parse_yaml(text, problems)
    if parsed is None:
        raise problems.error()
    data, lines = parsed

    if not isinstance(data, dict):
        problems.add(
            lines.get((), 1), (), f"the record must be a mapping of fields, not {describe(data)}"
        )
        raise problems.error()

    record: Record | None = None
    try:
        record = Record.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            loc = tuple(err["loc"])
            problems.add(_line_for(loc, lines, err["type"] == "missing"), loc, _message(err, fmt))

    photos = _read_photos(data, path, lines, problems, max_photo_bytes, photo_budget_bytes)
    if problems or record is None:
        raise problems.error()
    return LoadedRecord(record=record, source=path.resolve(), photos=photos)


def _read_text(path: Path, problems: _Problems) -> str:
    try:
        # Bounded, and only a regular file: a fifo or device would never end.
        raw = read_regular_file(path, MAX_RECORD_BYTES)
    except OSError as exc:
        problems.add(None, (), f"cannot read the record: {(exc.strerror or str(exc)).lower()}")
        raise problems.error() from None
    if len(raw) > MAX_RECORD_BYTES:
        problems.add(
            None, (), f"the record is larger than the limit of {MAX_RECORD_BYTES // 1024} KB"
        )
        raise problems.error()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        problems.add(raw[: exc.start].count(b"\n") + 1, (), "the file is not valid utf-8 text")
        raise problems.error() from None


# Each value's line: for a mapping entry the line of its key (the value of a block
# scalar or nested mapping starts later), for a list item the item's own line.
Lines = dict[Loc, int]


class _Refused(Exception):
    """The record goes past one of the loader's limits, at `line`."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


_TOO_MANY_VALUES = f"too many values, counting each copy an alias makes (limit {MAX_VALUES:,})"
_TOO_DEEP = f"nested too deeply (limit {MAX_DEPTH} levels)"


class _Loader(yaml.SafeLoader):
    """SafeLoader that counts aliases, values and depth as it composes the node tree.

    Composing keeps an alias as a reference to its anchor's node; what expands aliases is
    `_Builder`, which counts again as it goes. Nothing here builds a value.
    """

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.aliases = 0
        self.values = 0
        self.depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        alias = self.check_event(yaml.AliasEvent)
        line = int(self.current_event.start_mark.line) + 1  # parsed by check_event
        if alias:
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                raise _Refused(line, f"too many aliases (limit {MAX_ALIASES})")
            return super().compose_node(parent, index)
        self.values += 1
        if self.values > MAX_VALUES:
            raise _Refused(line, _TOO_MANY_VALUES)
        if self.depth >= MAX_DEPTH:
            # Before recursing: the composer calls itself once per level.
            raise _Refused(line, _TOO_DEEP)
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _parse_yaml(text: str, problems: _Problems) -> tuple[Any, Lines] | None:
    try:
        loader = _Loader(text)
    except yaml.reader.ReaderError as exc:
        char = exc.character if isinstance(exc.character, int) else ord(exc.character[:1] or "?")
        problems.add(
            _reader_error_line(text, exc), (), f"character U+{char:04X} is not allowed in yaml"
        )
        return None
    try:
        node = loader.get_single_node()
        if node is None:
            problems.add(1, (), "the record is empty")
            return None
        lines: Lines = {}
        return _Builder(loader, text, "yaml", lines, problems).build(node, ()), lines
    except _Refused as exc:
        problems.add(exc.line, (), exc.message)
        return None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problems.add(
            mark.line + 1 if mark else None, (), f"yaml syntax error: {_yaml_problem(exc)}"
        )
        return None
    finally:
        loader.dispose()


def _reader_error_line(text: str, exc: yaml.reader.ReaderError) -> int:
    return text[: exc.position].count("\n") + 1


def _yaml_problem(exc: yaml.MarkedYAMLError) -> str:
    problem = exc.problem or exc.context or "invalid yaml"
    if exc.problem and exc.context and not exc.context.startswith("while "):
        # e.g. "expected a single document in the stream" + "but found another document"
        problem = f"{exc.context}, {exc.problem}"
    if problem == "mapping values are not allowed here":
        return f"{problem} (put text containing ': ' in quotes)"
    return problem


def _parse_json(text: str, problems: _Problems) -> tuple[Any, Lines] | None:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        problems.add(exc.lineno, (), f"json syntax error: {exc.msg[0].lower()}{exc.msg[1:]}")
        return None
    except RecursionError:
        # Nesting far past MAX_DEPTH; the YAML pass below reports the line of lesser ones.
        problems.add(None, (), _TOO_DEEP)
        return None
    # JSON is parsed a second time as YAML only to learn where each value sits. Literal
    # tabs can only be whitespace between tokens in valid JSON, and YAML rejects some of
    # those, so they become spaces (same length: positions are kept). Scalars are then
    # decoded as JSON from their source text, so JSON semantics win over YAML's.
    lines: Lines = {}
    try:
        loader = _Loader(text.replace("\t", " "))
    except yaml.YAMLError:
        # Raw characters YAML refuses (e.g. C1 controls) inside JSON strings: still a
        # valid record, its problems just come without line numbers.
        return data, lines
    try:
        node = loader.get_single_node()
        if node is None:
            return data, lines
        return _Builder(loader, text, "json", lines, problems).build(node, ()), lines
    except _Refused as exc:
        problems.add(exc.line, (), exc.message)
        return None
    except yaml.YAMLError:
        return data, {}
    finally:
        loader.dispose()


class _Builder:
    """Turns a YAML node tree into plain data, noting each value's line on the way.

    Each value is counted as it is built, every copy an alias makes included, so a record
    that would expand past MAX_VALUES, MAX_DEPTH or MAX_TEXT is refused on the way there.
    """

    def __init__(
        self, loader: yaml.SafeLoader, text: str, fmt: str, lines: Lines, problems: _Problems
    ) -> None:
        self.loader = loader
        self.text = text
        self.fmt = fmt
        self.lines = lines
        self.problems = problems
        self._open: set[int] = set()
        self._values = 0
        self._text = 0

    def build(self, node: yaml.Node, loc: Loc) -> Any:
        line = node.start_mark.line + 1
        self._values += 1
        if self._values > MAX_VALUES:
            raise _Refused(line, _TOO_MANY_VALUES)
        if len(loc) >= MAX_DEPTH:
            raise _Refused(line, _TOO_DEEP)
        self.lines.setdefault(loc, line)
        if id(node) in self._open:
            self.problems.add(node.start_mark.line + 1, loc, "a yaml alias may not contain itself")
            return None
        self._open.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, loc)
            if isinstance(node, yaml.SequenceNode):
                return [self.build(item, (*loc, i)) for i, item in enumerate(node.value)]
            return self._scalar(node)
        finally:
            self._open.discard(id(node))

    def _mapping(self, node: yaml.MappingNode, loc: Loc) -> dict[str, Any]:
        if self.fmt == "yaml":
            # Resolves `<<: *anchor` merge keys; pyyaml 6.0.4 and later without
            # repeating a merged mapping's fields, so no bomb grows here.
            self.loader.flatten_mapping(node)
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                self.problems.add(line, loc, "field names must be plain text")
                continue
            key = str(self._scalar(key_node)) if self.fmt == "json" else key_node.value
            if key in out:
                self.problems.add(line, (*loc, key), "duplicate field")
            self.lines[(*loc, key)] = line
            out[key] = self.build(value_node, (*loc, key))
        return out

    def _scalar(self, node: yaml.Node) -> Any:
        self._text += len(node.value) if isinstance(node.value, str) else 0
        if self._text > MAX_TEXT:
            raise _Refused(
                node.start_mark.line + 1,
                f"too much text, counting each copy an alias makes (limit {MAX_TEXT // 1024} KB)",
            )
        if self.fmt == "json":
            return json.loads(self.text[node.start_mark.index : node.end_mark.index])
        try:
            return self.loader.construct_object(node)
        except (yaml.YAMLError, ValueError):
            # e.g. `date: 2022-02-30`, which YAML resolves as a timestamp and then cannot
            # build; keeping the text lets validation report it with the field's name.
            return node.value


def _line_for(loc: Loc, lines: Lines, missing: bool) -> int | None:
    # A missing field has no line of its own: point at the mapping that should hold it.
    probe = loc[:-1] if missing else loc
    while probe not in lines and probe:
        probe = probe[:-1]
    return lines.get(probe)


def _format_loc(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


_TYPE_MESSAGES = {
    "string_type": "must be text",
    "list_type": "must be a list",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping of fields",
    "model_attributes_type": "must be a mapping of fields",
}


def _message(err: ErrorDetails, fmt: str) -> str:
    kind, value = err["type"], err.get("input")
    if kind == "missing":
        return "field required"
    if kind == "extra_forbidden":
        return _unknown_field_message(err)
    if kind in _TYPE_MESSAGES and value is None:
        return "must not be empty"
    if kind in _TYPE_MESSAGES:
        message = f"{_TYPE_MESSAGES[kind]}, not {describe(value)}"
        if (
            kind == "string_type"
            and fmt == "yaml"
            and isinstance(value, bool | int | float | dt.date)
        ):
            # YAML reads `no`, `2022` or `1.0` as non-text; quoting keeps them as written.
            message += " (put it in quotes)"
        return message
    if kind in ("string_too_short", "list_too_short"):
        return "must not be empty"
    if kind == "value_error":
        return str(err["msg"]).removeprefix("Value error, ")
    msg = str(err["msg"])
    return msg[:1].lower() + msg[1:]


def _unknown_field_message(err: ErrorDetails) -> str:
    name = str(err["loc"][-1])
    owner = Speaker if "speakers" in err["loc"][:-1] else Record
    close = difflib.get_close_matches(name, list(owner.model_fields), n=1)
    return f"unknown field (did you mean {close[0]!r}?)" if close else "unknown field"


def _read_photos(
    data: dict[str, Any],
    source: Path,
    lines: Lines,
    problems: _Problems,
    max_bytes: int,
    budget_bytes: int,
) -> dict[str, Asset]:
    """Read and prepare each local speaker photo, named so every file in the issue has its
    own name."""
    photos: dict[str, Asset] = {}
    for index, speaker in _speakers(data):
        photo = speaker.get("photo")
        if not isinstance(photo, str) or not photo.strip() or "://" in photo:
            continue  # absent, https (not fetched), or already reported by validation
        photo = photo.strip()
        if PurePosixPath(photo).is_absolute() or PureWindowsPath(photo).is_absolute():
            continue
        if photo in photos:
            continue
        stem = f"speaker-{index + 1}-{_slug(speaker.get('name')) or 'speaker'}"
        try:
            raw = read_photo(source.parent, photo, stem, max_bytes=max_bytes)
            photos[photo] = prepare_image(
                raw.data,
                stem,
                shown=str(source.parent / photo),
                width=PHOTO_WIDTH,
                budget_bytes=budget_bytes,
            )
        except AssetError as exc:
            loc: Loc = ("speakers", index, "photo")
            problems.add(lines.get(loc), loc, str(exc))
    return photos


def _speakers(data: dict[str, Any]) -> Iterator[tuple[int, dict[str, Any]]]:
    speakers = data.get("speakers")
    if isinstance(speakers, list):
        for index, speaker in enumerate(speakers):
            if isinstance(speaker, dict):
                yield index, speaker


def _slug(value: object) -> str:
    if not isinstance(value, str):
        return ""
    ascii_text = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode()
    return "-".join(re.findall(r"[a-z0-9]+", ascii_text.lower()))[:60].strip("-")
