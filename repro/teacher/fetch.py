"""Pre-fetch model weights into the Hugging Face cache, for machines (or images) used offline.

Runs need the teacher (Depth Anything) and, for mask generation, Grounding DINO and SAM. Where a
network exists, ``fetch_weights`` downloads them once (``repro models fetch``, or the Docker
build's ``PREFETCH_MODELS``); later runs find them in the cache with ``HF_HUB_OFFLINE=1``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from repro.revisions import resolve_revision
from repro.teacher.depth_anything import DEFAULT_ID, resolve_id

# Only what ``from_pretrained`` reads: configs, tokenizer/processor files and safetensors weights.
ALLOW_PATTERNS = ["*.json", "*.txt", "*.safetensors"]


def default_fetch_ids() -> list[str]:
    """Everything the paper's pipeline loads: the teacher and the transformers mask backend."""
    from repro.masks.backends import DEFAULT_DETECTOR_ID, DEFAULT_SEGMENTER_ID

    return [DEFAULT_ID, DEFAULT_DETECTOR_ID, DEFAULT_SEGMENTER_ID]


def fetch_weights(
    ids: Iterable[str] | None = None,
    *,
    cache_dir: str | Path | None = None,
    local_dir: str | Path | None = None,
    revision: str | None = None,
) -> list[Path]:
    """Download each Hugging Face model id (short teacher names accepted); return their folders.

    Each id comes at ``revision`` if given, else at its pin in :mod:`repro.revisions` (the snapshot
    the suites load); an unpinned id without ``revision`` is a ``UserError``. With ``local_dir`` every model goes to ``local_dir/<owner>--<name>``, a plain folder that can be
    passed instead of the id; otherwise to the Hugging Face cache (``cache_dir`` or ``HF_HOME``).
    """
    from huggingface_hub import snapshot_download

    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        raise RuntimeError("HF_HUB_OFFLINE is set: unset it to fetch weights (this needs a network)")
    model_ids = [resolve_id(name) for name in ids or default_fetch_ids()]
    revisions = {model_id: resolve_revision(model_id, revision) for model_id in model_ids}  # all checked first
    paths = []
    for model_id in model_ids:
        target = Path(local_dir) / model_id.replace("/", "--") if local_dir is not None else None
        path = snapshot_download(
            model_id,
            cache_dir=cache_dir,
            local_dir=target,
            revision=revisions[model_id],
            allow_patterns=ALLOW_PATTERNS,
        )
        paths.append(Path(path))
    return paths
