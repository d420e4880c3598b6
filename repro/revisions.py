"""Pinned Hugging Face revisions: every Hub model the pipeline downloads, at a fixed commit.

A branch such as ``main`` moves; a reproduction run next year must load the same weights, so each
Hub id the suites name is pinned here to a commit hash, passed to every download
(``from_pretrained``, ``repro models fetch``) and recorded in each result's provenance.

Policy for ids not in :data:`PINNED`: the revision is a required setting. Pass one (a commit hash,
or ``main`` knowingly) in the config (``teacher.revision``) or on the command line
(``--revision``); nothing falls back to ``main`` silently. Only hashes seen in public records of
these repositories are listed: none was invented. To pin another model, take its commit from the
Hub (``huggingface_hub.model_info(id).sha``) and add it here.

No project imports: settings, teacher, masks, fetch and provenance all read this table.
"""

from __future__ import annotations

from pathlib import Path

from repro.errors import UserError

#: Hub id -> commit hash of the snapshot the suites load.
PINNED: dict[str, str] = {
    # Depth Anything V1 ViT-L: the paper's teacher (snapshot with config, preprocessor, model.safetensors)
    "LiheYoung/depth-anything-large-hf": "27ccb0920352c0c37b3a96441873c8d37bd52fb6",
    "depth-anything/Depth-Anything-V2-Small-hf": "5426e4f0f36572d16453bbda7a8389317b1bef99",
    "depth-anything/Depth-Anything-V2-Large-hf": "7581137eff8d4e94f6e796d3baea0e9fa79b22d2",
    # Grounded-SAM through transformers: Grounding DINO Swin-T boxes, SAM ViT-H masks
    "IDEA-Research/grounding-dino-tiny": "a2bb814dd30d776dcf7e30523b00659f4f141c71",
    "facebook/sam-vit-huge": "87aecf0df4ce6b30cd7de76e87673c49644bdf67",
}

#: Revisions requested by loads in this process (id -> revision), for provenance.
_LOADED: dict[str, str] = {}


def is_hub_id(name: str) -> bool:
    """``owner/name`` that is not an existing local folder."""
    return name.count("/") == 1 and not Path(name).expanduser().exists()


def resolve_revision(model_id: str, revision: str | None = None) -> str | None:
    """The revision to download ``model_id`` at: ``revision`` if given, else the pin.

    Local folders need none (``None``). A Hub id with neither is a :class:`UserError`: the
    revision is a required, recorded setting (see the module docstring).
    """
    if not is_hub_id(model_id):
        return None
    resolved = revision or PINNED.get(model_id)
    if resolved is None:
        raise UserError(
            f"no pinned revision for Hugging Face model {model_id!r}: set one (teacher.revision in the config, "
            f"or --revision; a commit hash, or 'main' knowingly) or pin it in repro/revisions.py"
        )
    return resolved


def note_loaded(model_id: str, revision: str | None) -> None:
    """Remember what this process loaded, so results can say which snapshot they came from."""
    if revision is not None:
        _LOADED[model_id] = revision


def loaded() -> dict[str, str]:
    return dict(sorted(_LOADED.items()))
