"""Run a suite cell by cell: data → masks → train → eval → diff, cached, resumable, shardable.

Layout of a run (``--out runs``)::

    runs/<suite>[-<scale>][-<variant>]/
      suite.json                    the suite and its expected numbers, as run (reports need nothing else)
      <cell>/resolved.yaml          the cell's full config, recipe defaults written out
      <cell>/cell.log               this cell's log (stage errors with their traceback)
      <cell>/seed<k>/train/         checkpoints and training logs (written by the trainer)
      <cell>/seed<k>/eval/          per-image metrics (written by the evaluator)
      <cell>/result.json            written when the cell ends, whatever the outcome
      <cell>/profile.json           --random-init: step time and VRAM at full size
      report.{txt,md,json,png}
    runs/_cache/train/<key>.json    checkpoints by training key, shared by suites (Table 7's 1:1
                                    cell is Table 3's UniFuse M-all + ST-all cell: trained once)
    runs/_data/synthetic-<hash>/    synthetic datasets of smoke / --scale tiny cells

Cache keys: ``cell`` = hash(resolved config, data manifests, code hash, dependency's key); a cell
whose stored result is ``ok`` with the same key is not run again. ``train`` = the same restricted
to what training reads, per seed. The code hash excludes modules that cannot change a number
(:mod:`repro.suite.provenance`). ``--force`` ignores both caches; ``--resume`` lets interrupted or
failed training continue from its last checkpoint instead of restarting.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import logging
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from repro.config import atomic_write_text, config_hash, dump_yaml, to_plain
from repro.suite import provenance
from repro.suite.cost import estimate
from repro.suite.executor import CellExecutor, CellSkipped, RunContext
from repro.suite.expected import ExpectedFile, judge_cell
from repro.suite.manifest import dataset_manifest
from repro.suite.schema import Cell, Suite
from repro.suite.vram import DEFAULT_BUDGET_GIB, VramMonitor

RESULT_SCHEMA = "repro.suite.result/1"
RUN_SCHEMA = "repro.suite.run/1"
PROFILE_SCHEMA = "repro.suite.profile/1"
log = logging.getLogger("repro.suite")
T = TypeVar("T")


@dataclass
class RunOptions:
    out: Path = Path("runs")
    data_root: Path = Path("data")
    cells: list[str] | None = None
    shard: tuple[int, int] | None = None  # (index, count), index 0-based
    resume: bool = False
    force: bool = False
    device: str | None = None
    budget_gib: float = DEFAULT_BUDGET_GIB
    profile_steps: int = 10


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/n"`` with 0 ≤ i < n (0-based, like SLURM's default array indices)."""
    head, sep, tail = text.partition("/")
    if not (sep and head.isdigit() and tail.isdigit()) or not 0 <= int(head) < int(tail):
        raise ValueError(f"--shard must be i/n with 0 <= i < n, got {text!r}")
    return int(head), int(tail)


def run_name(suite: Suite) -> str:
    """The run folder: the suite, plus its scale and variant when they are not the defaults."""
    parts = [suite.name]
    if suite.scale != suite.default_scale:
        parts.append(suite.scale)
    if suite.variant:
        parts.append(suite.variant)
    return "-".join(parts)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(to_plain(data), indent=2, sort_keys=False, allow_nan=True) + "\n")


class StageFailed(Exception):
    def __init__(self, stage: str, error: BaseException) -> None:
        super().__init__(f"{stage}: {type(error).__name__}: {error}")
        self.stage, self.error = stage, error


@dataclass
class CellOutcome:
    name: str
    status: str  # ok | failed | skipped | cited | cached | interrupted
    result: dict[str, Any] = field(default_factory=dict)


def _config_for_key(cell: Cell) -> dict[str, Any]:
    """What determines a cell's numbers: its resolved config without labels and notes."""
    plain = to_plain(cell.resolved())
    for k in ("name", "row", "notes"):
        plain.pop(k, None)
    return plain


class SuiteRunner:
    def __init__(
        self, suite: Suite, executor: CellExecutor, options: RunOptions, expected: ExpectedFile | None = None
    ) -> None:
        self.suite, self.executor, self.options, self.expected = suite, executor, options, expected
        self.run_dir = options.out / run_name(suite)
        self._manifests: dict[Path, dict[str, Any]] = {}
        self._keys: dict[str, dict[str, Any]] = {}

    # ----------------------------------------------------------------- selection

    def selected(self) -> list[Cell]:
        """``--cells`` (plus their dependencies) in dependency order, then this shard's share."""
        cells = self.suite.ordered(self.options.cells)
        if self.options.shard is None:
            return cells
        index, count = self.options.shard
        mine = {n for g_i, group in enumerate(self.suite.groups()) if g_i % count == index for n in group}
        return [c for c in cells if c.name in mine]

    # ----------------------------------------------------------------- paths and keys

    def data_root(self, cell: Cell) -> Path:
        """Real data under ``--data-root``; synthetic data under the output folder, never mixed."""
        if cell.synthetic is not None:
            return self.options.out / "_data" / f"synthetic-{config_hash(cell.synthetic, 10)}"
        return self.options.data_root

    def _manifest(self, root: Path) -> dict[str, Any]:
        if root not in self._manifests:
            self._manifests[root] = dataset_manifest(root)
        return self._manifests[root]

    def keys(self, cell: Cell) -> dict[str, Any]:
        """Cache keys of a cell (data manifests are read once per run)."""
        if cell.name in self._keys:
            return self._keys[cell.name]
        root = self.data_root(cell)
        code = provenance.code_hash()
        roots = {ref.root_dir(root) for ref in cell.datasets()}
        if cell.eval is not None and cell.eval.model == "predictions":
            roots.add(root / str(cell.eval.predictions))  # user-supplied predictions are data too
        if cell.train is not None and cell.train.init_from and cell.depends_on is None:
            roots.add(Path(cell.train.init_from).parent)  # an external starting checkpoint
        data = {str(r): self._manifest(r)["hash"] for r in sorted(roots)}
        dep = self.suite.cells[cell.depends_on] if cell.depends_on else None
        dep_keys = self.keys(dep) if dep is not None else None
        keys: dict[str, Any] = {
            "config": config_hash(_config_for_key(cell)),
            "data": config_hash(data),
            "code": code,
            "data_roots": data,
        }
        keys["cell"] = config_hash([keys["config"], keys["data"], code, dep_keys["cell"] if dep_keys else None])
        if cell.train is not None:
            train_data = {
                str(r.root_dir(root)): self._manifest(r.root_dir(root))["hash"]
                for r in [*cell.train.labeled, *cell.train.pseudo]
            }
            keys["train"] = {
                str(seed): config_hash(
                    [
                        to_plain(dataclasses.replace(cell.resolved().train, seed=seed)),  # type: ignore[type-var]
                        train_data,
                        code,
                        self._dep_train_key(dep_keys, dep, seed),
                    ]
                )
                for seed in cell.seeds
            }
        self._keys[cell.name] = keys
        return keys

    @staticmethod
    def _dep_seed(dep: Cell, seed: int) -> int:
        return seed if seed in dep.seeds else dep.seeds[0]

    def _dep_train_key(self, dep_keys: dict[str, Any] | None, dep: Cell | None, seed: int) -> str | None:
        if dep_keys is None or dep is None:
            return None
        return dep_keys["train"][str(self._dep_seed(dep, seed))]

    def _cache_entry(self, train_key: str) -> Path:
        return self.options.out / "_cache" / "train" / f"{train_key}.json"

    # ----------------------------------------------------------------- running

    def write_suite_json(self) -> None:
        exp = to_plain(self.expected) if self.expected else None
        write_json(
            self.run_dir / "suite.json",
            {
                "schema": RUN_SCHEMA,
                "suite": self.suite.name,
                "title": self.suite.title,
                "paper_table": self.suite.paper_table,
                "suite_file": str(self.suite.path),
                "scale": self.suite.scale,
                "variant": self.suite.variant,
                "cells": list(self.suite.cells),
                "rows": {n: c.row for n, c in self.suite.cells.items()},
                "kinds": {n: c.kind for n, c in self.suite.cells.items()},
                "expected": exp,
                "budget_gib": self.options.budget_gib,
                "written_at": _now(),
            },
        )

    def run(self, progress: Callable[[str], None] | None = None) -> list[CellOutcome]:
        """Run the selected cells; each result is on disk as soon as its cell ends."""
        self.write_suite_json()
        cells = self.selected()
        outcomes = []
        for i, cell in enumerate(cells, 1):
            if progress:
                progress(f"[{i}/{len(cells)}] {cell.name} ({cell.kind})")
            outcome = self.run_cell(cell)
            outcomes.append(outcome)
            if progress:
                err = outcome.result.get("error") or {}
                detail = f": {err.get('stage')}: {err.get('message')}" if err else ""
                progress(f"[{i}/{len(cells)}] {cell.name}: {outcome.status}{detail}")
        return outcomes

    def run_cell(self, cell: Cell) -> CellOutcome:
        cell_dir = self.run_dir / cell.name
        if cell.kind == "cited":
            result = self._result(cell, "cited", started=time.time())
            write_json(cell_dir / "result.json", result)
            return CellOutcome(cell.name, "cited", result)
        resolved = cell.resolved()
        atomic_write_text(cell_dir / "resolved.yaml", dump_yaml(resolved))
        with self._cell_log(cell_dir):
            return self._run_cell(resolved, cell_dir)

    def _run_cell(self, cell: Cell, cell_dir: Path) -> CellOutcome:
        started = time.time()
        root = self.data_root(cell)
        ctx = RunContext(
            self.suite.name, cell.name, cell.seeds[0], cell_dir, root, self.options.device, self.options.resume
        )
        stages: dict[str, Any] = {}
        seeds: list[dict[str, Any]] = []
        keys: dict[str, Any] = {}
        status, error = "ok", None

        def prepare() -> dict[str, Any]:
            self.executor.prepare_data(cell, ctx)
            return self.keys(cell)  # data manifests are read after the data exists

        try:
            self._check_dependency(cell)
            keys = self._stage("data", stages, prepare)
            previous = read_json(cell_dir / "result.json")
            if (
                previous
                and not self.options.force
                and previous.get("status") == "ok"
                and previous.get("keys", {}).get("cell") == keys["cell"]
            ):
                log.info("%s: unchanged since its stored result (key %s): not re-run", cell.name, keys["cell"])
                return CellOutcome(cell.name, "cached", previous)
            self._stage("masks", stages, lambda: self.executor.prepare_masks(cell, ctx))
            for seed in cell.seeds:
                record: dict[str, Any] = {"seed": seed, "stages": {}}
                seeds.append(record)
                self._run_seed(cell, seed, keys, root, cell_dir, record)
        except CellSkipped as exc:
            status, error = "skipped", {"stage": "data", "type": "CellSkipped", "message": str(exc)}
            log.warning("%s skipped: %s", cell.name, exc)
        except StageFailed as exc:
            status = "failed"
            error = {"stage": exc.stage, "type": type(exc.error).__name__, "message": str(exc.error)}
            trace = "".join(traceback.format_exception(exc.error))
            atomic_write_text(cell_dir / "error.txt", trace)
            log.error("%s failed in %s: %s", cell.name, exc.stage, exc.error)
            log.info("traceback (also in %s):\n%s", cell_dir / "error.txt", trace)  # cell.log, not the console
        except KeyboardInterrupt:
            error = {"stage": None, "type": "KeyboardInterrupt", "message": "interrupted by the user"}
            result = self._result(
                cell, "interrupted", started=started, keys=keys, stages=stages, seeds=seeds, error=error
            )
            write_json(cell_dir / "result.json", result)
            raise
        result = self._result(cell, status, started=started, keys=keys, stages=stages, seeds=seeds, error=error)
        write_json(cell_dir / "result.json", result)
        return CellOutcome(cell.name, status, result)

    def _check_dependency(self, cell: Cell) -> None:
        if cell.depends_on is None:
            return
        dep = read_json(self.run_dir / cell.depends_on / "result.json")
        if not dep or dep.get("status") != "ok":
            state = dep.get("status") if dep else "not run"
            raise StageFailed("train", RuntimeError(f"init_from cell '{cell.depends_on}' has no checkpoint ({state})"))

    def _init_checkpoint(self, cell: Cell, seed: int) -> Path | None:
        train = cell.train
        if train is None or train.init_from is None:
            return None
        if cell.depends_on is None:
            return Path(train.init_from)
        dep = self.suite.cells[cell.depends_on]
        dep_result = read_json(self.run_dir / dep.name / "result.json") or {}
        want = self._dep_seed(dep, seed)
        for rec in dep_result.get("seeds", []):
            if rec.get("seed") == want and rec.get("checkpoint"):
                return Path(rec["checkpoint"])
        raise FileNotFoundError(f"cell '{dep.name}' recorded no checkpoint for seed {want}")

    def _run_seed(
        self, cell: Cell, seed: int, keys: dict[str, Any], root: Path, cell_dir: Path, record: dict[str, Any]
    ) -> None:
        seed_dir = cell_dir / f"seed{seed}"
        run = dataclasses.replace(cell, train=dataclasses.replace(cell.train, seed=seed)) if cell.train else cell
        checkpoint: Path | None = None
        if run.train is not None:
            train_key = keys["train"][str(seed)]
            record["train_key"] = train_key
            cached = None if self.options.force else read_json(self._cache_entry(train_key))
            if cached and Path(cached["checkpoint"]).is_file():
                checkpoint = Path(cached["checkpoint"])
                record["train_reused_from"] = cached.get("cell")
                log.info("%s seed %d: training reused from %s", cell.name, seed, cached.get("cell"))
            else:

                def train() -> Path:
                    ctx = RunContext(
                        self.suite.name,
                        cell.name,
                        seed,
                        seed_dir / "train",
                        root,
                        self.options.device,
                        self.options.resume,
                        self._init_checkpoint(cell, seed),
                    )
                    return self.executor.train(run, ctx)

                checkpoint = self._stage("train", record["stages"], train)
                if not Path(checkpoint).is_file():
                    raise StageFailed("train", FileNotFoundError(f"the trainer returned {checkpoint}, not a file"))
                write_json(
                    self._cache_entry(train_key),
                    {
                        "checkpoint": str(Path(checkpoint).resolve()),
                        "cell": f"{run_name(self.suite)}/{cell.name}",
                        "seed": seed,
                        "written_at": _now(),
                    },
                )
            record["checkpoint"] = str(checkpoint)
        ctx = RunContext(self.suite.name, cell.name, seed, seed_dir / "eval", root, self.options.device)
        metrics = self._stage("eval", record["stages"], lambda: self.executor.evaluate(run, checkpoint, ctx))
        record["metrics"] = metrics
        record["eval_dir"] = str(ctx.out_dir)

    def _stage(self, name: str, stages: dict[str, Any], fn: Callable[[], T]) -> T:
        """Run one stage under the VRAM monitor; record wall time and memory even when it fails."""
        t0 = time.perf_counter()
        monitor = VramMonitor(name, budget_gib=self.options.budget_gib)
        entry = stages.setdefault(name, {"wall_s": 0.0})
        try:
            with monitor:
                return fn()
        except CellSkipped:
            raise
        except StageFailed:
            raise
        except Exception as exc:
            raise StageFailed(name, exc) from exc
        finally:
            entry["wall_s"] = entry["wall_s"] + time.perf_counter() - t0
            entry["vram"] = monitor.reading.as_dict()

    @contextlib.contextmanager
    def _cell_log(self, cell_dir: Path) -> Iterator[None]:
        cell_dir.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(cell_dir / "cell.log", encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger("repro")
        root.addHandler(handler)
        old_level = root.level
        root.setLevel(min(old_level or logging.INFO, logging.INFO))
        try:
            yield
        finally:
            root.removeHandler(handler)
            root.setLevel(old_level)
            handler.close()

    # ----------------------------------------------------------------- results

    def _result(
        self,
        cell: Cell,
        status: str,
        *,
        started: float,
        keys: dict[str, Any] | None = None,
        stages: dict[str, Any] | None = None,
        seeds: list[dict[str, Any]] | None = None,
        error: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        seeds = seeds or []
        measured: dict[str, list[float]] = {}
        if status == "ok":
            for rec in seeds:
                for m, v in rec.get("metrics", {}).items():
                    measured.setdefault(m, []).append(v)
        verdicts = None
        if self.expected is not None and cell.name in self.expected.cells and status in ("ok", "cited"):
            compare = self.suite.scale == "full"
            verdicts = judge_cell(self.expected, cell.name, measured if status == "ok" else None, compare=compare)
        wall = time.time() - started
        return {
            "schema": RESULT_SCHEMA,
            "suite": self.suite.name,
            "cell": cell.name,
            "kind": cell.kind,
            "row": cell.row,
            "notes": cell.notes,
            "status": status,
            "error": error,
            "scale": self.suite.scale,
            "variant": self.suite.variant,
            "keys": keys or {},
            "stages": stages or {},
            "seeds": seeds,
            "metrics": measured,
            "verdicts": to_plain(verdicts) if verdicts is not None else None,
            "started_at": dt.datetime.fromtimestamp(started, dt.UTC).isoformat(timespec="seconds"),
            "wall_time_s": round(wall, 3),
            "provenance": provenance.collect(
                seeds=cell.seeds,
                config_hash=(keys or {}).get("config"),
                data_manifest_hash=(keys or {}).get("data"),
                data_manifests={r: self._manifests.get(Path(r)) for r in (keys or {}).get("data_roots", {})},
                wall_time_s=round(wall, 3),
                teachers=provenance.teachers(cell),
            )
            if status != "cited"
            else None,
        }

    # ----------------------------------------------------------------- dry run and profiling

    def plan(self) -> list[dict[str, Any]]:
        """What a run would do, per selected cell, without touching data or the GPU."""
        rows = []
        for cell in self.selected():
            resolved = cell.resolved()
            prof = read_json(self.run_dir / cell.name / "profile.json") or {}
            cost = estimate(resolved, prof.get("step_time_s"))
            prev = read_json(self.run_dir / cell.name / "result.json") or {}
            if cell.kind == "cited":
                state = "cited (not run)"
            elif prev.get("status") == "ok" and prev.get("keys", {}).get("config") == config_hash(
                _config_for_key(cell)
            ):
                state = "done (rerun only if data or code changed)"
            else:
                state = "to run"
            missing = (
                []
                if cell.synthetic
                else [
                    str(r.root_dir(self.options.data_root))
                    for r in cell.datasets()
                    if not r.root_dir(self.options.data_root).is_dir()
                ]
            )
            rows.append({"cell": cell, "state": state, "cost": cost, "missing_data": sorted(set(missing))})
        return rows

    def profile(self, progress: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
        """``--random-init``: full-size steps with random weights per cell; VRAM and step time."""
        out = []
        for cell in self.selected():
            if cell.kind == "cited":
                continue
            resolved = cell.resolved()
            ctx = RunContext(
                self.suite.name,
                cell.name,
                resolved.seeds[0],
                self.run_dir / cell.name / "profile",
                self.options.data_root,
                self.options.device,
            )
            stages: dict[str, Any] = {}
            record: dict[str, Any] = {
                "schema": PROFILE_SCHEMA,
                "suite": self.suite.name,
                "cell": cell.name,
                "steps": self.options.profile_steps,
                "status": "ok",
                "error": None,
            }
            try:
                figures = self._stage(
                    "profile", stages, partial(self.executor.profile, resolved, ctx, self.options.profile_steps)
                )
                record.update(figures)
            except StageFailed as exc:
                record["status"] = "failed"
                record["error"] = {"stage": "profile", "type": type(exc.error).__name__, "message": str(exc.error)}
            record["vram"] = stages["profile"]["vram"]
            record["wall_s"] = stages["profile"]["wall_s"]
            cost = estimate(resolved, record.get("step_time_s"))
            record["estimate"] = {"steps": cost.steps, "seeds": cost.seeds, "gpu_hours": cost.gpu_hours}
            record["provenance"] = provenance.collect(
                seeds=resolved.seeds,
                config_hash=config_hash(_config_for_key(resolved)),
                teachers=provenance.teachers(resolved, random_init=True),
            )
            write_json(self.run_dir / cell.name / "profile.json", record)
            if progress:
                progress(f"{cell.name}: {record['status']}")
            out.append(record)
        return out
