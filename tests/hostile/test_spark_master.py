"""$BOOKCLIP_SPARK_LOCAL_MASTER is checked before Spark starts: garbage once made Spark print a Java stack
(blamed on the Java install), local[100000] ran the JVM out of native threads after 110 s."""

from __future__ import annotations

import os

import pytest

from harness.errors import ConfigError
from harness.evaluate.engines.spark import local_master


@pytest.mark.parametrize("text", ["garbage", "local[100000]", "local[0]", "local[-1]", "yarn", "local[2", "spark://x"])
def test_bad_local_masters_are_one_line(text):
    with pytest.raises(ConfigError, match="BOOKCLIP_SPARK_LOCAL_MASTER") as info:
        local_master(text)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "text, want",
    [(None, "local[*]"), ("", "local[*]"), ("local", "local"), ("local[*]", "local[*]"), (" local[1] ", "local[1]")],
)
def test_good_local_masters_pass(text, want):
    assert local_master(text) == want
    assert local_master(f"local[{os.cpu_count()}]") == f"local[{os.cpu_count()}]"
