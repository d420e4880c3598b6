"""Reports of a run, regenerated from what is on disk (``suite.json`` + each ``result.json``).

Nothing here re-runs or re-reads a suite file: the expected numbers are the snapshot stored with
the run, so ``repro suite report RUN_DIR`` gives the same verdicts on any machine, any time.
Outputs: a terminal table (paper | measured | Δ | tolerance | result per metric and cell), the
same as Markdown and JSON, a PNG of paper vs measured (report_figure) and a self-contained HTML
page (report_html).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tabulate import tabulate

from repro.atomic import write_text
from repro.config import from_data, to_plain
from repro.errors import UserError
from repro.suite.expected import (
    METRIC_LABELS,
    Acceptance,
    ClaimVerdict,
    ExpectedFile,
    MetricVerdict,
    judge_claims,
    judge_metric,
)
from repro.suite.runner import gpu_step_time, read_json, write_json
from repro.suite.stats import PairedStats
from repro.suite.verdicts import EVALUATOR_ORDER, claim_images, claim_seeds, judge_result
from repro.suite.vram import GIB, MEASURES, format_gib

STAGES = ("data", "masks", "train", "eval", "profile")


@dataclass
class RunData:
    run_dir: Path
    suite: dict[str, Any]
    results: dict[str, dict[str, Any]]
    profiles: dict[str, dict[str, Any]]
    expected: ExpectedFile | None
    #: cells whose result.json exists but cannot be used, with why (a killed or edited file)
    unreadable: dict[str, str] = field(default_factory=dict)


def load_run(run_dir: str | Path) -> RunData:
    run_dir = Path(run_dir)
    suite = read_json(run_dir / "suite.json")
    if suite is None:
        raise UserError(f"{run_dir}: no suite.json — not a suite run folder (runs/<suite>)")
    names = list(suite.get("cells", []))
    results: dict[str, dict[str, Any]] = {}
    unreadable: dict[str, str] = {}
    for n in names:
        state, result = read_result(run_dir / n / "result.json")
        if result is not None:
            results[n] = result
        elif state != "missing":
            unreadable[n] = state
    profiles = {n: p for n in names if (p := read_json(run_dir / n / "profile.json"))}
    expected = None
    if suite.get("expected"):
        snapshot = dict(suite["expected"])
        path = snapshot.pop("path", "")
        expected = from_data(ExpectedFile, snapshot)
        expected.path = path
    return RunData(run_dir, suite, results, profiles, expected, unreadable)


def read_result(path: Path) -> tuple[str, dict[str, Any] | None]:
    """``("ok", result)``, ``("missing", None)``, or ``(why it is unusable, None)`` for a damaged file."""
    if not path.exists():
        return "missing", None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return f"{path} is unreadable ({type(exc).__name__}: {exc})", None
    if not isinstance(data, dict) or not isinstance(data.get("status"), str):
        return f"{path} is not a cell result (no status)", None
    return "ok", data


@dataclass
class CellRow:
    cell: str
    row: str
    kind: str
    status: str  # ok | failed | skipped | cited | interrupted | not run | corrupt
    verdicts: list[MetricVerdict] = field(default_factory=list)
    error: str = ""
    vram: dict[str, dict[str, Any]] = field(default_factory=dict)  # stage -> reading (max over seeds)
    wall_time_s: float | None = None
    reused: list[str] = field(default_factory=list)

    @property
    def over_budget(self) -> bool:
        return any(r.get("over_budget") for r in self.vram.values())

    @property
    def failed(self) -> bool:
        # a cell without a usable result cannot pass: "not run" (no result.json, no profile) and "corrupt"
        return (
            self.status in ("failed", "interrupted", "corrupt")
            or (self.status == "not run" and bool(self.error))
            or any(v.failed for v in self.verdicts)
            or self.over_budget
        )


@dataclass
class Report:
    run: RunData
    cells: list[CellRow]
    claims: list[ClaimVerdict]

    def passed_for(self, names: list[str] | None = None) -> bool:
        """No failed cell, metric, claim or VRAM budget among ``names`` (default: all run cells)."""
        chosen = set(names) if names is not None else {c.cell for c in self.cells}
        if any(c.failed for c in self.cells if c.cell in chosen):
            return False
        for name, prof in self.run.profiles.items():  # --random-init: a failed or oversized cell fails
            if name in chosen and (prof.get("status") != "ok" or (prof.get("vram") or {}).get("over_budget")):
                return False
        return not any(cv.failed for cv in self.claims if set(cv.claim.names) <= chosen)

    @property
    def passed(self) -> bool:
        return self.passed_for()

    @property
    def compared(self) -> bool:
        """Whether anything was judged: a metric against a value or range, or a claim."""
        n = self.counts()
        return bool(n["metrics_judged"] or n["claims_judged"])

    @property
    def verdict(self) -> str:
        """PASS only when something was compared and nothing failed; NOT COMPARED otherwise."""
        if not self.passed:
            return "FAIL"
        return "PASS" if self.compared else "NOT COMPARED"

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for c in self.cells:
            out[c.status] = out.get(c.status, 0) + 1
        judged = [v for c in self.cells for v in c.verdicts if v.status in ("pass", "fail")]
        out["metrics_pass"] = sum(v.status == "pass" for v in judged)
        out["metrics_judged"] = len(judged)
        out["claims_pass"] = sum(cv.status == "pass" for cv in self.claims)
        out["claims_judged"] = sum(cv.status != "not_evaluated" for cv in self.claims)
        out["over_budget"] = sum(c.over_budget for c in self.cells)
        return out


def _vram_by_stage(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per stage, the largest reading over the cell and its seeds (by their peaks)."""
    readings: list[dict[str, Any]] = []
    for name, stage in (result.get("stages") or {}).items():
        if "vram" in stage:
            readings.append(stage["vram"] | {"stage": name})
    for seed in result.get("seeds") or []:
        for name, stage in (seed.get("stages") or {}).items():
            if "vram" in stage:
                readings.append(stage["vram"] | {"stage": name})
    out: dict[str, dict[str, Any]] = {}
    for r in readings:
        best = out.get(r["stage"])
        if best is None or (r.get("peak") or 0) > (best.get("peak") or 0):
            out[r["stage"]] = r
    return out


def build_report(run: RunData) -> Report:
    exp = run.expected
    scale = run.suite.get("scale", "full")
    compare = exp.compares_at(scale) if exp is not None else scale == "full"
    cells: list[CellRow] = []
    for name in run.suite.get("cells", []):
        res = run.results.get(name)
        kind = run.suite.get("kinds", {}).get(name, "")
        row = run.suite.get("rows", {}).get(name, "")
        if res is None:
            if name in run.unreadable:
                cells.append(CellRow(name, row, kind, "corrupt", error=f"result: {run.unreadable[name]}"))
            elif run.profiles and not run.results and not run.unreadable:  # a --random-init run: profiles only
                cells.append(CellRow(name, row, kind, "not run"))
            else:
                cells.append(CellRow(name, row, kind, "not run", error="result: no result.json"))
            continue
        status = res["status"]
        measured = res.get("metrics") or {}
        verdicts: list[MetricVerdict] = []
        if exp is not None and name in exp.cells and status in ("ok", "cited"):
            verdicts = judge_result(exp, name, res, compare=compare)
        elif status == "ok":  # no expectation: show the numbers, judge only their sanity
            verdicts = [
                judge_metric(
                    m, v, paper=None, tolerance=None, direction=None, mode="two_sided", acceptance=Acceptance()
                )
                for m, v in measured.items()
            ]
        err = res.get("error") or {}
        reused = [s["train_reused_from"] for s in res.get("seeds") or [] if s.get("train_reused_from")]
        cells.append(
            CellRow(
                name,
                res.get("row", row),
                res.get("kind", kind),
                status,
                verdicts,
                error=f"{err.get('stage')}: {err.get('message')}" if err else "",
                vram=_vram_by_stage(res),
                wall_time_s=res.get("wall_time_s"),
                reused=reused,
            )
        )
    claims = []
    if exp is not None:
        claims = judge_claims(
            exp,
            claim_seeds(run.results, exp),  # type: ignore[arg-type]
            compare=scale == "full",
            scale=scale,
            images=claim_images(run.results, exp),
        )
    return Report(run, cells, claims)


# --------------------------------------------------------------------------- formatting


def _num(x: float | None, digits: int = 3) -> str:
    if x is None:
        return "—"
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    return f"{x:.{digits}f}"


def _measured(v: MetricVerdict) -> str:
    if v.measured is None:
        return "cited" if v.status == "cited" else "—"
    text = _num(v.measured, 4)
    if v.std is not None:
        text += f" ± {v.std:.4f} (n={v.n})"
    return text


def _tolerance(v: MetricVerdict) -> str:
    if v.bounds is not None:
        return f"[{v.bounds[0]:g}, {v.bounds[1]:g}]"
    return "—" if v.tolerance is None else f"±{v.tolerance:g}"


_RESULT = {
    "pass": "pass",
    "fail": "FAIL",
    "missing": "FAIL (missing)",
    "not_compared": "not compared",
    "not_reported": "not in paper",
    "cited": "cited",
}


def evaluator_columns(report: Report) -> list[str]:
    """The evaluators shown side by side: those any cell recorded, in a fixed order."""
    seen = {e for c in report.cells for v in c.verdicts for e in [*v.by_evaluator, v.evaluator] if e}
    return [e for e in EVALUATOR_ORDER if e in seen]


def _mde(v: MetricVerdict) -> str:
    parts = []
    if v.mde_images is not None:
        parts.append(f"{v.mde_images:.4f} img")
    if v.mde_seeds is not None:
        parts.append(f"{v.mde_seeds:.4f} seeds")
    text = " / ".join(parts) or "—"
    if v.tolerance is not None and v.mde is not None and v.tolerance < v.mde:
        text += " (> tol.)"
    return text


def metric_table(report: Report) -> list[list[str]]:
    columns = evaluator_columns(report)
    rows = []
    for c in report.cells:
        if not c.verdicts:
            state = {"failed": "FAIL", "interrupted": "FAIL (interrupted)"}.get(c.status, c.status)
            text = f"{state}" + (f": {c.error}" if c.error else "")
            rows.append([c.cell, "", "", *([""] * len(columns)), "", "", "", text])
            continue
        for i, v in enumerate(c.verdicts):
            delta = "" if v.delta is None else f"{v.delta:+.4f}"
            measured = []
            for e in columns:
                if e == v.evaluator:
                    measured.append(_measured(v) + " *")
                else:
                    measured.append(_num(v.by_evaluator.get(e), 4) if e in v.by_evaluator else "—")
            rows.append(
                [
                    c.cell if i == 0 else "",
                    METRIC_LABELS.get(v.metric, v.metric),
                    _num(v.paper),
                    *measured,
                    delta,
                    _tolerance(v),
                    _mde(v),
                    _RESULT[v.status],
                ]
            )
    return rows


EVALUATOR_LABELS = {"paper": "paper eq. 8", "released": "released eval", "cell": "cell's eval"}
EVALUATOR_PROSE = {
    "paper": "the paper's evaluator (eq. 8, median)",
    "released": "the released evaluator (LSQ disparity + median, clamp, crop)",
    "cell": "each cell's own eval settings",
}


def metric_headers(report: Report) -> list[str]:
    return [
        "cell",
        "metric",
        "paper",
        *(EVALUATOR_LABELS[e] for e in evaluator_columns(report)),
        "Δ (*)",
        "tolerance",
        "MDE",
        "result",
    ]


def _paired(tests: list[PairedStats], alpha: float) -> str:
    if not tests:
        return "—"
    out = []
    for t in tests:
        text = f"{t.mean:+.4f}"
        if t.ci is not None:
            text += f" [{t.ci[0]:+.4f}, {t.ci[1]:+.4f}]"
        if t.p is not None:
            text += f" p={t.p:.2g}"
            if t.p_holm is not None:
                text += f" (Holm {t.p_holm:.2g})"
        text += f" n={t.n}"
        out.append(text)
    return "; ".join(out)


def claim_table(report: Report) -> list[list[str]]:
    out = []
    for cv in report.claims:
        c = cv.claim
        status = {"pass": "pass", "fail": "FAIL", "not_evaluated": "not evaluated"}[cv.status]
        values = "; ".join(
            f"{n} {mean:.4f}" + (f" ± {std:.4f}" if std is not None else "") + f" (n={k})"
            for n, (mean, std, k) in cv.values.items()
        )
        effect = "—" if cv.effect is None else f"{cv.effect:+.4f}"
        paper = "—" if cv.paper_effect is None else f"{cv.paper_effect:+.4f}"
        if c.within is not None and cv.margin is not None:
            paper = f"margin ±{cv.margin:.4f}"
        out.append(
            [
                c.label,
                METRIC_LABELS.get(c.metric, c.metric),
                c.test or "",
                values or "—",
                f"{effect} (paper {paper})",
                _paired(cv.images, c.alpha),
                _paired(cv.seeds, c.alpha),
                "—" if cv.mde is None else f"{cv.mde:.4f}",
                c.design.describe() if c.design is not None else "—",
                status,
            ]
        )
    return out


CLAIM_HEADERS = [
    "claim",
    "metric",
    "test",
    "measured (mean ± std over seeds)",
    "gain (paper)",
    "per image: mean Δ [95% CI] Wilcoxon/TOST p",
    "per seed: mean Δ [95% CI] t/TOST p",
    "MDE",
    "designed power",
    "result",
]


def claim_notes(report: Report) -> list[str]:
    """Per claim: the test's full statement, why it is claimed, and any power warning."""
    out = []
    for cv in report.claims:
        line = f"{cv.claim.label} ({METRIC_LABELS.get(cv.claim.metric, cv.claim.metric)}): {cv.test}"
        if cv.claim.why:
            line += f" — {cv.claim.why}"
        if cv.power:
            line += f" — POWER: {cv.power}"
        out.append(line)
    return out


def _measured_anything(r: dict[str, Any]) -> bool:
    return any(r.get(k) for k in MEASURES)


def vram_table(report: Report) -> list[list[str]]:
    """One row per cell and stage; data preparation only when it touched the GPU."""
    out = []
    for c in report.cells:
        for stage in STAGES:
            r = c.vram.get(stage)
            if r is None or (stage == "data" and not _measured_anything(r)):
                continue
            flag = {True: "OVER", False: "ok", None: "n/a"}[r.get("over_budget")]
            out.append(
                [
                    c.cell,
                    stage,
                    format_gib(r.get("torch_peak_allocated")),
                    format_gib(r.get("torch_peak_reserved")),
                    format_gib(r.get("nvml_process_peak")),
                    format_gib(r.get("nvml_device_peak")),
                    f"{(r.get('budget') or 0) / GIB:g}",
                    flag,
                ]
            )
    return out


VRAM_HEADERS = ["cell", "stage", "torch alloc", "torch reserved", "NVML process", "NVML device", "budget", "fits"]


def profile_table(report: Report) -> list[list[str]]:
    out = []
    for name, p in report.run.profiles.items():
        est = p.get("estimate") or {}
        vr = p.get("vram") or {}
        hours = est.get("gpu_hours")
        device = "GPU" if gpu_step_time(p) is not None else "CPU"
        out.append(
            [
                name,
                p.get("status"),
                device,
                _num(p.get("step_time_s"), 3),
                str(est.get("steps") or "—"),
                "— (CPU profile)" if device == "CPU" else ("—" if hours is None else f"{hours:.1f}"),
                format_gib(vr.get("peak")),
                {True: "OVER", False: "ok", None: "n/a"}[vr.get("over_budget")],
            ]
        )
    return out


PROFILE_HEADERS = ["cell", "status", "device", "step time (s)", "steps", "GPU-hours", "peak VRAM (GiB)", "fits"]


def _summary(report: Report) -> str:
    n = report.counts()
    states = ", ".join(
        f"{n[k]} {k}" for k in ("ok", "cited", "skipped", "failed", "interrupted", "not run", "corrupt") if n.get(k)
    )
    parts = [f"{len(report.cells)} cells: {states}"]
    if n["metrics_judged"]:
        parts.append(f"{n['metrics_pass']}/{n['metrics_judged']} metrics pass")
    if n["claims_judged"]:
        parts.append(f"{n['claims_pass']}/{n['claims_judged']} claims hold")
    parts.append(f"{n['over_budget']} over the VRAM budget")
    wall = sum(c.wall_time_s or 0.0 for c in report.cells)
    parts.append(f"wall time {_duration(wall)} (sum over cells)")
    return f"{'; '.join(parts)} — {report.verdict}"


def _duration(seconds: float) -> str:
    minutes, sec = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{sec:02d}s" if hours else f"{minutes}m{sec:02d}s"


def _header(report: Report) -> str:
    s = report.run.suite
    scale = s.get("scale", "full")
    extra = f", variant {s['variant']}" if s.get("variant") else ""
    exp = report.run.expected
    compared = exp.compares_at(scale) if exp is not None else scale == "full"
    note = "" if compared else " (expected numbers shown, not compared)"
    lines = [f"{s.get('title', s.get('suite'))} — scale {scale}{extra}{note}", str(report.run.run_dir)]
    if exp is not None:
        lines.append(f"Verdict protocol: {verdict_protocol(exp)} (* marks the judged value)")
    return "\n".join(lines)


def verdict_protocol(exp: ExpectedFile) -> str:
    """Which evaluator the verdicts use, why, and the cells that use another."""
    text = EVALUATOR_PROSE.get(exp.evaluator, exp.evaluator)
    if exp.evaluator_why:
        text += f" — {exp.evaluator_why.strip()}"
    others = {n: c.evaluator for n, c in exp.cells.items() if c.evaluator and c.evaluator != exp.evaluator}
    if others:
        text += "; " + ", ".join(f"{n}: {EVALUATOR_PROSE.get(e, e)}" for n, e in others.items())
    return text


VRAM_TITLE = "VRAM (GiB; n/a = not measured: no GPU)"


def _sections(report: Report, tablefmt: str) -> list[tuple[str, str]]:
    """(title, table) of each part of the report, in order; the metric table has no title."""

    def table(rows: list[list[str]], headers: list[str]) -> str:
        return tabulate(rows, headers, tablefmt=tablefmt, disable_numparse=True)

    out = [("", table(metric_table(report), metric_headers(report)))]
    if report.claims:
        out.append(("Claims", table(claim_table(report), CLAIM_HEADERS)))
        out.append(("Claim tests", "\n".join(f"- {n}" for n in claim_notes(report))))
    vram = vram_table(report)
    if vram:
        out.append((VRAM_TITLE, table(vram, VRAM_HEADERS)))
    if report.run.profiles:
        out.append(("Random-init profile (full size)", table(profile_table(report), PROFILE_HEADERS)))
    return out


def render_terminal(report: Report) -> str:
    parts = [_header(report)]
    for title, table in _sections(report, "simple"):
        parts += ["", title, table] if title else ["", table]
    parts += ["", _summary(report)]
    return "\n".join(parts) + "\n"


def render_markdown(report: Report) -> str:
    s = report.run.suite
    exp = report.run.expected
    variant = f" · variant `{s['variant']}`" if s.get("variant") else ""
    lines = [
        f"# {s.get('title', s.get('suite'))}",
        "",
        f"Run folder: `{report.run.run_dir}` · scale `{s.get('scale')}`{variant}",
        "",
    ]
    if exp is not None:
        lines += [f"Paper numbers: {exp.source}.", ""]
    for title, table in _sections(report, "github"):
        lines += ([f"## {title}", ""] if title else []) + [table, ""]
        if title == VRAM_TITLE:
            lines += [f"- **{k}**: {v}" for k, v in MEASURES.items()] + [""]
    if exp is not None:
        lines += ["## Tolerances", "", exp.rationale.strip(), ""]
    prov = provenance_lines(report)
    if prov:
        lines += ["## Provenance (first cell; every result.json has its own)", "", *(f"- {p}" for p in prov), ""]
    lines += [f"**{_summary(report)}**", ""]
    return "\n".join(lines)


def provenance_lines(report: Report) -> list[str]:
    """Commit, code hash, software and GPUs of the first cell that recorded them (Markdown inline code)."""
    prov = next((r.get("provenance") for r in report.run.results.values() if r.get("provenance")), None)
    if not prov:
        return []
    gpus = ", ".join(f"{g['name']} (driver {g['driver']})" for g in prov.get("gpus") or []) or "none"
    t = prov.get("torch") or {}
    git = prov.get("git") or {}
    return [
        f"commit `{git.get('commit')}` (dirty: {git.get('dirty')}), code hash `{prov.get('code_hash')}`",
        f"torch {t.get('version')}, CUDA {t.get('cuda')}, cuDNN {t.get('cudnn')}; GPUs: {gpus}",
        _container_line(prov.get("container") or {}),
    ]


def _container_line(c: dict[str, Any]) -> str:
    if not c.get("in_container"):
        return "container: no"
    return f"container: yes, image {c.get('image') or 'unknown'}, digest {c.get('image_digest') or 'unknown'}"


def report_json(report: Report) -> dict[str, Any]:
    return {
        "schema": "repro.suite.report/1",
        "suite": report.run.suite.get("suite"),
        "scale": report.run.suite.get("scale"),
        "variant": report.run.suite.get("variant"),
        "passed": report.passed,
        "verdict": report.verdict,
        "verdict_evaluator": report.run.expected.evaluator if report.run.expected else None,
        "verdict_protocol": verdict_protocol(report.run.expected) if report.run.expected else None,
        "evaluators": evaluator_columns(report),
        "counts": report.counts(),
        "cells": [
            {
                "cell": c.cell,
                "row": c.row,
                "kind": c.kind,
                "status": c.status,
                "error": c.error or None,
                "wall_time_s": c.wall_time_s,
                "train_reused_from": c.reused,
                "over_budget": c.over_budget,
                "verdicts": to_plain(c.verdicts),
                "vram": c.vram,
            }
            for c in report.cells
        ],
        "claims": [to_plain(cv) for cv in report.claims],
        "profiles": report.run.profiles,
    }


def write_reports(run_dir: str | Path) -> Report:
    """Build the report of a run folder and write report.{txt,md,json,png,html} beside its results."""
    run = load_run(run_dir)
    report = build_report(run)
    write_text(run.run_dir / "report.txt", render_terminal(report))
    write_text(run.run_dir / "report.md", render_markdown(report))
    write_json(run.run_dir / "report.json", report_json(report))
    from repro.suite.report_figure import render_png
    from repro.suite.report_html import render_html

    png = render_png(report, run.run_dir / "report.png")
    write_text(run.run_dir / "report.html", render_html(report, png))
    return report
