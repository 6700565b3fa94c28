"""The hierarchy drawn in `newsletter.core.errors`' docstring is the one in the code."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import newsletter
from newsletter.core import errors
from newsletter.core.errors import NewsletterError

# "    │   ├── Name    module    meaning": four columns of tree per level below the root.
_ROW = re.compile(r"^    (?P<tree>(?:[│ ]   )*(?:[├└]── )?)(?P<name>\w+) +(?P<module>[\w.]+) +\S")


def _defined() -> dict[str, type[BaseException]]:
    """Every exception class the package defines, by "module.Name" below `newsletter.`."""
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(newsletter.__path__, "newsletter."):
        # Alembic's env.py runs migrations when imported; the migrations define no errors.
        if info.name.startswith("newsletter.store.migrations"):
            continue
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == info.name
            ):
                found[f"{info.name.removeprefix('newsletter.')}.{name}"] = value
    return found


def _drawn() -> dict[str, str | None]:
    """Each drawn class ("module.Name") with its drawn parent's, None for the root."""
    assert errors.__doc__ is not None
    parents: dict[str, str | None] = {}
    path: list[str] = []
    for line in errors.__doc__.splitlines():
        row = _ROW.match(line)
        if row is None:
            continue
        depth = len(row["tree"]) // 4
        assert depth <= len(path), f"drawn below nothing: {line!r}"
        del path[depth:]
        key = f"{row['module']}.{row['name']}"
        assert key not in parents, f"drawn twice: {key}"
        parents[key] = path[-1] if path else None
        path.append(key)
    return parents


def test_every_public_exception_derives_from_the_root() -> None:
    strays = [
        key
        for key, cls in _defined().items()
        if not cls.__name__.startswith("_") and not issubclass(cls, NewsletterError)
    ]
    assert strays == []


def test_the_drawing_names_every_exception_in_its_module_under_its_parent() -> None:
    defined = {key: cls for key, cls in _defined().items() if not cls.__name__.startswith("_")}
    drawn = _drawn()

    assert sorted(drawn) == sorted(defined)
    assert drawn["core.errors.NewsletterError"] is None
    for key, parent in drawn.items():
        if parent is None:
            continue
        # The project base; a built-in one kept beside it (OSError) is not drawn as a parent.
        bases = [base for base in defined[key].__bases__ if issubclass(base, NewsletterError)]
        assert bases == [defined[parent]], key


def test_private_signals_are_named_in_the_rules_and_stay_off_the_root() -> None:
    assert errors.__doc__ is not None
    rules = errors.__doc__.split("Rules:", 1)[1]
    named = set(re.findall(r"`([\w.]+\._\w+)`", rules))
    private = {key: cls for key, cls in _defined().items() if cls.__name__.startswith("_")}

    assert named == set(private)
    for key, cls in private.items():
        # If one escaped its module, an `except NewsletterError` would take it for a
        # failure a person can act on.
        assert not issubclass(cls, NewsletterError), key
