"""The sbatch scripts submitit writes for our knobs and both container routes (no scheduler needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from repro.errors import UserError
from repro.suite.launchers import slurm


@pytest.fixture(autouse=True)
def _srun_not_needed(monkeypatch: pytest.MonkeyPatch) -> None:
    import submitit

    monkeypatch.setattr(submitit.SlurmExecutor, "affinity", classmethod(lambda cls: 2))  # no srun on PATH here


def _script(tmp_path: Path, settings: slurm.SlurmSettings, mounts: list[str] | None = None) -> str:
    ex = slurm.make_executor(tmp_path / "_jobs" / "%j", settings, mounts or ["/runs", "/data"])
    ex.update_parameters(job_name="repro-smoke-gt_only-s0", dependency="afterok:41")
    return ex._make_submission_file_text(ex._submitit_command_str, "uid")


def _command(script: str) -> str:
    return next(line for line in script.splitlines() if line.startswith("srun "))


def test_knobs_become_sbatch_options(tmp_path: Path) -> None:
    settings = slurm.SlurmSettings(
        partition="gpu",
        gpus_per_task=1,
        cpus_per_task=8,
        mem="64G",
        time_min=slurm.parse_time("2-00:00:00"),
        account="vision",
        qos="normal",
        extra=slurm.parse_slurm_args(["constraint=a100", "exclusive"]),
        signal_delay_s=300,
    )
    script = _script(tmp_path, settings)
    for line in (
        "#SBATCH --partition=gpu",
        "#SBATCH --gpus-per-task=1",
        "#SBATCH --cpus-per-task=8",
        "#SBATCH --mem=64G",
        "#SBATCH --time=2880",
        "#SBATCH --account=vision",
        "#SBATCH --qos=normal",
        "#SBATCH --constraint=a100",
        "#SBATCH --exclusive",
        "#SBATCH --signal=USR2@300",
        "#SBATCH --requeue",
        "#SBATCH --kill-on-invalid-dep=yes",
        "#SBATCH --dependency=afterok:41",
        "#SBATCH --job-name=repro-smoke-gt_only-s0",
    ):
        assert line in script.splitlines(), (line, script)


def test_apptainer_route_runs_the_job_python_inside_the_image(tmp_path: Path) -> None:
    settings = slurm.SlurmSettings(gpus_per_task=1, container_image="/images/repro.sif")
    cmd = _command(_script(tmp_path, settings))
    assert " apptainer exec --nv --bind /runs:/runs,/data:/data /images/repro.sif python -u -m submitit.core._submit " in cmd


def test_pyxis_route_passes_the_image_to_srun(tmp_path: Path) -> None:
    settings = slurm.SlurmSettings(container_image="registry#repro:latest", container_runtime="pyxis")
    cmd = _command(_script(tmp_path, settings))
    assert "--container-image=registry#repro:latest" in cmd
    assert "--container-mounts=/runs:/runs,/data:/data" in cmd
    assert cmd.split("--no-container-mount-home", 1)[1].strip().startswith("python -u -m submitit.core._submit")


@pytest.mark.parametrize(
    ("text", "minutes"),
    [("90", 90), ("1:30", 2), ("4:00:00", 240), ("2-00", 2880), ("1-02:03", 1563), ("0-00:00:30", 1)],
)
def test_time_formats(text: str, minutes: int) -> None:
    assert slurm.parse_time(text) == minutes


@pytest.mark.parametrize("bad", ["", "abc", "1:2:3:4", "0"])
def test_bad_time_is_a_user_error(bad: str) -> None:
    with pytest.raises(UserError, match="--time"):
        slurm.parse_time(bad)


def test_bad_slurm_arg_is_a_user_error() -> None:
    with pytest.raises(UserError, match="--slurm-arg"):
        slurm.parse_slurm_args(["=x"])


def test_a_refused_submission_is_one_user_error():
    """sbatch refusing a job (no cluster, bad partition) ends in a UserError naming the job, not a traceback."""
    from submitit.core.utils import FailedJobError

    from repro.errors import UserError
    from repro.suite.launchers.slurm import _submit

    class Refusing:
        def update_parameters(self, **kwargs):
            self.params = kwargs

        def submit(self, fn):
            raise FailedJobError("sbatch: error: invalid partition specified: nope")

    with pytest.raises(UserError, match="could not submit repro-smoke-a-s0: sbatch: error: invalid partition"):
        _submit(Refusing(), print, "repro-smoke-a-s0", None)
