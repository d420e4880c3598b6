"""TEST-ONLY: a finished mini suite run with every kind of row the reports must show.

Three seeds on ``base`` (a spread to draw), ``plus`` out of tolerance (a FAIL), ``finetune``'s
training failing, ``external`` skipped and ``cited_row`` cited; both evaluators recorded.
"""

from __future__ import annotations

from pathlib import Path

from test_suite_runner import EXPECTED, SUITE, FakeExecutor, make_runner

from repro.suite.expected import load_expected


def mixed_run(root: Path, offsets: dict[str, float] | None = None, jitter: float = 0.002) -> Path:
    """Run the mini suite under ``root`` (suites/, expected/, runs/) and return its run folder."""
    (root / "suites").mkdir(exist_ok=True)
    (root / "expected").mkdir(exist_ok=True)
    suite = SUITE.replace('    row: "UniFuse | M"\n', '    row: "UniFuse | M"\n    seeds: [0, 1, 2]\n')
    (root / "suites" / "mini.yaml").write_text(suite)
    (root / "expected" / "mini.yaml").write_text(EXPECTED)
    expected = load_expected(root / "expected" / "mini.yaml")
    executor = FakeExecutor(
        expected,
        offsets={"plus": 0.02} if offsets is None else offsets,
        fail_train={"finetune"},
        skip={"external"},
        seed_jitter=jitter,
    )
    runner, _ = make_runner(root, executor, suite_text=suite)
    runner.run()
    return runner.run_dir
