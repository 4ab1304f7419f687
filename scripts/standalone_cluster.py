"""A Spark standalone cluster (one master, N workers) from the installed pyspark distribution, on 127.0.0.1.

    python scripts/standalone_cluster.py --workers 2 --cores 1 --memory 1g   # prints the master URL, Ctrl-C stops
    FITLAKE_SPARK_MASTER=spark://127.0.0.1:PORT fitlake run ...

Each daemon is ``pyspark/bin/spark-class org.apache.spark.deploy.{master.Master,worker.Worker}`` (pip's pyspark has
no sbin/start-master.sh). Workers get ``PYTHONPATH`` (so executors' Python workers import ``fitlake``) and
``PYSPARK_PYTHON`` (this interpreter) from this process's environment. Used by tests/ops/test_cluster.py.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Cluster:
    master_url: str
    work_dir: Path
    procs: list[subprocess.Popen] = field(default_factory=list)

    def stop(self) -> None:
        """SIGTERM the daemons (workers first), then SIGKILL each daemon's process group: every daemon leads its own
        (``start_new_session``), and the executors and Python workers a worker launched are in the worker's group."""
        for p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in reversed(self.procs):
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def _env(extra_pythonpath: list[str]) -> dict[str, str]:
    env = dict(os.environ)
    env["SPARK_HOME"] = str(spark_home())
    env["SPARK_LOCAL_IP"] = "127.0.0.1"
    env["PYSPARK_PYTHON"] = sys.executable
    env["PYTHONPATH"] = os.pathsep.join([*extra_pythonpath, *filter(None, [env.get("PYTHONPATH")])])
    return env


def _wait_for_log(path: Path, pattern: str, proc: subprocess.Popen, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = path.read_text(errors="replace") if path.exists() else ""
        m = re.search(pattern, text)
        if m:
            return m.group(0)
        if proc.poll() is not None:
            raise RuntimeError(f"{path.name}: the daemon exited ({proc.returncode}):\n{text[-2000:]}")
        time.sleep(0.5)
    raise RuntimeError(f"{path.name}: no {pattern!r} within {timeout:.0f} s")


def start(work_dir: Path, workers: int = 2, cores: int = 1, memory: str = "1g",
          pythonpath: list[str] | None = None, timeout: float = 90.0) -> Cluster:
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    env = _env(pythonpath or [])
    spark_class = str(spark_home() / "bin" / "spark-class")
    port = free_port()
    cluster = Cluster(f"spark://127.0.0.1:{port}", work_dir)
    try:
        log = work_dir / "master.log"
        master = subprocess.Popen(
            [spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port),
             "--webui-port", str(free_port())],
            env={**env, "SPARK_DAEMON_MEMORY": "256m"},
            stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
        cluster.procs.append(master)
        _wait_for_log(log, r"I have been elected leader", master, timeout)
        for i in range(workers):
            wlog = work_dir / f"worker{i}.log"
            wdir = work_dir / f"worker{i}"
            wdir.mkdir(exist_ok=True)
            worker = subprocess.Popen(
                [spark_class, "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1", "--cores", str(cores),
                 "--memory", memory, "--webui-port", str(free_port()), "--work-dir", str(wdir), cluster.master_url],
                env={**env, "SPARK_DAEMON_MEMORY": "256m"},
                stdout=wlog.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
            cluster.procs.append(worker)
            _wait_for_log(wlog, r"Successfully registered with master", worker, timeout)
        return cluster
    except BaseException:
        cluster.stop()
        raise


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--cores", type=int, default=1, help="cores per worker")
    p.add_argument("--memory", default="1g", help="memory per worker (executors fit in it)")
    p.add_argument("--work-dir", default="lakehouse/_standalone", help="logs and executor folders")
    args = p.parse_args(argv)
    src = str(Path(__file__).resolve().parents[1] / "src")
    cluster = start(Path(args.work_dir), args.workers, args.cores, args.memory, pythonpath=[src])
    print(f"master {cluster.master_url} with {args.workers} workers; logs in {args.work_dir}. Ctrl-C stops it.",
          flush=True)
    try:
        while all(p.poll() is None for p in cluster.procs):
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
