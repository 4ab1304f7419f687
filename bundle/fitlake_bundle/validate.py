"""Local checks of a bundle, without a workspace: what `databricks bundle validate` cannot see or sees only after
auth. Every python_wheel_task entry point is declared in pyproject.toml and its function exists in the source;
every notebook / Python file exists; notebook parameters are widgets the notebook declares; every ``${var.*}``
is declared; task graphs have no dangling or cyclic dependencies; clusters and environments are defined; each
job loads through the ``databricks-bundles`` typed classes, which reject unknown fields.
"""

from __future__ import annotations

import ast
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fitlake_bundle.config import Bundle, BundleError, Job, list_targets, load_bundle

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib
from fitlake_bundle.tasks import order_tasks, plan_task, resolve_source_file, task_kind

NOTEBOOK_PARAMS = "notebook_params"  # fitlake.ml.notebook.notebook_params(defaults, dbutils)
WIDGET = re.compile(
    r"""dbutils\.widgets\.(?:text|dropdown|combobox|multiselect)\(\s*(?:name\s*=\s*)?["']([^"']+)["']"""
)


@dataclass
class Report:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    jobs: list[str] = field(default_factory=list)  # the jobs checked

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass(frozen=True)
class Project:
    """The Python project the wheel artifact builds: its name, console scripts and source folder."""

    name: str
    scripts: dict[str, str]
    source_dirs: tuple[Path, ...]

    @classmethod
    def read(cls, folder: Path) -> "Project":
        path = folder / "pyproject.toml"
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise BundleError(f"cannot read {path}: {e}") from e
        project = data.get("project") or {}
        find = (((data.get("tool") or {}).get("setuptools") or {}).get("packages") or {}).get("find") or {}
        where = find.get("where") or ["."]
        return cls(project.get("name", ""), dict(project.get("scripts") or {}), tuple(folder / w for w in where))

    def function_exists(self, target: str) -> bool:
        """Whether ``module:function`` of an entry point is defined at the top level of the module's source."""
        module, _, attr = target.partition(":")
        parts = module.split(".")
        for base in self.source_dirs:
            for candidate in (base.joinpath(*parts).with_suffix(".py"), base.joinpath(*parts, "__init__.py")):
                if candidate.is_file():
                    return attr.split(".")[0] in _top_level_names(candidate)
        return False


def _top_level_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def notebook_widgets(path: Path) -> set[str]:
    """Widget names a notebook declares: ``dbutils.widgets.text("name", ...)`` and friends, or the keys of the
    dict literal given to fitlake's ``notebook_params({...}, dbutils)``."""
    source = path.read_text(encoding="utf-8")
    names = set(WIDGET.findall(source))
    for node in ast.walk(ast.parse(source, filename=str(path))):
        if (
            isinstance(node, ast.Call)
            and getattr(node.func, "id", getattr(node.func, "attr", None)) == NOTEBOOK_PARAMS
            and node.args
            and isinstance(node.args[0], ast.Dict)
        ):
            names.update(k.value for k in node.args[0].keys if isinstance(k, ast.Constant) and isinstance(k.value, str))
    return names


def _wheel_projects(bundle: Bundle) -> list[Project]:
    folders = [
        bundle.root / str(spec.get("path", "."))
        for spec in bundle.artifacts.values()
        if isinstance(spec, dict) and spec.get("type", "whl") == "whl"
    ]
    return [Project.read(f) for f in folders or [bundle.root] if (f / "pyproject.toml").is_file()]


def _check_wheel_task(key: str, spec: dict[str, Any], projects: list[Project], report: Report) -> None:
    package, entry = spec.get("package_name", ""), spec.get("entry_point", "")
    project = next((p for p in projects if _normalize(p.name) == _normalize(package)), None)
    if project is None:
        built = ", ".join(p.name for p in projects) or "none"
        report.errors.append(f"{key}: package_name {package!r} is not built by any wheel artifact (built: {built})")
    elif entry not in project.scripts:
        report.errors.append(f"{key}: entry point {entry!r} is not in [project.scripts] of {project.name}'s pyproject.toml")
    elif not project.function_exists(project.scripts[entry]):
        report.errors.append(f"{key}: entry point {entry} = {project.scripts[entry]!r}, which is not defined in the source")


def _check_notebook_task(job: Job, key: str, spec: dict[str, Any], report: Report) -> None:
    path = resolve_source_file(job, str(spec.get("notebook_path", "")), notebook=True)
    if not path.is_file():
        report.errors.append(f"{key}: notebook {spec.get('notebook_path')} not found ({path})")
        return
    widgets = notebook_widgets(path) if path.suffix == ".py" else set()
    params = set((spec.get("base_parameters") or {}).keys())
    if widgets and not params <= widgets:
        report.errors.append(
            f"{key}: base_parameters {sorted(params - widgets)} are not widgets of {path.name} "
            f"(it declares {sorted(widgets)})"
        )


def _check_job(bundle: Bundle, job: Job, projects: list[Project], report: Report) -> None:
    try:
        tasks = order_tasks(job)
    except BundleError as e:
        report.errors.append(str(e))
        return
    clusters = {c.get("job_cluster_key") for c in job.spec.get("job_clusters") or []}
    environments = {e.get("environment_key") for e in job.spec.get("environments") or []}
    for task in tasks:
        key = f"{job.key}.{task['task_key']}"
        try:
            kind = task_kind(task)
        except BundleError as e:
            report.errors.append(str(e))
            continue
        if task.get("job_cluster_key") and task["job_cluster_key"] not in clusters:
            report.errors.append(f"{key}: job_cluster_key {task['job_cluster_key']!r} is not in the job's job_clusters")
        if task.get("environment_key") and task["environment_key"] not in environments:
            report.errors.append(f"{key}: environment_key {task['environment_key']!r} is not in the job's environments")
        spec = task[kind] or {}
        if kind == "python_wheel_task":
            _check_wheel_task(key, spec, projects, report)
        elif kind == "notebook_task":
            _check_notebook_task(job, key, spec, report)
        elif kind == "spark_python_task":
            path = resolve_source_file(job, str(spec.get("python_file", "")), notebook=False)
            if not path.is_file():
                report.errors.append(f"{key}: python_file {spec.get('python_file')} not found ({path})")
        else:
            report.warnings.append(f"{key}: {kind} runs only on Databricks, not with the local runner")
            continue
        try:
            plan_task(job, task)
        except BundleError as e:
            report.errors.append(f"{key}: {e}")
    _check_typed(job, report)


def _check_typed(job: Job, report: Report) -> None:
    try:
        from databricks.bundles.jobs import Job as TypedJob
    except ImportError:
        report.warnings.append("databricks-bundles is not installed: typed job check skipped (pip install '.[bundle]')")
        return
    try:
        TypedJob.from_dict(job.spec)
    except (ValueError, TypeError, KeyError) as e:
        report.errors.append(f"{job.key}: not a valid job for databricks-bundles: {e}")


def validate_bundle(bundle: Bundle) -> Report:
    report = Report(jobs=list(bundle.jobs))
    try:
        projects = _wheel_projects(bundle)
    except BundleError as e:
        report.errors.append(str(e))
        projects = []
    for job in bundle.jobs.values():
        _check_job(bundle, job, projects, report)
    report.warnings.extend(f"unresolved until deploy: {ref}" for ref in bundle.unresolved)
    return report


def validate_targets(root: Path, targets: list[str] | None = None, **load_args) -> dict[str, Report]:
    """Validate the bundle as each target sees it (default: every target); load errors become report errors."""
    if targets is None:
        targets = list_targets(root)
    reports: dict[str, Report] = {}
    for target in targets:
        try:
            reports[target] = validate_bundle(load_bundle(root, target=target, **load_args))
        except BundleError as e:
            reports[target] = Report(errors=[str(e)])
    return reports
