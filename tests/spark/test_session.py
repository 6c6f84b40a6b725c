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

    python = os.environ["PYSPARK_PYTHON"]
    assert python == sys.executable or os.path.samefile(python, sys.executable)
    # workers run this interpreter: a Python UDF sees the same executable
    seen = session.sparkContext.parallelize([0], 1).map(lambda _: __import__("sys").executable).collect()
    assert os.path.realpath(seen[0]) == os.path.realpath(sys.executable)


@pytest.mark.slow
@pytest.mark.spark
def test_started_session_logs_errors_only(tmp_path) -> None:
    """A session we start uses the shipped log4j2 file and prints nothing while it starts: no JVM notice, no
    log-level banner, no INFO/WARN lines, and pyspark's pandas conversions warn of nothing (FutureWarnings are
    errors here). Spark's errors and what its Python workers print still reach stderr."""
    import subprocess

    from harness.spark.session import LOG4J_CONFIG

    assert LOG4J_CONFIG.is_file()
    script = (
        "import sys\n"
        "import pandas as pd\n"
        "from harness.spark import get_or_create_session\n"
        "s = get_or_create_session(master='local[1]')\n"
        "print(s.sparkContext.getConf().get('spark.driver.extraJavaOptions'))\n"
        "print(s.range(5).count(), len(s.createDataFrame(pd.DataFrame({'a': [1, 2]})).toPandas()))\n"
        "log = s.sparkContext._jvm.org.apache.logging.log4j.LogManager.getLogger('bookclip.check')\n"
        "log.warn('a warning stays hidden')\n"
        "log.error('an error reaches the user')\n"
        "s.sparkContext.parallelize([0], 1).foreach(lambda _: print('from a worker', file=sys.stderr))\n"
        "s.stop()\n"
    )
    done = subprocess.run(
        [sys.executable, "-W", "error::FutureWarning", "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    options, counts = done.stdout.strip().splitlines()[-2:]
    assert f"-Dlog4j2.configurationFile={LOG4J_CONFIG.as_uri()}" in options.split() and counts == "5 2"
    lines = done.stderr.splitlines()
    assert (
        len(lines) == 2 and lines[0].endswith(" ERROR check: an error reaches the user") and lines[1] == "from a worker"
    ), done.stderr[-2000:]


def test_the_jvm_stderr_relay_drops_the_incubator_notice_only(tmp_path) -> None:
    """The relay passes the JVM's stderr through byte for byte, less the first INCUBATOR_NOTICE line; a stderr
    that is gone does not stop it draining the pipe (a full pipe would block the JVM)."""
    import os
    import threading

    from harness.spark.session import INCUBATOR_NOTICE, _relay_stderr

    def relay(data: bytes, target: int) -> None:
        source, sink = os.pipe()
        thread = threading.Thread(target=_relay_stderr, args=(source, target))
        thread.start()
        with open(sink, "wb") as pipe:
            pipe.write(data)
        thread.join(timeout=30)
        assert not thread.is_alive()

    other = b"Picked up JAVA_TOOL_OPTIONS: -Xss4m\n"
    rest = b"26/01/01 00:00:00 ERROR x: boom\r\n" + INCUBATOR_NOTICE + b"\n" + bytes(range(256)) * 600 + b"no newline"
    out = tmp_path / "stderr"
    with open(out, "wb") as target:
        relay(other + INCUBATOR_NOTICE + b"\n" + rest, os.dup(target.fileno()))
    assert out.read_bytes() == other + rest
    read_end, write_end = os.pipe()
    os.close(read_end)  # writing to it fails (EPIPE): the relay keeps reading all the same
    relay(b"x\n" * 100_000, write_end)
