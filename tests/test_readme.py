"""The README's library example runs as written (it is the first code a user copies)."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_library_example_runs(capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "the README has no python example"
    exec(compile(blocks[0], str(README), "exec"), {})  # noqa: S102 - our own README, not user input
    printed = capsys.readouterr().out.strip()
    assert 0 <= float(printed) < 10  # an AbsRel came out
