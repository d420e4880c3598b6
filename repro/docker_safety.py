"""What ``repro docker`` hands to the container engine: build arguments and host folders, checked.

* Build arguments match strict patterns before they reach ``docker build``, and the Dockerfile
  reads ``PREFETCH_MODELS`` from the environment in an exec-form ``RUN`` that splits it without a
  shell (no ``;``, ``$(...)`` or backticks can run in the build).
* Host folders to mount: not the root, not a system folder (``/etc``, ``/usr``, ``/proc``, …, or
  anything inside one), not a whole top-level tree such as ``/var`` or ``/home``, not the caller's
  home folder itself, and no ``:`` (the engine's ``-v SRC:DST`` separator). Paths are resolved
  first, so a symlink to ``/`` is refused as ``/``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from repro.errors import UserError

__all__ = ["check_build_arg", "check_mount_source", "check_shm_size", "check_tag"]

#: Folders never mounted, nor anything inside them.
SYSTEM_TREES = ("/etc", "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/boot", "/dev", "/proc",
                "/sys", "/run", "/var/run", "/var/lib/docker", "/var/lib/containers", "/snap")
#: Folders never mounted as a whole (a data disk inside them, e.g. /var/data or /mnt/ssd, is fine).
WHOLE_TREES = ("/", "/var", "/home", "/root", "/opt", "/srv", "/mnt", "/media", "/tmp", "/var/lib", "/usr/local")

_PATTERNS = {
    # `repro models fetch` arguments: options and model ids, separated by spaces; no shell syntax
    "PREFETCH_MODELS": re.compile(r"[A-Za-z0-9_.,/@=:+ -]{0,512}"),
    # an image reference: [registry[:port]/]name[:tag][@sha256:digest]
    "CUDA_IMAGE": re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}"),
    "GIT_COMMIT": re.compile(r"[0-9a-fA-F]{1,64}"),
    "UID": re.compile(r"[0-9]{1,10}"),
    "GID": re.compile(r"[0-9]{1,10}"),
}
_TAG = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}")
_SHM = re.compile(r"[0-9]{1,12}[bkmgBKMG]?")


def check_build_arg(name: str, value: str) -> str:
    """``value`` if it matches the strict pattern of build argument ``name``; else a UserError."""
    pattern = _PATTERNS.get(name)
    if pattern is None:
        raise UserError(f"unknown build argument {name}")
    if not pattern.fullmatch(value):
        raise UserError(
            f"build argument {name}={value!r} has characters outside {pattern.pattern}: refused "
            "(build arguments never reach a shell unchecked)"
        )
    return value


def check_tag(tag: str) -> str:
    if not _TAG.fullmatch(tag):
        raise UserError(f"--tag {tag!r} is not an image reference ({_TAG.pattern})")
    return tag


def check_shm_size(size: str) -> str:
    if not _SHM.fullmatch(size):
        raise UserError(f"--shm-size {size!r} must be a number with an optional unit b, k, m or g (e.g. 16g)")
    return size


def _inside(path: Path, tree: str) -> bool:
    return path == Path(tree) or Path(tree) in path.parents


def check_mount_source(path: str | os.PathLike[str], flag: str) -> Path:
    """The resolved host folder behind ``flag`` if it is safe to mount; else a UserError naming it."""
    given = Path(path)
    if ":" in str(given):
        raise UserError(f"{flag} {given}: the path contains ':', which separates -v SRC:DST: cannot be mounted")
    real = given.expanduser().resolve()
    if ":" in str(real):
        raise UserError(f"{flag} {given} resolves to {real}, which contains ':' and cannot be mounted")
    if any(_inside(real, tree) for tree in SYSTEM_TREES):
        raise UserError(f"{flag} {given} ({real}) is a system folder: refused as a container mount")
    home = Path.home().resolve()
    if str(real) in WHOLE_TREES or real == home:
        raise UserError(f"{flag} {given} ({real}) would mount a whole system or home tree: give a folder inside it")
    return real
