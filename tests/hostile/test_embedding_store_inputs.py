"""The embedding store's inputs: a folder that cannot be made is one line naming where it came from, before
Spark starts; a part deleted, truncated, pickled or of another shape is one line naming the file, never a
wrong rank."""

from __future__ import annotations

import numpy as np
import pytest

from harness.errors import ConfigError, EvaluationError
from harness.evaluate.embedding_store import EmbeddingStore, write_part
from harness.evaluate.engines.spark import STORE_ENV, store_root


def test_a_store_folder_that_cannot_be_made_is_one_line(tmp_path, monkeypatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(STORE_ENV, str(blocker / "store"))
    with pytest.raises(ConfigError, match=STORE_ENV) as info:
        store_root("spark-local", None)
    assert "\n" not in str(info.value)
    monkeypatch.setenv(STORE_ENV, " OFF ")
    assert store_root("spark-local", None) is None  # collected to the driver
    monkeypatch.delenv(STORE_ENV)
    assert store_root("spark-cluster", None) is None and store_root("spark-cluster", str(tmp_path)) == str(tmp_path)


def _tamper(path, how: str) -> None:
    if how == "deleted":
        path.unlink()
    elif how == "truncated":
        path.write_bytes(path.read_bytes()[:100])
    elif how == "pickled":
        np.save(path, np.array([{"x": 1}] * 4, dtype=object), allow_pickle=True)
    elif how == "reshaped":
        np.save(path, np.zeros((4, 3), dtype=np.float32))
    else:
        np.save(path, np.zeros((4, 6), dtype=np.float64))


@pytest.mark.parametrize("how", ["deleted", "truncated", "pickled", "reshaped", "float64"])
def test_a_tampered_part_is_one_line_naming_it(tmp_path, how) -> None:
    rng = np.random.default_rng(0)
    images, texts = rng.standard_normal((2, 8, 6)).astype(np.float32)
    parts = [write_part(str(tmp_path), 0, images[:4], texts[:4]), write_part(str(tmp_path), 4, images[4:], texts[4:])]
    store = EmbeddingStore(str(tmp_path), parts, 6)
    np.testing.assert_array_equal(np.asarray(store.matrix("text")), texts)
    _tamper(tmp_path / "text-000000000004.npy", how)
    np.testing.assert_array_equal(np.asarray(store.matrix("text")[:4]), texts[:4])  # the other part still reads
    with pytest.raises(EvaluationError, match="text-000000000004.npy") as info:
        np.asarray(store.matrix("text"))
    assert "\n" not in str(info.value)
