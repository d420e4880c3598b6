"""The image, checked statically (no Docker daemon in CI), and the SDK launcher against a mock client."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import pytest

from repro.cli import docker as launcher
from repro.errors import UserError

ROOT = Path(__file__).resolve().parents[1]


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    out, buf = [], ""
    for line in path.read_text().splitlines():
        if not buf and (not line.strip() or line.lstrip().startswith("#")):
            continue
        buf += line.rstrip()[:-1] + " " if line.rstrip().endswith("\\") else line
        if not line.rstrip().endswith("\\"):
            word, _, rest = buf.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
            buf = ""
    return out


INSTR = instructions(ROOT / "Dockerfile")


def args_of(name: str) -> list[str]:
    return [rest for word, rest in INSTR if word == name]


def arg_defaults() -> dict[str, str]:
    out = {}
    for rest in args_of("ARG"):
        key, _, value = rest.partition("=")
        out[key] = value.strip('"')
    return out


def test_base_is_cuda_runtime_matching_the_torch_build():
    defaults = arg_defaults()
    assert INSTR[0][0] == "ARG" and args_of("FROM") == ["${CUDA_IMAGE}"]
    base = defaults["CUDA_IMAGE"]
    match = re.fullmatch(r"nvidia/cuda:(\d+)\.(\d+)\.\d+-(?:cudnn-)?runtime-ubuntu\d+\.\d+", base)
    assert match, base
    assert defaults["TORCH_INDEX_URL"].endswith(f"/cu{match[1]}{match[2]}")  # CUDA 13.0 <-> cu130 wheels
    makefile_pins = re.search(r"TORCH_PINS \?= (.+)", (ROOT / "Makefile").read_text())[1].strip()
    assert defaults["TORCH_PINS"] == makefile_pins  # the same torch pair as `make install`


def test_runs_as_non_root_with_repro_entrypoint():
    users = args_of("USER")
    assert users and users[-1] not in ("root", "0")
    last_user = max(i for i, (w, _) in enumerate(INSTR) if w == "USER")
    entry = max(i for i, (w, _) in enumerate(INSTR) if w == "ENTRYPOINT")
    assert last_user < entry
    assert json.loads(args_of("ENTRYPOINT")[-1]) == ["repro"]


def test_volumes_and_cache_env():
    volumes = json.loads(args_of("VOLUME")[-1])
    assert {"/data", "/runs", "/cache"} <= set(volumes)
    env = " ".join(args_of("ENV"))
    assert "HF_HOME=/cache/huggingface" in env and "REPRO_DATA_ROOT=/data" in env and "REPRO_RUNS=/runs" in env
    assert "REPRO_SUITES=/opt/repro/suites" in env


def test_optional_weight_prefetch_uses_repro_models_fetch():
    assert arg_defaults()["PREFETCH_MODELS"] == ""
    runs = " ".join(args_of("RUN"))
    assert re.search(r'if \[ -n "\$\{PREFETCH_MODELS\}" \]; then repro models fetch \$\{PREFETCH_MODELS\}', runs)


def test_every_copy_source_exists_and_is_not_dockerignored():
    ignored = [
        p.strip() for p in (ROOT / ".dockerignore").read_text().splitlines() if p.strip() and not p.startswith("#")
    ]
    copies = args_of("COPY")
    assert copies
    for rest in copies:
        *sources, _dest = shlex.split(rest)
        for src in sources:
            assert (ROOT / src).exists(), src
            assert not any(fnmatch.fnmatch(src, pat) for pat in ignored), src
    copied = {s for rest in copies for s in shlex.split(rest)[:-1]}
    assert {"pyproject.toml", "repro", "suites", "expected"} <= copied


def test_installs_the_package_and_cleans_apt():
    runs = " ".join(args_of("RUN"))
    assert "pip install --no-cache-dir ." in runs and "rm -rf /var/lib/apt/lists/*" in runs


# --------------------------------------------------------------------------- SDK launcher (mocked)


def mock_client(exit_code: int = 0):
    client = mock.MagicMock()
    client.images.get.return_value = SimpleNamespace(id="sha256:feed", tags=["repro:latest"])
    container = mock.MagicMock()
    container.logs.return_value = [b"hello from the container\n"]
    container.wait.return_value = {"StatusCode": exit_code}
    client.containers.run.return_value = container
    client.images.build.return_value = (SimpleNamespace(id="sha256:new"), iter([{"stream": "Step 1/9\n"}]))
    return client, container


def test_run_builds_the_container_spec(tmp_path, capfd):
    client, container = mock_client(exit_code=3)
    spec = launcher.RunSpec(
        command=["suite", "zero_shot", "--cells", "unifuse_m_all"],
        data=tmp_path / "d",
        runs=tmp_path / "r",
        cache=tmp_path / "c",
        user="1234:5678",
    )
    assert launcher.run_container(client, spec) == 3
    kwargs = client.containers.run.call_args.kwargs
    assert kwargs["image"] == "sha256:feed"
    assert kwargs["command"] == ["suite", "zero_shot", "--cells", "unifuse_m_all"]
    (req,) = kwargs["device_requests"]
    assert req["Count"] == -1 and req["Capabilities"] == [["gpu"]]
    assert kwargs["volumes"] == {
        str((tmp_path / "d").resolve()): {"bind": "/data", "mode": "rw"},
        str((tmp_path / "r").resolve()): {"bind": "/runs", "mode": "rw"},
        str((tmp_path / "c").resolve()): {"bind": "/cache", "mode": "rw"},
    }
    assert kwargs["user"] == "1234:5678" and kwargs["detach"] is True
    assert kwargs["environment"]["REPRO_IMAGE_DIGEST"] == "sha256:feed"
    assert (tmp_path / "r").is_dir()  # created so the mount is a folder owned by the user
    assert "hello from the container" in capfd.readouterr().out
    container.remove.assert_called_once()


def test_gpu_selection_and_default_cache_volume(tmp_path):
    image = SimpleNamespace(id="sha256:x")
    spec = launcher.RunSpec(command=["suite", "smoke"], data=tmp_path, runs=tmp_path, gpus="0,2")
    kwargs = launcher.container_spec(spec, image)
    (req,) = kwargs["device_requests"]
    assert req["DeviceIDs"] == ["0", "2"] and "Count" not in req or req.get("Count") in (None, 0)
    assert kwargs["volumes"]["repro-cache"] == {"bind": "/cache", "mode": "rw"}
    assert launcher.container_spec(launcher.RunSpec(command=["x"], gpus="none"), image)["device_requests"] == []
    with pytest.raises(UserError):
        launcher.device_requests(",")


def test_missing_image_is_a_user_error():
    import docker

    client, _ = mock_client()
    client.images.get.side_effect = docker.errors.ImageNotFound("nope")
    with pytest.raises(UserError, match="repro docker build"):
        launcher.run_container(client, launcher.RunSpec(command=["suite", "smoke"]))


def test_build_passes_build_args(capfd):
    client, _ = mock_client()
    spec = launcher.BuildSpec(
        context=ROOT, tag="repro:test", prefetch_models="--all", git_commit="abc", uid=1001, gid=1002
    )
    image = launcher.build(client, spec)
    assert image.id == "sha256:new"
    kwargs = client.images.build.call_args.kwargs
    assert kwargs["path"] == str(ROOT) and kwargs["tag"] == "repro:test"
    assert kwargs["buildargs"] == {"PREFETCH_MODELS": "--all", "GIT_COMMIT": "abc", "UID": "1001", "GID": "1002"}
    assert set(kwargs["buildargs"]) <= set(arg_defaults())  # only arguments the Dockerfile declares
    assert "Step 1/9" in capfd.readouterr().err


def test_cli_without_daemon_is_a_user_error(monkeypatch, capsys):
    import docker

    from repro.cli import main

    monkeypatch.setattr(docker, "from_env", mock.Mock(side_effect=docker.errors.DockerException("no socket")))
    assert main(["docker", "run", "--", "suite", "smoke"]) == 2
    assert "cannot reach the Docker daemon" in capsys.readouterr().err


def test_cli_run_forwards_the_command(monkeypatch, tmp_path):
    import docker

    from repro.cli import main

    client, _ = mock_client(exit_code=0)
    monkeypatch.setattr(docker, "from_env", lambda: client)
    rc = main(
        [
            "docker",
            "run",
            "--data",
            str(tmp_path / "d"),
            "--runs",
            str(tmp_path / "r"),
            "--",
            "suite",
            "zero_shot",
            "--dry-run",
        ]
    )
    assert rc == 0
    assert client.containers.run.call_args.kwargs["command"] == ["suite", "zero_shot", "--dry-run"]
