"""Seeds, resamples and numbers out of range, from the command line, a config or a stored report: one
line, before any work (they once gave numpy's ValueError or an OverflowError traceback after the work)."""

from __future__ import annotations

import pytest

from harness.cli import main
from harness.config import build_config
from harness.errors import ConfigError
from harness.settings import MAX_RESAMPLES, StatSettings


@pytest.mark.parametrize(
    "stored, message",
    [
        ({"seed": -1}, "seed must be between 0 and"),
        ({"seed": 1e400}, "seed must be an integer"),
        ({"seed": 2**40}, "seed must be between 0 and"),
        ({"resamples": 10**9}, f"resamples must be at most {MAX_RESAMPLES:,}"),
        ({"resamples": 1e400}, "resamples must be an integer"),
        ({"confidence": "0.95"}, "confidence must be a finite number"),
    ],
)
def test_stored_settings_out_of_range_are_one_line(stored, message):
    with pytest.raises(ConfigError, match=message) as info:
        StatSettings.from_dict(stored)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("values, message", [({"seed": -1}, "seed must be between"), ({"resamples": 10**9}, "at most")])
def test_config_out_of_range_is_one_line(values, message):
    with pytest.raises(ConfigError, match=message):
        build_config(values)


def test_negative_seed_on_the_command_line_fails_first(capsys):
    assert main(["calibrate", "--simulate", "--seed", "-1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["bookclip: error: --seed must be between 0 and 4294967295, got -1"]
