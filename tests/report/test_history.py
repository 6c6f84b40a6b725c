from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from harness.errors import ConfigError
from harness.report.history import check_name, list_runs, resolve_run, save_run
from harness.report.model import RunReport


def _run(run_id: str) -> RunReport:
    return RunReport(run_id=run_id, metrics={"candidate": {}}, data={"fingerprint": "fp"})


def test_runs_are_numbered_named_and_resolved(tmp_path):
    first = save_run(_run("aaa111"), "main", tmp_path)
    second = save_run(_run("bbb222"), "ft-lr3e-5", tmp_path)
    third = save_run(_run("ccc333"), "main", tmp_path)
    assert [p.name for p in (first, second, third)] == [
        "0001_main_aaa111.json",
        "0002_ft-lr3e-5_bbb222.json",
        "0003_main_ccc333.json",
    ]
    (tmp_path / "notes.json").write_text("{}")  # not a saved run: ignored
    assert [(r.number, r.name, r.run_id) for r in list_runs(tmp_path)] == [
        (1, "main", "aaa111"),
        (2, "ft-lr3e-5", "bbb222"),
        (3, "main", "ccc333"),
    ]
    assert resolve_run("latest", tmp_path) == third
    assert resolve_run("main", tmp_path) == third
    assert resolve_run("ft-lr3e-5", tmp_path) == second
    assert resolve_run("1", tmp_path) == first and resolve_run("0002", tmp_path) == second
    assert resolve_run("aaa", tmp_path) == first
    assert resolve_run(str(second), tmp_path) == second
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp files left


def test_saved_run_carries_name_and_machine_and_commit_info(tmp_path):
    path = save_run(_run("abc"), "main", tmp_path)
    stored = RunReport.read(path)
    assert stored.name == "main" and stored.run_id == "abc"
    assert stored.environment["machine"]["python"] and "git" in stored.environment
    kept = save_run(RunReport(run_id="def", environment={"git": {"commit": "1234"}}), "main", tmp_path)
    assert json.loads(kept.read_text())["environment"] == {"git": {"commit": "1234"}}


def test_concurrent_savers_get_distinct_numbers(tmp_path):
    with ThreadPoolExecutor(max_workers=8) as pool:
        paths = list(pool.map(lambda i: save_run(_run(f"r{i:03d}"), "main", tmp_path), range(24)))
    assert len(set(paths)) == 24
    assert sorted(r.number for r in list_runs(tmp_path)) == list(range(1, 25))


@pytest.mark.parametrize("name", ["", "has_underscore", "latest", "42", "sp ace", "../up", "-dash"])
def test_unusable_names_are_refused(name):
    with pytest.raises(ConfigError, match="not usable"):
        check_name(name)


def test_unknown_reference_lists_saved_names(tmp_path):
    save_run(_run("x1"), "main", tmp_path)
    with pytest.raises(ConfigError, match=r"no run 'nightly' .*saved names: main"):
        resolve_run("nightly", tmp_path)
    with pytest.raises(ConfigError, match="no runs saved yet"):
        resolve_run("latest", tmp_path / "empty")
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_run("missing/run.json", tmp_path)
