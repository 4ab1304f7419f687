"""The local side of fitlake's Databricks asset bundle: read databricks.yml + resources/ for a target, check it,
and run a job's tasks in dependency order with spark-submit (``fitlake bundle run <job> --target local``)."""

from fitlake_bundle.config import Bundle, BundleError, Job, find_bundle_root, load_bundle, parse_var_assignments
from fitlake_bundle.runner import JobResult, run_job
from fitlake_bundle.tasks import TaskPlan, order_tasks, plan_job
from fitlake_bundle.validate import Report, validate_bundle, validate_targets

__all__ = [
    "Bundle",
    "BundleError",
    "Job",
    "JobResult",
    "Report",
    "TaskPlan",
    "find_bundle_root",
    "load_bundle",
    "order_tasks",
    "parse_var_assignments",
    "plan_job",
    "run_job",
    "validate_bundle",
    "validate_targets",
]
