"""Spark helpers: a local session on demand (UI off, workers on this interpreter)."""

from __future__ import annotations

from harness.spark.session import active_session, get_or_create_session, java_executable, require_java, task_slots

__all__ = ["active_session", "get_or_create_session", "java_executable", "require_java", "task_slots"]
