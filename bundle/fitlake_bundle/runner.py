"""Run one job of the bundle locally: its tasks in dependency order, each in its own ``spark-submit``, stopping at
the first task that fails and naming it.

Under spark-submit the JVM starts before any Python runs, so the Delta jars and static Spark settings come from
the command line (``fitlake.spark.local_conf`` for the target's lakehouse root); ``fitlake.spark.get_spark`` inside
the task then finds that JVM and adds only session settings.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from fitlake_bundle.config import Bundle, BundleError
from fitlake_bundle.tasks import TaskPlan, plan_job


@dataclass
class TaskResult:
    key: str
    returncode: int
    seconds: float


@dataclass
class JobResult:
    job: str
    results: list[TaskResult] = field(default_factory=list)
    failed: str | None = None
    not_run: list[str] = field(default_factory=list)

    @property
    def returncode(self) -> int:
        return next((r.returncode for r in self.results if r.returncode != 0), 0)


def spark_submit_executable() -> Path:
    import pyspark

    path = Path(pyspark.__file__).parent / "bin" / "spark-submit"
    if not path.is_file():
        raise BundleError(f"spark-submit not found at {path}: reinstall pyspark (make install)")
    return path


def local_root(bundle: Bundle) -> Path:
    """The lakehouse root the target's tasks write to: the `root` variable, relative to the bundle folder."""
    root = Path(str(bundle.variables.get("root") or os.environ.get("FITLAKE_ROOT") or "lakehouse")).expanduser()
    return root if root.is_absolute() else bundle.root / root


def spark_conf(bundle: Bundle) -> dict[str, str]:
    """The local Spark settings, with Kafka's connector jars too when they are in the cache (the streaming job); with
    a local master (no FITLAKE_SPARK_MASTER) also what `fitlake run`'s own JVM gets (``spark.own_jvm_conf``: the
    file system without forks and the class data archive, about half a task JVM's start-up CPU)."""
    from fitlake.spark import java_executable, own_jvm_conf

    conf = _target_conf(bundle)
    java = java_executable()
    return conf if os.environ.get("FITLAKE_SPARK_MASTER") or java is None else own_jvm_conf(conf, java)


def _target_conf(bundle: Bundle) -> dict[str, str]:
    from fitlake import jars
    from fitlake.config import load_settings
    from fitlake.spark import local_conf

    if bundle.target != "local":  # only with the stand-in workspace on (check_runnable)
        from fitlake_bundle import standin

        return standin.spark_conf(standin_settings(bundle))
    settings = load_settings(target="local", root=local_root(bundle))
    try:
        return local_conf(settings, jar_groups=("delta", "kafka"))
    except jars.JarCacheError:
        try:
            return local_conf(settings, jar_groups=("delta",))
        except jars.JarCacheError as e:
            raise BundleError(str(e)) from e


def standin_settings(bundle: Bundle):
    from fitlake.config import Settings

    return Settings(target=bundle.target, catalog=str(bundle.variables.get("catalog")))


def spark_submit_command(plan: TaskPlan, conf: dict[str, str], app_name: str) -> list[str]:
    master = os.environ.get("FITLAKE_SPARK_MASTER", "local[*]")
    command = [str(spark_submit_executable()), "--master", master, "--name", app_name]
    if conf.get("spark.jars"):
        command += ["--jars", conf["spark.jars"]]
    for key, value in conf.items():
        if key != "spark.jars":
            command += ["--conf", f"{key}={value}"]
    return [*command, str(plan.script), *plan.args]


def task_environment() -> dict[str, str]:
    env = dict(os.environ)
    # The stand-in workspace's test-only parts (fitlake_bundle.standin) are imported by the tasks: not in the wheel.
    here = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join([p for p in (env.get("PYTHONPATH"), here) if p])
    env.update(
        PYSPARK_PYTHON=sys.executable,
        PYSPARK_DRIVER_PYTHON=sys.executable,
        SPARK_LOCAL_IP=env.get("SPARK_LOCAL_IP", "127.0.0.1"),
        PYTHONUNBUFFERED="1",
    )
    return env


def check_runnable(bundle: Bundle, plans: list[TaskPlan]) -> None:
    """Refuse before starting anything what would fail on the way: remote targets, missing files, deploy-time refs."""
    from fitlake.config import STANDIN_ENV, standin_root

    if bundle.target != "local" and standin_root() is None:
        raise BundleError(
            f"target {bundle.target!r} runs on Databricks (databricks bundle run -t {bundle.target}); "
            f"locally use --target local, or --dry-run to see the resolved tasks (tests: {STANDIN_ENV}=DIR runs it "
            "against the stand-in workspace)"
        )
    for plan in plans:
        if not plan.script.is_file():
            raise BundleError(f"task {plan.key}: {plan.script} does not exist")
    if bundle.unresolved:
        raise BundleError(f"cannot run locally with unresolved references: {'; '.join(bundle.unresolved)}")


def run_job(
    bundle: Bundle,
    job_key: str,
    only: list[str] | None = None,
    dry_run: bool = False,
    echo: Callable[[str], None] = print,
) -> JobResult:
    if job_key not in bundle.jobs:
        raise BundleError(f"no job {job_key!r} in the bundle: choose one of {', '.join(bundle.jobs)}")
    plans = plan_job(bundle.jobs[job_key], only)
    result = JobResult(job_key)
    if dry_run:
        conf = spark_conf(bundle) if bundle.target == "local" else {"spark.jars": "<local jars>"}
        echo(f"job {job_key} (target {bundle.target}): {len(plans)} task(s), in this order")
        for i, plan in enumerate(plans, 1):
            after = f" after {', '.join(plan.depends_on)}" if plan.depends_on else ""
            echo(f"[{i}/{len(plans)}] {plan.describe()}{after}")
            echo("    " + shlex.join(spark_submit_command(plan, conf, f"{bundle.name}.{job_key}.{plan.key}")))
        for ref in bundle.unresolved:
            echo(f"unresolved: {ref}")
        return result

    check_runnable(bundle, plans)
    conf = spark_conf(bundle)
    env = task_environment()
    if bundle.target != "local":  # what `databricks bundle deploy` would have created, in the stand-in workspace
        from fitlake_bundle import standin

        for line in standin.deploy(bundle):
            echo(f"stand-in deploy: {line}")
    echo(f"job {job_key} (target {bundle.target}, root {local_root(bundle)}): {len(plans)} task(s)")
    for i, plan in enumerate(plans, 1):
        echo(f"==> [{i}/{len(plans)}] {plan.describe()}")
        started = time.monotonic()
        command = spark_submit_command(plan, conf, f"{bundle.name}.{job_key}.{plan.key}")
        returncode = subprocess.run(command, cwd=bundle.root, env=env).returncode
        seconds = time.monotonic() - started
        result.results.append(TaskResult(plan.key, returncode, seconds))
        if returncode != 0:
            result.failed = plan.key
            result.not_run = [p.key for p in plans[i:]]
            skipped = f"; not run: {', '.join(result.not_run)}" if result.not_run else ""
            echo(f"job {job_key}: task {plan.key} failed with exit code {returncode} after {seconds:.1f} s{skipped}")
            return result
        echo(f"<== {plan.key} ok in {seconds:.1f} s")
    total = sum(r.seconds for r in result.results)
    echo(f"job {job_key}: {len(plans)} task(s) succeeded in {total:.1f} s")
    return result
