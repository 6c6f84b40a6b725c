"""The local Spark session helper: Java check, reuse of the active session, settings."""
from __future__ import annotations

import sys

import pytest

from harness.errors import ConfigError
from harness.spark import get_or_create_session, java_executable, require_java, task_slots


def test_missing_java_is_one_line_that_suggests_torchrun(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-jdk"))
    assert java_executable() is None
    with pytest.raises(ConfigError) as info:
        require_java()
    message = str(info.value)
    assert "\n" not in message and "no-jdk" in message and "--launcher torchrun" in message


def test_no_java_on_path(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ConfigError, match="no `java` on PATH"):
        require_java()


@pytest.mark.slow
@pytest.mark.spark
def test_session_is_local_without_ui_and_reused() -> None:
    session = get_or_create_session(master="local[2]")
    conf = session.sparkContext.getConf()
    assert conf.get("spark.ui.enabled") == "false" or session.sparkContext.uiWebUrl is None
    assert get_or_create_session() is session
    assert task_slots(session) >= 2
    import os

    assert os.environ["PYSPARK_PYTHON"] == sys.executable or os.path.samefile(os.environ["PYSPARK_PYTHON"], sys.executable)
    # workers run this interpreter: a Python UDF sees the same executable
    seen = session.sparkContext.parallelize([0], 1).map(lambda _: __import__("sys").executable).collect()
    assert os.path.realpath(seen[0]) == os.path.realpath(sys.executable)


@pytest.mark.slow
@pytest.mark.spark
def test_started_session_logs_errors_only(tmp_path) -> None:
    """A session we start uses the shipped log4j2 file: Spark's INFO/WARN startup lines are gone."""
    import subprocess

    from harness.spark.session import LOG4J_CONFIG

    assert LOG4J_CONFIG.is_file()
    script = ("from harness.spark import get_or_create_session\n"
              "s = get_or_create_session(master='local[1]')\n"
              "print(s.sparkContext.getConf().get('spark.driver.extraJavaOptions'))\n"
              "print(s.range(5).count())\n"
              "s.stop()\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    options, count = done.stdout.strip().splitlines()[-2:]
    assert f"-Dlog4j2.configurationFile={LOG4J_CONFIG.as_uri()}" in options.split() and count == "5"
    assert "log4j2-defaults.properties" not in done.stderr  # Spark's default profile was not used
    assert " WARN " not in done.stderr and " INFO " not in done.stderr
