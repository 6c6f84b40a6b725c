"""Opening covers: every Pillow mode to RGB, formats sniffed from bytes, bombs and broken files refused."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from harness.data.images import open_cover, probe_image, sniff_format, to_rgb
from harness.errors import DataError


def _save(tmp_path, image: Image.Image, fmt: str, name: str = "cover.jpg", **kwargs):
    path = tmp_path / name
    image.save(path, format=fmt, **kwargs)
    return path


@pytest.mark.parametrize(
    "image, fmt, expected",
    [
        (Image.new("L", (8, 8), 77), "JPEG", (77, 77, 77)),
        (Image.new("RGB", (8, 8), (10, 200, 30)), "PNG", (10, 200, 30)),
        (Image.new("RGBA", (8, 8), (0, 0, 0, 0)), "PNG", (255, 255, 255)),
        (Image.new("LA", (8, 8), (0, 255)), "PNG", (0, 0, 0)),
        (Image.new("1", (8, 8), 1), "PNG", (255, 255, 255)),
        (Image.new("I;16", (8, 8), 65535), "PNG", (255, 255, 255)),
        (Image.new("I;16", (8, 8), 32768), "TIFF", (128, 128, 128)),
        (Image.new("CMYK", (8, 8), (0, 0, 0, 0)), "JPEG", (255, 255, 255)),
        (Image.new("RGB", (8, 8), (250, 10, 10)), "WEBP", None),
    ],
)
def test_modes_and_formats_open_as_rgb(tmp_path, image, fmt, expected):
    cover = open_cover(_save(tmp_path, image, fmt, **({"lossless": True} if fmt == "WEBP" else {})))
    assert cover.mode == "RGB" and cover.size == (8, 8)
    pixel = cover.getpixel((4, 4))
    if expected is not None:
        assert max(abs(a - b) for a, b in zip(pixel, expected, strict=True)) <= 2
    else:
        assert pixel == (250, 10, 10)


def test_palette_with_transparency_is_composited_on_white(tmp_path):
    image = Image.new("P", (4, 4), 0)
    image.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    image.putpixel((1, 1), 1)
    cover = open_cover(_save(tmp_path, image, "PNG", "p.png", transparency=0))
    assert cover.getpixel((0, 0)) == (255, 255, 255) and cover.getpixel((1, 1)) == (0, 255, 0)


def test_float_and_32_bit_modes_are_scaled_by_their_range():
    unit = Image.fromarray(np.array([[0.0, 0.5, 1.0]], dtype=np.float32), mode="F")
    assert [to_rgb(unit).getpixel((x, 0))[0] for x in range(3)] == [0, 128, 255]
    wide = Image.fromarray(np.array([[0.0, 500.0, 1000.0]], dtype=np.float32), mode="F")
    assert [to_rgb(wide).getpixel((x, 0))[0] for x in range(3)] == [0, 128, 255]
    ints = Image.fromarray(np.array([[0, 1000]], dtype=np.int32), mode="I")
    assert [to_rgb(ints).getpixel((x, 0)) for x in range(2)] == [(0, 0, 0), (255, 255, 255)]


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("side", [10_000, 100_000])
def test_decompression_bomb_is_refused_before_decoding(tmp_path, side):
    path = tmp_path / "bomb.jpg"
    path.write_bytes(_png_header_only(side, side))
    with pytest.raises(DataError, match="decompression-bomb|too large to decode") as info:
        open_cover(path)
    assert "\n" not in str(info.value) and "bomb.jpg" in str(info.value)


def test_bomb_limit_is_a_parameter(tmp_path):
    path = _save(tmp_path, Image.new("RGB", (50, 50)), "JPEG")
    assert open_cover(path).size == (50, 50)
    with pytest.raises(DataError, match="2,000"):
        open_cover(path, max_pixels=2000)


def test_corrupt_middle_passes_the_probe_but_fails_to_decode(tmp_path):
    rng = np.random.default_rng(0)
    path = _save(tmp_path, Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)), "JPEG")
    data = bytearray(path.read_bytes())
    data[600:-200] = b"\x00" * len(data[600:-200])
    data[700:702] = b"\xff\xc0"  # a bogus frame marker inside the scan
    path.write_bytes(bytes(data))
    probe = probe_image(path)
    assert probe.format == "jpeg" and not probe.truncated
    with pytest.raises(DataError, match="cannot be decoded") as info:
        np.asarray(open_cover(path))
    assert "\n" not in str(info.value)


def test_truncated_files_are_detected_from_their_tail(tmp_path):
    noise = Image.fromarray(np.random.default_rng(1).integers(0, 255, (48, 48, 3), dtype=np.uint8))
    for fmt, name in (("JPEG", "a.jpg"), ("PNG", "b.png"), ("WEBP", "c.webp")):
        path = _save(tmp_path, noise, fmt, name)
        assert not probe_image(path).truncated
        data = path.read_bytes()
        path.write_bytes(data[:-20])
        assert probe_image(path).truncated, fmt
        path.write_bytes(data[: len(data) // 2])
        assert probe_image(path).truncated, fmt
        with pytest.raises(DataError, match="cannot be decoded"):
            open_cover(path)


def test_sniff_format_ignores_extensions():
    buffers = {}
    for fmt in ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF"):
        buffer = io.BytesIO()
        Image.new("RGB", (4, 4)).save(buffer, format=fmt)
        buffers[fmt] = buffer.getvalue()
    assert {fmt: sniff_format(data[:16]) for fmt, data in buffers.items()} == {
        "JPEG": "jpeg",
        "PNG": "png",
        "WEBP": "webp",
        "GIF": "gif",
        "BMP": "bmp",
        "TIFF": "tiff",
    }
    assert sniff_format(b"%PDF-1.4") is None and sniff_format(b"") is None


def test_missing_file_error_says_how_to_fix(tmp_path):
    with pytest.raises(DataError, match="--image-root"):
        open_cover(tmp_path / "nope.jpg")
