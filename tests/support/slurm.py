"""A real single-host Slurm for tests: Debian's munged, slurmctld and slurmd, on loopback.

Everything lives under one scratch folder: config, state, spool, logs, PID files, the munge
socket and key, and eight fake GPUs as character devices (plain files would be scheduled but
then no `SLURM_JOB_GPUS` is set). The daemons run in the foreground as children of the test
and are stopped by their own PIDs. Facts and timings: shared/reference/jobs-slurm-and-kubelet.md.
Debian's packages come from scripts/install-test-services; a missing binary fails the test.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.mosquitto import free_port

BINARIES = ("munged", "mungekey", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "sinfo")
GPUS = 8


def missing_binaries() -> list[str]:
    return [b for b in BINARIES if shutil.which(b) is None and not Path(f"/usr/sbin/{b}").exists()]


def _bin(name: str) -> str:
    return shutil.which(name) or f"/usr/sbin/{name}"


class SlurmCluster:
    """One controller and one node (`node1`, 8 CPUs, 8 GRES GPUs) in `root`."""

    def __init__(self, root: Path, prolog: str, epilog: str) -> None:
        if missing := missing_binaries():
            pytest.fail(
                f"Slurm not installed ({', '.join(missing)} missing): run `make test` (scripts/install-test-services) "
                "or apt-get install slurmctld slurmd slurm-client munge"
            )
        self.root = root
        for sub in ("etc", "state", "spool/node1", "log", "run", "dev", "scripts"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        (root / "munge").mkdir(mode=0o711, exist_ok=True)
        os.chmod(root / "munge", 0o711)  # munged refuses a socket folder others cannot traverse
        for i in range(GPUS):
            device = root / "dev" / f"nvidia{i}"
            if not device.exists():
                try:
                    os.mknod(device, 0o666 | 0o020000, os.makedev(1, 3))  # like /dev/null: a character device
                except PermissionError:
                    pytest.fail("the Slurm fixture needs root: slurmd runs as root and the fake GPUs are character devices")
        self.prolog, self.epilog = root / "scripts/prolog.sh", root / "scripts/epilog.sh"
        for path, body in ((self.prolog, prolog), (self.epilog, epilog)):
            path.write_text(body)
            path.chmod(0o755)
        self.ctld_port, self.slurmd_port = free_port(), free_port()
        self.conf = root / "etc/slurm.conf"
        self.conf.write_text(self._slurm_conf())
        (root / "etc/gres.conf").write_text(f"AutoDetect=off\nNodeName=node1 Name=gpu File={root}/dev/nvidia[0-{GPUS - 1}]\n")
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}
        self._procs: list[subprocess.Popen[bytes]] = []

    def _slurm_conf(self) -> str:
        r = self.root
        return f"""ClusterName=gpufleettest
SlurmctldHost=localhost
SlurmctldPort={self.ctld_port}
SlurmdPort={self.slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={r}/munge/munge.socket
StateSaveLocation={r}/state
SlurmdSpoolDir={r}/spool/%n
SlurmctldPidFile={r}/run/slurmctld.pid
SlurmdPidFile={r}/run/slurmd-%n.pid
SlurmctldLogFile={r}/log/slurmctld.log
SlurmdLogFile={r}/log/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
GresTypes=gpu
ReturnToService=2
MailProg=/bin/true
SlurmdParameters=config_overrides
CommunicationParameters=NoInAddrAny,NoCtldInAddrAny
Prolog={self.prolog}
Epilog={self.epilog}
PrologFlags=Alloc
NodeName=node1 NodeAddr=127.0.0.1 NodeHostname=localhost CPUs=8 RealMemory=8000 Gres=gpu:{GPUS} State=UNKNOWN
PartitionName=debug Nodes=node1 Default=YES MaxTime=INFINITE State=UP
"""

    def _spawn(self, *argv: str) -> subprocess.Popen[bytes]:
        log = (self.root / "log" / f"{Path(argv[0]).name}.out").open("ab")
        proc = subprocess.Popen(list(argv), stdout=log, stderr=log, env=self.env)
        self._procs.append(proc)
        return proc

    def start(self) -> None:
        m = self.root / "munge"
        subprocess.run([_bin("mungekey"), "--create", f"--keyfile={m}/munge.key", "--bits=1024", "--force"], check=True,
                       capture_output=True, timeout=30)  # fmt: skip
        os.chmod(m / "munge.key", 0o600)
        self._spawn(_bin("munged"), "-F", "--force", f"--socket={m}/munge.socket", f"--key-file={m}/munge.key",
                    f"--pid-file={m}/munged.pid", f"--seed-file={m}/munge.seed", f"--log-file={m}/munged.log")  # fmt: skip
        self._wait((m / "munge.socket").exists, "munged socket")
        ctld = self._spawn(_bin("slurmctld"), "-D", "-f", str(self.conf))
        self._wait(lambda: self._ok(["scontrol", "ping"], "UP"), "slurmctld", ctld)
        slurmd = self._spawn(_bin("slurmd"), "-D", "-f", str(self.conf), "-N", "node1")
        self._wait(lambda: self._ok(["sinfo", "-h", "-N", "-o", "%t"], "idle"), "slurmd idle", slurmd)

    def _ok(self, argv: list[str], want: str) -> bool:
        done = subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=10, check=False)
        return done.returncode == 0 and want in done.stdout

    def _wait(self, ready: Any, what: str, proc: subprocess.Popen[bytes] | None = None, timeout_s: float = 30) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if ready():
                return
            if proc is not None and proc.poll() is not None:
                break
            time.sleep(0.05)
        logs = "\n".join(p.read_text()[-800:] for p in (self.root / "log").glob("*") if p.is_file())
        raise RuntimeError(f"{what} did not come up: {logs}")

    def sbatch(self, *args: str, user: str | None = None) -> str:
        argv = ["sbatch", "--parsable", f"--chdir={self.root}", f"--output={self.root}/log/job-%j.out", *args]
        if user:
            argv = ["runuser", "-u", user, "--", *argv]
        done = subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=30, check=True)
        return done.stdout.strip().split(";")[0]

    def squeue_json(self) -> dict[str, Any]:
        done = subprocess.run(["squeue", "--json"], env=self.env, capture_output=True, text=True, timeout=30, check=True)
        parsed: dict[str, Any] = json.loads(done.stdout)
        return parsed

    def job_state(self, job_id: str) -> str:
        for job in self.squeue_json().get("jobs", []):
            if str(job["job_id"]) == job_id:
                return str(job["job_state"])
        return "GONE"

    def wait_state(self, job_id: str, states: set[str], timeout_s: float = 60) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            state = self.job_state(job_id)
            if state in states:
                return state
            time.sleep(0.2)
        raise AssertionError(f"job {job_id} not in {states} after {timeout_s}s (now {self.job_state(job_id)})")

    def stop(self) -> None:
        for proc in reversed(self._procs):  # slurmd first: it stops slowly once slurmctld is gone
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)
        self._procs.clear()
