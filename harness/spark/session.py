"""A local Spark session on demand: reuse the active one, else start one with the UI off.

Spark's Python workers must run the same interpreter as the driver, so PYSPARK_PYTHON is
set to it before the JVM starts; a missing Java is reported in one line with a way out.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import ConfigError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

NO_JAVA_HINT = "or run without Spark: --launcher torchrun"
# errors-only JVM logging for the sessions started here (Spark's default prints INFO/WARN lines)
LOG4J_CONFIG = Path(__file__).with_name("log4j2.properties")


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
        where = f"JAVA_HOME={os.environ['JAVA_HOME']} has no bin/java" if os.environ.get("JAVA_HOME") \
            else "no `java` on PATH and JAVA_HOME unset"
        raise ConfigError(f"Spark needs Java 17 but none was found ({where}); install a JDK 17 {hint}")
    return java


def active_session() -> "SparkSession | None":
    from pyspark.sql import SparkSession

    return SparkSession.getActiveSession()


def get_or_create_session(master: str = "local[*]", app_name: str = "bookclip",
                          conf: dict[str, str] | None = None, *, hint: str = NO_JAVA_HINT) -> "SparkSession":
    """The active Spark session, or a new local one (UI off, workers on this interpreter)."""
    session = active_session()
    if session is not None:
        return session
    require_java(hint)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    builder = (SparkSession.builder.master(master).appName(app_name)
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.execution.arrow.pyspark.enabled", "true"))
    conf = dict(conf or {})
    conf.setdefault("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile={LOG4J_CONFIG.as_uri()}")
    for key, value in conf.items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as exc:  # JVM failed to start: say so in one line
        raise ConfigError(f"could not start a local Spark session (master={master}): "
                          f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}; "
                          f"check the Java install {hint}") from None
    session.sparkContext.setLogLevel("ERROR")
    return session


def task_slots(session: "SparkSession") -> int:
    """How many tasks the session can run at once (barrier stages need one slot per task)."""
    return int(session.sparkContext.defaultParallelism)
