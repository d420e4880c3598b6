"""`repro docker build | run`: the CUDA image through the Docker SDK, for users who want one command.

``repro docker run -- suite zero_shot`` is ``docker run --gpus all -v DATA:/data -v RUNS:/runs
-v CACHE:/cache --user UID:GID repro suite zero_shot`` plus what a shell command cannot do
reliably: it passes the image digest into the container (``REPRO_IMAGE_DIGEST``) so every
result's provenance names the exact image, and it returns the container's exit code.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from repro.errors import UserError

DEFAULT_TAG = "repro:latest"
REPO_ROOT = Path(__file__).resolve().parents[1]
CONTAINER_DATA, CONTAINER_RUNS, CONTAINER_CACHE = "/data", "/runs", "/cache"


@dataclass
class BuildSpec:
    context: Path = REPO_ROOT
    tag: str = DEFAULT_TAG
    cuda_image: str | None = None  # default: the Dockerfile's (matches its torch build)
    torch_index_url: str | None = None
    prefetch_models: str | None = None  # arguments of `repro models fetch`, e.g. "--all"
    git_commit: str | None = None
    uid: int | None = None
    gid: int | None = None

    def buildargs(self) -> dict[str, str]:
        args = {
            "CUDA_IMAGE": self.cuda_image,
            "TORCH_INDEX_URL": self.torch_index_url,
            "PREFETCH_MODELS": self.prefetch_models,
            "GIT_COMMIT": self.git_commit,
            "UID": None if self.uid is None else str(self.uid),
            "GID": None if self.gid is None else str(self.gid),
        }
        return {k: v for k, v in args.items() if v is not None}


@dataclass
class RunSpec:
    command: list[str]
    tag: str = DEFAULT_TAG
    data: Path = Path("data")
    runs: Path = Path("runs")
    cache: Path | None = None  # default: a named volume, so baked-in weights stay visible
    gpus: str = "all"  # "all", "none", or device ids "0,1"
    user: str | None = None  # default: the calling user's uid:gid (results stay yours); root: the image's
    shm_size: str = "16g"  # data-loader workers share batches through /dev/shm
    env: dict[str, str] = field(default_factory=dict)


def device_requests(gpus: str) -> list[Any]:
    from docker.types import DeviceRequest

    if gpus == "none":
        return []
    if gpus == "all":
        return [DeviceRequest(count=-1, capabilities=[["gpu"]])]
    ids = [g.strip() for g in gpus.split(",") if g.strip()]
    if not ids:
        raise UserError(f"--gpus must be all, none or device ids like 0,1; got {gpus!r}")
    return [DeviceRequest(device_ids=ids, capabilities=[["gpu"]])]


def container_spec(spec: RunSpec, image: Any) -> dict[str, Any]:
    """Keyword arguments of ``client.containers.run`` for ``spec`` on ``image`` (a docker Image)."""
    volumes: dict[str, dict[str, str]] = {
        str(spec.data.resolve()): {"bind": CONTAINER_DATA, "mode": "rw"},  # masks are written here
        str(spec.runs.resolve()): {"bind": CONTAINER_RUNS, "mode": "rw"},
    }
    volumes[str(spec.cache.resolve()) if spec.cache else "repro-cache"] = {"bind": CONTAINER_CACHE, "mode": "rw"}
    env = {"REPRO_IMAGE": spec.tag, "REPRO_IMAGE_DIGEST": image.id, **spec.env}
    kwargs = {
        "image": image.id,
        "command": list(spec.command),
        "device_requests": device_requests(spec.gpus),
        "volumes": volumes,
        "environment": env,
        "shm_size": spec.shm_size,
        "working_dir": CONTAINER_RUNS,
        "detach": True,
    }
    user = spec.user or _host_user()
    if user is not None:
        kwargs["user"] = user
    return kwargs


def _host_user() -> str | None:
    """The caller's uid:gid, so results on the host are theirs; None for root (the image's user)."""
    return None if os.getuid() == 0 else f"{os.getuid()}:{os.getgid()}"


def _client() -> Any:
    try:
        import docker
    except ImportError:
        raise UserError("the Docker SDK is missing: pip install docker") from None
    try:
        return docker.from_env()
    except docker.errors.DockerException as exc:
        raise UserError(f"cannot reach the Docker daemon: {exc}") from None


def _git_commit(context: Path) -> str | None:
    try:
        res = subprocess.run(
            ["git", "-C", str(context), "rev-parse", "HEAD"], capture_output=True, text=True, check=False
        )
    except OSError:
        return None
    return res.stdout.strip() or None


def _print_build_log(lines: Iterable[dict[str, Any]]) -> None:
    for entry in lines:
        text = entry.get("stream") or entry.get("status")
        if text:
            sys.stderr.write(text if text.endswith("\n") else text + "\n")


def build(client: Any, spec: BuildSpec) -> Any:
    """Build the image; returns the docker Image."""
    if not (spec.context / "Dockerfile").is_file():
        raise UserError(f"no Dockerfile in {spec.context} (pass --context, the repro source tree)")
    image, logs = client.images.build(path=str(spec.context), tag=spec.tag, buildargs=spec.buildargs(), rm=True)
    _print_build_log(logs)
    return image


def run_container(client: Any, spec: RunSpec) -> int:
    """Run ``repro COMMAND`` in the image, stream its output, return its exit code."""
    import docker

    try:
        image = client.images.get(spec.tag)
    except docker.errors.ImageNotFound:
        raise UserError(f"image {spec.tag} not found: run `repro docker build` first") from None
    for folder in (spec.data, spec.runs, *([spec.cache] if spec.cache else [])):
        folder.mkdir(parents=True, exist_ok=True)
    container = client.containers.run(**container_spec(spec, image))
    try:
        for chunk in container.logs(stream=True, follow=True):
            sys.stdout.buffer.write(chunk)
            sys.stdout.flush()
        return int(container.wait().get("StatusCode", 1))
    finally:
        container.remove(force=True)


# --------------------------------------------------------------------------- CLI


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="build|run")
    build_p = sub.add_parser("build", help="build the image from the source tree")
    run_p = sub.add_parser("run", help="run a repro command in the image: repro docker run [options] -- COMMAND")
    for p in (build_p, run_p):
        p.add_argument("--tag", default=DEFAULT_TAG, help=f"image tag (default {DEFAULT_TAG})")
    build_p.add_argument("--context", type=Path, default=REPO_ROOT, help="source tree with the Dockerfile")
    build_p.add_argument("--cuda-image", help="base image (default: the Dockerfile's CUDA runtime)")
    build_p.add_argument("--torch-index-url", help="PyTorch wheel index matching the base image's CUDA")
    build_p.add_argument("--prefetch-models", help="bake weights in: arguments of `repro models fetch`")
    run_p.add_argument(
        "--data",
        type=Path,
        default=Path(os.environ.get("REPRO_DATA_ROOT", "data")),
        help="dataset folder mounted on /data",
    )
    run_p.add_argument("--runs", type=Path, default=Path("runs"), help="results folder mounted on /runs")
    run_p.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="host folder for /cache (HF/torch weights); default: the named volume repro-cache",
    )
    run_p.add_argument("--gpus", default="all", help="all, none, or device ids like 0,1")
    run_p.add_argument("--shm-size", default="16g", help="shared memory for data-loader workers")
    run_p.add_argument("command", nargs=argparse.REMAINDER, help="the repro command, e.g. -- suite zero_shot")


def run(args: argparse.Namespace) -> int:
    client = _client()
    if args.action == "build":
        spec = BuildSpec(
            context=args.context,
            tag=args.tag,
            cuda_image=args.cuda_image,
            torch_index_url=args.torch_index_url,
            prefetch_models=args.prefetch_models,
            git_commit=_git_commit(args.context),
        )
        if os.getuid() != 0:  # the image's user gets the caller's ids, so bind mounts stay writable
            spec.uid, spec.gid = os.getuid(), os.getgid()
        image = build(client, spec)
        print(f"built {args.tag} ({image.id})")
        return 0
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        raise UserError("usage: repro docker run [options] -- COMMAND (e.g. suite zero_shot)")
    spec = RunSpec(
        command=command,
        tag=args.tag,
        data=args.data,
        runs=args.runs,
        cache=args.cache,
        gpus=args.gpus,
        shm_size=args.shm_size,
    )
    return run_container(client, spec)
