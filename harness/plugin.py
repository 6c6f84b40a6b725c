"""The bookclip pytest plugin (entry point `bookclip`). Costs nothing for tests that do not use it."""
from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "suite(name): an evaluation suite of bookclip")
