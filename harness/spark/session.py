"""A local Spark session on demand: reuse the active one, else start one with the UI off.

Spark's Python workers must run the same interpreter as the driver, so PYSPARK_PYTHON is
set to it before the JVM starts; a missing Java is reported in one line with a way out.
A JVM started here logs errors only (log4j2.properties beside this file) and prints nothing
at startup: see INCUBATOR_NOTICE.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import ConfigError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

NO_JAVA_HINT = "or run without Spark: --launcher torchrun"
# errors-only JVM logging for the sessions started here (Spark's default prints INFO/WARN lines)
LOG4J_CONFIG = Path(__file__).with_name("log4j2.properties")
# What the JVM prints on stderr when it boots, because Spark's launcher puts --add-modules=jdk.incubator.vector
# on every driver's command line (SPARK-48021: MLlib's vectorised BLAS, which bookclip does not use). No JVM
# option turns the notice off and no Spark setting leaves the module out, so the JVM a session started here
# runs has its stderr relayed to ours less this one line (exactly this line, once): Spark's errors, and what
# its Python workers print, still reach the user.
INCUBATOR_NOTICE = b"WARNING: Using incubator modules: jdk.incubator.vector"


def java_executable() -> str | None:
    """Path of the `java` Spark would start: $JAVA_HOME/bin/java, else `java` on PATH."""
    home = os.environ.get("JAVA_HOME")
    if home:
        candidate = Path(home) / "bin" / "java"
        return str(candidate) if candidate.is_file() else None
    return shutil.which("java")


def require_java(hint: str = NO_JAVA_HINT) -> str:
    java = java_executable()
    if java is None:
        where = (
            f"JAVA_HOME={os.environ['JAVA_HOME']} has no bin/java"
            if os.environ.get("JAVA_HOME")
            else "no `java` on PATH and JAVA_HOME unset"
        )
        raise ConfigError(f"Spark needs Java 17 but none was found ({where}); install a JDK 17 {hint}")
    return java


def active_session() -> SparkSession | None:
    from pyspark.sql import SparkSession

    return SparkSession.getActiveSession()


def get_or_create_session(
    master: str = "local[*]",
    app_name: str = "bookclip",
    conf: dict[str, str] | None = None,
    *,
    hint: str = NO_JAVA_HINT,
) -> SparkSession:
    """The active Spark session, or a new local one (UI off, workers on this interpreter)."""
    session = active_session()
    if session is not None:
        return session
    require_java(hint)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    settings = {
        "spark.master": master,
        "spark.app.name": app_name,
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile={LOG4J_CONFIG.as_uri()}",
        **(conf or {}),
    }
    builder = SparkSession.builder
    for key, value in settings.items():
        builder = builder.config(key, value)
    try:
        _start_context(settings)
        session = builder.getOrCreate()
    except Exception as exc:  # JVM failed to start: say so in one line
        raise ConfigError(
            f"could not start a local Spark session (master={master}): "
            f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}; "
            f"check the Java install {hint}"
        ) from None
    session.sparkContext.setLogLevel("ERROR")
    return session


def _start_context(settings: dict[str, str]) -> None:
    """Start the SparkContext as the builder would, but with the JVM's stderr relayed by `_relay_stderr`; leave
    it to the builder where a JVM is already up (a stopped session's, or spark-submit's) or Spark Connect is
    asked for."""
    from pyspark import SparkConf, SparkContext
    from pyspark.java_gateway import launch_gateway

    connect = (
        os.environ.get("SPARK_REMOTE")
        or os.environ.get("SPARK_CONNECT_MODE_ENABLED")
        or "spark.remote" in settings
        or settings.get("spark.api.mode", os.environ.get("SPARK_API_MODE", "")).lower() == "connect"
    )
    if SparkContext._gateway is not None or os.environ.get("PYSPARK_GATEWAY_PORT") or connect:
        return
    try:
        target = os.dup(2)
    except OSError:  # no stderr to relay to
        return
    spark_conf = SparkConf().setAll(list(settings.items()))
    source, sink = os.pipe()
    threading.Thread(target=_relay_stderr, args=(source, target), name="bookclip-spark-stderr", daemon=True).start()
    try:
        gateway = launch_gateway(spark_conf, popen_kwargs={"stderr": sink})
    finally:
        os.close(sink)  # the JVM holds the pipe's only writing end now: the relay ends when the JVM does
    SparkContext(conf=spark_conf, gateway=gateway)  # the builder's getOrCreate finds it


def _relay_stderr(source: int, target: int) -> None:
    """Copy what the JVM writes to stderr to `target` (this process's stderr when it started) as it comes,
    less INCUBATOR_NOTICE, which the JVM prints while it boots, before Spark's first line."""
    broken = False

    def write(data: bytes) -> None:
        nonlocal broken
        while data and not broken:
            try:
                data = data[os.write(target, data) :]
            except OSError:  # our stderr is gone: keep draining the pipe all the same, so the JVM never blocks
                broken = True

    try:
        with open(source, "rb") as pipe:
            for line in iter(pipe.readline, b""):
                if line.rstrip(b"\r\n") == INCUBATOR_NOTICE:
                    break
                write(line)
            while chunk := pipe.read1(1 << 16):
                write(chunk)
    finally:
        os.close(target)


def task_slots(session: SparkSession) -> int:
    """How many tasks the session can run at once (barrier stages need one slot per task)."""
    return int(session.sparkContext.defaultParallelism)
