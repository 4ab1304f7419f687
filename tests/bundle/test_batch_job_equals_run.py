"""`fitlake bundle run fitlake_batch --target local` = `fitlake run` (issue 7), on fixtures/landing.

Its own file (it was in tests/faults/test_kill9.py) so that xdist's ``--dist loadfile`` can run it beside the kill -9
chain; both compare with the session's one shared run of fixtures/landing (tests/baselines.py; bronze's file paths
compared landing-relative), which this test asks for only after its own three spark-submits, so it seldom waits.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from baselines import LANDING, NOT_COMPARED, fixture_landing_baseline
from fault_jobs import REPO, job_env
from lake_snapshot import diff, snapshot
from output_excerpt import failure_excerpt

pytestmark = pytest.mark.slow


def test_bundle_batch_job_builds_the_same_tables_as_fitlake_run(request, tmp_path):
    """`fitlake bundle run fitlake_batch --target local`: the job's ingest, silver and gold tasks, each a
    spark-submit of the wheel's entry point, leave the same rows as the uninterrupted `fitlake run`."""
    if not LANDING.is_dir():
        pytest.skip("fixtures/landing is missing (written by fixtures/make_fixtures.py)")
    root = tmp_path / "bundle_lake"
    command = [str(Path(sys.executable).parent / "fitlake"), "bundle", "run", "fitlake_batch", "--target", "local",
               "--only", "ingest,silver,gold", "--var", f"root={root}", "--var", f"landing_path={LANDING}"]
    out = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=900, env=job_env())
    assert out.returncode == 0, failure_excerpt(out.stdout + out.stderr)
    assert [line.split()[2] for line in out.stdout.splitlines() if line.startswith("==> ")] == ["ingest", "silver",
                                                                                                 "gold"]
    got = snapshot(root, skip=NOT_COMPARED, landing=LANDING)
    baseline = fixture_landing_baseline(request)
    assert diff(baseline["snapshot"], got) == []
