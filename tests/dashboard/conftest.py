"""One fixture lakehouse (tables + MLflow store with @champion models) shared by the dashboard tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def lakehouse(spark, tmp_path_factory):
    """Settings of the fixture lakehouse; build once, read-only for the tests."""
    from dashboard_fixture import build

    return build(spark, tmp_path_factory.mktemp("dashboard") / "lakehouse")


@pytest.fixture()
def empty_root(tmp_path):
    return tmp_path / "no-lakehouse"
