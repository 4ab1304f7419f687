"""One fixture lakehouse (tables + MLflow store with @champion models) shared by the dashboard tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def lakehouse(request, tmp_path_factory):
    """Settings of the fixture lakehouse; built once per session by whichever xdist worker asks first (keyed on the
    builder's source), read-only for the tests."""
    import dashboard_fixture
    from shared_runs import input_key, shared_build

    built = shared_build(tmp_path_factory, "dashboard-lakehouse", input_key(Path(dashboard_fixture.__file__)),
                         lambda folder: {"settings": dashboard_fixture.build(request.getfixturevalue("spark"),
                                                                           folder / "lakehouse")})
    return built["settings"]


@pytest.fixture()
def empty_root(tmp_path):
    return tmp_path / "no-lakehouse"
