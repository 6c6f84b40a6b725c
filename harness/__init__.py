"""bookclip: evaluation and benchmark harness for CLIP models matching book covers to titles."""

from __future__ import annotations

__version__ = "0.1.0"
