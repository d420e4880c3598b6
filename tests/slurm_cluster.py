"""A throw-away single-node SLURM on localhost (Debian's slurm-wlm + munge), for the cluster tests.

Everything lives under one temporary folder: the munge key, socket and seed, slurm.conf, the
controller's state, slurmd's spool, the daemons' logs and pid files. Ports are picked free, so
it never collides with a real installation. Needs root (slurmd runs jobs as their submitter) and
the Debian packages ``slurm-wlm munge``; :func:`unavailable` says why when it cannot start.

Client commands find this cluster through ``SLURM_CONF`` (set in :attr:`LocalSlurm.env`).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "sacct")


def unavailable() -> str | None:
    """Why a local SLURM cannot be started here (None when it can be tried)."""
    if os.geteuid() != 0:
        return "starting slurmd needs root (it runs jobs as their submitter)"
    missing = [d for d in DAEMONS[:-1] if shutil.which(d) is None]
    if missing:
        return f"not installed: {', '.join(missing)} (Debian packages slurm-wlm munge)"
    return None


def _free_ports(n: int) -> list[int]:
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


SLURM_CONF = """\
ClusterName=repro-ci
SlurmctldHost={hostname}(127.0.0.1)
MailProg=/bin/true
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={munge_socket}
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
JobRequeue=1
ReturnToService=2
SlurmdParameters=config_overrides
SchedulerParameters=sched_interval=2
MinJobAge=3600
KillWait=5
InactiveLimit=0
NodeName={node} NodeAddr=127.0.0.1 NodeHostname={hostname} CPUs={cpus} RealMemory=4000 State=UNKNOWN
PartitionName=debug Nodes={node} Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
"""


class LocalSlurm:
    """Start with :meth:`start`, stop with :meth:`stop` (kills only the daemons it started)."""

    def __init__(self, root: Path, cpus: int = 4) -> None:
        self.root = Path(root)
        self.cpus = cpus
        self.node = "repro-ci-node"
        self.procs: dict[str, int] = {}
        self.conf = self.root / "slurm.conf"
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}

    # ------------------------------------------------------------------ lifecycle

    def start(self, timeout: float = 90.0) -> None:
        for sub in ("state", "spool", "munge"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self._start_munge()
        ctld_port, slurmd_port = _free_ports(2)
        self.conf.write_text(
            SLURM_CONF.format(
                node=self.node,
                hostname=socket.gethostname(),
                ctld_port=ctld_port,
                slurmd_port=slurmd_port,
                munge_socket=self.munge_socket,
                root=self.root,
                cpus=self.cpus,
            )
        )
        self._spawn("slurmctld", ["slurmctld", "-D", "-i", "-f", str(self.conf)])
        self._wait(lambda: self._ok(["scontrol", "ping"], "UP"), timeout, "slurmctld did not answer `scontrol ping`")
        self._spawn("slurmd", ["slurmd", "-D", "-N", self.node, "-f", str(self.conf)])
        self._wait(self._node_idle, timeout, "the node did not become idle")

    def _start_munge(self) -> None:
        mdir = self.root / "munge"
        os.chmod(mdir, 0o700)
        key = mdir / "munge.key"
        key.write_bytes(os.urandom(1024))
        os.chmod(key, 0o400)
        self.munge_socket = mdir / "munge.socket"
        self._spawn(
            "munged",
            [
                "munged",
                "--foreground",
                "--force",
                f"--socket={self.munge_socket}",
                f"--key-file={key}",
                f"--pid-file={mdir / 'munged.pid'}",
                f"--seed-file={mdir / 'munged.seed'}",
                f"--log-file={mdir / 'munged.log'}",
            ],
        )
        self._wait(self.munge_socket.exists, 20, "munged did not create its socket")

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = open(self.root / f"{name}.out", "ab")  # noqa: SIM115 - the daemon owns it
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True)
        self.procs[name] = proc.pid
        self._popen = getattr(self, "_popen", {})
        self._popen[name] = proc

    def stop(self) -> None:
        """Cancel what is left, then stop slurmd, slurmctld and munged (in that order)."""
        if "slurmctld" in self.procs:
            subprocess.run(["scancel", "--full", "--user", "root"], env=self.env, check=False, capture_output=True, timeout=30)
        for name in ("slurmd", "slurmctld", "munged"):
            proc = getattr(self, "_popen", {}).get(name)
            if proc is None or proc.poll() is not None:
                continue
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        self.procs.clear()

    # ------------------------------------------------------------------ helpers

    def _ok(self, argv: list[str], needle: str) -> bool:
        res = subprocess.run(argv, env=self.env, check=False, capture_output=True, text=True, timeout=30)
        return res.returncode == 0 and needle in res.stdout

    def _node_idle(self) -> bool:
        res = subprocess.run(
            ["sinfo", "-h", "-N", "-o", "%t"], env=self.env, check=False, capture_output=True, text=True, timeout=30
        )
        return res.returncode == 0 and res.stdout.strip().startswith("idle")

    def _wait(self, ready, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, proc in getattr(self, "_popen", {}).items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited with {proc.returncode}: {self.logs(name)}")
            if ready():
                return
            time.sleep(0.5)
        raise RuntimeError(f"{what} within {timeout:.0f} s: {self.logs()}")

    def logs(self, only: str | None = None, tail: int = 2000) -> str:
        """The daemons' log tails (for failure messages)."""
        out = []
        for path in sorted(self.root.glob("*.log")) + sorted(self.root.glob("*.out")) + [self.root / "munge/munged.log"]:
            if path.is_file() and (only is None or path.name.startswith(only)):
                out.append(f"--- {path.name}\n{path.read_text(errors='replace')[-tail:]}")
        return "\n".join(out)


if __name__ == "__main__":  # manual check: python tests/slurm_cluster.py DIR
    import sys

    cluster = LocalSlurm(Path(sys.argv[1]))
    t0 = time.monotonic()
    try:
        cluster.start()
        print(f"SLURM up in {time.monotonic() - t0:.1f} s; SLURM_CONF={cluster.conf}")
        print(subprocess.run(["sinfo"], env=cluster.env, check=False, capture_output=True, text=True).stdout)
        out = subprocess.run(
            ["srun", "-n1", "hostname"], env=cluster.env, check=False, capture_output=True, text=True, timeout=60
        )
        print("srun:", out.returncode, out.stdout, out.stderr)
    finally:
        cluster.stop()
