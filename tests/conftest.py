"""Tests use their own cache directory so they never touch (or are served by) a user's cache."""
from __future__ import annotations

import os
import sys
from pathlib import Path

_TEST_CACHE = Path(__file__).resolve().parent.parent / ".cache" / "test-cache"
os.environ.setdefault("BOOKCLIP_CACHE_DIR", str(_TEST_CACHE))
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("BOOKCLIP_NO_PROGRESS", "1")
