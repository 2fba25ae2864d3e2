"""Project facts read from packaging files: which packages a project declares.

Used by rules whose advice depends on what the project already depends on
(PFL601 suggests ``orjson`` only in a project that declares it). The engine
analyses text without a path, so the CLI and the server call
:func:`declared_packages` for a file's directory and pass the result in
``Settings.project_packages``.

The project is the nearest directory at or above the file that holds a
``pyproject.toml``, ``setup.cfg``, ``Pipfile`` or ``requirements*.txt``; every one
of those files in that directory is read (and ``requirements/*.txt`` beside
them). Only what the service runs with counts: extras, Poetry groups and
requirements files named for development (``test``, ``dev``, ``docs``, ``lint``...:
:func:`is_development_group`), PEP 735 dependency groups and the tools'
dev-dependencies are left out, so that a fix never imports a package production
does not have. Names are normalised as in PEP 503 (lower case, runs of ``-``, ``_`` and
``.`` become ``-``). Parsed files are cached by (path, mtime, size), so an edited
manifest is read again; the directory lookup is cached per directory.
"""

from __future__ import annotations

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]
import configparser
import re
from functools import lru_cache
from pathlib import Path

_MANIFESTS = ("pyproject.toml", "setup.cfg", "Pipfile")
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_SEPARATORS = re.compile(r"[-_.]+")
_MAX_INCLUDE_DEPTH = 5


def normalise(name: str) -> str:
    """PEP 503 normalised package name: ``Py_Yaml`` -> ``py-yaml``."""
    return _SEPARATORS.sub("-", name.strip()).lower()


def project_declares(package: str, start: Path) -> bool:
    """Whether the project of ``start`` (a file or directory) declares ``package`` as a dependency (any group)."""
    return normalise(package) in declared_packages(start)


def declared_packages(start: Path) -> tuple[str, ...]:
    """The normalised names of every dependency the project of ``start`` declares, sorted; () when none."""
    directory = start if start.is_dir() else start.parent
    root = _project_dir(directory.resolve())
    if root is None:
        return ()
    names: set[str] = set()
    for path in _manifest_files(root):
        names.update(_parse_cached(str(path), *_stamp(path)))
    return tuple(sorted(names))


def python_floor(start: Path) -> tuple[int, int] | None:
    """The oldest Python the project of ``start`` supports: the lower bound of ``[project]
    requires-python`` in its ``pyproject.toml`` (``">=3.9,<4"`` -> ``(3, 9)``; ``"~=3.10"`` ->
    ``(3, 10)``), else of ``python_requires`` in ``setup.cfg``; None when neither says."""
    directory = start if start.is_dir() else start.parent
    root = _project_dir(directory.resolve())
    if root is None:
        return None
    for name in ("pyproject.toml", "setup.cfg"):
        path = root / name
        if path.is_file():
            found = _floor_cached(str(path), *_stamp(path))
            if found is not None:
                return found
    return None


_LOWER_BOUND = re.compile(r"(>=|>|~=|==)\s*(\d+)\.(\d+)")


def parse_python_floor(spec: str) -> tuple[int, int] | None:
    """The lowest ``(major, minor)`` a version specifier admits (``">=3.8, !=3.9.*"`` -> ``(3, 8)``;
    ``">3.9"`` -> ``(3, 9)``, as 3.9.1 is above 3.9); None when it sets no lower bound."""
    floors = []
    for _, major, minor in _LOWER_BOUND.findall(spec):
        floors.append((int(major), int(minor)))
    return min(floors) if floors else None


@lru_cache(maxsize=64)
def _floor_cached(path: str, mtime_ns: int, size: int) -> tuple[int, int] | None:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    spec = None
    if path.endswith("pyproject.toml"):
        try:
            project = tomllib.loads(text).get("project")
        except (tomllib.TOMLDecodeError, RecursionError):
            return None
        if isinstance(project, dict) and isinstance(project.get("requires-python"), str):
            spec = project["requires-python"]
    else:
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read_string(text)
        except configparser.Error:
            return None
        if parser.has_option("options", "python_requires"):
            spec = parser.get("options", "python_requires")
    return parse_python_floor(spec) if spec else None


def clear_cache() -> None:
    """Forget the cached project directories and parsed files (after files were created or removed)."""
    _project_dir.cache_clear()
    _parse_cached.cache_clear()
    _floor_cached.cache_clear()


@lru_cache(maxsize=1024)
def _project_dir(directory: Path) -> Path | None:
    for candidate in [directory, *directory.parents]:
        try:
            if any((candidate / name).is_file() for name in _MANIFESTS) or any(candidate.glob("requirements*.txt")):
                return candidate
        except OSError:
            continue
    return None


def _manifest_files(root: Path) -> list[Path]:
    found = [root / name for name in _MANIFESTS if (root / name).is_file()]
    found.extend(sorted(p for p in root.glob("requirements*.txt") if p.is_file() and not is_development_group(p.stem)))
    requirements_dir = root / "requirements"
    if requirements_dir.is_dir():
        found.extend(sorted(p for p in requirements_dir.glob("*.txt") if p.is_file() and not is_development_group(p.stem)))
    return found


def _stamp(path: Path) -> tuple[int, int]:
    try:
        stat = path.stat()
    except OSError:
        return (0, 0)
    return (stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=256)
def _parse_cached(path: str, mtime_ns: int, size: int) -> frozenset[str]:
    return frozenset(parse_manifest(Path(path)))


def parse_manifest(path: Path) -> set[str]:
    """Normalised dependency names declared in one packaging file; an unreadable file gives an empty set."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return set()
    name = path.name
    if name == "pyproject.toml":
        return _from_pyproject(text)
    if name == "Pipfile":
        return _from_pipfile(text)
    if name == "setup.cfg":
        return _from_setup_cfg(text)
    return _from_requirements(text, path.parent, 0)


def _requirement_name(line: str) -> str | None:
    """The project name of a PEP 508 requirement string (``orjson>=3.9; python_version>'3.8'`` -> ``orjson``)."""
    line = line.split("#", 1)[0].strip()
    if not line or line.startswith(("-", ".", "/")) or re.match(r"^[A-Za-z0-9+.-]+://", line):
        return None  # options, bare URLs and paths name no project
    match = _NAME.match(line)
    return normalise(match.group(1)) if match else None


def _names(requirements) -> set[str]:
    out: set[str] = set()
    if isinstance(requirements, str):
        requirements = requirements.splitlines()
    if not isinstance(requirements, list):
        return out
    for item in requirements:
        if isinstance(item, str):
            name = _requirement_name(item)
            if name:
                out.add(name)
    return out


def _from_pyproject(text: str) -> set[str]:
    try:
        data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError):  # RecursionError: arrays nested thousands deep
        return set()
    out: set[str] = set()
    project = data.get("project")
    if isinstance(project, dict):
        out |= _names(project.get("dependencies"))
        optional = project.get("optional-dependencies")
        if isinstance(optional, dict):
            for name, group in optional.items():
                if not is_development_group(name):
                    out |= _names(group)
    # PEP 735 dependency groups, PDM's and uv's dev-dependencies: never installed with the
    # service, so never counted.
    tool = data.get("tool")
    if isinstance(tool, dict):
        poetry = tool.get("poetry")
        if isinstance(poetry, dict):
            tables = [poetry.get("dependencies")]
            poetry_groups = poetry.get("group")
            if isinstance(poetry_groups, dict):
                tables.extend(
                    g.get("dependencies")
                    for name, g in poetry_groups.items()
                    if isinstance(g, dict) and not is_development_group(name)
                )
            for table in tables:
                if isinstance(table, dict):
                    out |= {normalise(k) for k in table if k.lower() != "python"}
    return out


_DEVELOPMENT_GROUP = re.compile(r"(^|[-_.])(dev|develop|development|test|tests|testing|lint|linting|docs?|typing|types|mypy|ci|bench|benchmarks?|style|format)([-_.]|$)")


def is_development_group(name: str) -> bool:
    """Whether an extra, dependency group or requirements file name (``test``, ``dev``, ``docs``,
    ``requirements-dev.txt``) is for developing the project rather than running it."""
    return _DEVELOPMENT_GROUP.search(name.lower()) is not None


def _from_pipfile(text: str) -> set[str]:
    try:
        data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError):
        return set()
    out: set[str] = set()
    for section in ("packages",):  # not dev-packages: see is_development_group
        table = data.get(section)
        if isinstance(table, dict):
            out |= {normalise(k) for k in table}
    return out


def _from_setup_cfg(text: str) -> set[str]:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text)
    except configparser.Error:
        return set()
    out: set[str] = set()
    if parser.has_option("options", "install_requires"):
        out |= _names(parser.get("options", "install_requires"))
    if parser.has_section("options.extras_require"):
        for name, value in parser.items("options.extras_require"):
            if not is_development_group(name):
                out |= _names(value)
    return out


def _from_requirements(text: str, directory: Path, depth: int) -> set[str]:
    out: set[str] = set()
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if line.startswith(("-r ", "-c ", "--requirement ", "--requirement=", "-r", "--constraint")):
            if line.startswith(("-c", "--constraint")):
                continue  # constraints pin versions, they do not declare dependencies
            target = re.sub(r"^(--requirement=?|-r)\s*", "", line).strip()
            if target and depth < _MAX_INCLUDE_DEPTH:
                included = directory / target
                try:
                    out |= _from_requirements(included.read_text(encoding="utf-8"), included.parent, depth + 1)
                except (OSError, UnicodeDecodeError):
                    pass
            continue
        name = _requirement_name(line)
        if name:
            out.add(name)
    return out
