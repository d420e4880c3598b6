"""Before a run starts: is every dataset split it reads there? One message listing all that is not.

A suite or training run reads several dataset splits; finding a missing one inside cell 5 after
four cells of training (or as one traceback per cell) wastes hours. :func:`require_data` checks
them all up front (the split list resolves, every listed file exists) and raises a single
:class:`MissingData` naming each missing split, who needs it and the ``repro data prepare``
command that makes it. Cheap: file existence only; ``repro data verify`` decodes every file.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from repro.data.base import DataError, inside_root
from repro.errors import UserError


class MissingData(UserError):
    """Data a run needs is absent; the message lists every gap and how to fill it."""


@dataclass
class Gap:
    dataset: str
    split: str
    root: Path
    problem: str
    needed_by: list[str] = field(default_factory=list)


def check_split(ref: Any, data_root: Path) -> str | None:
    """What is wrong with split ``ref.split`` of ``ref``'s dataset under ``data_root``, or None."""
    from repro.data import dataset_class

    root = ref.root_dir(Path(data_root))
    if not root.is_dir():
        return f"{root} does not exist"
    cls = dataset_class(ref.dataset)
    try:
        ds = cls(root, ref.split, size=(2, 4))
    except DataError as exc:
        return str(exc)
    missing = []
    for entry in ds.entries:
        rgb = inside_root(ds.root, entry.rgb, entry.origin)
        if not rgb.is_file():
            missing.append(rgb)
        depth = ds.depth_path(entry)
        if depth is not None and not depth.is_file():
            missing.append(depth)
    if missing:
        return f"{len(missing)} listed file(s) missing under {root} (first: {missing[0]})"
    return None


def find_gaps(needs: Iterable[tuple[Any, str]], data_root: str | Path) -> list[Gap]:
    """``needs``: (DataRef, who needs it) pairs; each distinct split is checked once."""
    gaps: dict[tuple[str, str, Path], Gap] = {}
    checked: set[tuple[str, str, Path]] = set()
    for ref, user in needs:
        root = ref.root_dir(Path(data_root))
        key = (ref.dataset, ref.split, root)
        if key in checked:
            if key in gaps and user not in gaps[key].needed_by:
                gaps[key].needed_by.append(user)
            continue
        checked.add(key)
        problem = check_split(ref, Path(data_root))
        if problem is not None:
            gaps[key] = Gap(ref.dataset, ref.split, root, problem, [user])
    return list(gaps.values())


def _howto(gap: Gap, data_root: Path) -> str:
    from repro.data.sources import SOURCES

    source = SOURCES.get(gap.dataset)
    if source is None:
        return f"put the images under {gap.root}"
    command = source.prepare_command(str(data_root))
    if gap.root.name != gap.dataset or gap.root.parent != data_root:
        command += f"  (then move {data_root / gap.dataset} to {gap.root})"
    return f"{command}   (how to obtain it: docs/data.md, `repro data list --layouts`)"


def describe(gaps: list[Gap], data_root: str | Path) -> str:
    """The one message: a line per missing split, with its users and the command that makes it."""
    data_root = Path(data_root)
    lines = [f"{len(gaps)} dataset split(s) this run needs are missing or incomplete (data root {data_root}):"]
    for gap in gaps:
        users = ", ".join(gap.needed_by[:4]) + (f" and {len(gap.needed_by) - 4} more" if len(gap.needed_by) > 4 else "")
        lines.append(f"  - {gap.dataset} split '{gap.split}' (needed by {users}): {gap.problem}")
        lines.append(f"      fix: {_howto(gap, data_root)}")
    return "\n".join(lines)


def require_data(needs: Iterable[tuple[Any, str]], data_root: str | Path) -> None:
    """Raise :class:`MissingData` listing every missing split of ``needs``; return quietly if all are there."""
    gaps = find_gaps(needs, data_root)
    if gaps:
        raise MissingData(describe(gaps, data_root))


def train_needs(settings: Any, eval_settings: Any = None, who: str = "training") -> list[tuple[Any, str]]:
    """The (DataRef, user) pairs of one training config (labeled, pseudo-labeled, its evaluation)."""
    needs = [(ref, f"{who} (labeled)") for ref in settings.labeled]
    needs += [(ref, f"{who} (pseudo labels)") for ref in settings.pseudo]
    if eval_settings is not None:
        needs.append((eval_settings.dataset, "evaluation"))
    return needs
