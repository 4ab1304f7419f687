"""A job's tasks in dependency order, each turned into the script + arguments that ``spark-submit`` runs locally.

python_wheel_task -> ``launch.py <package> <entry_point> <parameters>`` (the entry point found in the installed
package's metadata, as Databricks does); notebook_task -> the notebook's source file with ``--name value`` per
base parameter; spark_python_task -> the file with its parameters. Other task types only run on Databricks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fitlake_bundle.config import BundleError, Job

LAUNCHER = Path(__file__).with_name("launch.py")
LOCAL_TASK_TYPES = ("python_wheel_task", "notebook_task", "spark_python_task")
OTHER_TASK_TYPES = (
    "sql_task",
    "pipeline_task",
    "run_job_task",
    "condition_task",
    "for_each_task",
    "dbt_task",
    "spark_jar_task",
    "spark_submit_task",
    "clean_rooms_notebook_task",
    "dashboard_task",
    "power_bi_task",
    "gen_ai_compute_task",
)


@dataclass(frozen=True)
class TaskPlan:
    key: str
    kind: str
    what: str  # entry point, notebook or file, as the YAML names it
    script: Path  # the Python file spark-submit runs
    args: tuple[str, ...]
    depends_on: tuple[str, ...]

    def describe(self) -> str:
        return f"{self.key} ({self.kind}: {self.what})"


def task_kind(task: dict[str, Any]) -> str:
    kinds = [k for k in (*LOCAL_TASK_TYPES, *OTHER_TASK_TYPES) if k in task]
    if len(kinds) != 1:
        raise BundleError(f"task {task.get('task_key')!r} must have exactly one task type, found {kinds or 'none'}")
    return kinds[0]


def dependencies(task: dict[str, Any]) -> list[str]:
    return [d["task_key"] for d in task.get("depends_on") or [] if isinstance(d, dict) and "task_key" in d]


def order_tasks(job: Job) -> list[dict[str, Any]]:
    """Tasks in dependency order (Kahn's algorithm, ties in definition order)."""
    tasks = job.tasks
    by_key: dict[str, dict[str, Any]] = {}
    for task in tasks:
        key = task.get("task_key")
        if not key:
            raise BundleError(f"job {job.key}: a task has no task_key")
        if key in by_key:
            raise BundleError(f"job {job.key}: task_key {key!r} is used twice")
        by_key[key] = task
    for key, task in by_key.items():
        for dep in dependencies(task):
            if dep not in by_key:
                raise BundleError(f"job {job.key}: task {key!r} depends on {dep!r}, which is not a task of the job")
    done: list[str] = []
    pending = list(by_key)
    while pending:
        ready = [k for k in pending if all(d in done for d in dependencies(by_key[k]))]
        if not ready:
            raise BundleError(f"job {job.key}: tasks depend on each other in a cycle: {', '.join(pending)}")
        done.extend(ready)
        pending = [k for k in pending if k not in ready]
    return [by_key[k] for k in done]


def _as_arg(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def resolve_source_file(job: Job, relative: str, *, notebook: bool) -> Path:
    """A task's notebook or file, relative to the YAML file that defines the job (as the CLI resolves it)."""
    if relative.startswith(("/Workspace", "/Users", "/Shared", "/Repos", "dbfs:", "/Volumes")):
        raise BundleError(f"job {job.key}: {relative} is a workspace path; locally a task needs a file in the bundle")
    path = (job.source.parent / relative).resolve()
    if notebook and not path.suffix and path.with_suffix(".py").is_file():
        path = path.with_suffix(".py")
    return path


def plan_task(job: Job, task: dict[str, Any]) -> TaskPlan:
    key, kind = task["task_key"], task_kind(task)
    spec = task[kind] or {}
    deps = tuple(dependencies(task))
    if kind == "python_wheel_task":
        if spec.get("parameters") and spec.get("named_parameters"):
            raise BundleError(f"task {key}: set parameters or named_parameters, not both")
        args = [_as_arg(p) for p in spec.get("parameters") or []]
        args += [f"--{k}={_as_arg(v)}" for k, v in (spec.get("named_parameters") or {}).items()]
        package, entry = spec.get("package_name", ""), spec.get("entry_point", "")
        return TaskPlan(key, kind, f"{package}:{entry}", LAUNCHER, (package, entry, *args), deps)
    if kind == "notebook_task":
        if spec.get("source", "WORKSPACE") == "GIT":
            raise BundleError(f"task {key}: notebooks from a Git source only run on Databricks")
        path = resolve_source_file(job, spec.get("notebook_path", ""), notebook=True)
        if path.suffix != ".py":
            raise BundleError(f"task {key}: {path.name} is not a Python source notebook; locally only .py runs")
        args = [a for k, v in (spec.get("base_parameters") or {}).items() for a in (f"--{k}", _as_arg(v))]
        return TaskPlan(key, kind, spec.get("notebook_path", ""), path, tuple(args), deps)
    if kind == "spark_python_task":
        if spec.get("source", "WORKSPACE") == "GIT":
            raise BundleError(f"task {key}: files from a Git source only run on Databricks")
        path = resolve_source_file(job, spec.get("python_file", ""), notebook=False)
        args = [_as_arg(p) for p in spec.get("parameters") or []]
        return TaskPlan(key, kind, spec.get("python_file", ""), path, tuple(args), deps)
    raise BundleError(f"task {key}: {kind} runs only on Databricks; locally: {', '.join(LOCAL_TASK_TYPES)}")


def plan_job(job: Job, only: list[str] | None = None) -> list[TaskPlan]:
    """The job's tasks to run, in order; ``only`` keeps just the named tasks (like ``bundle run --only``)."""
    ordered = order_tasks(job)
    if only:
        unknown = sorted(set(only) - {t["task_key"] for t in ordered})
        if unknown:
            raise BundleError(f"job {job.key} has no task {', '.join(unknown)}")
        ordered = [t for t in ordered if t["task_key"] in only]
    return [plan_task(job, t) for t in ordered]
