"""`bookclip data validate`: tables, JSON, exit codes (run in-process through the real parser)."""

from __future__ import annotations

import json

from harness.cli import main


def test_validate_real_catalogue(real_bookcovers, capsys):
    assert main(["data", "validate", str(real_bookcovers)]) == 0
    out = capsys.readouterr().out
    assert "5 categories, 4,944 of 4,944 rows kept, 0 missing images" in out
    for category in ("Biography", "Health", "Medical", "Mind-Body-Spirit", "Science-Fiction-Fantasy-Horror"):
        assert category in out
    assert "duplicate groups" in out and "Health + Mind-Body-Spirit" in out


def test_validate_json_matches_the_library(real_bookcovers, capsys):
    assert main(["data", "validate", str(real_bookcovers), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["report"]["total_rows"] == data["report"]["kept_rows"] == 4944
    categories = {c["category"]: c for c in data["summary"]["categories"]}
    assert len(categories) == 5 and all(c["duplicate_groups"] > 40 for c in categories.values())
    pairs = {tuple(o["categories"]): o for o in data["summary"]["overlaps"]}
    assert pairs[("Health", "Mind-Body-Spirit")]["groups"] > 10
    assert sum(c["rows"] for c in categories.values()) == 4944


def test_strict_exits_1_with_skips_and_0_without(tmp_path, put_image, build, capsys):
    rows = [build.row("Good", put_image("Health/1.jpg")), build.row("Missing", "dataset/Health/2.jpg")]
    csv_path = build.write_csv(tmp_path / "root" / "Health" / "Health.csv", rows)
    assert main(["data", "validate", str(csv_path)]) == 0
    out = capsys.readouterr().out
    assert "missing image" in out and "1 of 2 rows kept" in out
    assert main(["data", "validate", str(csv_path), "--strict"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "1 of 2 rows skipped (missing image: 1)" in err


def test_user_errors_are_one_line_without_traceback(tmp_path, capsys):
    assert main(["data", "validate", str(tmp_path / "missing.csv")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bookclip: error: catalogue CSV") and err.count("\n") == 1 and "Traceback" not in err


def test_nothing_usable_exits_1(tmp_path, build, capsys):
    csv_path = build.write_csv(tmp_path / "root" / "Health" / "Health.csv", [build.row("Gone", "dataset/x/1.jpg")])
    assert main(["data", "validate", str(csv_path)]) == 1
    assert "no usable rows" in capsys.readouterr().err
