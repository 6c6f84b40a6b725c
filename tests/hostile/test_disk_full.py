"""Item 6: a full disk or a killed builder leaves no mess.

The decoded-cover cache reserves its space before writing (no SIGBUS), a full disk is a one-line
error (exit 2) with no temporary file left, and the orphan of a builder killed with SIGKILL is
removed by the next build. The disk-full case runs on a small tmpfs where mounting one is permitted,
and under a file-size limit (RLIMIT_FSIZE: the kernel refuses the reservation) everywhere."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from harness.data import decoded_images, load_catalogue
from harness.data.image_cache import image_cache_path


def _tmpfs(path: Path, size: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return False
    return (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
        ).returncode
        == 0
    )


def _leftovers(cache: Path) -> list[Path]:
    return [p for p in cache.rglob("*") if p.name.endswith(".tmp") or p.suffix == ".npy"]


def _eval(hostile, data: Path, cache: Path, preexec_fn=None):
    return hostile.run_cli(
        "eval",
        "--model",
        "tiny:vit-xs",
        "--data",
        str(data),
        "--resamples",
        "100",
        "--no-zero-shot",
        env={"BOOKCLIP_CACHE_DIR": str(cache)},
        timeout=300,
        preexec_fn=preexec_fn,
    )


def test_full_tmpfs_is_a_one_line_error_with_nothing_left(tmp_path, catalogue_dir, hostile) -> None:
    cache = tmp_path / "small"
    if not _tmpfs(cache, "256k"):
        pytest.skip("mounting a tmpfs is not permitted here (the file-size-limit test covers the case)")
    try:
        data = catalogue_dir(60)  # 60 covers x 64 x 64 x 3 = 737 KB of pixels, more than the disk holds
        for attempt in range(2):  # the second run must not trip over the first one's remains
            result = _eval(hostile, data, cache)
            hostile.assert_one_line_error(result, 2, "decoded-cover cache", "No space left")
            assert result.returncode != 135  # not SIGBUS
            assert _leftovers(cache) == [], attempt
    finally:
        subprocess.run(["umount", str(cache)], check=False)


def _limit_file_size() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a kill
    resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, 256 * 1024))


def test_file_size_limit_is_a_one_line_error_with_nothing_left(tmp_path, catalogue_dir, hostile) -> None:
    cache = tmp_path / "cache"
    data = catalogue_dir(60)
    for attempt in range(2):
        result = _eval(hostile, data, cache, preexec_fn=_limit_file_size)
        hostile.assert_one_line_error(result, 2, "decoded-cover cache")
        assert _leftovers(cache / "images") == [], attempt
    assert _eval(hostile, data, cache).returncode == 0  # with room, the same run succeeds


KILL_WHILE_DECODING = textwrap.dedent("""
    import os, signal, sys
    from harness.data import decoded_images, load_catalogue
    catalogue, _ = load_catalogue(sys.argv[1])
    opened = []
    real_open = catalogue.open_image
    def open_then_die(i, **kwargs):
        opened.append(i)
        if len(opened) == 5:  # half-way through decoding: the array file exists, full size
            os.kill(os.getpid(), signal.SIGKILL)
        return real_open(i, **kwargs)
    object.__setattr__(catalogue, "open_image", open_then_die)
    decoded_images(catalogue, 32)
""")


def test_orphan_of_a_killed_builder_is_cleared_by_the_next_build(tmp_path, catalogue_dir, fresh_cache) -> None:
    data = catalogue_dir(10)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), "BOOKCLIP_CACHE_DIR": str(fresh_cache)}
    killed = subprocess.run([sys.executable, "-c", KILL_WHILE_DECODING, str(data)], env=env, timeout=300)
    assert killed.returncode == -signal.SIGKILL
    orphans = list((fresh_cache / "images").glob(".*.npy.*.tmp"))
    assert len(orphans) == 1 and orphans[0].stat().st_size > 10 * 32 * 32 * 3  # full size, as reported
    catalogue, _ = load_catalogue(data)
    pixels = decoded_images(catalogue, 32)
    assert np.array(pixels).any()
    assert list((fresh_cache / "images").glob("*.tmp")) == []
    assert image_cache_path(catalogue, 32).is_file()
