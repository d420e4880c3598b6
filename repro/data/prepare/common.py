"""What every converter shares: resumable per-file steps, a progress bar, archive members, a summary.

Resumable by construction: every output file is written atomically (:mod:`repro.atomic`), so a
file that exists is complete, and a converter skips the items whose outputs all exist. An
interrupted conversion is continued by running the same command again.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from repro.errors import UserError
from repro.progress import progress_bar

T = TypeVar("T")


class PrepareError(UserError):
    """The official download is not where or what the converter expects; the message says what to fetch."""


@dataclass
class PrepareSummary:
    dataset: str
    out: Path
    converted: int = 0
    skipped: int = 0  # already there from an earlier (interrupted) run
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"{self.dataset}: {self.converted} converted, {self.skipped} already there, "
            f"{len(self.problems)} problem(s) -> {self.out}"
        )


def run_items(
    items: Iterable[T],
    step: Callable[[T], bool],
    summary: PrepareSummary,
    *,
    desc: str,
    total: int | None = None,
    progress: bool = True,
    name: Callable[[T], str] = str,
) -> None:
    """Apply ``step`` to each item under a progress bar; ``step`` returns False when it had nothing to do.

    A :class:`PrepareError` from one item is recorded as a problem naming it; the others go on.
    """
    for item in progress_bar(items, total=total, desc=desc, unit="item", enabled=progress):
        try:
            if step(item):
                summary.converted += 1
            else:
                summary.skipped += 1
        except PrepareError as exc:
            summary.problems.append(f"{name(item)}: {exc}")


def link_or_copy(src: Path, dst: Path) -> bool:
    """Hard link ``src`` to ``dst`` (no extra disk) or copy it (another file system); False if ``dst`` exists."""
    if dst.is_file() and dst.stat().st_size == src.stat().st_size:
        return False
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copyfile(src, tmp)
    os.replace(tmp, dst)
    return True


def require_dir(path: Path, what: str, hint: str) -> Path:
    if not path.is_dir():
        raise PrepareError(f"{path} is not a folder; expected {what} ({hint})")
    return path


def sorted_files(root: Path, pattern: str) -> Iterator[Path]:
    yield from sorted(p for p in root.glob(pattern) if p.is_file())


def archive_members(archive: Path) -> Iterator[tuple[str, int, Callable[[], bytes]]]:
    """(member path, size, read) of each file in a .zip or .tar(.gz) archive, in archive order."""
    import tarfile
    import zipfile

    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                if not info.is_dir():
                    yield info.filename, info.file_size, (lambda i=info: zf.read(i))
        return
    try:
        with tarfile.open(archive) as tf:
            for member in tf:
                if member.isfile():
                    yield member.name, member.size, (lambda m=member: tf.extractfile(m).read())  # type: ignore[union-attr]
    except tarfile.ReadError as exc:
        raise PrepareError(f"{archive} is neither a zip nor a tar archive ({exc}); is the download complete?") from None


def extract_selected(
    archive: Path, select: Callable[[str], str | None], out: Path, summary: PrepareSummary, *, progress: bool = True
) -> None:
    """Write the members ``select`` maps to a relative output path (others are never extracted).

    A member whose output exists with the member's size is skipped (resume); each write is atomic.
    """
    import tarfile
    import zipfile

    from repro.atomic import write_bytes

    try:
        with progress_bar(desc=archive.name, unit="file", enabled=progress) as bar:
            for name, size, read in archive_members(archive):
                rel = select(name)
                if rel is None:
                    continue
                dst = out / rel
                if dst.is_file() and dst.stat().st_size == size:
                    summary.skipped += 1
                else:
                    write_bytes(dst, read(), fsync=False)
                    summary.converted += 1
                bar.update()
    except (OSError, EOFError, ValueError, zipfile.BadZipFile, tarfile.TarError) as exc:  # zlib/tar errors of a truncated download
        summary.problems.append(f"{archive}: unreadable archive ({type(exc).__name__}: {exc}); download it again")
