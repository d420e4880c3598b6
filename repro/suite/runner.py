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
      report.{txt,md,json,png,html}
    runs/_cache/train/<key>.json    checkpoints by training key, shared by suites (Table 7's 1:1
    runs/_cache/train/<key>/final.pt  cell is Table 3's UniFuse M-all + ST-all cell: trained once),
                                    stored by key and verified by hash on reuse (suite.train_cache)
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

from repro.atomic import json_text, write_text
from repro.config import config_hash, dump_yaml, to_plain
from repro.suite import provenance, train_cache
from repro.suite.cost import cell_estimates, estimate
from repro.suite.evidence import read_evaluation
from repro.suite.executor import CellExecutor, CellSkipped, RunContext
from repro.suite.expected import ExpectedFile
from repro.suite.fingerprint import dataset_manifest
from repro.suite.lock import held, lock_path
from repro.suite.schema import Cell, Suite
from repro.suite.verdicts import judge_result
from repro.suite.vram import DEFAULT_BUDGET_GIB, GIB, VramMonitor

RESULT_SCHEMA = "repro.suite.result/1"
SEED_SCHEMA = "repro.suite.seed/1"
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
    gpus_per_cell: int = 1  # ranks training one cell (DDP; one GPU each on CUDA)
    budget_gib: float = DEFAULT_BUDGET_GIB
    profile_steps: int = 10
    keep_optimizer: bool = False  # keep each finished training's last.pt (optimizer state)
    progress: bool = True  # progress bars of training and evaluation (--no-progress)


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
    write_text(path, json_text(to_plain(data)))  # strict: a NaN becomes null, listed under "non_finite"


def _device_kind(device: str | None) -> str:
    """``cuda`` or ``cpu``: where a profile ran (None: CUDA when available, as the stages choose)."""
    if device is not None:
        return "cuda" if str(device).startswith("cuda") else "cpu"
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _recipe_record(cell: Cell) -> dict[str, Any] | None:
    """Which schedule this cell trained with (baseline recipe choice, batch, epochs/steps)."""
    if cell.train is None:
        return None
    t = cell.train
    assert t is not None
    choice = "distilled" if t.pseudo else t.baseline_recipe
    sched = t.schedule
    return {"recipe": choice, "batch_size": sched.batch_size, "epochs": sched.epochs, "steps": sched.steps}


def gpu_step_time(profile: dict[str, Any]) -> float | None:
    """A profile's step time when it was measured on a GPU; None for a CPU profile (older profiles
    without ``device`` count as CPU unless their provenance lists a GPU)."""
    device = profile.get("device")
    on_gpu = device == "cuda" if device else bool((profile.get("provenance") or {}).get("gpus"))
    return profile.get("step_time_s") if on_gpu else None


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
    plain = to_plain(cell)
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
                        to_plain(dataclasses.replace(cell.train, seed=seed)),  # type: ignore[type-var]
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
        write_text(cell_dir / "resolved.yaml", dump_yaml(cell))
        with self._cell_log(cell_dir):
            return self._run_cell(cell, cell_dir)

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

        try:
            self._check_dependency(cell)
            keys = self._stage("data", stages, partial(self._prepare_data, cell, ctx))
            previous = read_json(cell_dir / "result.json")
            if self._is_current(previous, keys):
                log.info("%s: unchanged since its stored result (key %s): not re-run", cell.name, keys["cell"])
                return CellOutcome(cell.name, "cached", previous)  # type: ignore[arg-type]
            self._stage("masks", stages, partial(self._prepare_masks, cell, ctx))
            for seed in cell.seeds:
                record: dict[str, Any] = {"seed": seed, "stages": {}}
                seeds.append(record)
                self._run_seed(cell, seed, keys, root, cell_dir, record)
        except (CellSkipped, StageFailed) as exc:
            status, error = self._failure(cell, cell_dir, exc)
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

    def _is_current(self, previous: dict[str, Any] | None, keys: dict[str, Any]) -> bool:
        return bool(
            previous
            and not self.options.force
            and previous.get("status") == "ok"
            and previous.get("keys", {}).get("cell") == keys["cell"]
        )

    def _prepare_data(self, cell: Cell, ctx: RunContext) -> dict[str, Any]:
        """The cell's data (one process per data root at a time), then its keys."""
        root = self.data_root(cell)
        with held(lock_path(self.options.out, "data", config_hash(str(root.resolve()), 16)), f"{cell.name}: data"):
            self.executor.prepare_data(cell, ctx)
        return self.keys(cell)  # data manifests are read after the data exists

    def _prepare_masks(self, cell: Cell, ctx: RunContext) -> None:
        root = self.data_root(cell)
        with held(lock_path(self.options.out, "data", config_hash(str(root.resolve()), 16)), f"{cell.name}: masks"):
            self.executor.prepare_masks(cell, ctx)

    @staticmethod
    def _failure(cell: Cell, cell_dir: Path, exc: CellSkipped | StageFailed) -> tuple[str, dict[str, Any]]:
        """Status and error record of a skipped or failed cell (the traceback goes to error.txt)."""
        if isinstance(exc, CellSkipped):
            log.warning("%s skipped: %s", cell.name, exc)
            return "skipped", {"stage": "data", "type": "CellSkipped", "message": str(exc)}
        trace = "".join(traceback.format_exception(exc.error))
        write_text(cell_dir / "error.txt", trace)
        log.error("%s failed in %s: %s", cell.name, exc.stage, exc.error)
        log.info("traceback (also in %s):\n%s", cell_dir / "error.txt", trace)  # cell.log, not the console
        return "failed", {"stage": exc.stage, "type": type(exc.error).__name__, "message": str(exc.error)}

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
        seed_record = (read_json(self.run_dir / dep.name / f"seed{want}" / "seed.json") or {}).get("record", {})
        for rec in [*dep_result.get("seeds", []), seed_record]:  # a scheduler job's cell has only seed records
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
            with held(lock_path(self.options.out, "train", train_key), f"{cell.name} seed {seed}: training"):
                checkpoint = self._train_or_reuse(cell, run, seed, train_key, root, seed_dir, record)
            record["checkpoint"] = str(checkpoint)
        ctx = RunContext(
            self.suite.name, cell.name, seed, seed_dir / "eval", root, self.options.device, progress=self.options.progress
        )
        metrics = self._stage("eval", record["stages"], lambda: self.executor.evaluate(run, checkpoint, ctx))
        record["metrics"] = metrics
        record["eval_dir"] = str(ctx.out_dir)
        record.update(read_evaluation(ctx.out_dir))  # every evaluator's aggregate and per-image values

    def _train_or_reuse(
        self, cell: Cell, run: Cell, seed: int, train_key: str, root: Path, seed_dir: Path, record: dict[str, Any]
    ) -> Path:
        """Train this seed, or reuse the verified checkpoint of its training key (under the key's lock).

        The cell evaluates (and records) the cache's copy, whose path is derived from the key, so a
        later retraining of this cell with another configuration cannot change what it points at.
        """
        cached, entry = (None, {}) if self.options.force else train_cache.lookup(self.options.out, train_key)
        if cached is not None:
            record["train_reused_from"] = entry.get("cell")
            log.info("%s seed %d: training reused from %s (%s)", cell.name, seed, entry.get("cell"), cached)
            return cached

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
                force=self.options.force,
                keep_optimizer=self.options.keep_optimizer,
                ranks=self.options.gpus_per_cell,
                progress=self.options.progress,
            )
            return self.executor.train(run, ctx)

        checkpoint = self._stage("train", record["stages"], train)
        if not Path(checkpoint).is_file():
            raise StageFailed("train", FileNotFoundError(f"the trainer returned {checkpoint}, not a file"))
        return train_cache.store(
            self.options.out, train_key, Path(checkpoint), cell=f"{run_name(self.suite)}/{cell.name}", seed=seed
        )

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

    # ----------------------------------------------------------------- scheduler jobs (one per cell × seed)

    def cached_result(self, cell: Cell) -> dict[str, Any] | None:
        """The stored result when it is current (a launcher does not submit such a cell)."""
        previous = read_json(self.run_dir / cell.name / "result.json")
        if cell.kind == "cited" or not previous:
            return None
        return previous if self._is_current(previous, self.keys(cell)) else None

    def seed_record_path(self, cell: str, seed: int) -> Path:
        return self.run_dir / cell / f"seed{seed}" / "seed.json"

    def run_seed_job(self, name: str, seed: int) -> dict[str, Any]:
        """One seed of one cell as a job runs it (data, masks, train, eval); its record goes to
        ``<cell>/seed<k>/seed.json`` and :meth:`finish_cell` assembles the cell's result.json."""
        cell = self.suite.cells[name]
        cell_dir = self.run_dir / name
        write_text(cell_dir / "resolved.yaml", dump_yaml(cell))
        started = time.time()
        root = self.data_root(cell)
        ctx = RunContext(self.suite.name, name, seed, cell_dir, root, self.options.device, self.options.resume)
        stages: dict[str, Any] = {}
        record: dict[str, Any] = {"seed": seed, "stages": {}}
        keys: dict[str, Any] = {}
        status, error = "ok", None
        with self._cell_log(cell_dir):
            try:
                keys = self._stage("data", stages, partial(self._prepare_data, cell, ctx))
                self._stage("masks", stages, partial(self._prepare_masks, cell, ctx))
                self._run_seed(cell, seed, keys, root, cell_dir, record)
            except (CellSkipped, StageFailed) as exc:
                status, error = self._failure(cell, cell_dir, exc)
        out = {
            "schema": SEED_SCHEMA,
            "cell": name,
            "seed": seed,
            "status": status,
            "error": error,
            "keys": keys,
            "stages": stages,
            "record": record,
            "started": started,
            "wall_time_s": round(time.time() - started, 3),
        }
        write_json(self.seed_record_path(name, seed), out)
        return out

    def finish_cell(self, name: str) -> CellOutcome:
        """The cell's result.json from its seed records; a seed without one failed as a job."""
        cell = self.suite.cells[name]
        if cell.kind == "cited":
            return self.run_cell(cell)
        records = {seed: read_json(self.seed_record_path(name, seed)) for seed in cell.seeds}
        done = [r for r in records.values() if r]
        missing = [seed for seed, r in records.items() if not r]
        bad = next((r for r in done if r["status"] != "ok"), None)
        status, error = ("ok", None) if bad is None else (bad["status"], bad["error"])
        if missing:
            status = "failed"
            error = {
                "stage": "job",
                "type": "JobEnded",
                "message": f"seed(s) {', '.join(map(str, missing))} ended without a result "
                f"(`repro suite status {self.run_dir}` shows the job state and log)",
            }
        stages: dict[str, Any] = {}
        for r in done:
            for stage, entry in r["stages"].items():
                merged = stages.setdefault(stage, {"wall_s": 0.0, "vram": entry.get("vram")})
                merged["wall_s"] += entry.get("wall_s", 0.0)
        keys = next((r["keys"] for r in done if r.get("keys")), {})
        for root in keys.get("data_roots", {}):
            self._manifest(Path(root))  # for provenance
        result = self._result(
            cell,
            status,
            started=min((r["started"] for r in done), default=time.time()),
            keys=keys,
            stages=stages,
            seeds=[r["record"] for r in done],
            error=error,
            wall_time_s=round(sum(r["wall_time_s"] for r in done), 3),
        )
        write_json(self.run_dir / name / "result.json", result)
        return CellOutcome(name, status, result)

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
        wall_time_s: float | None = None,
    ) -> dict[str, Any]:
        seeds = seeds or []
        measured: dict[str, list[float]] = {}
        if status == "ok":
            for rec in seeds:
                for m, v in rec.get("metrics", {}).items():
                    measured.setdefault(m, []).append(v)
        verdicts = None
        if self.expected is not None and cell.name in self.expected.cells and status in ("ok", "cited"):
            compare = self.expected.compares_at(self.suite.scale)
            verdicts = judge_result(self.expected, cell.name, {"status": status, "seeds": seeds}, compare=compare)
        wall = time.time() - started if wall_time_s is None else wall_time_s
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
            "train_recipe": _recipe_record(cell),
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
            prof = read_json(self.run_dir / cell.name / "profile.json") or {}
            step_time = gpu_step_time(prof)
            cost = estimate(cell, step_time)
            peak = (prof.get("vram") or {}).get("peak") if step_time is not None else None
            estimates = cell_estimates(cell, step_time, peak / GIB if peak else None, self.options.budget_gib, cost)
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
            rows.append(
                {
                    "cell": cell,
                    "state": state,
                    "cost": cost,
                    "estimates": estimates,
                    "missing_data": sorted(set(missing)),
                }
            )
        return rows

    def profile(self, progress: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
        """``--random-init``: full-size steps with random weights per cell; VRAM and step time."""
        out = []
        for cell in self.selected():
            if cell.kind == "cited":
                continue
            ctx = RunContext(
                self.suite.name,
                cell.name,
                cell.seeds[0],
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
                    "profile", stages, partial(self.executor.profile, cell, ctx, self.options.profile_steps)
                )
                record.update(figures)
            except StageFailed as exc:
                record["status"] = "failed"
                record["error"] = {"stage": "profile", "type": type(exc.error).__name__, "message": str(exc.error)}
            record["vram"] = stages["profile"]["vram"]
            record["wall_s"] = stages["profile"]["wall_s"]
            record["device"] = _device_kind(self.options.device)
            cost = estimate(cell, gpu_step_time(record))  # a CPU step time is never GPU time
            record["estimate"] = {"steps": cost.steps, "seeds": cost.seeds, "gpu_hours": cost.gpu_hours}
            record["provenance"] = provenance.collect(
                seeds=cell.seeds,
                config_hash=config_hash(_config_for_key(cell)),
                teachers=provenance.teachers(cell, random_init=True),
            )
            write_json(self.run_dir / cell.name / "profile.json", record)
            if progress:
                progress(f"{cell.name}: {record['status']}")
            out.append(record)
        return out
