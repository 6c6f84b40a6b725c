"""Safe cover images: format sniffing and header checks without decoding, and lazy opening into RGB.

Loading a catalogue reads each file once: a content hash (the cover's identity), the format from
its magic bytes, truncation from its tail, and its dimensions from the header; pixels are decoded
when a cover is actually used. Only regular files are opened (a FIFO or device would block or
never end).
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import stat
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image

from harness.errors import DataError

# Covers are thumbnails; anything far bigger is a mistake or a decompression bomb.
MAX_COVER_PIXELS = 40_000_000
# Longer side over shorter side: a 4,000,000 x 1 strip passes the pixel limit but would need ~49 GB
# once its shorter side is scaled to the model's size. Book covers are near 2:3.
MAX_ASPECT_RATIO = 16
_PROBE_BYTES = 1024
_CHUNK = 1 << 20


class NotRegularFileError(OSError):
    """A FIFO, socket or device stands where a file was expected; it is never read."""


def open_regular(path: str | os.PathLike[str]) -> BinaryIO:
    """Open `path` for reading only if it is a regular file (never blocks on a FIFO).

    Raises IsADirectoryError for a directory, NotRegularFileError for any other special file,
    and the usual OSError subclasses (FileNotFoundError, PermissionError...) otherwise.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, "is a directory", os.fspath(path))
        if not stat.S_ISREG(mode):
            raise NotRegularFileError(errno.EINVAL, "not a regular file (FIFO, socket or device)", os.fspath(path))
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular_bytes(path: str | os.PathLike[str]) -> bytes:
    """All bytes of a regular file (see open_regular)."""
    with open_regular(path) as fh:
        return fh.read()


def content_digest(data: bytes) -> str:
    """A cover's identity: SHA-256 of its bytes."""
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class ImageProbe:
    """What one read of an image file says about it (nothing is decoded)."""

    size: int
    format: str | None  # "jpeg", "png", "webp", "gif", "bmp", "tiff" or None when unrecognised
    truncated: bool
    digest: str  # the cover's identity: SHA-256 of the file's bytes
    width: int | None = None  # from the header; None when the header cannot be read
    height: int | None = None
    header_problem: str | None = None  # why the header cannot be read, or why the size is refused


def size_problem(width: int, height: int, max_pixels: int = MAX_COVER_PIXELS) -> str | None:
    """Why a cover of this size is refused (decompression bomb, extreme aspect ratio), or None."""
    if width < 1 or height < 1:
        return f"{width}x{height} pixels is empty"
    if width * height > max_pixels:
        return (
            f"{width}x{height} pixels, over the decompression-bomb limit of {max_pixels:,}; replace it with a thumbnail"
        )
    if max(width, height) > MAX_ASPECT_RATIO * min(width, height):
        return (
            f"{width}x{height} pixels, an aspect ratio over {MAX_ASPECT_RATIO}:1 "
            "(scaling its shorter side to the model's size would exhaust memory); replace it with a cover"
        )
    return None


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
    """Hash `path`, sniff its format and tail, and read its header's dimensions (no pixel is decoded).

    Raises OSError when it cannot be read (NotRegularFileError for FIFOs, sockets and devices).
    """
    digest = hashlib.sha256()
    with open_regular(path) as fh:
        head = fh.read(_PROBE_BYTES)
        digest.update(head)
        size = len(head)
        tail = head
        while True:
            chunk = fh.read(_CHUNK)
            if not chunk:
                break
            digest.update(chunk)
            size += len(chunk)
            tail = (tail + chunk)[-_PROBE_BYTES:]
        fmt = sniff_format(head)
        truncated = size > 0 and _looks_truncated(fmt, head, tail, size)
        width = height = None
        problem = None
        if fmt is not None and size > 0 and not truncated:
            fh.seek(0)
            width, height, problem = _header_size(fh)
    return ImageProbe(
        size=size,
        format=fmt,
        truncated=truncated,
        digest=digest.hexdigest(),
        width=width,
        height=height,
        header_problem=problem,
    )


def _header_size(fh: BinaryIO) -> tuple[int | None, int | None, str | None]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(fh) as image:
                width, height = image.size
    except Image.DecompressionBombError as exc:
        return None, None, f"too large to decode safely ({exc})"
    except Exception as exc:  # Pillow raises many types for a damaged header
        return None, None, f"header cannot be read ({type(exc).__name__}: {' '.join(str(exc).split())[:120]})"
    return width, height, size_problem(width, height)


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


_HEADER_LOCK = threading.Lock()


def open_cover(
    path: str | os.PathLike[str],
    *,
    max_pixels: int = MAX_COVER_PIXELS,
    digest: str | None = None,
    keep_grey: bool = False,
) -> Image.Image:
    """Decode a cover into an RGB image, or raise DataError naming the file and the fix.

    The pixel count and aspect ratio are checked from the header before any pixel is decoded
    (decompression bombs). The format comes from the file's bytes, so a PNG or WebP saved as .jpg
    loads too. With `digest` (the content hash recorded when the catalogue was loaded), a file
    changed since is refused rather than decoded under the old identity. With `keep_grey`, an 8-bit
    greyscale cover stays in mode L: a caller that resizes before converting to RGB does a third of
    the work for the same pixels (resampling treats each band alike, and L to RGB copies the band).
    """
    where = Path(path)
    try:
        data = read_regular_bytes(where)
        if digest is not None and len(digest) == 64 and content_digest(data) != digest:
            raise DataError(
                f"cover image {where} changed since the catalogue was loaded (its content hash "
                "differs); load the catalogue again"
            )
        # warning filters are process-wide, so the header read (where Pillow's bomb check runs) is
        # serialised; decoding the pixels, the slow part, runs in parallel where callers use threads
        with _HEADER_LOCK, warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
        problem = size_problem(image.width, image.height, max_pixels)
        if problem is not None:
            raise DataError(f"cover image {where} is {problem}")
        image.load()  # reads an in-memory buffer: no file is left open
        return image if keep_grey and image.mode == "L" else to_rgb(image)
    except DataError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DataError(
            f"cover image {where} is too large to decode safely ({exc}); replace it with a thumbnail"
        ) from None
    except FileNotFoundError:
        raise DataError(
            f"cover image {where} does not exist; check the image root (--image-root) or remove the row"
        ) from None
    except NotRegularFileError:
        raise DataError(
            f"cover image {where} is not a regular file (a FIFO, socket or device); "
            "replace it with the image file or remove the row"
        ) from None
    except MemoryError:
        raise DataError(
            f"cover image {where} needs more memory to decode than is available; replace it with a thumbnail"
        ) from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise DataError(f"cover image {where} cannot be decoded ({exc}); re-download it or remove the row") from None
