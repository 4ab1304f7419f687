"""Small generated landing folders shared by the generator tests (pure Python/numpy, no Spark)."""

from __future__ import annotations

import pytest

from fitlake.generate import generate_landing

SMALL = dict(users=40, days=6, start="2023-04-01", seed=11, defect_rate=0.05, progress=False, workers=1)


@pytest.fixture(scope="session")
def small_landing(tmp_path_factory):
    out = tmp_path_factory.mktemp("small") / "landing"
    return out, generate_landing(out, **SMALL)
