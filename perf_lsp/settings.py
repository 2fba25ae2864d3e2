"""Settings: ``[tool.perf-lsp]`` in ``pyproject.toml`` and the language server's options.

A bad value never stops the tool: the key falls back to its default and a message
naming the file (or "client settings") and the key is returned to the caller,
which prints it (CLI) or shows it (server).
"""

from __future__ import annotations

import functools

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

SEVERITIES = ("error", "warning", "information", "hint")
DEFAULT_DEBOUNCE_MS = 75


class ConfigError(Exception):
    """A configuration file that cannot be used at all (unreadable, invalid TOML)."""


@dataclass(frozen=True)
class Settings:
    """Everything that changes what the engine reports or fixes.

    ``select``/``ignore``: rule codes or code prefixes (``"PFL1"``, ``"ALL"``); a code
    is enabled when the longest matching ``select`` prefix is longer than the
    longest matching ``ignore`` prefix (Ruff's rule). Opt-in rules (:meth:`enabled`'s
    ``opt_in``) also need their full code, or ``"ALL"``, in ``select``. ``unsafe_fixes``: whether
    fix-all and ``perf-lsp fix`` apply unsafe fixes. ``rule_options``: the values of
    the options rules declare (:class:`RuleOption`), as sorted (name, value) pairs;
    read one with :meth:`option` (its default when unset). Settings know no rule:
    each rule declares its options in ``Rule.options``, and the readers
    (:func:`from_pyproject_table`, :func:`from_lsp_options`, :func:`load_for`) are
    given every rule's. ``exclude``: ``.gitignore``-style patterns of
    what a directory walk skips, replacing the default exclusions
    (:data:`perf_lsp.files.EXCLUDED_DIRS`) when not None; ``extend_exclude``: more
    patterns on top; both relative to ``config_dir``, the directory of the
    ``pyproject.toml`` they came from (None: no such file; set by :func:`load_for`).
    ``project_packages``: the dependencies the
    file's project declares (PEP 503 names, from :mod:`perf_lsp.project`; not a
    setting: filled in by :func:`load_for`). ``python_floor``: the oldest Python the project
    supports, ``(3, 9)``, from its ``requires-python`` (None: not known; filled in by
    :func:`load_for`), so a fix writes annotations that version can evaluate. ``package_init``: the file is a
    package's ``__init__.py``, whose module-level imports may be re-exports, so a fix
    never removes one it made unused (not a setting: set by :func:`load_for` for such
    a file and by the CLI). ``severity``: code ->
    ``error|warning|information|hint`` (the server's diagnostics; on the command line the
    levels of the ``sarif``, ``github`` and ``junit`` output). ``debounce_ms``: delay, in
    milliseconds, between the last change and re-analysis (server only). ``cache_dir``:
    where the command line keeps its cache (``cache-dir``, made absolute against
    ``config_dir``; None: ``.perf-lsp-cache`` at the project root; command line only).
    ``notebooks``: whether a directory walk checks Jupyter notebooks (``*.ipynb``); a notebook
    named on the command line is checked either way. ``include_cold``: also report findings at sites
    that run rarely (set-up, CLI commands, ``__main__`` blocks, tests; :mod:`perf_lsp.analysis.hotness`).
    """

    select: tuple[str, ...] = ("PFL",)
    ignore: tuple[str, ...] = ()
    unsafe_fixes: bool = False
    rule_options: tuple[tuple[str, Any], ...] = ()
    exclude: tuple[str, ...] | None = None
    extend_exclude: tuple[str, ...] = ()
    config_dir: str | None = None
    project_packages: tuple[str, ...] = ()
    python_floor: tuple[int, int] | None = None
    package_init: bool = False
    severity: tuple[tuple[str, str], ...] = ()
    debounce_ms: int = DEFAULT_DEBOUNCE_MS
    cache_dir: str | None = None
    notebooks: bool = True
    include_cold: bool = False
    _severity: dict = field(default_factory=dict, compare=False, repr=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_severity", dict(self.severity))

    def enabled(self, code: str, opt_in: bool = False) -> bool:
        """Whether rule ``code`` is on under ``select`` and ``ignore``; an ``opt_in`` rule needs its
        full code, or ``"ALL"``, in ``select``."""

        def best(prefixes: tuple[str, ...]) -> int:
            lengths = [0 if p == "ALL" else len(p) for p in prefixes if p == "ALL" or code.startswith(p)]
            return max(lengths) if lengths else -1

        chosen = best(self.select)
        if opt_in and not ("ALL" in self.select or code in self.select):
            return False
        return chosen >= 0 and chosen > best(self.ignore)

    def option(self, option: "RuleOption") -> Any:
        """The value of a rule's ``option``: as configured, else its default."""
        for name, value in self.rule_options:
            if name == option.name:
                return value
        return option.default

    def with_options(self, **values: Any) -> "Settings":
        """These settings with rule options set by name (``with_options(extend_clients=("acme.Client",))``)."""
        merged = dict(self.rule_options)
        merged.update(values)
        return replace(self, rule_options=tuple(sorted(merged.items())))

    def severity_of(self, code: str, default: str = "warning") -> str:
        """The configured severity for ``code``; ``default`` unless set (a rule's own default:
        ``perf_lsp.rules.severity_of``)."""
        return self._severity.get(code, default)

    @property
    def analysis_key(self) -> tuple:
        """The part of the settings that changes analysis results (for cache keys)."""
        return (
            self.select,
            self.ignore,
            self.rule_options,
            self.project_packages,
            self.python_floor,
        )

    def excludes(self, path: Path, is_dir: bool) -> bool:
        """Whether a directory walk skips ``path`` (absolute) under ``exclude``/``extend-exclude``,
        or because it is a notebook and ``notebooks`` is off."""
        from perf_lsp.files import matches

        if not is_dir and not self.notebooks and path.name.endswith(".ipynb"):
            return True
        patterns = self.exclude if self.exclude is not None else _default_exclude()
        if self.extend_exclude:
            patterns = (*patterns, *self.extend_exclude)
        base = Path(self.config_dir) if self.config_dir else None
        return bool(patterns) and matches(patterns, path, is_dir, base)



@dataclass(frozen=True)
class RuleOption:
    """An option a rule declares in its own file (``Rule.options``) and reads with :meth:`Settings.option`.

    ``name``: snake_case (``extend_clients``); ``pyproject.toml`` spells it in kebab-case
    (``extend-clients``), a client's settings in camelCase (``extendClients``). ``kind``:
    how a value is read and checked, one of :data:`OPTION_KINDS`: ``"qualified-names"``
    (a list of dotted qualified names, read as a tuple) or ``"qualified-name-map"`` (a
    table of dotted qualified names to strings, read as sorted (name, string) pairs).
    ``doc``: one line for the user. The default is empty (``()``) for both kinds.
    """

    name: str
    kind: str
    doc: str

    def __post_init__(self) -> None:
        if self.kind not in OPTION_KINDS:
            raise ValueError(f"option {self.name!r}: unknown kind {self.kind!r} (one of {', '.join(OPTION_KINDS)})")

    @property
    def default(self) -> tuple:
        return ()

    @property
    def pyproject_key(self) -> str:
        return self.name.replace("_", "-")

    @property
    def lsp_key(self) -> str:
        head, *rest = self.name.split("_")
        return head + "".join(part.capitalize() for part in rest)

    def read(self, value: Any) -> tuple | None:
        """The option's value from a configuration value, or None when it is not valid."""
        if self.kind == "qualified-names":
            items = _str_list(value)
            if items is None or not all(item and "." in item for item in items):
                return None
            return tuple(items)
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and "." in k and isinstance(v, str) for k, v in value.items()
        ):
            return None
        return tuple(sorted(value.items()))

    def expected(self) -> str:
        """What a valid value must do, for the message about a bad one ("be a list of ...")."""
        if self.kind == "qualified-names":
            return "be a list of dotted qualified names"
        return "map dotted qualified names to a suggestion string"


OPTION_KINDS = ("qualified-names", "qualified-name-map")
"""The kinds of value a :class:`RuleOption` can take."""


@functools.cache
def _default_exclude() -> tuple[str, ...]:
    from perf_lsp.files import EXCLUDED_DIRS

    return tuple(sorted(f"{name}/" for name in EXCLUDED_DIRS))


def is_code_or_prefix(value: str, codes: Collection[str]) -> bool:
    """Whether ``value`` is ``"ALL"``, one of the rule ``codes`` or the prefix of one (case-sensitive, as Ruff)."""
    return value == "ALL" or any(code.startswith(value) for code in codes)


def check_codes(
    values: list[str], where: str, key: str, messages: list[str], codes: Collection[str]
) -> tuple[str, ...] | None:
    """The valid codes and prefixes of ``values`` (see :func:`is_code_or_prefix`); a message per
    invalid one, naming ``where`` and ``key``.

    When every value of a non-empty ``select`` is invalid, returns None (the caller keeps
    the default): a typo must not turn every rule off.
    """
    good = [value for value in values if is_code_or_prefix(value, codes)]
    bad = [value for value in values if not is_code_or_prefix(value, codes)]
    fallback = key in ("select", "--select") and bool(values) and not good
    for value in bad:
        outcome = "no valid code left; using the default" if fallback else "ignored"
        messages.append(f"{where}: '{key}': unknown rule code or prefix '{value}' ({outcome})")
    return None if fallback else tuple(good)


def _str_list(value: Any) -> list[str] | None:
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return list(value)
    return None


# option name in pyproject / in LSP settings -> field name
_PYPROJECT_KEYS = {
    "select": "select",
    "ignore": "ignore",
    "unsafe-fixes": "unsafe_fixes",
    "severity": "severity",
    "exclude": "exclude",
    "extend-exclude": "extend_exclude",
    "cache-dir": "cache_dir",
    "notebooks": "notebooks",
    "include-cold": "include_cold",
}
_LSP_KEYS = {
    "select": "select",
    "ignore": "ignore",
    "unsafeFixes": "unsafe_fixes",
    "severity": "severity",
    "debounceMs": "debounce_ms",
    "notebooks": "notebooks",
    "includeCold": "include_cold",
}


def _apply(
    base: Settings,
    options: dict,
    keys: dict[str, str],
    where: str,
    codes: Collection[str],
    rule_options: dict[str, RuleOption],
) -> tuple[Settings, list[str]]:
    messages: list[str] = []
    changes: dict[str, Any] = {}
    values = dict(base.rule_options)
    for key, value in options.items():
        name = keys.get(key)
        if name is None:
            option = rule_options.get(key)
            if option is None:
                messages.append(f"{where}: unknown key '{key}' (ignored)")
                continue
            read = option.read(value)
            if read is None:
                messages.append(f"{where}: '{key}' must {option.expected()} (using the default)")
                continue
            values[option.name] = read
            continue
        if name in ("select", "ignore"):
            items = _str_list(value)
            if items is None:
                messages.append(f"{where}: '{key}' must be a list of rule codes (using the default)")
                continue
            valid = check_codes(items, where, key, messages, codes)
            if valid is not None:
                changes[name] = valid
        elif name in ("exclude", "extend_exclude"):
            items = _str_list(value)
            if items is None:
                messages.append(f"{where}: '{key}' must be a list of .gitignore-style patterns (using the default)")
                continue
            changes[name] = tuple(items)
        elif name == "cache_dir":
            if not isinstance(value, str) or not value:
                messages.append(f"{where}: '{key}' must be a directory path (using the default)")
                continue
            path = Path(value).expanduser()
            if base.config_dir and not path.is_absolute():
                path = Path(base.config_dir) / path
            changes[name] = str(path)
        elif name in ("unsafe_fixes", "notebooks", "include_cold"):
            if not isinstance(value, bool):
                messages.append(f"{where}: '{key}' must be true or false (using the default)")
                continue
            changes[name] = value
        elif name == "debounce_ms":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 10_000:
                messages.append(f"{where}: '{key}' must be a number of milliseconds from 0 to 10000 (using the default)")
                continue
            changes[name] = int(value)
        elif name == "severity":
            if value == []:  # an empty table from a client that cannot tell [] from {}
                value = {}
            if not isinstance(value, dict):
                messages.append(f"{where}: '{key}' must map rule codes to {'|'.join(SEVERITIES)} (using the default)")
                continue
            known = set(codes)
            pairs: list[tuple[str, str]] = []
            for code, level in value.items():
                if code not in known:
                    messages.append(f"{where}: '{key}': unknown rule code '{code}' (ignored)")
                elif level not in SEVERITIES:
                    messages.append(f"{where}: '{key}.{code}' must be one of {', '.join(SEVERITIES)} (ignored)")
                else:
                    pairs.append((code, level))
            changes[name] = tuple(sorted(pairs))
    if values != dict(base.rule_options):
        changes["rule_options"] = tuple(sorted(values.items()))
    return replace(base, **changes), messages


def from_pyproject_table(
    table: dict,
    path: str,
    base: Settings | None = None,
    *,
    codes: Collection[str],
    options: Collection[RuleOption] = (),
) -> tuple[Settings, list[str]]:
    """Settings from a ``[tool.perf-lsp]`` table read from ``path``; returns (settings, messages).

    ``codes`` are the rule codes that ``select``, ``ignore`` and ``severity`` may name
    (the rule registry's, ``perf_lsp.rules.CODES``); ``options`` the options rules
    declare (``perf_lsp.rules.OPTIONS``), read under their kebab-case keys.
    """
    keys = {option.pyproject_key: option for option in options}
    return _apply(base or Settings(), table, _PYPROJECT_KEYS, f"{path}: [tool.perf-lsp]", codes, keys)


def from_lsp_options(
    options: Any,
    base: Settings | None = None,
    *,
    codes: Collection[str],
    rule_options: Collection[RuleOption] = (),
) -> tuple[Settings, list[str]]:
    """Settings from the client's ``initializationOptions`` or ``didChangeConfiguration`` settings.

    Accepts the options flat or nested under ``"perf-lsp"``/``"perf_lsp"``; returns
    (settings, messages); ``codes`` as for :func:`from_pyproject_table`, ``rule_options``
    as its ``options``, read under their camelCase keys. Non-dict input yields the base
    settings and a message; an empty list counts as an empty object (Neovim encodes an
    empty Lua table as ``[]``).
    """
    base = base or Settings()
    if options is None or options == []:  # Neovim encodes an empty Lua table as []
        return base, []
    if not isinstance(options, dict):
        return base, ["client settings: expected an object (using the defaults)"]
    for nest in ("perf-lsp", "perf_lsp", "perfLsp"):
        if isinstance(options.get(nest), dict) or options.get(nest) == []:
            options = options[nest] or {}
            break
    keys = {option.lsp_key: option for option in rule_options}
    return _apply(base, options, _LSP_KEYS, "client settings", codes, keys)


def read_pyproject(path: Path) -> dict | None:
    """The ``[tool.perf-lsp]`` table of ``path``, or None when it has none.

    Raises ConfigError when the file cannot be read, is not valid TOML, or its ``tool``
    or ``tool.perf-lsp`` is not a table.
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: cannot read: not UTF-8 (byte {exc.start}: {exc.reason})") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
    except RecursionError as exc:
        raise ConfigError(f"{path}: invalid TOML: nested too deeply") from exc
    tool = data.get("tool")
    if tool is None:
        return None
    if not isinstance(tool, dict):
        raise ConfigError(f"{path}: 'tool' must be a table")
    table = tool.get("perf-lsp")
    if table is None:
        return None
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.perf-lsp] must be a table")
    return table


def find_pyproject(start: Path) -> Path | None:
    """The nearest ``pyproject.toml`` at or above ``start`` (a file or directory) that has ``[tool.perf-lsp]``."""
    directory = start if start.is_dir() else start.parent
    for candidate in [directory, *directory.parents]:
        path = candidate / "pyproject.toml"
        try:
            exists = path.is_file()
        except OSError:  # a directory above that cannot be searched
            continue
        if exists:
            try:
                if read_pyproject(path) is not None:
                    return path
            except ConfigError:
                return path
    return None


def load_for(
    start: Path, base: Settings | None = None, *, codes: Collection[str], options: Collection[RuleOption] = ()
) -> tuple[Settings, list[str]]:
    """Settings for files at or below ``start``: the nearest ``[tool.perf-lsp]`` over ``base``,
    with the project's declared packages (and ``package_init`` when ``start`` is an ``__init__.py``);
    ``codes`` and ``options`` as for :func:`from_pyproject_table`.

    Returns (settings, messages); an unusable file gives the base settings and a message.
    """
    from perf_lsp.project import declared_packages, python_floor

    base = replace(
        base or Settings(),
        project_packages=declared_packages(start),
        python_floor=python_floor(start),
        package_init=start.name == "__init__.py",
    )
    path = find_pyproject(start)
    if path is None:
        return base, []
    try:
        table = read_pyproject(path)
    except ConfigError as exc:
        return base, [f"{exc} (using the defaults)"]
    return from_pyproject_table(
        table or {}, str(path), replace(base, config_dir=str(path.parent)), codes=codes, options=options
    )
