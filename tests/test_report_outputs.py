"""The report a person reads: the chart (report.png) and the self-contained page (report.html),
the page rendered by a real headless Chromium (Debian's ``chromium``; CI installs it)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image
from report_fixtures import mixed_run

from repro.suite.report import build_report, load_run, write_reports
from repro.suite.report_figure import chart_metrics, chart_rows

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    run = mixed_run(tmp_path_factory.mktemp("mixed"))
    write_reports(run)
    return run


def test_chart_rows_show_every_cell_and_why_it_has_no_value(run_dir):
    rows = chart_rows(build_report(load_run(run_dir)))
    assert [(r.label, r.state) for r in rows] == [
        ("cited_row", "cited"),
        ("base", ""),
        ("plus", ""),
        ("finetune", "failed"),
        ("external", "skipped"),
    ]
    assert rows[3].verdicts["abs_rel"].paper == pytest.approx(0.110)  # the paper value of a row that failed
    assert rows[1].bands["abs_rel"] == pytest.approx((0.095, 0.105))
    assert rows[1].verdicts["abs_rel"].std == pytest.approx(0.002)  # spread over the three seeds
    assert rows[2].verdicts["abs_rel"].status == "fail"
    assert chart_metrics(rows) == ["abs_rel", "delta1"]


def test_chart_drops_non_metric_keys_and_fits_a_laptop(run_dir):
    report = build_report(load_run(run_dir))
    report.cells[1].verdicts[0].metric = "images"  # a count, not a metric: never a panel
    assert "images" not in chart_metrics(chart_rows(report))
    width, height = Image.open(run_dir / "report.png").size
    assert width <= 1400 and height <= 900


def test_html_is_self_contained_with_relative_log_links(run_dir):
    page = (run_dir / "report.html").read_text()
    assert "data:image/png;base64," in page
    assert not re.search(r'(src|href)="(https?:|/)', page)  # nothing fetched, no absolute links
    for link in re.findall(r'href="([^"]+)"', page):
        assert (run_dir / link).is_file(), link
    assert 'href="finetune/error.txt"' in page and 'href="base/seed2/eval/metrics.json"' in page


def _chromium(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", *args],
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install chromium; CI: .ci/chromium)")
def test_html_renders_in_headless_chromium(run_dir, tmp_path):
    url = (run_dir / "report.html").resolve().as_uri()
    dom = _chromium("--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    text = re.sub(r"<[^>]+>", " ", dom.stdout)
    for number in ("0.1000 ± 0.0020 (n=3)", "0.1100 ± 0.0020 (n=3)", "+0.0200", "0.862", "±0.005"):
        assert number in text, number
    assert "FAIL" in text and "CUDA out of memory (simulated)" in text
    shot = tmp_path / "report.png"
    out = _chromium("--window-size=1366,2000", f"--screenshot={shot}", url)
    assert out.returncode == 0 and shot.is_file(), out.stderr[-2000:]
    image = Image.open(shot).convert("RGB")
    assert image.size == (1366, 2000)
    # the embedded chart was drawn: the page has the verdict colours of the chart's dots, not just text
    colours = {c for _, c in image.getcolors(maxcolors=1 << 20) or []}
    assert (46, 125, 50) in colours and (198, 40, 40) in colours
