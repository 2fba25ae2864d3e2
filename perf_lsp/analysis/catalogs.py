"""The catalogs of the ecosystem's APIs, read from the TOML data files in ``perf_lsp/catalogs/``.

One file per family: ``models`` (model loaders), ``clients`` (SDK and HTTP clients),
``embeddings`` (embedding APIs and their batch forms), ``databases`` (database and
vector-store drivers, their round trips and bulk forms) and ``blocking`` (calls that
block the thread). Each file is a TOML document of tables of entries (``[[heavy]]``,
``[[sdk]]``...); its header comment says what each table means to the rules. Every
entry has a ``source`` (the library's documentation page or the module that defines the
names) and, except where the file's header says otherwise, ``name`` (one qualified name)
or ``names`` (several).

Files are read once per process (:func:`load` is cached) and never change while it
runs. A file that is missing or not valid TOML is a bug in the package: the error says
which file.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from importlib import resources
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

FILES = ("models", "clients", "embeddings", "databases", "blocking")
"""The catalog files, by name (``perf_lsp/catalogs/<name>.toml``)."""


class CatalogError(Exception):
    """A catalog file is missing or is not valid TOML (the message names it)."""


@functools.cache
def load(name: str) -> Mapping[str, Any]:
    """The parsed document of ``perf_lsp/catalogs/<name>.toml`` (shared: do not mutate).

    Raises :class:`CatalogError` when the file is missing or not valid TOML.
    """
    resource = resources.files("perf_lsp").joinpath("catalogs").joinpath(f"{name}.toml")
    try:
        text = resource.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"catalog {name}.toml cannot be read: {exc}") from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"catalog {name}.toml is not valid TOML: {exc}") from exc


def entries(name: str, table: str) -> list[Mapping[str, Any]]:
    """The entries of the array of tables ``[[table]]`` in catalog ``name``, in file order
    (empty when the file has none)."""
    found = load(name).get(table, [])
    return list(found) if isinstance(found, list) else [found]


def entry_names(entry: Mapping[str, Any]) -> list[str]:
    """The qualified names one entry lists (its ``name`` and its ``names``)."""
    out: list[str] = []
    if isinstance(entry.get("name"), str):
        out.append(entry["name"])
    out.extend(entry.get("names", ()))
    return out


def names(name: str, table: str) -> tuple[str, ...]:
    """Every qualified name the entries of ``[[table]]`` list, in file order, without repeats."""
    return tuple(dict.fromkeys(n for entry in entries(name, table) for n in entry_names(entry)))


def field_map(name: str, table: str, field: str) -> dict[str, Any]:
    """Qualified name -> the value of ``field`` of its entry, for the entries of ``[[table]]`` that have
    ``field`` (a later entry wins over an earlier one for the same name)."""
    return {n: entry[field] for entry in entries(name, table) if field in entry for n in entry_names(entry)}


def problems(name: str) -> list[str]:
    """What is wrong with catalog ``name``, one line per problem (empty when it is well formed):
    an entry without a ``source`` URL or module path, or without anything it names."""
    out: list[str] = []
    for table, value in load(name).items():
        items = value if isinstance(value, list) else [value]
        for index, entry in enumerate(items):
            if not isinstance(entry, Mapping):
                out.append(f"{name}.toml [{table}]: not a table")
                continue
            where = f"{name}.toml [[{table}]] #{index + 1}"
            source = entry.get("source")
            if not isinstance(source, str) or not (source.startswith("https://") or "/" in source or "." in source):
                out.append(f"{where}: no source")
            if not any(key in entry for key in ("name", "names", "constructors", "annotations", "prefix", "packages", "package", "contains")):
                out.append(f"{where}: names nothing")
    return out


__all__ = ["FILES", "CatalogError", "entries", "entry_names", "field_map", "load", "names", "problems"]
