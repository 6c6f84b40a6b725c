"""The HTML report's pictures are kept by what they draw: the same arguments read the stored picture, and
other arguments (their order included), other matplotlib settings or a damaged entry draw again."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pytest

from harness.report import plots


@pytest.fixture
def draws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    monkeypatch.setenv("BOOKCLIP_CACHE_DIR", str(tmp_path / "cache"))
    calls: list[int] = []
    real = plots.to_data_uri

    def counting(fig):  # type: ignore[no-untyped-def]
        calls.append(1)
        return real(fig)

    monkeypatch.setattr(plots, "to_data_uri", counting)
    return calls


def test_the_same_arguments_read_the_stored_picture(draws: list[int]) -> None:
    ranks = {"heldout/image_to_text": {"baseline": np.array([1, 3, 20]), "candidate": np.array([2, 2, 5])}}
    first = plots.rank_histograms(ranks)
    assert plots.rank_histograms(ranks) == first and draws == [1]
    swapped = {"heldout/image_to_text": dict(reversed(list(ranks["heldout/image_to_text"].items())))}
    assert plots.rank_histograms(swapped) != first and len(draws) == 2  # legend order is in the picture
    changed = {"heldout/image_to_text": {"baseline": np.array([1, 3, 21]), "candidate": np.array([2, 2, 5])}}
    plots.rank_histograms(changed)
    assert len(draws) == 3


def test_other_matplotlib_settings_or_a_damaged_entry_draw_again(draws: list[int], tmp_path: Path) -> None:
    groups = {"Poetry": {"baseline": 0.4, "candidate": 0.5}}
    first = plots.grouped_bars(groups, title="t", xlabel="recall@5")
    with matplotlib.rc_context({"axes.edgecolor": "#ff0000"}):
        assert plots.grouped_bars(groups, title="t", xlabel="recall@5") != first
    assert len(draws) == 2
    for entry in (tmp_path / "cache" / "figures").iterdir():
        entry.write_text(entry.read_text()[:-5] + "00000")  # the checksum no longer matches
    assert plots.grouped_bars(groups, title="t", xlabel="recall@5") == first and len(draws) == 3
