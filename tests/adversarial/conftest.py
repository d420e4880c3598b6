"""Fixtures shared by the adversarial tests (helpers that are not fixtures live in inputs_fixtures.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from inputs_fixtures import checkpoint, synth


@pytest.fixture(scope="module")
def sf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Synthetic Stanford2D3D, shared by a module's tests (they copy it before changing it)."""
    return synth(tmp_path_factory.mktemp("sf"), "stanford2d3d")


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return checkpoint(tmp_path_factory.mktemp("ckpt") / "final.pt")
