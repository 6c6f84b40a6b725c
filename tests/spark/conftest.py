"""One local[2] Spark session shared by every Spark test of the run."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def spark():
    from harness.spark import get_or_create_session

    return get_or_create_session(master="local[2]")
