"""This run against a stored run (`--bookclip-compare-to RUN.json`): no metric of the
candidate may be worse beyond its margin with the stated confidence."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.suite("regression")


def test_no_regression_against_stored_run(bookclip):
    if not bookclip.config.compare_to:
        pytest.skip("no stored run to compare against: pass --bookclip-compare-to RUN.json")
    bookclip.check_regressions(bookclip.config.compare_to)
