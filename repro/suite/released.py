"""`repro suite NAME --checkpoints DIR`: the authors' released checkpoints scored as the table's rows.

A suite file may carry a ``released_checkpoints:`` section — data, not code — mapping its cells
to files of the release, with the network each file holds and the input size it expects::

    released_checkpoints:
      source: "albert100121/Depth-Anywhere checkpoints/README.md"
      input_size: [512, 1024]                # every file's expected input size unless a cell says otherwise
      scales: {tiny: {input_size: [64, 128]}}
      cells:
        unifuse_m_all: {file: UniFuse/UniFuse.pth, student: {name: unifuse}}
        egformer_m_all: {file: [EGFormer/EGFormer.pth, EGFormer/HoHoNet.pth], student: {name: egformer}}
        depth_anything: {model: teacher_equirect}   # no file: the cell's teacher on the whole panorama

With ``--checkpoints DIR`` each mapped cell becomes an evaluation of its file (no training); a
train cell without a file, or whose file is not under ``DIR``, is reported as *skipped* with the
reason; cited cells stay cited and other eval-only cells run as usual. Every evaluated row is
scored once per test image under the suite's evaluation, the paper's and the released evaluator,
and (for the diagnosis) with each known cause of a mismatch switched
(:mod:`repro.evaluation.diagnose`). :func:`render` adds to the usual report the load report of
every file (unexpected keys by name), the verdict per evaluator, the per-image paired claims and a
diagnosis section for each row that misses. Results go to ``<out>/<run>-checkpoints/``, apart
from trained runs, and nothing enters the training cache.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tabulate import tabulate

from repro.atomic import write_json, write_text
from repro.config import ConfigError, config_hash, from_data, load_config
from repro.errors import UserError
from repro.run_settings import StudentSpec
from repro.suite.executor import CellSkipped, ReproExecutor, RunContext
from repro.suite.expected import METRIC_LABELS, ExpectedFile, judge_cell
from repro.suite.runner import RunOptions, SuiteRunner, read_json, run_name
from repro.suite.schema import Cell, Suite

SECTION = "released_checkpoints"
RUN_SUFFIX = "-checkpoints"
SHOWN = ("abs_rel", "delta1", "delta2", "delta3", "rmse_log")
EVALUATORS = ("paper", "released")


@dataclass
class ScaleOverride:
    input_size: tuple[int, int] | None = None


@dataclass
class ReleasedEntry:
    """One cell's released model: a file (first existing candidate) and the network it holds."""

    file: str | list[str] | None = None  # relative to --checkpoints
    student: StudentSpec | None = None
    model: Literal["student", "teacher_equirect"] = "student"
    input_size: tuple[int, int] | None = None
    scales: dict[str, ScaleOverride] = field(default_factory=dict)  # e.g. a bigger size at --scale tiny
    note: str = ""

    def __post_init__(self) -> None:
        if self.model == "student" and (not self.file or self.student is None):
            raise ValueError("a released student needs file: and student:")
        if self.model == "teacher_equirect" and (self.file or self.student):
            raise ValueError("model teacher_equirect evaluates the cell's teacher: no file:, no student:")

    @property
    def files(self) -> list[str]:
        return [self.file] if isinstance(self.file, str) else list(self.file or [])


@dataclass
class ReleasedSection:
    cells: dict[str, ReleasedEntry]
    source: str = ""
    input_size: tuple[int, int] = (512, 1024)
    scales: dict[str, ScaleOverride] = field(default_factory=dict)

    def size_for(self, entry: ReleasedEntry, scale: str) -> tuple[int, int]:
        """The entry's own size at this scale, else the section's at this scale, else the defaults."""
        for override in (entry.scales.get(scale), self.scales.get(scale)):
            if override is not None and override.input_size is not None:
                return override.input_size
        return entry.input_size or self.input_size


def load_section(suite: Suite) -> ReleasedSection | None:
    """The suite's ``released_checkpoints:`` section (None when it has none); errors name file and line."""
    raw = load_config(suite.path)
    body = raw.get(SECTION)
    if body is None:
        return None
    section = from_data(ReleasedSection, body, path=SECTION, where=raw.where(SECTION))
    for name in section.cells:
        where = body["cells"].where(name)
        if name not in suite.cells:
            raise ConfigError(f"{SECTION} names unknown cell '{name}'", where, f"{SECTION}.cells.{name}")
        if suite.cells[name].kind == "cited":
            raise ConfigError(f"cell '{name}' is cited (never run): it has no checkpoint", where, f"{SECTION}.cells.{name}")
    return section


# --------------------------------------------------------------------------- the plan


@dataclass
class Plan:
    """What ``--checkpoints DIR`` does with each cell of a suite."""

    suite: Suite  # the cells as they will run: mapped and unmapped train cells become eval-only
    section: ReleasedSection
    checkpoints: Path
    files: dict[str, Path] = field(default_factory=dict)  # cell -> the file that will be scored
    entries: dict[str, ReleasedEntry] = field(default_factory=dict)  # cells evaluated by this module
    absent: dict[str, str] = field(default_factory=dict)  # cell -> why it is skipped


def plan(suite: Suite, checkpoints: Path) -> Plan:
    if not checkpoints.is_dir():
        raise UserError(f"--checkpoints {checkpoints}: no such folder (lay it out as the release's checkpoints/)")
    section = load_section(suite)
    if section is None:
        raise UserError(
            f"suite '{suite.name}' ({suite.path}) maps no cell to a released checkpoint: it has no "
            f"{SECTION}: section (table3_zero_shot has one)"
        )
    out = Plan(suite, section, checkpoints)
    cells: dict[str, Cell] = {}
    for name, cell in suite.cells.items():
        entry = section.cells.get(name)
        if cell.kind == "cited" or (entry is None and cell.kind == "eval_only"):
            cells[name] = cell
            continue
        assert cell.eval is not None
        size = section.size_for(entry, suite.scale) if entry else cell.eval.input_size
        if entry is None:
            out.absent[name] = "no released checkpoint for this row (the release has none; train it to score it)"
        elif entry.model == "student":
            found = [checkpoints / f for f in entry.files if (checkpoints / f).is_file()]
            if found:
                out.files[name] = found[0]
            else:
                tried = ", ".join(str(checkpoints / f) for f in entry.files)
                out.absent[name] = f"released checkpoint not found: {tried}"
        if entry is not None and name not in out.absent:
            out.entries[name] = entry
        evaluation = dataclasses.replace(
            cell.eval, input_size=size, model=entry.model if entry else cell.eval.model
        )
        cells[name] = dataclasses.replace(
            cell, kind="eval_only", train=None, eval=evaluation, seeds=cell.seeds[:1]
        )
    out.suite = dataclasses.replace(suite, cells=cells)
    return out


def _fingerprint(path: Path) -> str:
    stat = path.stat()
    return config_hash([str(path.resolve()), stat.st_size, stat.st_mtime_ns])


class ReleasedRunner(SuiteRunner):
    """The suite runner over a :class:`Plan`: its own run folder; each file's identity in the cell key."""

    def __init__(self, the_plan: Plan, options: RunOptions, expected: ExpectedFile | None) -> None:
        super().__init__(the_plan.suite, ReleasedExecutor(the_plan), options, expected)
        self.plan = the_plan
        self.run_dir = options.out / (run_name(the_plan.suite) + RUN_SUFFIX)

    def keys(self, cell: Cell) -> dict[str, Any]:
        keys = super().keys(cell)
        file = self.plan.files.get(cell.name)
        if file is not None and "checkpoint" not in keys:
            keys["checkpoint"] = _fingerprint(file)
            keys["cell"] = config_hash([keys["cell"], keys["checkpoint"]])
        return keys


class ReleasedExecutor(ReproExecutor):
    """Evaluates released files (and the teacher row) with both evaluators and the diagnosis switches."""

    def __init__(self, the_plan: Plan, diagnose: bool = True) -> None:
        self.plan, self.diagnose = the_plan, diagnose

    def prepare_data(self, cell: Cell, ctx: RunContext) -> None:
        if cell.name in self.plan.absent:
            raise CellSkipped(self.plan.absent[cell.name])
        super().prepare_data(cell, ctx)

    def prepare_masks(self, cell: Cell, ctx: RunContext) -> None:
        return None  # nothing is trained

    def train(self, cell: Cell, ctx: RunContext) -> Path:
        raise RuntimeError(f"{cell.name}: --checkpoints runs no training")

    def evaluate(self, cell: Cell, checkpoint: Path | None, ctx: RunContext) -> dict[str, float]:
        entry = self.plan.entries.get(cell.name)
        if entry is None:
            return super().evaluate(cell, checkpoint, ctx)
        import torch

        from repro.devices import pick_device
        from repro.evaluation.diagnose import evaluate_model

        assert cell.eval is not None
        device = pick_device(ctx.device)
        extra: dict[str, Any] = {}
        if entry.model == "teacher_equirect":
            from repro.evaluation.evaluate import _teacher_model

            model, meta = _teacher_model(cell.eval, device)
            meta = {**meta, "input_size": list(cell.eval.input_size or ())}
            stand_in = bool(meta.get("stand_in"))

            def predict(x: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
                return model(x.to(device), depth=gt.to(device) if stand_in else None)

        else:
            from repro.models.released import load_released, report_dict

            file = self.plan.files[cell.name]
            assert entry.student is not None and cell.eval.input_size is not None
            model, meta, load = load_released(
                file,
                entry.student.name,
                entry.student.options,
                tuple(cell.eval.input_size),  # type: ignore[arg-type]
                expected_by=f"suite row {cell.name}, {SECTION} in {self.plan.suite.path.name}",
            )
            model = model.to(device)
            meta = {**meta, "checkpoint": str(file), "released_as": str(file.relative_to(self.plan.checkpoints))}
            extra["load_report"] = report_dict(load)
            write_text(ctx.out_dir / "load_report.txt", load.summary(limit=10**6) + "\n")

            def predict(x: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
                return model(x.to(device))

        return evaluate_model(
            predict, meta, cell.eval, data_root=ctx.data_root, out_dir=ctx.out_dir,
            diagnose=self.diagnose, device=str(device), extra=extra,
        )


# --------------------------------------------------------------------------- the report


def _evaluation(run_dir: Path, cell: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    result = read_json(run_dir / cell / "result.json")
    if not result:
        return None, None
    seeds = result.get("seeds") or []
    eval_dir = seeds[0].get("eval_dir") if seeds else None
    return result, (read_json(Path(eval_dir) / "metrics.json") if eval_dir else None)


def _fmt(x: Any, digits: int = 3) -> str:
    return "—" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.{digits}f}"


def _verdict(exp: ExpectedFile | None, cell: str, metrics: dict[str, float], compare: bool) -> tuple[str, list[Any]]:
    if exp is None or cell not in exp.cells:
        return "no paper row", []
    shown = {m: [v] for m, v in metrics.items() if m in exp.cells[cell].metrics}
    verdicts = judge_cell(exp, cell, shown, compare=compare)
    statuses = {v.status for v in verdicts if v.metric in exp.cells[cell].metrics}
    if "fail" in statuses:
        return "MISS", verdicts
    if statuses == {"pass"}:
        return "pass", verdicts
    return "not compared", verdicts


def build(run_dir: Path, the_plan: Plan, expected: ExpectedFile | None) -> dict[str, Any]:
    """Everything the released sections show, as plain data (also written as ``released.json``)."""
    compare = the_plan.suite.scale == "full"
    rows, loads, claims, diagnosis = [], [], [], []
    evals: dict[str, dict[str, Any]] = {}
    for name, cell in the_plan.suite.cells.items():
        if cell.kind == "cited":
            continue
        result, metrics = _evaluation(run_dir, name)
        status = (result or {}).get("status", "not run")
        message = ((result or {}).get("error") or {}).get("message", "")
        entry = the_plan.entries.get(name)
        source = (str(the_plan.files[name].relative_to(the_plan.checkpoints)) if name in the_plan.files
                  else ("teacher on the panorama" if entry else "—"))
        if metrics is None or status not in ("ok", "cached"):
            rows.append({"cell": name, "row": cell.row, "source": source, "status": status, "why": message})
            continue
        evals[name] = metrics
        if "load_report" in metrics:
            loads.append({"cell": name, **metrics["load_report"]})
        for ev in EVALUATORS:
            m = metrics.get("evaluators", {}).get(ev, {}).get("metrics", {})
            verdict, _ = _verdict(expected, name, m, compare)
            paper = expected.cells[name].metrics if expected and name in expected.cells else {}
            rows.append({"cell": name, "row": cell.row, "source": source, "status": status, "evaluator": ev,
                         "verdict": verdict, "measured": {k: m.get(k) for k in SHOWN},
                         "paper": {k: paper.get(k) for k in SHOWN}})
        base_metrics = metrics.get("metrics", {})
        verdict, _ = _verdict(expected, name, base_metrics, compare)
        if verdict != "pass" and metrics.get("diagnosis"):
            diagnosis.append(_diagnose(name, verdict, metrics, expected))
    if expected is not None:
        for claim in expected.claims:
            if claim.better_than and claim.cell in evals and claim.better_than in evals:
                claims.extend(_paired(run_dir, claim, expected))
    return {"suite": the_plan.suite.name, "scale": the_plan.suite.scale, "checkpoints": str(the_plan.checkpoints),
            "source": the_plan.section.source, "rows": rows, "loads": loads, "claims": claims,
            "diagnosis": diagnosis}


def _diagnose(name: str, verdict: str, metrics: dict[str, Any], exp: ExpectedFile | None) -> dict[str, Any]:
    from repro.evaluation.diagnose import gap_closed

    paper = exp.cells[name].metrics if exp and name in exp.cells else {}
    base = metrics.get("metrics", {})
    switches = []
    for key, d in metrics["diagnosis"].items():
        m = d.get("metrics", {})
        closes = None
        if exp is not None and name in exp.cells:
            closes = all(
                math.isfinite(m.get(k, math.nan)) and abs(m[k] - v) <= exp.tolerance_for(name, k)
                for k, v in paper.items()
            )
        switches.append({"switch": key, "label": d.get("label", key), "metrics": {k: m.get(k) for k in SHOWN},
                         "abs_rel_gap_closed": gap_closed(base.get("abs_rel", math.nan), m.get("abs_rel", math.nan),
                                                          paper.get("abs_rel", math.nan)),
                         "within_tolerance": closes})
    return {"cell": name, "verdict": verdict, "base": {k: base.get(k) for k in SHOWN},
            "paper": {k: paper.get(k) for k in SHOWN}, "switches": switches}


def _paired(run_dir: Path, claim: Any, exp: ExpectedFile) -> list[dict[str, Any]]:
    from repro.suite.paired import compare, read_per_image

    out = []
    lower = exp.directions.get(claim.metric) == "lower"
    dirs = []
    for c in (claim.cell, claim.better_than):
        seeds = (read_json(run_dir / c / "result.json") or {}).get("seeds") or []
        dirs.append(Path(seeds[0]["eval_dir"]) if seeds and seeds[0].get("eval_dir") else run_dir / c)
    for ev in EVALUATORS:
        paths = [d / f"per_image.{ev}.csv" for d in dirs]
        if not all(p.is_file() for p in paths):
            continue
        r = compare(read_per_image(paths[0], claim.metric), read_per_image(paths[1], claim.metric),
                    lower_is_better=lower)
        out.append({"claim": f"{claim.cell} better than {claim.better_than} on {claim.metric}", "evaluator": ev,
                    "why": claim.why, "n": r.n, "a": r.mean_a, "b": r.mean_b, "gain": r.improvement,
                    "ci": list(r.ci), "p": r.p, "holds": r.holds(claim.alpha)})
    return out


def render(data: dict[str, Any], tablefmt: str = "simple") -> str:
    """The released sections as text (``simple``) or Markdown (``github``)."""
    md = tablefmt == "github"

    def head(text: str) -> str:
        return f"\n## {text}\n" if md else f"\n{text}\n{'=' * len(text)}"

    labels = [METRIC_LABELS.get(k, k) for k in SHOWN]
    out = [head(f"Released checkpoints ({data['checkpoints']}), both evaluators"),
           f"source: {data['source'].strip()}" if data.get("source") else ""]
    table = []
    for r in data["rows"]:
        if "evaluator" not in r:
            table.append([r["cell"], r["source"], "—", r["status"].upper(), *["" for _ in SHOWN], r.get("why", "")])
            continue
        cells = [f"{_fmt(r['measured'][k])} ({_fmt(r['paper'][k])})" for k in SHOWN]
        table.append([r["cell"], r["source"], r["evaluator"], r["verdict"], *cells, ""])
    out.append(tabulate(table, ["cell", "file", "evaluator", "verdict", *[f"{lab} (paper)" for lab in labels], "note"],
                        tablefmt=tablefmt, disable_numparse=True))
    out.append(head("Load reports"))
    for ld in data["loads"]:
        line = f"{ld['cell']}: {ld['path']} — {ld['layout']}, {ld['loaded']} tensors loaded"
        if ld["derived"]:
            line += f", {ld['derived']} derived tables recomputed"
        out.append(("- " if md else "  ") + line)
        if ld["unexpected"]:
            out.append(("  - " if md else "    ") + f"unexpected keys ({len(ld['unexpected'])}, not loaded): "
                       + ", ".join(ld["unexpected"]))
    if data["claims"]:
        out.append(head("Paired per-image claims (released checkpoints)"))
        rows = [[c["claim"], c["evaluator"], c["n"], _fmt(c["a"], 4), _fmt(c["b"], 4), _fmt(c["gain"], 4),
                 f"[{_fmt(c['ci'][0], 4)}, {_fmt(c['ci'][1], 4)}]", _fmt(c["p"], 4), "holds" if c["holds"] else "NOT SHOWN"]
                for c in data["claims"]]
        out.append(tabulate(rows, ["claim", "evaluator", "images", "method", "baseline", "gain", "95% CI", "Wilcoxon p",
                                   "result"], tablefmt=tablefmt, disable_numparse=True))
    for d in data["diagnosis"]:
        out.append(head(f"Diagnosis: {d['cell']} ({d['verdict']}) — one cause switched at a time"))
        rows = [["as evaluated", *[_fmt(d["base"][k]) for k in SHOWN], "", ""],
                ["paper", *[_fmt(d["paper"][k]) for k in SHOWN], "", ""]]
        for s in d["switches"]:
            closed = s["abs_rel_gap_closed"]
            rows.append([s["label"], *[_fmt(s["metrics"][k]) for k in SHOWN],
                         "—" if closed is None else f"{closed:+.0%}",
                         {True: "CLOSES THE GAP", False: "", None: "—"}[s["within_tolerance"]]])
        out.append(tabulate(rows, ["switch", *labels, "AbsRel gap closed", "all within tolerance"],
                            tablefmt=tablefmt, disable_numparse=True))
    if data["scale"] != "full":
        out.append(f"\n(scale {data['scale']}: paper values shown, not compared; every row is diagnosed)")
    return "\n".join(line for line in out if line is not None) + "\n"


def write(run_dir: Path, data: dict[str, Any]) -> str:
    """``released.{json,md,txt}`` in the run folder; returns the text form."""
    write_json(run_dir / "released.json", data, default=str)
    write_text(run_dir / "released.md", f"# {data['suite']}: released checkpoints\n" + render(data, "github"))
    text = render(data)
    write_text(run_dir / "released.txt", text)
    return text


def network_of(path: Path, directory: Path) -> tuple[StudentSpec, tuple[int, int]] | None:
    """The network and input size the suites' ``released_checkpoints:`` give a file named like ``path``
    (its folder and name, e.g. ``UniFuse/UniFuse_st3d.pth``); None when no suite maps such a file."""
    from repro.suite.schema import iter_suite_files

    parts = Path(path).parts
    for suite_path in iter_suite_files(directory):
        raw = load_config(suite_path)
        if SECTION not in raw:
            continue
        section = from_data(ReleasedSection, raw[SECTION], path=SECTION, where=raw.where(SECTION))
        for entry in section.cells.values():
            for f in entry.files:
                want = Path(f).parts
                if entry.student is not None and parts[-len(want) :] == want:
                    return entry.student, entry.input_size or section.input_size
    return None
