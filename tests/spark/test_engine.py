"""The Spark engine computes what the local engine computes: the same exact ranks (gallery broadcast or
streamed in pieces, any tile shape), embeddings within 1e-5; a failing task is one line and no report."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from harness.errors import EvaluationError
from harness.evaluate.embedding_store import StoredMatrix
from harness.evaluate.engines import get_engine
from harness.evaluate.retrieval import retrieval_ranks

pytestmark = [pytest.mark.slow, pytest.mark.spark]
ROOT = Path(__file__).resolve().parents[2]


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def embeddings():
    """Items with exact ties and duplicate groups that cross 'categories' (far-apart rows)."""
    rng = np.random.default_rng(7)
    n, d = 700, 32
    images = _unit(rng.standard_normal((n, d)))
    texts = _unit(images + 0.8 * rng.standard_normal((n, d)))
    texts[5] = texts[6]  # tied candidates
    images[40] = images[41]
    texts[100:110] = texts[100]  # one text tied for ten queries
    groups = np.array([f"g{i}" for i in range(n)], dtype=object)
    for a, b in ((3, 650), (10, 11), (200, 201), (202, 699), (5, 6)):  # editions, some far apart
        groups[b] = groups[a]
    groups[300:304] = "g300"
    return images, texts, groups.astype(str)


@pytest.mark.parametrize("tile_rows", [7, 64, None])  # several tiles per task, one, and the default
def test_spark_ranks_equal_local_ranks(spark, embeddings, tile_rows) -> None:
    images, texts, groups = embeddings
    local = get_engine("local")
    remote = get_engine("spark-local", session=spark, blocks=3, tile_rows=tile_rows, chunk_bytes=4 * 100 * 13)
    want, got = local.retrieval_ranks(images, texts, groups), remote.retrieval_ranks(images, texts, groups)
    for direction in ("image_to_text", "text_to_image"):
        assert got[direction].ranks.dtype == want[direction].ranks.dtype
        np.testing.assert_array_equal(got[direction].ranks, want[direction].ranks)
        assert got[direction].pool_size == want[direction].pool_size
    # a catalogue pool: queries are a subset, the gallery the whole set
    q = np.arange(0, len(groups), 3)
    pool = {"pool_images": images, "pool_texts": texts, "pool_groups": groups}
    want = local.retrieval_ranks(images[q], texts[q], groups[q], **pool)
    got = remote.retrieval_ranks(images[q], texts[q], groups[q], **pool)
    for direction in ("image_to_text", "text_to_image"):
        np.testing.assert_array_equal(got[direction].ranks, want[direction].ranks)
    ranks = remote.describe()["ranks"]
    assert ranks["tasks"] >= 3 and ranks["gallery"] == "broadcast" and ranks["gallery_budget_mib"] == 256


# 8 KiB: eleven 64-column pieces of the 700 x 32 gallery; 4 * 32 * 191 bytes: four of 191 columns.
@pytest.mark.parametrize("n, tile_rows, budget, pieces", [(700, 7, 8192, 11), (699, 16, 4 * 32 * 191, 4)])
def test_streamed_gallery_ranks_equal_local_ranks(spark, embeddings, n, tile_rows, budget, pieces) -> None:
    images, texts, groups = (x[:n] for x in embeddings)
    remote = get_engine("spark-local", session=spark, blocks=3, tile_rows=tile_rows, gallery_bytes=budget)
    want = retrieval_ranks(images, texts, groups)
    got = remote.retrieval_ranks(images, texts, groups)
    for direction in ("image_to_text", "text_to_image"):
        assert got[direction].ranks.dtype == want[direction].ranks.dtype
        np.testing.assert_array_equal(got[direction].ranks, want[direction].ranks)
    # a catalogue pool (rank_cols=False): image and text queries each stream against the pool
    q = np.arange(0, n, 3)
    pool = {"pool_images": images, "pool_texts": texts, "pool_groups": groups}
    want = retrieval_ranks(images[q], texts[q], groups[q], **pool)
    got = remote.retrieval_ranks(images[q], texts[q], groups[q], **pool)
    for direction in ("image_to_text", "text_to_image"):
        np.testing.assert_array_equal(got[direction].ranks, want[direction].ranks)
        assert got[direction].pool_size == n
    ranks = remote.describe()["ranks"]
    assert ranks["gallery"] == "streamed" and ranks["streamed"] == 3 and ranks["broadcast"] == 0
    assert ranks["pieces"] == pieces and ranks["gallery_budget_mib"] == round(budget / 2**20, 3)
    assert "streamed in up to" in ranks["where"] and ranks["peak_worker_rss_mib"] > 0
    assert 0 < ranks["peak_task_added_mib"] < ranks["peak_worker_rss_mib"]
    assert ranks["exact"]["kernel"] == "float32" and ranks["exact"]["pairs"] > 0


@pytest.mark.parametrize("budget", [None, 4 * 24 * 37])  # broadcast; streamed in 15 pieces of 37 columns
def test_near_ties_on_executors_equal_the_float64_brute_force(spark, near_ties, budget) -> None:
    images, texts, groups, want_i2t, want_t2i = near_ties
    remote = get_engine(
        "spark-local", session=spark, blocks=4, tile_rows=5, chunk_bytes=4 * 5 * 61, gallery_bytes=budget
    )
    got = remote.retrieval_ranks(images, texts, groups)
    np.testing.assert_array_equal(got["image_to_text"].ranks, want_i2t)
    np.testing.assert_array_equal(got["text_to_image"].ranks, want_t2i)
    ranks = remote.describe()["ranks"]
    assert ranks["gallery"] == ("broadcast" if budget is None else "streamed")
    assert ranks["exact"]["rescored_pairs"] > 0


@pytest.mark.parametrize("budget", [None, 4 * 24 * 37])  # the gallery in one piece; in 15 pieces of 37 columns
def test_near_ties_ranked_from_the_store_equal_the_float64_brute_force(
    spark, near_ties, tmp_path, budget, monkeypatch
) -> None:
    """Embeddings kept in a store: the tasks read their blocks from it, the driver reads at most a chunk at a
    time (it streams the norms and the positive pairs of the plan), and every rank is the brute force's."""
    from harness.evaluate import embedding_store, retrieval
    from harness.evaluate.embedding_store import EmbeddingStore, write_part

    images, texts, groups, want_i2t, want_t2i = near_ties
    cuts = [0, 128, 129, 400, len(groups)]
    parts = [write_part(str(tmp_path), a, images[a:b], texts[a:b]) for a, b in zip(cuts, cuts[1:], strict=False)]
    store = EmbeddingStore(str(tmp_path), parts, images.shape[1])
    monkeypatch.setattr(embedding_store, "STREAM_BYTES", 4 * images.shape[1] * 50)  # chunks of 50 rows
    monkeypatch.setattr(retrieval, "PAIR_CHUNK", 40)  # positive pairs 40 at a time
    reads: list[int] = []
    read = EmbeddingStore.read

    def counted(self, modality, rows):
        reads.append(len(np.arange(self.n)[rows]))
        return read(self, modality, rows)

    monkeypatch.setattr(EmbeddingStore, "read", counted)
    remote = get_engine(
        "spark-local", session=spark, blocks=4, tile_rows=5, chunk_bytes=4 * 5 * 61, gallery_bytes=budget
    )
    got = remote.retrieval_ranks(store.matrix("image"), store.matrix("text"), groups)
    np.testing.assert_array_equal(got["image_to_text"].ranks, want_i2t)
    np.testing.assert_array_equal(got["text_to_image"].ranks, want_t2i)
    q = np.arange(0, len(groups), 3)  # a catalogue pool: a selection of the queries, every row as candidates
    pool = {"pool_images": store.matrix("image"), "pool_texts": store.matrix("text"), "pool_groups": groups}
    got = remote.retrieval_ranks(store.matrix("image")[q], store.matrix("text")[q], groups[q], **pool)
    np.testing.assert_array_equal(got["image_to_text"].ranks, want_i2t[q])
    np.testing.assert_array_equal(got["text_to_image"].ranks, want_t2i[q])
    assert reads and max(reads) <= 50  # the driver read at most a chunk at a time (the tasks read the rest)
    ranks = remote.describe()["ranks"]
    assert ranks["gallery"] == "stored" and ranks["stored"] == 3 and ranks["broadcast"] == ranks["streamed"] == 0
    assert ranks["pieces"] == (1 if budget is None else 15) and "from the embedding store" in ranks["where"]
    assert ranks["exact"]["rescored_pairs"] > 0


def test_ties_count_against_the_query_on_executors(spark) -> None:
    images = np.eye(4, dtype=np.float32)
    texts = np.array([[1, 0, 0, 0], [1, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], dtype=np.float32)
    ranks = get_engine("spark-local", session=spark).retrieval_ranks(images, texts, ["a", "b", "c", "d"])
    assert ranks["image_to_text"].ranks.tolist() == [2, 4, 1, 1]  # text 1 ties text 0 for image 0: counted above
    assert ranks["text_to_image"].ranks.tolist() == [1, 4, 1, 1]


def test_a_failing_partition_is_one_line_naming_it(spark, embeddings) -> None:
    images, texts, groups = embeddings
    engine = get_engine("spark-local", session=spark, blocks=2, fail_partition=1, chunk_bytes=4 * len(texts) * 64)
    with pytest.raises(EvaluationError) as info:
        engine.retrieval_ranks(images, texts, groups)
    message = str(info.value)
    assert "\n" not in message and "partition 1" in message and "injected failure" in message


def test_executor_embeddings_match_local(spark, tmp_path) -> None:
    from harness.data import load_catalogue, make_fixture_catalogue
    from harness.evaluate.embed import embed
    from harness.models import load

    catalogue, _ = load_catalogue(make_fixture_catalogue(tmp_path / "fx", books_per_category=10))
    model = load("tiny:vit-xs")
    want = embed(model, catalogue, batch_size=16, cache=False)
    engine = get_engine("spark-local", session=spark, records_per_batch=32, store=str(tmp_path / "store"))
    got = engine.embed(model, catalogue, template="{title}", batch_size=16)
    np.testing.assert_allclose(got.images, want.images, atol=1e-5)
    np.testing.assert_allclose(got.texts, want.texts, atol=1e-5)
    assert got.book_ids.tolist() == want.book_ids.tolist()
    record = engine.describe()["embeddings"]
    assert record["records_per_batch"] % 16 == 0 and record["decoded_cover_cache"].startswith("shared cache folder")
    assert record["devices"] == ["cpu"]  # local[*] assigns no GPU to its tasks
    assert isinstance(got.images, StoredMatrix) and record["kept"].startswith("in the embedding store")
    folder = got.images.store.folder
    assert Path(folder).parent == tmp_path / "store"
    assert len(os.listdir(folder)) == 2 * len(got.images.store.parts)  # a file per part and modality
    collected = get_engine("spark-local", session=spark, records_per_batch=32, store="off")
    again = collected.embed(model, catalogue, template="{title}", batch_size=16)
    assert isinstance(again.images, np.ndarray)
    assert collected.describe()["embeddings"]["kept"] == "collected to the driver"
    np.testing.assert_array_equal(again.images, np.asarray(got.images))
    np.testing.assert_array_equal(again.texts, np.asarray(got.texts))
    del got
    gc.collect()
    assert not os.path.exists(folder)  # removed with the last matrix that refers to it
    with pytest.raises(EvaluationError, match="partition 0"):
        get_engine("spark-local", session=spark, fail_partition=0).embed(
            model, catalogue, template="{title}", batch_size=16
        )


@pytest.fixture(scope="module")
def cli_data(tmp_path_factory) -> Path:
    """One fixture catalogue for the end-to-end runs."""
    from harness.data import make_fixture_catalogue

    return make_fixture_catalogue(tmp_path_factory.mktemp("cli") / "fx", books_per_category=20)


def _eval(data: Path, engine: str, out: Path, *, submit: bool = False, **env: str) -> subprocess.CompletedProcess:
    """`bookclip eval` in a subprocess (a Spark session of its own, local[2]): `python -m harness.cli`, or with
    `submit` the CLI's __main__.py under spark-submit."""
    import pyspark

    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
        "BOOKCLIP_SPARK_LOCAL_MASTER": "local[2]",
        **env,
    }
    launch = (
        [
            str(Path(pyspark.__file__).parent / "bin" / "spark-submit"),
            "--master",
            "local[2]",
            str(ROOT / "harness" / "cli" / "__main__.py"),
        ]
        if submit
        else [sys.executable, "-m", "harness.cli"]
    )
    return subprocess.run(
        [
            *launch,
            "eval",
            "--model",
            "fixtures:tiny-baseline",
            "--data",
            str(data),
            "--categories",
            "Medical",
            "--ks",
            "1,3",
            "--resamples",
            "200",
            "--engine",
            engine,
            "--json",
            "--out",
            str(out),
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture(scope="module")
def local_report(cli_data, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("local") / "local.json"
    done = _eval(cli_data, "local", out)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(out.read_text())


@pytest.mark.parametrize("engine, submit", [("spark-local", False), ("spark-cluster", True)])
def test_eval_on_spark_gives_the_local_metrics(cli_data, local_report, tmp_path, engine, submit) -> None:
    """End to end in a subprocess: `bookclip eval --engine spark-local`, and `spark-submit .../__main__.py eval
    --engine spark-cluster` (the session spark-submit configured), against `--engine local`."""
    out = tmp_path / f"{engine}.json"
    done = _eval(cli_data, engine, out, submit=submit)
    assert done.returncode == 0, done.stderr[-2000:]
    if not submit:  # the session bookclip started printed nothing: no JVM notice, log banner or pyspark warning
        assert done.stderr == "", done.stderr[-2000:]
    local, remote = local_report, json.loads(out.read_text())
    assert local["engine"] == "local" and remote["engine"] == engine
    assert remote["sections"]["engine"]["zero_shot"].startswith("driver")
    assert remote["sections"]["engine"]["master"] == "local[2]"
    # spark-local keeps the executors' embeddings in a store its ranking tasks read; spark-cluster (no shared
    # folder named) collects them to the driver and broadcasts them
    kept, gallery = remote["sections"]["engine"]["embeddings"]["kept"], remote["sections"]["engine"]["ranks"]["gallery"]
    if engine == "spark-local":
        assert kept.startswith("in the embedding store") and gallery == "stored"
    else:
        assert kept == "collected to the driver" and gallery == "broadcast"
    # embeddings may differ in the last float bits; count the queries whose rank moved (near ties)
    moved = sum(
        a != b
        for key in local["per_query"]
        for a, b in zip(
            local["per_query"][key]["ranks"]["model"], remote["per_query"][key]["ranks"]["model"], strict=True
        )
    )
    assert moved == 0, f"{moved} near-tie rank differences"
    assert local["metrics"] == remote["metrics"]


def test_a_failing_spark_task_writes_no_report(cli_data, tmp_path) -> None:
    """A ranking task fails (the test-only BOOKCLIP_SPARK_FAIL_PARTITION hook) on a streamed gallery: the
    command exits non-zero with one line naming the partition and writes no report, not even a partial one."""
    out = tmp_path / "report.json"
    done = _eval(
        cli_data, "spark-local", out, BOOKCLIP_SPARK_FAIL_PARTITION="ranking:0", BOOKCLIP_SPARK_GALLERY_MB="0.001"
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        ("bookclip: error: Spark ranking failed in partition 0: ValueError: injected failure (fail_partition)")
    ], done.stderr[-2000:]
    assert not out.exists() and list(tmp_path.iterdir()) == [] and done.stdout == ""


def test_a_task_embeds_on_the_gpu_spark_assigned_it_when_torch_sees_cuda() -> None:
    import torch

    from harness.evaluate.engines.spark_tasks import device_for

    assert device_for([]) == "cpu"
    assert device_for(["1", "0"]) == ("cuda:1" if torch.cuda.is_available() else "cpu")
