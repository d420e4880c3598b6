"""Typed YAML configuration shared by every ``repro`` command.

Three pieces, all general (nothing here knows about suites or training):

* :func:`load_yaml` — ``yaml.safe_load`` semantics (no object construction, never code), but every
  mapping and list remembers the file and line of each entry, duplicate keys are errors, and the
  YAML 1.1 traps that silently corrupt experiment configs are closed: ``ratio: 1:2`` stays the
  string ``"1:2"`` (YAML 1.1 reads it as the base-60 integer 62) and ``lr: 1e-4`` is a float
  (YAML 1.1 reads it as a string).
* :func:`load_config` — ``include:`` inheritance (a path or a list of paths, relative to the
  including file) with deep merge and cycle detection; :func:`resolve_extends` does the same
  for named entries inside one file (``extends: other_cell``).
* :func:`from_data` — validation into (nested) dataclasses: Literals, lists, tuples, dicts,
  optionals and unions, defaults, ``__post_init__`` checks; unknown keys are rejected. Errors read
  ``suites/table3.yaml:41: key 'cells.x.train.los': unknown key (did you mean 'loss'?)`` so that
  a typo in a 200-epoch run fails in its first second instead of falling back to a default.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import math
import operator
import os
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar, Union

import yaml

from repro.errors import UserError

T = TypeVar("T")

__all__ = [
    "ConfigDict",
    "ConfigError",
    "ConfigList",
    "FieldError",
    "Location",
    "MAX_YAML_BYTES",
    "MAX_YAML_NODES",
    "check_range",
    "config_hash",
    "deep_merge",
    "dump_yaml",
    "from_data",
    "load_config",
    "load_yaml",
    "location_of",
    "resolve_extends",
    "to_plain",
]


# --------------------------------------------------------------------------- locations and errors


@dataclass(frozen=True)
class Location:
    """Where a value came from: ``file:line`` (1-based line)."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


class ConfigError(UserError):
    """A configuration problem the user can fix; the message names file, line and key."""

    def __init__(self, message: str, where: Location | None = None, key: str | None = None) -> None:
        self.message, self.where, self.key = message, where, key
        parts = [str(where)] if where else []
        if key:
            parts.append(f"key '{key}'")
        parts.append(message)
        super().__init__(": ".join(parts))


class FieldError(ValueError):
    """A ``__post_init__`` check of one field failed: :func:`from_data` reports it at that key's own line."""

    def __init__(self, field: str, message: str) -> None:
        self.field, self.message = field, message
        super().__init__(f"{field} {message}")


def check_range(
    field: str,
    value: float | int | None,
    *,
    gt: float | None = None,
    ge: float | None = None,
    lt: float | None = None,
    le: float | None = None,
) -> None:
    """Raise :class:`FieldError` unless ``value`` (None passes) is a finite number within the bounds."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise FieldError(field, f"must be a finite number, got {value!r}")
    checks = (("greater than", gt, operator.gt), ("at least", ge, operator.ge),
              ("less than", lt, operator.lt), ("at most", le, operator.le))
    for word, bound, holds in checks:
        if bound is not None and not holds(value, bound):
            raise FieldError(field, f"must be {word} {bound}, got {value!r}")


class ConfigDict(dict):
    """A dict that remembers where it and each of its keys were written."""

    def __init__(self, *args: Any, location: Location | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.location = location
        self.key_locations: dict[Any, Location] = {}

    def where(self, key: Any) -> Location | None:
        return self.key_locations.get(key, self.location)

    def copy(self) -> ConfigDict:
        """A shallow copy that keeps the locations."""
        out = ConfigDict(self, location=self.location)
        out.key_locations = dict(self.key_locations)
        return out


class ConfigList(list):
    """A list that remembers where it and each of its items were written."""

    def __init__(self, *args: Any, location: Location | None = None) -> None:
        super().__init__(*args)
        self.location = location
        self.item_locations: list[Location | None] = []

    def where(self, index: int) -> Location | None:
        if 0 <= index < len(self.item_locations) and self.item_locations[index] is not None:
            return self.item_locations[index]
        return self.location


def location_of(container: Any, key: Any = None) -> Location | None:
    """The location of ``container[key]`` (or of the container itself), if it was loaded from YAML."""
    if key is not None and isinstance(container, (ConfigDict, ConfigList)):
        return container.where(key)
    return getattr(container, "location", None)


# --------------------------------------------------------------------------- loading


# YAML 1.2-style numbers: no base-60 ints/floats ("1:2" stays a string), exponents without a dot
# or without a sign are floats ("1e-4", "2.5e3").
_INT_RE = re.compile(
    r"""^(?:[-+]?0b[0-1_]+
    |[-+]?0[0-7_]+
    |[-+]?(?:0|[1-9][0-9_]*)
    |[-+]?0x[0-9a-fA-F_]+)$""",
    re.X,
)
_FLOAT_RE = re.compile(
    r"""^(?:[-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?\.[0-9][0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)
_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that builds :class:`ConfigDict`/:class:`ConfigList` with line numbers."""

    filename = "<string>"


_LineLoader.yaml_implicit_resolvers = {
    first: [
        (tag, _INT_RE if tag == _INT_TAG else _FLOAT_RE if tag == _FLOAT_TAG else regexp) for tag, regexp in resolvers
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _mark(loader: _LineLoader, node: yaml.Node) -> Location:
    return Location(loader.filename, node.start_mark.line + 1)


def _construct_map(loader: _LineLoader, node: yaml.MappingNode):  # type: ignore[no-untyped-def]
    data = ConfigDict(location=_mark(loader, node))
    yield data
    loader.flatten_mapping(node)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        where = _mark(loader, key_node)
        if not isinstance(key, typing.Hashable):
            raise ConfigError("mapping keys must be scalars", where)
        if key in data:
            first = data.key_locations[key]
            raise ConfigError(f"duplicate key (first given at line {first.line})", where, str(key))
        data[key] = loader.construct_object(value_node, deep=True)
        data.key_locations[key] = where


def _construct_seq(loader: _LineLoader, node: yaml.SequenceNode):  # type: ignore[no-untyped-def]
    data = ConfigList(location=_mark(loader, node))
    yield data
    for item in node.value:
        data.append(loader.construct_object(item, deep=True))
        data.item_locations.append(_mark(loader, item))


_LineLoader.add_constructor("tag:yaml.org,2002:map", _construct_map)
_LineLoader.add_constructor("tag:yaml.org,2002:seq", _construct_seq)


#: Bounds on one YAML document, far above any real config (the largest suite is ~3,000 nodes):
#: a file over MAX_YAML_BYTES is refused unread, and a document whose tree, with every alias
#: expanded, holds more than MAX_YAML_NODES nodes is refused before it is built — a 342-byte
#: "billion laughs" alias bomb expands to 4e8 nodes, which every later walk (merge, hash, dump) would
#: otherwise traverse for hours.
MAX_YAML_BYTES = 4 * 1024 * 1024
MAX_YAML_NODES = 200_000
_MAX_YAML_DEPTH = 100


def _check_expansion(root: yaml.Node, name: str) -> None:
    """Refuse alias bombs, recursive aliases and absurd nesting, counting each shared node once per use."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(node: yaml.Node, depth: int) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        where = Location(name, node.start_mark.line + 1)
        if key in open_nodes:
            raise ConfigError("invalid YAML: an alias refers to the node that contains it (recursive alias)", where)
        if depth > _MAX_YAML_DEPTH:
            raise ConfigError(f"invalid YAML: nested more than {_MAX_YAML_DEPTH} levels deep", where)
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        else:
            children = []
        open_nodes.add(key)
        total = 1
        for child in children:
            total += size(child, depth + 1)
            if total > MAX_YAML_NODES:
                raise ConfigError(
                    f"invalid YAML: more than {MAX_YAML_NODES} values once aliases are expanded "
                    "(an alias bomb?)",
                    where,
                )
        open_nodes.discard(key)
        sizes[key] = total
        return total

    size(root, 0)


def load_yaml(source: str | os.PathLike[str], *, text: str | None = None) -> Any:
    """Parse one YAML document safely, keeping line numbers; bounded in size, aliases and depth.

    ``source`` is the file to read, or, with ``text``, only the name used in messages.
    """
    name = str(source)
    if text is None:
        try:
            if Path(source).stat().st_size > MAX_YAML_BYTES:
                raise ConfigError(f"larger than {MAX_YAML_BYTES} bytes: not a config file", Location(name, 0))
            text = Path(source).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError("file not found", Location(name, 0)) from None
        except IsADirectoryError:
            raise ConfigError("is a folder, not a YAML file", Location(name, 0)) from None
        except UnicodeDecodeError as exc:
            raise ConfigError(f"not UTF-8 text (byte {exc.start})", Location(name, 0)) from None
        except OSError as exc:
            raise ConfigError(f"cannot read: {exc.strerror or exc}", Location(name, 0)) from None
    if len(text) > MAX_YAML_BYTES:
        raise ConfigError(f"larger than {MAX_YAML_BYTES} characters: not a config file", Location(name, 0))
    loader = _LineLoader(text)
    loader.filename = name
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expansion(node, name)
        return loader.construct_document(node)
    except RecursionError:
        raise ConfigError(f"invalid YAML: nested more than {_MAX_YAML_DEPTH} levels deep", Location(name, 0)) from None
    except yaml.MarkedYAMLError as exc:
        # The context mark is where the broken construct starts, usually the line to fix.
        mark = exc.context_mark or exc.problem_mark
        where = Location(name, mark.line + 1) if mark else Location(name, 0)
        what = "; ".join(str(p) for p in (exc.context, exc.problem) if p)
        raise ConfigError(f"invalid YAML: {what}", where) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", Location(name, 0)) from None
    finally:
        loader.dispose()


def deep_merge(base: Any, override: Any) -> Any:
    """Merge ``override`` onto ``base``: mappings merge key by key, everything else is replaced.

    Locations follow the value that wins, so an error in a merged config still points at the
    file and line that supplied the offending value.
    """
    if not (isinstance(base, Mapping) and isinstance(override, Mapping)):
        return override
    merged = ConfigDict(location=location_of(override) or location_of(base))
    for src in (base, override):
        for key, value in src.items():
            merged[key] = deep_merge(merged[key], value) if key in merged else value
            where = location_of(src, key)
            if where is not None:
                merged.key_locations[key] = where
    return merged


def _include_list(data: ConfigDict, key: str) -> list[tuple[str, Location | None]]:
    raw = data.pop(key)
    items = raw if isinstance(raw, list) else [raw]
    out = []
    for i, item in enumerate(items):
        where = location_of(raw, i) if isinstance(raw, list) else data.where(key)
        if not isinstance(item, str) or not item:
            raise ConfigError("expected a file path or a list of file paths", where, key)
        out.append((item, where))
    return out


def load_config(path: str | os.PathLike[str], *, include_key: str = "include") -> ConfigDict:
    """Load a YAML mapping and resolve its ``include:`` chain (includes first, then the file)."""
    return _load_included(Path(path), (), include_key)


def _load_included(path: Path, stack: tuple[Path, ...], include_key: str) -> ConfigDict:
    real = path.resolve()
    if real in stack:
        chain = " -> ".join(str(p) for p in (*stack, real))
        raise ConfigError(f"include cycle: {chain}", Location(str(path), 0))
    data = load_yaml(path)
    if data is None:
        data = ConfigDict(location=Location(str(path), 1))
    if not isinstance(data, dict):
        raise ConfigError("expected a mapping at the top level", location_of(data) or Location(str(path), 1))
    merged: Any = ConfigDict(location=data.location)
    if include_key in data:
        for rel, where in _include_list(data, include_key):
            target = path.parent / rel
            if not target.is_file():
                raise ConfigError(f"included file not found: {target}", where, include_key)
            merged = deep_merge(merged, _load_included(target, (*stack, real), include_key))
    return deep_merge(merged, data)


def resolve_extends(entries: Mapping[str, Any], *, key: str = "extends") -> dict[str, Any]:
    """Resolve ``extends: NAME`` between named mappings of one config (e.g. suite cells).

    Each entry becomes ``deep_merge(resolved parent, entry without the key)``; unknown parents and
    cycles are errors at the ``extends`` line.
    """
    resolved: dict[str, Any] = {}

    def resolve(name: str, stack: tuple[str, ...]) -> Any:
        if name in resolved:
            return resolved[name]
        entry = entries[name]
        if not isinstance(entry, Mapping) or key not in entry:
            resolved[name] = entry
            return entry
        parent = entry[key]
        where = location_of(entry, key)
        if not isinstance(parent, str) or parent not in entries:
            close = difflib.get_close_matches(str(parent), [str(n) for n in entries], n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConfigError(f"unknown entry '{parent}'{hint}", where, f"{name}.{key}")
        if parent in stack or parent == name:
            raise ConfigError("extends cycle: " + " -> ".join((*stack, name, parent)), where, f"{name}.{key}")
        own = ConfigDict(location=location_of(entry))
        for k, v in entry.items():
            if k != key:
                own[k] = v
                if location_of(entry, k):
                    own.key_locations[k] = location_of(entry, k)
        resolved[name] = deep_merge(resolve(parent, (*stack, name)), own)
        return resolved[name]

    return {name: resolve(name, ()) for name in entries}


# --------------------------------------------------------------------------- typed validation


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if tp is type(None):
        return "null"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    if origin in (list, tuple):
        return "a list"
    if origin is dict:
        return "a mapping"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false", Path: "a path"}.get(
        tp, getattr(tp, "__name__", str(tp))
    )


def _describe(value: Any) -> str:
    text = repr(to_plain(value))
    return text if len(text) <= 60 else text[:57] + "..."


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def from_data(cls: type[T], data: Any, *, path: str = "", where: Location | None = None) -> T:
    """Validate ``data`` (as loaded by :func:`load_yaml`) into ``cls``; raise :class:`ConfigError`."""
    return _convert(cls, data, path, where or location_of(data))


def _convert(tp: Any, value: Any, path: str, where: Location | None) -> Any:
    where = location_of(value) or where
    origin = typing.get_origin(tp)
    if tp is Any or tp is object:
        return to_plain(value)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return _convert_dataclass(tp, value, path, where)
    if origin is Literal:
        allowed = typing.get_args(tp)
        if not any(value == a and type(value) is type(a) for a in allowed):
            raise ConfigError(f"expected {_type_name(tp)}, got {_describe(value)}", where, path or None)
        return value
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None:
            if type(None) in args:
                return None
            raise ConfigError(f"expected {_type_name(tp)}, got null", where, path or None)
        errors = []
        for arm in args:
            if arm is type(None):
                continue
            try:
                return _convert(arm, value, path, where)
            except ConfigError as exc:
                errors.append(exc)
        if len(errors) == 1:
            raise errors[0]
        raise ConfigError(f"expected {_type_name(tp)}, got {_describe(value)}", where, path or None)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"expected a list, got {_describe(value)}", where, path or None)
        args = typing.get_args(tp)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise ConfigError(f"expected a list of {len(args)} items, got {len(value)}", where, path or None)
            item_types = list(args)
        else:
            item_types = [args[0] if args else Any] * len(value)
        items = [
            _convert(item_tp, item, f"{path}[{i}]", location_of(value, i) or where)
            for i, (item_tp, item) in enumerate(zip(item_types, value, strict=True))
        ]
        return tuple(items) if origin is tuple else items
    if origin is dict or tp is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"expected a mapping, got {_describe(value)}", where, path or None)
        key_tp, val_tp = typing.get_args(tp) or (Any, Any)
        return {
            _convert(key_tp, k, _join(path, k), location_of(value, k)): _convert(
                val_tp, v, _join(path, k), location_of(value, k) or where
            )
            for k, v in value.items()
        }
    return _convert_scalar(tp, value, path, where)


def _convert_scalar(tp: Any, value: Any, path: str, where: Location | None) -> Any:
    ok = False
    if tp is bool:
        ok = isinstance(value, bool)
    elif tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif tp is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
        if ok and not math.isfinite(value):
            # No setting means anything at .nan or .inf: lr .nan trains nothing, max_depth .inf scores sky.
            raise ConfigError(f"expected a finite number, got {value}", where, path or None)
    elif tp is str:
        ok = isinstance(value, str)
    elif tp is Path:
        ok = isinstance(value, (str, Path))
        value = Path(value) if ok else value
    else:
        raise TypeError(f"unsupported config type {tp!r} at {path}")
    if not ok:
        raise ConfigError(f"expected {_type_name(tp)}, got {_describe(value)}", where, path or None)
    return value


def _convert_dataclass(cls: type, value: Any, path: str, where: Location | None) -> Any:
    if isinstance(value, cls):
        return value
    if not isinstance(value, Mapping):
        raise ConfigError(f"expected a mapping, got {_describe(value)}", where, path or None)
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for key in value:
        if key not in fields:
            close = difflib.get_close_matches(str(key), list(fields), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else f" (allowed: {', '.join(fields)})"
            raise ConfigError(f"unknown key{hint}", location_of(value, key) or where, _join(path, key))
    kwargs = {}
    for name, field in fields.items():
        if name in value:
            kwargs[name] = _convert(hints[name], value[name], _join(path, name), location_of(value, name) or where)
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise ConfigError("missing required key", where, _join(path, name))
    try:
        return cls(**kwargs)
    except FieldError as exc:
        raise ConfigError(exc.message, location_of(value, exc.field) or where, _join(path, exc.field)) from None
    except (ValueError, TypeError) as exc:
        raise ConfigError(str(exc), where, path or None) from None


# --------------------------------------------------------------------------- output


def to_plain(obj: Any) -> Any:
    """Dataclasses, tuples, paths and loaded YAML containers as plain JSON/YAML-ready values."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {to_plain(k) if not isinstance(k, str) else k: to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def config_hash(obj: Any, length: int = 16) -> str:
    """A stable short hash of a config (key order and container types do not matter)."""
    text = json.dumps(to_plain(obj), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def dump_yaml(obj: Any) -> str:
    """Readable YAML of a config, keys in declaration order."""
    return yaml.safe_dump(to_plain(obj), sort_keys=False, default_flow_style=False, allow_unicode=True)
