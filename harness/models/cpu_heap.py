"""Freed tensor memory kept in the process while models run on CPU, instead of page-faulted in again.

glibc gives every freed block above its mmap threshold straight back to the kernel. The threshold
starts at 128 KiB and rises only to the largest block freed so far, and heap tops above 128 KiB are
trimmed, so the activations of each forward pass are mapped and zero-filled anew, page by page, batch
after batch. Measured on benchmarks/bench_eval.py's machine: 1,000 covers through tiny:vit-xs took
0.34 s with glibc's defaults and 0.20 s with blocks kept.

`keep_freed_memory()` sets M_MMAP_THRESHOLD to glibc's ceiling (32 MiB on 64-bit) and M_TRIM_THRESHOLD
to 1 GiB, once per process: blocks up to 32 MiB are reused from the heap (which is why CPU forward
passes are kept small, harness.evaluate.embed.CPU_FORWARD_ROWS). The cost is a resident size that
stays near its peak instead of shrinking between batches. It does nothing off glibc, and
BOOKCLIP_CPU_HEAP=default turns it off.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading

from harness.settings import switched_off

ENV_SWITCH = "BOOKCLIP_CPU_HEAP"
_M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 2**20  # glibc's largest allowed value on 64-bit systems
TRIM_THRESHOLD = 2**30

_lock = threading.Lock()
_state: dict[str, bool] = {}


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds for this process (once); True when they are raised."""
    with _lock:
        if "kept" not in _state:
            _state["kept"] = _raise_thresholds()
        return _state["kept"]


def _raise_thresholds() -> bool:
    if switched_off(ENV_SWITCH):
        return False
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to tune
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    # the mmap threshold first: setting either one stops glibc's own adjustment of both
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
