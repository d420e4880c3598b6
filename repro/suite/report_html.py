"""``report.html``: the report as one self-contained page (chart embedded, no network, no scripts).

The same sections as ``report.md`` (tables from :func:`repro.suite.report._sections`), the chart
as a base64 ``data:`` image, each cell's status with relative links to its logs and results (so
the page opened from the run folder reaches them), the tolerance rationale and the provenance.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

from repro.suite.report import Report, _sections, _summary, provenance_lines, verdict_protocol

CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5em auto; max-width: 1320px;
       padding: 0 1em; color: #1b1b1b; }
h1 { font-size: 1.5em; margin-bottom: .2em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
.verdict { display: inline-block; padding: .15em .6em; border-radius: .3em; font-weight: 600; color: white; }
.verdict.PASS { background: #2e7d32; } .verdict.FAIL { background: #c62828; }
.verdict.NOT-COMPARED { background: #546e7a; }
table { border-collapse: collapse; font-size: 13px; margin: .4em 0; }
th, td { border: 1px solid #d0d7de; padding: .25em .55em; text-align: left; vertical-align: top; }
th { background: #f3f5f7; } tr:nth-child(even) td { background: #fafbfc; }
td.fail { color: #b71c1c; font-weight: 600; } td.pass { color: #1b5e20; }
img.chart { max-width: 100%; border: 1px solid #d0d7de; }
.muted { color: #555; } code { font-size: 12px; background: #f3f5f7; padding: 0 .25em; }
"""

#: files of a cell folder worth a link, in this order (seed folders add their train log and eval)
CELL_FILES = ("cell.log", "error.txt", "result.json", "resolved.yaml")
SEED_FILES = ("train/log/steps.jsonl", "train/log/epochs.jsonl", "eval/metrics.json", "eval/per_image.csv")


def _links(run_dir: Path, cell: str) -> str:
    """Relative links to the cell's logs that exist (the page lives in the run folder)."""
    out = []
    base = run_dir / cell
    for name in CELL_FILES:
        if (base / name).is_file():
            out.append(f'<a href="{html.escape(f"{cell}/{name}")}">{html.escape(name)}</a>')
    for seed in sorted(p.name for p in base.glob("seed*") if p.is_dir()):
        for name in SEED_FILES:
            if (base / seed / name).is_file():
                rel = f"{cell}/{seed}/{name}"
                out.append(f'<a href="{html.escape(rel)}">{html.escape(f"{seed}/{name}")}</a>')
    return " · ".join(out) or '<span class="muted">none</span>'


def _mark_results(table: str) -> str:
    """Colour the verdict cells of a tabulate HTML table."""
    table = re.sub(r"<td>(FAIL[^<]*|OVER)</td>", r'<td class="fail">\1</td>', table)
    return re.sub(r"<td>(pass|ok)</td>", r'<td class="pass">\1</td>', table)


def _inline_code(text: str) -> str:
    """Markdown's `code` spans as <code>, everything else escaped."""
    parts = html.escape(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def render_html(report: Report, png: bytes | None) -> str:
    """The page; ``png`` is the chart's bytes (None: no chart)."""
    s = report.run.suite
    exp = report.run.expected
    title = html.escape(str(s.get("title", s.get("suite"))))
    verdict = report.verdict
    body = [
        f"<h1>{title}</h1>",
        f'<p><span class="verdict {verdict.replace(" ", "-")}">{html.escape(verdict)}</span> '
        f"{html.escape(_summary(report))}</p>",
        f'<p class="muted">Run folder <code>{html.escape(str(report.run.run_dir))}</code> · scale '
        f"<code>{html.escape(str(s.get('scale')))}</code>"
        + (f" · variant <code>{html.escape(str(s['variant']))}</code>" if s.get("variant") else "")
        + "</p>",
    ]
    if exp is not None:
        body.append(f"<p>Paper numbers: {html.escape(exp.source)}.<br>Verdict protocol: "
                    f"{html.escape(verdict_protocol(exp))} (* marks the judged value).</p>")
    if png:
        data = base64.b64encode(png).decode("ascii")
        body.append(f'<img class="chart" alt="paper vs measured per row and metric" src="data:image/png;base64,{data}">')
    for name, table in _sections(report, "html"):
        if name == "Claim tests":
            items = "".join(f"<li>{html.escape(line[2:])}</li>" for line in table.splitlines())
            body += [f"<h2>{html.escape(name)}</h2>", f"<ul>{items}</ul>"]
            continue
        body += [f"<h2>{html.escape(name or 'Metrics: paper vs measured')}</h2>", _mark_results(table)]
    rows = "".join(
        f"<tr><td>{html.escape(c.cell)}</td><td>{html.escape(c.status)}</td>"
        f"<td>{html.escape(c.error) or ''}</td><td>{_links(report.run.run_dir, c.cell)}</td></tr>"
        for c in report.cells
    )
    body += [
        "<h2>Cells and their logs</h2>",
        f"<table><tr><th>cell</th><th>status</th><th>error</th><th>files</th></tr>{rows}</table>",
    ]
    if exp is not None:
        body += ["<h2>Tolerances</h2>", f"<p>{html.escape(exp.rationale.strip())}</p>"]
    prov = provenance_lines(report)
    if prov:
        items = "".join(f"<li>{_inline_code(p)}</li>" for p in prov)
        body += ["<h2>Provenance (first cell; every result.json has its own)</h2>", f"<ul>{items}</ul>"]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>'
        f"<style>{CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )
