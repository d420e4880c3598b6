"""Hugging Face weights: loading with one actionable error when they are missing, and pre-fetching.

The one place that talks to the Hub, shared by the teacher (Depth Anything) and the mask models
(Grounding DINO, SAM). Where a network exists, ``fetch_weights`` downloads them once (``repro
models fetch``, or the Docker build's ``PREFETCH_MODELS``); later runs find them in the cache with
``HF_HUB_OFFLINE=1``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from repro.choices import DEPTH_ANYTHING_IDS
from repro.errors import UserError
from repro.revisions import note_loaded, resolve_revision

# Only what ``from_pretrained`` reads: configs, tokenizer/processor files and safetensors weights.
ALLOW_PATTERNS = ["*.json", "*.txt", "*.safetensors"]


class WeightsMissingError(UserError):
    """Model weights are neither cached nor downloadable (offline); the message says how to fetch them."""


def resolve_id(name_or_id: str) -> str:
    """Short name (``depth-anything-v2-base``) -> Hugging Face id; ids and local paths pass through."""
    return DEPTH_ANYTHING_IDS.get(name_or_id, name_or_id)


def _offline() -> bool:
    return any(
        os.environ.get(k, "").strip().lower() in ("1", "true", "yes", "on")
        for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def missing_weights_message(model_id: str, cause: BaseException | None = None) -> str:
    from huggingface_hub.constants import HF_HUB_CACHE

    where = "and HF_HUB_OFFLINE is set" if _offline() else "and could not be downloaded"
    msg = (
        f"weights of {model_id!r} are not in the Hugging Face cache ({HF_HUB_CACHE}) {where}. "
        f"Pre-fetch them where a network exists: `repro models fetch {model_id}` (with no ids it fetches every "
        f'model the pipeline uses; Docker: --build-arg PREFETCH_MODELS="{model_id}"), or pass a local folder '
        f"holding the model's config.json and model.safetensors instead of the id."
    )
    if cause is not None:
        first = str(cause).splitlines()[0] if str(cause) else ""
        msg += f" [{type(cause).__name__}: {first}]"
    return msg


def load_pretrained(
    model_cls: Any, model_id: str, cache_dir: str | Path | None = None, revision: str | None = None, **kwargs: Any
) -> Any:
    """``model_cls.from_pretrained`` at the pinned revision (:mod:`repro.revisions`), turning
    "weights not available" into one actionable error."""
    local = Path(model_id).expanduser()
    if local.is_dir():
        return model_cls.from_pretrained(str(local), **kwargs)
    rev = resolve_revision(model_id, revision)
    try:
        model = model_cls.from_pretrained(
            model_id, cache_dir=cache_dir, revision=rev, local_files_only=_offline(), **kwargs
        )
    except OSError as exc:  # transformers/huggingface_hub report missing files and no network as OSError
        raise WeightsMissingError(missing_weights_message(model_id, exc)) from exc
    note_loaded(model_id, rev)
    return model


def fetch_weights(
    ids: Iterable[str],
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
    model_ids = [resolve_id(name) for name in ids]
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
