"""`repro docker build | run`: the image through the docker or podman command line, one CLI for both.

``repro docker run -- suite zero_shot`` is the README's line, ``docker run --gpus all --shm-size 16g
-v DATA:/data -v RUNS:/runs -v repro-cache:/cache repro suite zero_shot``, plus what a shell line
cannot do reliably: the caller's uid:gid (results stay theirs), the image digest passed in
(``REPRO_IMAGE_DIGEST``, so every result's provenance names the exact image) and the container's
exit code returned. The engine's own output goes straight to the terminal, so the build log streams
as it happens; a failed build is one ``repro docker: error:`` line after it.

Commands are argument lists run without a shell; build arguments, the tag and every host folder
are checked first (:mod:`repro.docker_safety`): strict patterns, no system folders, no ':'. The
data folder is mounted read-only unless ``--data-rw`` is given (``data synth``, ``masks generate``
and suites that synthesize data write there).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from repro.cli.args import RenamedOption
from repro.docker_safety import check_build_arg, check_mount_source, check_shm_size, check_tag
from repro.errors import UserError

DEFAULT_TAG = "repro:latest"
ENGINES = ("docker", "podman")
REPO_ROOT = Path(__file__).resolve().parents[2]  # repro/cli/docker.py -> the source tree
CONTAINER_DATA, CONTAINER_RUNS, CONTAINER_CACHE = "/data", "/runs", "/cache"
CACHE_VOLUME = "repro-cache"  # named volume: starts with a copy of weights baked in at build time


class BuildFailed(UserError):
    """The engine's build exited non-zero; its log (above) shows the failing step."""


@dataclass
class BuildSpec:
    context: Path = REPO_ROOT
    tag: str = DEFAULT_TAG
    cuda_image: str | None = None  # default: the Dockerfile's (matches the locked torch build)
    prefetch_models: str | None = None  # arguments of `repro models fetch`, e.g. "--all"
    git_commit: str | None = None
    uid: int | None = None
    gid: int | None = None

    def buildargs(self) -> dict[str, str]:
        args = {
            "CUDA_IMAGE": self.cuda_image,
            "PREFETCH_MODELS": self.prefetch_models,
            "GIT_COMMIT": self.git_commit,
            "UID": None if self.uid is None else str(self.uid),
            "GID": None if self.gid is None else str(self.gid),
        }
        return {k: check_build_arg(k, v) for k, v in args.items() if v is not None}


@dataclass
class RunSpec:
    command: list[str]
    tag: str = DEFAULT_TAG
    data: Path = Path("data")
    runs: Path = Path("runs")
    cache: Path | None = None  # default: the named volume, so baked-in weights stay visible
    gpus: str = "all"  # "all", "none", or device ids "0,1"
    user: str | None = None  # default: the calling user's uid:gid (results stay yours); root: the image's
    shm_size: str = "16g"  # data-loader workers share batches through /dev/shm
    env: dict[str, str] = field(default_factory=dict)
    data_writable: bool = False  # /data read-only unless a command must write there (synth, masks)


def find_engine(name: str | None = None) -> str:
    """``name`` (or $REPRO_CONTAINER_ENGINE), else the first of docker, podman on PATH."""
    name = name or os.environ.get("REPRO_CONTAINER_ENGINE") or None
    if name is not None:
        if name not in ENGINES:
            raise UserError(f"--engine must be one of {', '.join(ENGINES)}; got {name!r}")
        if shutil.which(name) is None:
            raise UserError(f"--engine {name}: `{name}` is not on PATH")
        return name
    for engine in ENGINES:
        if shutil.which(engine):
            return engine
    raise UserError("neither docker nor podman is on PATH: install one of them (or pass --engine)")


def gpu_flags(engine: str, gpus: str) -> list[str]:
    """Docker's ``--gpus`` (NVIDIA Container Toolkit) or podman's CDI devices for the same choice."""
    if gpus == "none":
        return []
    ids = [] if gpus == "all" else [g.strip() for g in gpus.split(",") if g.strip()]
    if gpus != "all" and (not ids or not all(i.isdigit() for i in ids)):
        raise UserError(f"--gpus must be all, none or device ids like 0,1; got {gpus!r}")
    if engine == "podman":
        return [arg for dev in ids or ["all"] for arg in ("--device", f"nvidia.com/gpu={dev}")]
    return ["--gpus", "all" if not ids else f'"device={",".join(ids)}"']


def _mount(source: str | Path, target: str, flag: str, *, read_only: bool = False) -> list[str]:
    """``-v SRC:DST[:ro]`` for a checked host folder (named volumes, without '/', pass as they are)."""
    src = str(check_mount_source(source, flag)) if "/" in str(source) or isinstance(source, Path) else str(source)
    return ["-v", f"{src}:{target}" + (":ro" if read_only else "")]


def build_command(engine: str, spec: BuildSpec) -> list[str]:
    cmd = [engine, "build", "-f", str(spec.context / "Dockerfile"), "-t", check_tag(spec.tag)]
    for key, value in spec.buildargs().items():
        cmd += ["--build-arg", f"{key}={value}"]
    return [*cmd, str(spec.context)]


def run_command(engine: str, spec: RunSpec, image_id: str) -> list[str]:
    cmd = [engine, "run", "--rm", *gpu_flags(engine, spec.gpus), "--shm-size", check_shm_size(spec.shm_size)]
    cmd += _mount(spec.data, CONTAINER_DATA, "--data-root", read_only=not spec.data_writable)
    cmd += _mount(spec.runs, CONTAINER_RUNS, "--out")
    cmd += _mount(spec.cache if spec.cache else CACHE_VOLUME, CONTAINER_CACHE, "--cache")
    env = {"REPRO_IMAGE": spec.tag, "REPRO_IMAGE_DIGEST": image_id, **spec.env}
    for key, value in env.items():
        cmd += ["-e", f"{key}={value}"]
    user = spec.user or _host_user()
    if user is not None:
        cmd += ["--user", user]
        if engine == "podman":  # rootless podman: map the caller onto the same ids inside
            cmd += ["--userns", "keep-id"]
    return [*cmd, "-w", CONTAINER_RUNS, check_tag(image_id), *spec.command]


def _host_user() -> str | None:
    """The caller's uid:gid, so results on the host are theirs; None for root (the image's user)."""
    return None if os.getuid() == 0 else f"{os.getuid()}:{os.getgid()}"


def _git_commit(context: Path) -> str | None:
    try:
        res = subprocess.run(
            ["git", "-C", str(context), "rev-parse", "HEAD"], capture_output=True, text=True, check=False
        )
    except OSError:
        return None
    return res.stdout.strip() or None


def image_id(engine: str, tag: str) -> str:
    res = subprocess.run(
        [engine, "image", "inspect", "--format", "{{.Id}}", tag], capture_output=True, text=True, check=False
    )
    if res.returncode != 0 or not res.stdout.strip():
        raise UserError(f"image {tag} not found: run `repro docker build` first")
    return res.stdout.strip()


def build(engine: str, spec: BuildSpec) -> str:
    """Build the image, the engine's log streaming to the terminal; returns the image id."""
    if not (spec.context / "Dockerfile").is_file():
        raise UserError(f"no Dockerfile in {spec.context} (pass --context, the repro source tree)")
    rc = subprocess.run(build_command(engine, spec), check=False).returncode
    if rc != 0:
        raise BuildFailed(f"`{engine} build` of {spec.tag} failed (exit {rc}); the failing step is in the log above")
    return image_id(engine, spec.tag)


def run_container(engine: str, spec: RunSpec) -> int:
    """Run ``repro COMMAND`` in the image (output streams through); returns its exit code."""
    digest = image_id(engine, check_tag(spec.tag))
    cmd = run_command(engine, spec, digest)  # every check before anything is created on the host
    for folder in (spec.data, spec.runs, *([spec.cache] if spec.cache else [])):
        folder.mkdir(parents=True, exist_ok=True)  # created here, so the mounts are folders owned by the caller
    return subprocess.run(cmd, check=False).returncode


# --------------------------------------------------------------------------- CLI


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="build|run")
    build_p = sub.add_parser("build", help="build the image from the source tree")
    run_p = sub.add_parser("run", help="run a repro command in the image: repro docker run [options] -- COMMAND")
    for p in (build_p, run_p):
        p.add_argument("--tag", default=DEFAULT_TAG, help=f"image tag (default {DEFAULT_TAG})")
        p.add_argument(
            "--engine",
            choices=ENGINES,
            help="container engine (default: $REPRO_CONTAINER_ENGINE, else docker or podman, whichever is on PATH)",
        )
    build_p.add_argument("--context", type=Path, default=REPO_ROOT, help="source tree with the Dockerfile")
    build_p.add_argument("--cuda-image", help="base image (default: the Dockerfile's CUDA runtime)")
    build_p.add_argument("--prefetch-models", help="bake weights in: arguments of `repro models fetch`")
    for new, old, dest, default, what in (
        (
            "--data-root",
            "--data",
            "data",
            Path(os.environ.get("REPRO_DATA_ROOT", "data")),
            "dataset folder mounted on /data (default: $REPRO_DATA_ROOT, else data",
        ),
        ("--out", "--runs", "runs", Path("runs"), "results folder mounted on /runs (default: runs"),
    ):
        run_p.add_argument(
            new,
            old,
            dest=dest,
            type=Path,
            default=default,
            metavar="DIR",
            action=RenamedOption,
            old=[old],
            help=f"{what}; {old}: deprecated spelling)",
        )
    run_p.add_argument("--data-rw", action="store_true", help="mount /data writable (data synth, masks generate)")
    run_p.add_argument(
        "--cache",
        type=Path,
        default=None,
        help=f"host folder for /cache (HF/torch weights); default: the named volume {CACHE_VOLUME}",
    )
    run_p.add_argument("--gpus", default="all", help="all, none, or device ids like 0,1")
    run_p.add_argument("--shm-size", default="16g", help="shared memory for data-loader workers")
    run_p.add_argument("command", nargs=argparse.REMAINDER, help="the repro command, e.g. -- suite zero_shot")


def run(args: argparse.Namespace) -> int:
    if args.action == "run":
        command = args.command[1:] if args.command[:1] == ["--"] else args.command
        if not command:
            raise UserError("usage: repro docker run [options] -- COMMAND (e.g. suite zero_shot)")
    engine = find_engine(args.engine)
    if args.action == "build":
        spec = BuildSpec(
            context=args.context,
            tag=args.tag,
            cuda_image=args.cuda_image,
            prefetch_models=args.prefetch_models,
            git_commit=_git_commit(args.context),
        )
        if os.getuid() != 0:  # the image's user gets the caller's ids, so bind mounts stay writable
            spec.uid, spec.gid = os.getuid(), os.getgid()
        print(f"built {args.tag} ({build(engine, spec)})")
        return 0
    spec = RunSpec(
        command=command,
        tag=args.tag,
        data=args.data,
        runs=args.runs,
        cache=args.cache,
        gpus=args.gpus,
        shm_size=args.shm_size,
        data_writable=args.data_rw,
    )
    return run_container(engine, spec)
