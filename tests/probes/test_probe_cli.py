"""`bookclip probe`: the command end to end on real covers with tiny models."""

from __future__ import annotations

import json

import pytest

from harness.cli import main

SMALL = [
    "--items",
    "20",
    "--edit-items",
    "3",
    "--edit-max",
    "2",
    "--edit-time",
    "10",
    "--resamples",
    "100",
    "--k",
    "10",
    "--families",
    "repeated_letters,word_order_shuffled",
]


@pytest.fixture(scope="module")
def mind_body_spirit(real_bookcovers):  # noqa: ANN001, ANN201
    return str(real_bookcovers / "Mind-Body-Spirit")


@pytest.fixture(scope="module")
def small_fixture(tmp_path_factory):  # noqa: ANN001, ANN201
    from harness.data.fixtures import make_fixture_catalogue

    return str(make_fixture_catalogue(tmp_path_factory.mktemp("fixture") / "books", books_per_category=10))


@pytest.mark.slow
def test_probe_compare_writes_keys_with_cis_and_prints_tables(small_fixture, tmp_path, capsys) -> None:  # noqa: ANN001
    out = tmp_path / "probes.json"
    rc = main(
        [
            "probe",
            "--model",
            "tiny:vit-xs",
            "--compare",
            "tiny:vit-xs@1",
            "--data",
            small_fixture,
            *SMALL,
            "--out",
            str(out),
        ]
    )
    printed = capsys.readouterr().out
    assert rc == 0
    assert "invariance per family" in printed and "repeated_letters" in printed and "B - A" in printed
    assert "robustness radius" in printed and "redrawn without title" in printed
    doc = json.loads(out.read_text())
    assert doc["kind"] == "probe" and list(doc["models"]) == ["baseline", "candidate"]
    flip = doc["metrics"]["baseline"]["probes/repeated_letters/flip_rate"]
    assert set(flip) == {"value", "ci_low", "ci_high", "n", "interval"} and flip["n"] == 20
    delta = doc["comparisons"]["candidate"]["probes/word_order_shuffled/flip_rate"]
    assert delta["n"] == 20 and delta["ci_low"] <= delta["delta"] <= delta["ci_high"] and delta["test"] == "mcnemar"
    assert "probes/minimal_edit/radius_p50" in doc["comparisons"]["candidate"]
    assert doc["models"]["candidate"]["spec"] == "tiny:vit-xs@1"
    from harness.models import load

    assert [doc["models"][role]["identity"] for role in ("baseline", "candidate")] == [
        load(spec).identity for spec in ("tiny:vit-xs", "tiny:vit-xs@1")
    ]


def test_writeup_case_only(mind_body_spirit, capsys) -> None:  # noqa: ANN001
    assert main(["probe", "--model", "tiny:vit-xs", "--data", mind_body_spirit, "--writeup-case"]) == 0
    printed = capsys.readouterr().out
    for prompt in ("Lord of Rings", "The Power of Nowww", "random book", "Health Power"):
        assert prompt in printed
    assert "not how accurate" in printed and "invariance per family" not in printed


def test_list_families(capsys) -> None:  # noqa: ANN001
    assert main(["probe", "--model", "tiny:vit-xs", "--list-families"]) == 0
    printed = capsys.readouterr().out
    assert "homoglyph" in printed and "overlong" in printed


def test_unknown_family_is_one_line_and_nonzero(mind_body_spirit, capsys) -> None:  # noqa: ANN001
    rc = main(["probe", "--model", "tiny:vit-xs", "--data", mind_body_spirit, "--families", "typo,nope"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "unknown probe family 'typo'" in err
