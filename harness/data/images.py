"""Safe cover images: format sniffing without decoding, and lazy opening into RGB.

Loading a catalogue only sniffs each file's first and last bytes (format, truncation);
pixels are decoded when a cover is actually used.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from harness.errors import DataError
from harness.io import sha256_hex

# Covers are thumbnails; anything far bigger is a mistake or a decompression bomb.
MAX_COVER_PIXELS = 40_000_000
_PROBE_BYTES = 1024


@dataclass(frozen=True)
class ImageProbe:
    """What the first and last KB of an image file say about it."""

    size: int
    format: str | None  # "jpeg", "png", "webp", "gif", "bmp", "tiff" or None when unrecognised
    truncated: bool
    digest: str  # identity for fingerprints: size + hash of the first and last KB


def sniff_format(head: bytes) -> str | None:
    """Image format from its magic bytes, whatever the file extension says."""
    if head[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:2] == b"BM":
        return "bmp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    return None


def _looks_truncated(fmt: str | None, head: bytes, tail: bytes, size: int) -> bool:
    # Each format has a cheap end marker: JPEG EOI, PNG IEND chunk, RIFF length.
    if fmt == "jpeg":
        return b"\xff\xd9" not in tail[-64:]
    if fmt == "png":
        return b"IEND" not in tail[-32:]
    if fmt == "webp":
        return int.from_bytes(head[4:8], "little") + 8 > size
    return False


def probe_image(path: str | os.PathLike[str]) -> ImageProbe:
    """Read only the first and last KB of `path` (raises OSError when it cannot be read)."""
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        head = fh.read(_PROBE_BYTES)
        if size > _PROBE_BYTES:
            fh.seek(max(size - _PROBE_BYTES, _PROBE_BYTES))
            tail = fh.read(_PROBE_BYTES)
        else:
            tail = head
    fmt = sniff_format(head)
    truncated = size > 0 and _looks_truncated(fmt, head, tail, size)
    return ImageProbe(size=size, format=fmt, truncated=truncated,
                      digest=sha256_hex(str(size), head, tail)[:24])


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB: alpha composited on white, 16-bit and float rescaled."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        # 16-bit files use the full 0..65535 range; 32-bit ints and floats are scaled by their maximum
        # (floats within 0..1 and ints within 0..255 are taken as already in range).
        top = 65535.0 if mode.startswith("I;16") else max(float(array.max()), 1.0 if mode == "F" else 255.0)
        eight = np.clip(array / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(eight, mode="L").convert("RGB")
    if mode == "P":
        image = image.convert("RGBA") if "transparency" in image.info else image.convert("RGB")
        mode = image.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, (255, 255, 255))
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return image.convert("RGB")


def open_cover(path: str | os.PathLike[str], *, max_pixels: int = MAX_COVER_PIXELS) -> Image.Image:
    """Decode a cover into an RGB image, or raise DataError naming the file and the fix.

    The pixel count is checked from the header before any pixel is decoded (decompression bombs).
    The format comes from the file's bytes, so a PNG or WebP saved as .jpg loads too.
    """
    where = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(where) as image:
                pixels = image.width * image.height
                if pixels > max_pixels:
                    raise DataError(
                        f"cover image {where} is {image.width}x{image.height} pixels, over the "
                        f"decompression-bomb limit of {max_pixels:,}; replace it with a thumbnail")
                image.load()
                rgb = to_rgb(image)
                # a converted image is already detached from the file; only the file's own image is copied
                return rgb if rgb is not image else image.copy()
    except DataError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DataError(f"cover image {where} is too large to decode safely ({exc}); "
                        "replace it with a thumbnail") from None
    except FileNotFoundError:
        raise DataError(f"cover image {where} does not exist; check the image root "
                        "(--image-root) or remove the row") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise DataError(f"cover image {where} cannot be decoded ({exc}); "
                        "re-download it or remove the row") from None
