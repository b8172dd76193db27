"""Load rule packs (rules/*.yaml): severity, enabled and options per rule, with `extends`.

Every problem in a pack is collected and raised together as one ConfigError (exit 2), each
with the file and key, so a user fixes a pack in one go.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from dataprep import resources, validate
from dataprep.errors import ConfigError, closest


@dataclass(frozen=True)
class Setting:
    module: ModuleType
    severity: str
    enabled: bool
    options: Any


@dataclass(frozen=True)
class Pack:
    source: str
    settings: dict[str, Setting]  # by rule name

    def enabled(self) -> list[Setting]:
        return [s for s in self.settings.values() if s.enabled]

    def get(self, name: str) -> Setting | None:
        setting = self.settings.get(name)
        return setting if setting is not None and setting.enabled else None


PROJECT_FILES = (".dataprep.yaml", ".dataprep.yml", "pyproject.toml")


@dataclass(frozen=True)
class PackArgs:
    """How to rebuild a Pack in a worker process (modules do not pickle)."""

    path: str | None = None
    select: tuple[str, ...] | None = None
    ignore: tuple[str, ...] | None = None

    def load(self) -> Pack:
        return load(
            self.path,
            list(self.select) if self.select else None,
            list(self.ignore) if self.ignore else None,
        )


def find_project_config(start: str | Path) -> Path | None:
    """The nearest `.dataprep.yaml`, or `pyproject.toml` with `[tool.dataprep]`, walking up."""
    here = Path(start).resolve()
    if not here.is_dir():
        here = here.parent
    for folder in (here, *here.parents):
        for name in PROJECT_FILES:
            candidate = folder / name
            if not candidate.is_file():
                continue
            if name != "pyproject.toml" or _toml_section(candidate) is not None:
                return candidate
    return None


def load(
    path: str | Path | None = None,
    select: list[str] | None = None,
    ignore: list[str] | None = None,
) -> Pack:
    """The pack at `path` (default: the bundled default pack), then --select / --ignore.

    A pack or project config may carry its own `select` and `ignore` lists: a `select` given
    here replaces the file's, an `ignore` given here adds to it.
    """
    from dataprep import checks  # the registry imports every rule: only when needed

    problems: list[str] = []
    raw: dict[str, dict] = {}
    lists: dict[str, list[str]] = {}
    source = str(path) if path else "rule selection"
    _merge_file(Path(path) if path else resources.rule_pack("default"), raw, problems, set(), lists)
    settings: dict[str, Setting] = {}
    for name, entry in raw.items():
        module = checks.get(name)
        if module is None:
            continue  # already reported by _merge_file
        settings[module.NAME] = _setting(module, entry, entry.get("__file__", source), problems)
    for module in checks.ALL:
        if module.NAME not in settings:
            problems.append(f"{source}: rule {module.NAME!r} is missing from the pack")
    # Name each list by where it came from: the command line, or the pack file.
    origins = [("--select", select), ("--ignore", ignore)]
    origins += [(f"{source}: {key}", lists.get(key)) for key in ("select", "ignore")]
    for flag, names in origins:
        for name in names or ():
            if checks.get(name) is None:
                problems.append(f"{flag}: unknown rule {name!r}{_suggest(name)}")
    select = select or lists.get("select")
    ignore = [*(lists.get("ignore") or []), *(ignore or [])]
    if problems:
        raise ConfigError(source, problems)
    if select:
        chosen = {checks.get(n).NAME for n in select}  # type: ignore[union-attr]
        settings = {k: dataclasses.replace(s, enabled=k in chosen) for k, s in settings.items()}
    if ignore:
        dropped = {checks.get(n).NAME for n in ignore}  # type: ignore[union-attr]
        settings = {
            k: dataclasses.replace(s, enabled=s.enabled and k not in dropped)
            for k, s in settings.items()
        }
    return Pack(source, settings)


def _toml_section(path: Path) -> dict | None:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ModuleNotFoundError:
            return None
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    section = data.get("tool", {}).get("dataprep")
    return section if isinstance(section, dict) else None


def _merge_file(
    path: Path, raw: dict, problems: list[str], seen: set[Path], lists: dict | None = None
) -> None:
    """Fold one pack file (after the packs it extends) into `raw`, rule name -> settings;
    every problem is added to `problems` (all are reported at once)."""
    if path.resolve() in seen:
        problems.append(f"{path}: `extends` loops back to this file")
        return
    seen.add(path.resolve())
    read = _read_pack(path, problems)
    if read is None:
        return
    data, where = read
    for key in data:
        if key not in ("extends", "rules", "select", "ignore"):
            problems.append(
                f"{where}: unknown key {key!r} (a pack has `extends`, `rules`, `select`, `ignore`)"
            )
    for key in ("select", "ignore"):
        value = data.get(key)
        if value is None:
            continue
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            problems.append(f"{where}: {key}: must be a list of rule names")
        elif lists is not None:
            lists[key] = value
    parent = _parent(path, data, where, problems)
    if parent is not None:
        _merge_file(parent, raw, problems, seen)
    rules = data.get("rules") or {}
    if not isinstance(rules, dict):
        problems.append(f"{where}: rules: must be a mapping of rule name to settings")
        return
    _merge_rules(rules, raw, where, problems)


def _read_pack(path: Path, problems: list[str]) -> tuple[dict, str] | None:
    """A pack file's mapping (YAML, or pyproject.toml's [tool.dataprep]) and how to name it."""
    where = str(path)
    if path.name == "pyproject.toml":
        data = _toml_section(path)
        if data is None:
            problems.append(f"{where}: no readable [tool.dataprep] table")
            return None
        where = f"{path} [tool.dataprep]"
    else:
        import yaml

        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            problems.append(f"{where}: cannot read ({exc.strerror})")
            return None
        except yaml.YAMLError as exc:
            problems.append(f"{where}: not valid YAML ({exc})")
            return None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        problems.append(f"{where}: a rule pack is a mapping with `extends` and `rules`")
        return None
    return data, where


def _parent(path: Path, data: dict, where: str, problems: list[str]) -> Path | None:
    """The pack this one extends: its `extends` (a bundled name or a path), else the default
    catalogue (the default pack itself extends nothing)."""
    parent = data.get("extends")
    if parent is None and path.resolve() != resources.rule_pack("default").resolve():
        parent = "default"  # every pack starts from the catalogue unless it says otherwise
    if parent is None:
        return None
    if not isinstance(parent, str):
        problems.append(f"{where}: extends: must be a pack name or a path")
        return None
    parent_path = path.parent / parent
    if not parent_path.suffix:
        bundled = resources.rule_pack(parent)
        parent_path = bundled if bundled.exists() else parent_path.with_suffix(".yaml")
    return parent_path


def _merge_rules(rules: dict, raw: dict, where: str, problems: list[str]) -> None:
    """A pack's `rules` over what the packs it extends set: options merge key by key."""
    from dataprep import checks  # the registry imports every rule: only when needed

    for name, entry in rules.items():
        module = checks.get(str(name))
        if module is None:
            problems.append(f"{where}: rules.{name}: unknown rule{_suggest(str(name))}")
            continue
        if entry is None:
            entry = {}
        if not isinstance(entry, dict):
            problems.append(
                f"{where}: rules.{name}: must be a mapping (severity, enabled, options)"
            )
            continue
        merged = dict(raw.get(module.NAME, {}))
        for key, value in entry.items():
            if key == "options" and isinstance(value, dict):
                merged["options"] = {**merged.get("options", {}), **value}
            else:
                merged[key] = value
        merged["__file__"] = where
        raw[module.NAME] = merged


def _setting(module: ModuleType, entry: dict, where: str, problems: list[str]) -> Setting:
    from dataprep.findings import SEVERITIES  # here: a cached build never loads the pack

    prefix = f"{where}: rules.{module.NAME}"
    severity = entry.get("severity", "error")
    if severity not in SEVERITIES:
        problems.append(f"{prefix}.severity: {severity!r} is not one of {', '.join(SEVERITIES)}")
        severity = "error"
    enabled = entry.get("enabled", True)
    if not isinstance(enabled, bool):
        problems.append(f"{prefix}.enabled: must be true or false, not {enabled!r}")
        enabled = True
    for key in entry:
        if key not in ("severity", "enabled", "options", "__file__"):
            problems.append(f"{prefix}: unknown key {key!r} (severity, enabled, options)")
    options_raw = entry.get("options") or {}
    if not isinstance(options_raw, dict):
        problems.append(f"{prefix}.options: must be a mapping")
        options_raw = {}
    return Setting(module, severity, enabled, _options(module, options_raw, prefix, problems))


def _options(module: ModuleType, values: dict, prefix: str, problems: list[str]) -> Any:
    cls = module.Options
    known = [f.name for f in dataclasses.fields(cls)]
    hints = typing.get_type_hints(cls)
    good = {}
    for key, value in values.items():
        if key not in known:
            problems.append(
                f"{prefix}.options: unknown option {key!r} (known: {', '.join(known) or 'none'})"
            )
            continue
        checked = validate.typed(value, hints[key])
        if checked is validate.BAD:
            problems.append(validate.wrong_type(f"{prefix}.options", key, value, hints[key]))
            continue
        good[key] = checked
    return cls(**good)


def _suggest(name: str) -> str:
    from dataprep import checks  # the registry imports every rule: only when needed

    names = [m.NAME for m in checks.ALL]
    close = closest(name, names)
    return f" (did you mean {close!r}?)" if close else ""
