"""Item 8: covers past the decompression-bomb guard (extreme aspect ratio, huge headers) and JPEGs
corrupt in the middle. Loading skips what it can see from the header (counted, with the reason);
`data validate --strict` decodes in full, so it fails on everything evaluation would reject."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image

from harness.data import load_catalogue, open_cover, resize_and_crop
from harness.data import load_report as reasons
from harness.errors import DataError


def _strip_png(width: int, height: int) -> bytes:
    """A real, valid PNG of width x height (a 4,000,000 x 1 strip compresses to a few KB)."""
    raw = b"".join(b"\x00" + b"\x80" * (width * 3) for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def _header_only_png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b"")
    )


def _corrupt_middle_jpeg(data: bytes) -> bytes:
    """A real JPEG with a bogus frame marker inside its scan: header, size and EOI intact."""
    sos = data.index(b"\xff\xda")
    assert len(data) > sos + 600
    return data[: sos + 300] + b"\xff\xc0\x00\x11" + data[sos + 304 :]


def test_strip_png_is_small_but_refused_before_decoding(tmp_path) -> None:
    path = tmp_path / "strip.png"
    path.write_bytes(_strip_png(4_000_000, 1))
    assert path.stat().st_size < 64 * 1024
    with pytest.raises(DataError, match="aspect ratio") as info:
        open_cover(path)
    assert "\n" not in str(info.value)
    with pytest.raises(DataError, match="aspect ratio"):
        resize_and_crop(Image.new("RGB", (2000, 1)), 224)


@pytest.fixture
def bad_covers(catalogue_dir) -> Path:
    root = catalogue_dir(12)
    covers = sorted((root / "Medical").glob("*.jpg"))
    covers[0].write_bytes(_strip_png(4_000_000, 1))
    covers[1].write_bytes(_header_only_png(100_000, 100_000))
    covers[2].write_bytes(_corrupt_middle_jpeg(covers[2].read_bytes()))
    return root


def test_loading_skips_bombs_from_their_header_and_counts_them(bad_covers) -> None:
    catalogue, report = load_catalogue(bad_covers)
    assert report.skipped == {reasons.SKIP_OVERSIZED_IMAGE: 2}
    assert len(catalogue) == 10  # the corrupt-middle JPEG passes a header-only probe
    _, decoded = load_catalogue(bad_covers, decode=True)
    assert decoded.skipped == {reasons.SKIP_OVERSIZED_IMAGE: 2, reasons.SKIP_UNDECODABLE_IMAGE: 1}


def test_validate_strict_catches_what_eval_would_reject(bad_covers, hostile, fresh_cache) -> None:
    lenient = hostile.run_cli("data", "validate", str(bad_covers), "--json", timeout=120)
    assert lenient.returncode == 0
    assert json.loads(lenient.stdout)["report"]["skipped"] == {reasons.SKIP_OVERSIZED_IMAGE: 2}
    strict = hostile.run_cli("data", "validate", str(bad_covers), "--strict", timeout=120)
    assert strict.returncode == 1 and "Traceback" not in strict.stderr
    assert reasons.SKIP_UNDECODABLE_IMAGE in strict.stderr and reasons.SKIP_OVERSIZED_IMAGE in strict.stderr
    # eval rejects the same corrupt cover, as one line (and never asks for 49 GB for the strip)
    result = hostile.run_cli(
        "eval",
        "--model",
        "tiny:vit-xs",
        "--data",
        str(bad_covers),
        "--resamples",
        "100",
        env={"BOOKCLIP_CACHE_DIR": str(fresh_cache)},
        timeout=300,
    )
    hostile.assert_one_line_error(result, 2, "cannot be decoded")


def test_validate_strict_passes_once_the_bad_covers_are_gone(catalogue_dir, hostile) -> None:
    root = catalogue_dir(6)
    assert hostile.run_cli("data", "validate", str(root), "--strict", timeout=120).returncode == 0
