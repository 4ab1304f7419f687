"""A single-node Apache Kafka broker (KRaft, no ZooKeeper) on 127.0.0.1, from the jars `make kafka` fetched.

Tests and `scripts/kafka.sh start|stop` share this code so there is one way to run the broker. The broker is a
plain ``java -cp libs/* kafka.Kafka server.properties`` process; its pid, port and log sit in the data folder so a
later ``stop`` (or a crashed test) can find it.
"""

from __future__ import annotations

import argparse
import base64
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

from fitlake.jars import jar_dir
from fitlake.spark import check_java

KAFKA_VERSION = "3.9.1"


class BrokerError(RuntimeError):
    """The broker could not start or stop; the message says why and what to do."""


def kafka_libs() -> Path:
    """Where `scripts/kafka.sh fetch` put the broker jars ($FITLAKE_KAFKA_HOME/libs or .cache/kafka/libs)."""
    home = os.environ.get("FITLAKE_KAFKA_HOME")
    return Path(home) / "libs" if home else jar_dir().parent / "kafka" / "libs"


def broker_available(libs: Path | None = None) -> bool:
    libs = libs or kafka_libs()
    return (libs / f"kafka_2.13-{KAFKA_VERSION}.jar").is_file()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def server_properties(port: int, controller_port: int, log_dir: Path) -> str:
    """KRaft combined broker+controller, loopback only, replication 1: the smallest correct single-node setup."""
    return "\n".join([
        "process.roles=broker,controller",
        "node.id=1",
        f"controller.quorum.voters=1@127.0.0.1:{controller_port}",
        f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names=CONTROLLER",
        "inter.broker.listener.name=PLAINTEXT",
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        f"log.dirs={log_dir}",
        "num.partitions=2",
        "auto.create.topics.enable=true",
        "offsets.topic.replication.factor=1",
        "offsets.topic.num.partitions=1",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "transaction.state.log.num.partitions=1",
        "group.initial.rebalance.delay.ms=0",
        "log.retention.hours=168",
        "",
    ])


LOG4J = """log4j.rootLogger=WARN, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File={log}
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.server.KafkaServer=INFO
log4j.logger.kafka.server.BrokerServer=INFO
"""


def new_cluster_id() -> str:
    """A random KRaft cluster id (22 characters of URL-safe base64, as Kafka's ``Uuid.randomUuid``) that does not
    start with ``-``: the format tool would read such an id as an option and fail (about one start in 64)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


class LocalKafka:
    """Start a KRaft broker in ``directory`` on ``port`` (free one when None); stop it on exit.

    >>> with LocalKafka(tmp / "kafka") as kafka:
    ...     kafka.bootstrap  # '127.0.0.1:PORT'
    """

    def __init__(self, directory: str | os.PathLike, port: int | None = None, libs: Path | None = None,
                 heap: str = "384m", start_timeout: float = 60.0):
        self.directory = Path(directory).resolve()
        self.port = port or free_port()
        self.controller_port = free_port()
        self.libs = Path(libs) if libs else kafka_libs()
        self.heap = heap
        self.start_timeout = start_timeout
        self.process: subprocess.Popen | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.directory / "broker.pid"

    @property
    def log_file(self) -> Path:
        return self.directory / "broker.log"

    def _java(self, main_class: str, *args: str, **popen) -> list[str]:
        return [
            check_java(), f"-Xmx{self.heap}", f"-Xms{self.heap}", "-XX:+UseG1GC", "-Djava.awt.headless=true",
            f"-Dlog4j.configuration={(self.directory / 'log4j.properties').as_uri()}",
            "-cp", f"{self.libs}/*", main_class, *args,
        ]

    def start(self) -> "LocalKafka":
        if not broker_available(self.libs):
            raise BrokerError(f"Kafka broker jars are missing in {self.libs}: run `make kafka` once "
                              "(it fetches them from Maven Central).")
        if _port_open(self.port):
            raise BrokerError(f"Port {self.port} on 127.0.0.1 is already in use: pick another with --port.")
        data = self.directory / "data"
        data.mkdir(parents=True, exist_ok=True)
        props = self.directory / "server.properties"
        props.write_text(server_properties(self.port, self.controller_port, data))
        (self.directory / "log4j.properties").write_text(LOG4J.format(log=self.log_file))
        fmt = subprocess.run(
            self._java("kafka.tools.StorageTool", "format", "-t", new_cluster_id(), "-c", str(props),
                       "--ignore-formatted"),
            capture_output=True, text=True, timeout=120,
        )
        if fmt.returncode != 0:
            raise BrokerError(f"Formatting the Kafka log dir failed: {(fmt.stderr or fmt.stdout).strip()[-400:]}")
        out = open(self.directory / "broker.out", "ab")
        self.process = subprocess.Popen(
            self._java("kafka.Kafka", str(props)), stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
        out.close()
        self.pid_file.write_text(f"{self.process.pid}\n")
        (self.directory / "broker.port").write_text(f"{self.port}\n")
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise BrokerError(f"The Kafka broker exited with code {self.process.returncode}; see {self.log_file} "
                                  f"and {self.directory / 'broker.out'}.")
            if _port_open(self.port) and self._metadata_ready():
                return
            time.sleep(0.3)
        self.stop()
        raise BrokerError(f"The Kafka broker did not accept connections on {self.bootstrap} within "
                          f"{self.start_timeout:.0f} s; see {self.log_file}.")

    def _metadata_ready(self) -> bool:
        try:
            from confluent_kafka.admin import AdminClient
        except ImportError:  # the port alone is then the readiness signal
            return True
        try:
            md = AdminClient({"bootstrap.servers": self.bootstrap}).list_topics(timeout=2)
            return bool(md.brokers)
        except Exception:  # KafkaException while the broker is still electing its controller
            return False

    def create_topic(self, topic: str, partitions: int = 2) -> None:
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient({"bootstrap.servers": self.bootstrap})  # keep a reference until the futures resolve
        futures = admin.create_topics(
            [NewTopic(topic, num_partitions=partitions, replication_factor=1)], operation_timeout=30)
        for f in futures.values():
            try:
                f.result(timeout=30)
            except Exception as e:  # TOPIC_ALREADY_EXISTS is fine: idempotent
                if "TOPIC_ALREADY_EXISTS" not in str(e):
                    raise

    def stop(self, timeout: float = 20.0) -> None:
        pid = self.process.pid if self.process is not None else _read_pid(self.pid_file)
        if pid is not None:
            _terminate(pid, timeout)
        if self.process is not None:
            try:
                self.process.wait(timeout=1)
            except subprocess.TimeoutExpired:
                pass
        self.pid_file.unlink(missing_ok=True)

    def __enter__(self) -> "LocalKafka":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of ours counts as gone
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return True


def _terminate(pid: int, timeout: float) -> None:
    """SIGTERM (Kafka shuts down cleanly), then SIGKILL after ``timeout``."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return
        time.sleep(0.2)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fitlake.streaming.broker", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    start = sub.add_parser("start", help="format and start a broker in the background")
    start.add_argument("--port", type=int, default=9092)
    start.add_argument("--dir", required=True)
    start.add_argument("--libs", default=None)
    stop = sub.add_parser("stop", help="stop the broker whose pid file is in --dir")
    stop.add_argument("--dir", required=True)
    args = parser.parse_args(argv)
    try:
        if args.mode == "start":
            kafka = LocalKafka(args.dir, port=args.port, libs=Path(args.libs) if args.libs else None).start()
            print(f"kafka: broker up on {kafka.bootstrap} (pid {kafka.process.pid}, data in {kafka.directory}); "
                  f"stop it with `bash scripts/kafka.sh stop {kafka.directory}`")
            return 0
        pid = _read_pid(Path(args.dir).resolve() / "broker.pid")
        if pid is None:
            print(f"kafka: no broker pid file in {args.dir}; nothing to stop")
            return 0
        LocalKafka(args.dir).stop()
        print(f"kafka: broker {pid} stopped")
        return 0
    except BrokerError as e:
        print(f"kafka: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
