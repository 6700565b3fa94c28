"""The package's layout rules, read from its import statements (parsed, never imported).

Every import counts: at module level, inside functions (imported late is still a
dependency) and under `if TYPE_CHECKING:`. One exception, for cycles only: an import
under TYPE_CHECKING never runs, so a cycle that goes through one is allowed (a type that
names its caller's type is no tangle at run time); the other rules count those imports too,
since code that needs another room's types depends on that room.

An import names the module that defines what it takes: `from newsletter.store import
session_scope` depends on `newsletter.store.engine`, where the package's `__init__` gets it
from, and `from newsletter.web import issues` on the submodule `newsletter.web.issues`.
Importing a submodule is not counted as importing its parent packages.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import newsletter

PACKAGE = Path(newsletter.__file__).resolve().parent


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    line: int
    type_only: bool

    def __str__(self) -> str:
        kind = " (type only)" if self.type_only else ""
        return f"{self.importer} -> {self.imported}, line {self.line}{kind}"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def _sources() -> dict[str, tuple[Path, ast.Module]]:
    return {
        _module_name(path): (path, ast.parse(path.read_text(encoding="utf-8"), str(path)))
        for path in sorted(PACKAGE.rglob("*.py"))
    }


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _statements(node: ast.AST, type_only: bool = False) -> Iterator[tuple[ast.stmt, bool]]:
    """Every import statement below `node`, with whether it runs only for type checkers."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child, type_only
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            for branch in child.body:
                yield from _statements_of(branch, True)
            for branch in child.orelse:
                yield from _statements_of(branch, type_only)
        else:
            yield from _statements(child, type_only)


def _statements_of(node: ast.stmt, type_only: bool) -> Iterator[tuple[ast.stmt, bool]]:
    if isinstance(node, ast.Import | ast.ImportFrom):
        yield node, type_only
    else:
        yield from _statements(node, type_only)


def _absolute(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    path = _sources()[module][0]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _raw(module: str) -> Iterator[tuple[str, str | None, int, bool]]:
    """(module imported from, name taken or None, line, type only) for each import."""
    for node, type_only in _statements(_sources()[module][1]):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None, node.lineno, type_only
        else:
            assert isinstance(node, ast.ImportFrom)
            source = _absolute(module, node)
            for alias in node.names:
                yield source, alias.name, node.lineno, type_only


@cache
def _reexports(package: str) -> dict[str, str]:
    """The names a package's `__init__` imports, by the module that defines each."""
    found: dict[str, str] = {}
    for source, name, _, _ in _raw(package):
        if name is not None and name != "*":
            found[name] = _resolve(source, name)
    return found


def _resolve(source: str, name: str | None) -> str:
    """The module `from source import name` (or `import source`) depends on."""
    modules = _sources()
    if name is None or not source.startswith("newsletter"):
        return source
    if f"{source}.{name}" in modules:
        return f"{source}.{name}"
    if source in modules and modules[source][0].name == "__init__.py":
        return _reexports(source).get(name, source)
    return source


@cache
def imports() -> tuple[Import, ...]:
    """Every import of one newsletter module by another, once per statement."""
    found: dict[Import, None] = {}
    for module in _sources():
        for source, name, line, type_only in _raw(module):
            target = _resolve(source, name)
            if target.startswith("newsletter") and target != module:
                found[Import(module, target, line, type_only)] = None
    return tuple(found)


def _inside(module: str, room: str) -> bool:
    return module == room or module.startswith(f"{room}.")


def _from(rooms: Iterable[str]) -> list[Import]:
    rooms = tuple(rooms)
    return [item for item in imports() if any(_inside(item.importer, r) for r in rooms)]


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for after in sorted(edges.get(node, ())):
            if after not in index:
                visit(after)
                low[node] = min(low[node], low[after])
            elif after in on_stack:
                low[node] = min(low[node], index[after])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_the_import_reader_sees_late_and_type_only_imports() -> None:
    # Guards the rules below against reading too little: these imports exist today.
    seen = {(item.importer, item.imported, item.type_only) for item in imports()}
    assert ("newsletter.web", "newsletter.web.app", True) in seen
    assert ("newsletter.web", "newsletter.web.app", False) in seen  # inside __getattr__
    assert ("newsletter.store.recipients", "newsletter.store.models", False) in seen


def test_there_are_no_import_cycles() -> None:
    edges: dict[str, set[str]] = {}
    for item in imports():
        if not item.type_only:
            edges.setdefault(item.importer, set()).add(item.imported)
    cycles = _cycles(edges)
    shown = []
    for cycle in cycles:
        members = set(cycle)
        shown.append(
            "\n".join(
                str(item)
                for item in imports()
                if not item.type_only and item.importer in members and item.imported in members
            )
        )
    assert not cycles, "import cycles:\n\n" + "\n\n".join(shown)


def test_the_cli_and_the_web_side_reach_sending_only_through_its_front_door() -> None:
    below = ("newsletter.sending.runner", "newsletter.sending.queue", "newsletter.sending.control")
    offending = [
        str(item)
        for item in _from(["newsletter.cli", "newsletter.web"])
        if any(_inside(item.imported, module) for module in below)
    ]
    assert offending == [], "\n".join(offending)


def test_the_issue_model_depends_on_nothing_but_core() -> None:
    offending = [
        str(item)
        for item in _from(["newsletter.issue"])
        if not _inside(item.imported, "newsletter.issue")
        and not _inside(item.imported, "newsletter.core")
    ]
    assert offending == [], "\n".join(offending)


def test_mail_does_not_reach_the_store_the_web_side_the_cli_or_sending() -> None:
    rooms = ("newsletter.store", "newsletter.web", "newsletter.cli", "newsletter.sending")
    offending = [
        str(item)
        for item in _from(["newsletter.mail"])
        if any(_inside(item.imported, room) for room in rooms)
    ]
    assert offending == [], "\n".join(offending)
