"""Suite files: one YAML per paper table, a list of cells, shared defaults by inheritance.

A suite file::

    include: _defaults/paper.yaml        # shared `defaults:` and `scales:` (deep-merged)
    suite: table3_zero_shot
    aliases: [zero_shot]
    title: "Table 3: zero-shot evaluation on Stanford2D3D"
    defaults: {train: {...}, eval: {...}}  # merged under every cell
    scales: {tiny: {...}}                  # merged over every cell with --scale tiny
    cells:
      unifuse_m_all: {train: {student: {name: unifuse}}}
      unifuse_m_all_st: {extends: unifuse_m_all, train: {pseudo: [{dataset: structured3d, split: all}]}}

A cell resolves as ``defaults ← variants[variant] ← extends chain ← cell ← scales[scale] ←
cell.scales[scale] ← cell.variants[variant]`` (``←``: the right side is deep-merged over the left):
a variant is an alternative set of defaults that a cell's explicit choice overrides, a scale
overrides everything. The result is
validated into :class:`Cell`, whose ``train``/``eval`` are the same settings ``repro train`` and
``repro eval`` read (:mod:`repro.run_settings`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from repro.config import (
    ConfigDict,
    ConfigError,
    Location,
    deep_merge,
    from_data,
    load_config,
    resolve_extends,
)
from repro.run_settings import DataRef, EvalSettings, TrainSettings

CellKind = Literal["train", "eval_only", "cited"]
SUITE_KEYS = (
    "suite",
    "title",
    "aliases",
    "paper_table",
    "description",
    "expected",
    "verdict_evaluator",
    "default_scale",
    "defaults",
    "scales",
    "variants",
    "cells",
    "released_checkpoints",  # read by repro.suite.released (`repro suite NAME --checkpoints DIR`)
)


@dataclass
class SynthSpec:
    """Stand in procedural synthetic data (in each dataset's real layout) for every dataset read.

    Used by the smoke suite and ``--scale tiny``; generated under the data root when missing.
    """

    count: int = 8  # panoramas per split
    height: int = 64  # width = 2 × height
    seed: int = 0
    styles: dict[str, str] = field(default_factory=dict)  # dataset -> visual style of the synthetic world
    options: dict[str, Any] = field(default_factory=dict)  # passed to the generator


@dataclass
class Cell:
    """One row of a paper table: train this student on these data, evaluate it there.

    ``kind``: ``train`` (train then evaluate), ``eval_only`` (evaluate an existing model: the
    teacher on equirect images or user-supplied predictions), ``cited`` (numbers the paper quotes
    from other papers: reported beside ours, never run). Sections a kind does not use are
    rejected in the cell and not inherited from the defaults.
    """

    name: str = ""
    kind: CellKind = "train"
    row: str = ""  # the paper row, e.g. "UniFuse | Affine-Inv | M-all, ST-all (p) | SF"
    notes: str = ""
    train: TrainSettings | None = None
    eval: EvalSettings | None = None
    seeds: list[int] = field(default_factory=lambda: [0])
    synthetic: SynthSpec | None = None

    def __post_init__(self) -> None:
        if self.kind == "cited":
            if self.train or self.eval or self.synthetic:
                raise ValueError("a cited cell is never run: it has no train/eval/synthetic sections")
            self.seeds = []
            return
        if self.kind == "eval_only" and self.train is not None:
            raise ValueError("an eval_only cell has no train: section")
        if self.kind == "train" and self.train is None:
            raise ValueError("a 'train' cell needs a train: section")
        if self.eval is None:
            raise ValueError(f"a '{self.kind}' cell needs an eval: section")
        if not self.seeds:
            raise ValueError("seeds: at least one seed is needed")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must be distinct, got {self.seeds}")

    @property
    def depends_on(self) -> str | None:
        return self.train.init_cell if self.train else None

    def datasets(self) -> list[DataRef]:
        """Every dataset split this cell reads (labeled, pseudo, test)."""
        refs = [*self.train.labeled, *self.train.pseudo] if self.train else []
        return refs + ([self.eval.dataset] if self.eval else [])


@dataclass
class Suite:
    name: str
    title: str
    path: Path
    scale: str
    cells: dict[str, Cell]
    variant: str | None = None
    default_scale: str = "full"
    aliases: list[str] = field(default_factory=list)
    paper_table: str = ""
    description: str = ""
    expected_path: Path | None = None
    verdict_evaluator: str | None = None  # overrides the expected file's evaluator: for every cell

    def ordered(self, names: list[str] | None = None) -> list[Cell]:
        """Cells in file order, dependencies first; ``names`` selects (with their dependencies)."""
        wanted = list(self.cells) if names is None else names
        for n in wanted:
            if n not in self.cells:
                raise ConfigError(f"suite '{self.name}' has no cell '{n}' (cells: {', '.join(self.cells)})")
        out: list[str] = []

        def visit(n: str) -> None:
            dep = self.cells[n].depends_on
            if dep and dep not in out:
                visit(dep)
            if n not in out:
                out.append(n)

        for n in wanted:
            visit(n)
        return [self.cells[n] for n in out]

    def groups(self) -> list[list[str]]:
        """Cells that must run on one machine (a cell and the cells it starts from), for sharding."""
        root = {n: n for n in self.cells}

        def find(n: str) -> str:
            while root[n] != n:
                n = root[n]
            return n

        for n, cell in self.cells.items():
            if cell.depends_on:
                root[find(n)] = find(cell.depends_on)
        groups: dict[str, list[str]] = {}
        for n in self.cells:
            groups.setdefault(find(n), []).append(n)
        return list(groups.values())


def _check_keys(raw: ConfigDict) -> None:
    for key in raw:
        if key not in SUITE_KEYS:
            raise ConfigError(f"unknown suite key (allowed: {', '.join(SUITE_KEYS)})", raw.where(key), str(key))
    for key in ("suite", "cells"):
        if key not in raw:
            raise ConfigError("missing required key", raw.location, key)


def _mapping(raw: ConfigDict, key: str) -> ConfigDict:
    value = raw.get(key)
    if value is None:
        return ConfigDict(location=raw.where(key))
    if not isinstance(value, dict):
        raise ConfigError("expected a mapping", raw.where(key), key)
    return value


_UNUSED_SECTIONS = {"cited": ("train", "eval", "seeds", "synthetic"), "eval_only": ("train",), "train": ()}


def _without(mapping: Any, keys: tuple[str, ...]) -> Any:
    if not isinstance(mapping, ConfigDict) or not keys:
        return mapping
    out = mapping.copy()
    for k in keys:
        out.pop(k, None)
    return out


def _overlay(raw: ConfigDict, section: str, choice: str | None, implicit: tuple[str, ...] = ()) -> ConfigDict | None:
    """The overlay ``raw[section][choice]`` (scales, variants); None for an implicit choice."""
    table = _mapping(raw, section)
    if choice is None or (choice in implicit and choice not in table):
        return None
    if choice not in table:
        known = ", ".join([*implicit, *table]) or "none"
        raise ConfigError(
            f"suite defines no {section[:-1]} '{choice}' ({section}: {known})", raw.where(section), section
        )
    if not isinstance(table[choice], dict):
        raise ConfigError("expected a mapping", table.where(choice), f"{section}.{choice}")
    return table[choice]


def load_suite(path: str | os.PathLike[str], *, scale: str | None = None, variant: str | None = None) -> Suite:
    """Load, inherit and validate a suite file; every error names file, line and key.

    ``scale`` picks an overlay from ``scales:`` (default: the suite's ``default_scale``, else
    ``full``, which is no overlay); ``variant`` one from ``variants:`` (e.g. ``released_code``).
    """
    path = Path(path)
    raw = load_config(path)
    _check_keys(raw)
    defaults, cells_raw = _mapping(raw, "defaults"), _mapping(raw, "cells")
    if not cells_raw:
        raise ConfigError("a suite needs at least one cell", raw.where("cells"), "cells")
    default_scale = str(raw.get("default_scale", "full"))
    scale = scale or default_scale
    scale_overlay = _overlay(raw, "scales", scale, ("full",))
    variant_overlay = _overlay(raw, "variants", variant)
    for name, body in cells_raw.items():
        if not isinstance(body, dict):
            raise ConfigError("expected a mapping", cells_raw.where(name), f"cells.{name}")
        if "name" in body:
            raise ConfigError("a cell's name is its key; remove name:", body.where("name"), f"cells.{name}.name")
    cells: dict[str, Cell] = {}
    for name, body in resolve_extends(cells_raw).items():
        body = body.copy()
        own_overlays = [body.pop(section, None) or {} for section in ("scales", "variants")]
        kind = body.get("kind", defaults.get("kind", "train"))
        unused = _UNUSED_SECTIONS.get(kind, ())
        for key in unused:
            if key in body:
                raise ConfigError(f"a {kind} cell has no {key}: section", body.where(key), f"cells.{name}.{key}")
        # A variant changes defaults (a cell's explicit choice wins); a scale overrides the cell.
        merged = _without(defaults, unused)
        if variant_overlay:
            merged = deep_merge(merged, _without(variant_overlay, unused))
        merged = deep_merge(merged, body)
        if scale_overlay:
            merged = deep_merge(merged, _without(scale_overlay, unused))
        for table, choice in zip(own_overlays, (scale, variant), strict=True):
            if choice is not None and choice in table:
                merged = deep_merge(merged, _without(table[choice], unused))
        merged = deep_merge(merged, {"name": name})
        cells[name] = from_data(Cell, merged, path=f"cells.{name}", where=cells_raw.where(name))
    for cell in cells.values():
        dep = cell.depends_on
        key = f"cells.{cell.name}.train.init_from"
        if dep is not None and dep not in cells:
            raise ConfigError(f"init_from names unknown cell '{dep}'", cells_raw.where(cell.name), key)
        if dep is not None and cells[dep].kind != "train":
            raise ConfigError(f"init_from cell '{dep}' is not a train cell", cells_raw.where(cell.name), key)
    _check_dependency_cycles(cells, cells_raw)
    expected = raw.get("expected")
    expected_path = (path.parent / expected) if isinstance(expected, str) else default_expected_path(path, raw["suite"])
    return Suite(
        name=str(raw["suite"]),
        title=str(raw.get("title", raw["suite"])),
        path=path,
        scale=scale,
        variant=variant,
        default_scale=default_scale,
        cells=cells,
        aliases=[str(a) for a in raw.get("aliases") or []],
        paper_table=str(raw.get("paper_table", "")),
        description=str(raw.get("description", "")),
        expected_path=expected_path if expected_path.is_file() else None,
        verdict_evaluator=_verdict_evaluator(raw),
    )


def _verdict_evaluator(raw: ConfigDict) -> str | None:
    from repro.suite.expected import EVALUATOR_NAMES

    value = raw.get("verdict_evaluator")
    if value is not None and value not in EVALUATOR_NAMES:
        raise ConfigError(
            f"verdict_evaluator must be one of {', '.join(EVALUATOR_NAMES)}", raw.where("verdict_evaluator"), str(value)
        )
    return None if value is None else str(value)


def _check_dependency_cycles(cells: dict[str, Cell], cells_raw: ConfigDict) -> None:
    for start in cells:
        seen, n = [start], cells[start].depends_on
        while n is not None:
            if n in seen:
                chain = " -> ".join([*seen, n])
                raise ConfigError(f"init_from cycle: {chain}", cells_raw.where(start), f"cells.{start}.train.init_from")
            seen.append(n)
            n = cells[n].depends_on


def default_expected_path(suite_path: Path, name: str) -> Path:
    """``suites/NAME.yaml`` ↔ ``expected/NAME.yaml`` beside it."""
    return suite_path.parent.parent / "expected" / f"{name}.yaml"


# --------------------------------------------------------------------------- discovery


def suites_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Where suite files live: ``--suites``, ``$REPRO_SUITES``, ``./suites``, or the source tree's."""
    candidates = [
        explicit,
        os.environ.get("REPRO_SUITES"),
        Path.cwd() / "suites",
        Path(__file__).resolve().parents[2] / "suites",
    ]
    for cand in candidates:
        if cand and Path(cand).is_dir():
            return Path(cand)
    raise ConfigError("no suites folder found: pass --suites DIR or set REPRO_SUITES")


def iter_suite_files(directory: Path) -> Iterator[Path]:
    """Suite files (``_``-prefixed files and folders hold shared defaults, not suites)."""
    yield from sorted(p for p in directory.glob("*.yaml") if not p.name.startswith("_"))


def find_suite(name: str, directory: Path) -> Path:
    """A suite file by name, alias or path."""
    as_path = Path(name)
    if as_path.suffix in (".yaml", ".yml") and as_path.is_file():
        return as_path
    direct = directory / f"{name}.yaml"
    if direct.is_file():
        return direct
    for path in iter_suite_files(directory):
        raw = load_config(path)
        if name in (raw.get("aliases") or []):
            return path
    known = ", ".join(p.stem for p in iter_suite_files(directory))
    raise ConfigError(f"no suite '{name}' in {directory} (suites: {known})", Location(str(directory), 0))
