"""Catalogue views: subset, by_category, fingerprint; edition grouping; image-path mapping; the summary."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.data import COLUMNS, Catalogue, load_catalogue
from harness.data.catalogue import METADATA_COLUMNS
from harness.data.catalogue_summary import summarise
from harness.data.grouping import group_ids
from harness.data.image_paths import relative_image_path, resolve_under_root
from harness.errors import DataError


@pytest.fixture
def small(tmp_path, put_image, build):
    rows = [
        build.row("Alpha", put_image("A/1.jpg"), category="A"),
        build.row("Beta", put_image("A/2.jpg"), category="A"),
        build.row("Alpha", put_image("B/1.jpg"), category="B"),
        build.row("Gamma", put_image("B/2.jpg"), category="B"),
        build.row("Gamma", put_image("B/3.jpg"), category="B", isbn="9780000000002"),
    ]
    return load_catalogue(build.write_csv(tmp_path / "root" / "All" / "all.csv", rows))


def test_subset_by_positions_and_masks(small):
    catalogue, _ = small
    picked = catalogue.subset([3, 0])
    assert picked.titles == ["Gamma", "Alpha"] and list(picked.frame.index) == [0, 1]
    assert picked.image_digests == (catalogue.image_digests[3], catalogue.image_digests[0])
    masked = catalogue.subset(catalogue.frame["category"] == "B")
    assert masked.titles == ["Alpha", "Gamma", "Gamma"] and masked.categories == ("B",)
    assert len(catalogue.subset([])) == 0
    with pytest.raises(DataError, match="boolean mask has 2 entries"):
        catalogue.subset([True, False])


def test_by_category_and_unknown_category(small):
    catalogue, _ = small
    assert catalogue.by_category("A").titles == ["Alpha", "Beta"]
    assert len(catalogue.by_category(["A", "B"])) == 5
    with pytest.raises(DataError, match="unknown category 'C'; this catalogue has: A, B"):
        catalogue.by_category(["C"])


def test_fingerprint_without_stored_digests_reads_the_files(small):
    catalogue, _ = small
    rebuilt = Catalogue(catalogue.frame.copy())
    assert rebuilt.fingerprint == catalogue.fingerprint
    assert catalogue.subset([1, 0]).fingerprint != catalogue.subset([0, 1]).fingerprint
    changed = catalogue.frame.copy()
    changed.loc[0, "title"] = "Alpha!"
    assert Catalogue(changed, catalogue.image_digests).fingerprint != catalogue.fingerprint


def test_frame_contract(small):
    catalogue, _ = small
    assert tuple(catalogue.frame.columns[: len(COLUMNS)]) == COLUMNS
    assert set(catalogue.frame.columns[len(COLUMNS) :]) <= set(METADATA_COLUMNS)  # as the CSVs have them
    assert isinstance(catalogue.frame.index, pd.RangeIndex)
    assert all(Path(p).is_absolute() for p in catalogue.frame["image_path"])
    with pytest.raises(DataError, match="lacks column"):
        Catalogue(catalogue.frame.drop(columns=["group_id"]))
    shifted = catalogue.frame.set_index(pd.Index(range(10, 15)))
    assert list(Catalogue(shifted).frame.index) == list(range(5))


def test_summary_counts_editions_and_overlaps(small):
    catalogue, report = small
    summary = summarise(catalogue, report)
    by_name = {c.category: c for c in summary.categories}
    assert (by_name["B"].duplicate_groups, by_name["B"].duplicate_rows) == (1, 2)  # the two Gammas
    assert by_name["A"].duplicate_groups == 0 and by_name["A"].shared_groups == 1  # Alpha is also in B
    assert [(o.categories, o.groups, o.examples) for o in summary.overlaps] == [(("A", "B"), 1, ("Alpha",))]
    assert summary.groups == 3 and summary.to_dict()["fingerprint"] == catalogue.fingerprint


@given(
    st.lists(st.tuples(st.sampled_from(["a", "b", "c", "d", "e"]), st.sampled_from(["", "1", "2", "3"])), max_size=30),
    st.permutations(range(30)),
)
def test_groups_are_the_connected_components_and_order_free(rows, order):
    keys = [k for k, _ in rows]
    isbns = [i for _, i in rows]
    ids = group_ids(keys, isbns)
    for i in range(len(rows)):
        for j in range(len(rows)):
            if keys[i] == keys[j] or (isbns[i] and isbns[i] == isbns[j]):
                assert ids[i] == ids[j]
    perm = [p for p in order if p < len(rows)]
    shuffled = group_ids([keys[p] for p in perm], [isbns[p] for p in perm])
    assert [ids[p] for p in perm] == shuffled
    # rows with nothing in common stay apart
    assert len(set(group_ids(["x", "y"], ["", ""]))) == 2


@pytest.mark.parametrize(
    "img, expected",
    [
        ("dataset/Health/0000001.jpg", "Health/0000001.jpg"),
        ("dataset\\Health\\1.jpg", "Health/1.jpg"),
        ("1.jpg", "1.jpg"),
        ("./dataset/./A/1.jpg", "A/1.jpg"),
        ("/etc/passwd", None),
        ("C:\\covers\\1.jpg", None),
        ("~/covers/1.jpg", None),
        ("", None),
    ],
)
def test_relative_image_path(img, expected):
    assert relative_image_path(img) == expected


@given(st.lists(st.sampled_from(["dataset", "..", ".", "A", "b.jpg", "/", "\\", "~", "C:", "x"]), max_size=8))
def test_resolved_paths_never_leave_the_root(tmp_path_factory, parts):
    root = Path(os.path.realpath(tmp_path_factory.getbasetemp())) / "root-prop"
    resolved = resolve_under_root("/".join(parts), root)
    if resolved is not None:
        assert str(resolved).startswith(str(root) + os.sep)


def test_symlink_out_of_the_root_is_refused(tmp_path):
    root = tmp_path / "root"
    (root / "A").mkdir(parents=True)
    (tmp_path / "secret.jpg").write_bytes(b"x")
    os.symlink(tmp_path / "secret.jpg", root / "A" / "s.jpg")
    os.symlink(root / "A", root / "B")
    real_root = Path(os.path.realpath(root))
    assert resolve_under_root("dataset/A/s.jpg", real_root) is None
    assert resolve_under_root("dataset/B/../A/x.jpg", real_root) == real_root / "A" / "x.jpg"
    assert np.all(
        [resolve_under_root(p, real_root) is None for p in ("dataset/..", "dataset/../../x", "dataset/A/../..")]
    )


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 7), st.integers(0, 9)), min_size=1, max_size=60))
def test_summary_equals_the_pairwise_definition(rows):
    """The indexed summary (one pass over shared groups) gives what comparing every pair of categories gives."""
    from itertools import combinations

    from harness.data.load_report import LoadReport

    frame = pd.DataFrame(
        {
            "book_id": [f"b{i}" for i in range(len(rows))],
            "title": [f"T{g}" for _, g in rows],
            "author": "",
            "category": [f"C{c}" for c, _ in rows],
            "image_path": [f"/x/{i}.jpg" for i in range(len(rows))],
            "isbn": "",
            "group_id": [f"g{g}" for _, g in rows],
            "title_key": [f"t{g}" for _, g in rows],
        }
    )
    catalogue = Catalogue(frame, tuple(f"{i:064x}" for i in range(len(rows))))
    counts = frame["category"].value_counts().to_dict()
    report = LoadReport(
        sources=(),
        total_rows=len(rows),
        kept_rows=len(rows),
        skipped={},
        flagged={},
        examples={},
        rows_by_category=counts,
        kept_by_category=counts,
        skipped_by_category={},
    )
    summary = summarise(catalogue, report)
    cats_of = frame.groupby("group_id")["category"].agg(set)
    for c in summary.categories:
        sizes = frame[frame["category"] == c.category].groupby("group_id").size()
        assert c.duplicate_groups == int((sizes > 1).sum()) and c.duplicate_rows == int(sizes[sizes > 1].sum())
        assert c.shared_groups == sum(1 for cats in cats_of if c.category in cats and len(cats) > 1)
    want = [
        ((a, b), sum(1 for cats in cats_of if {a, b} <= cats))
        for a, b in combinations(sorted(frame["category"].unique()), 2)
    ]
    assert [(o.categories, o.groups) for o in summary.overlaps] == [(p, n) for p, n in want if n]
