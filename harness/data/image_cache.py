"""Covers decoded once into a memory-mapped uint8 array, shared by fine-tuning and embedding.

Each array `<key>.npy` has a sidecar `<key>.sha256` holding the SHA-256 of the file; an array whose
bytes do not match it (zeroed, truncated, edited) is rebuilt, never used. A file already verified in
this process is not hashed again while its (size, mtime_ns, inode) stay the same. The space is
reserved before decoding (posix_fallocate), so a full disk is a one-line DataError, not SIGBUS; the
temporary files of builders that died (SIGKILL, full disk) are removed under the build lock.
"""

from __future__ import annotations

import errno
import hashlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from harness.data.catalogue import Catalogue
from harness.data.file_lock import exclusive_lock
from harness.data.images import size_problem
from harness.errors import DataError
from harness.io import atomic_path, atomic_write_text, cache_dir, sha256_file, sha256_hex
from harness.progress import progress

# Named so a change of method gives new cache keys instead of stale arrays.
RESIZE_METHOD = "shorter-side-bicubic+centre-crop-v1"
DECODE_RUN = 32  # covers per decoding task


def resize_and_crop(image: Image.Image, image_size: int) -> Image.Image:
    """CLIP's eval geometry: shorter side to `image_size` (bicubic), then a centre crop.

    Sizes and offsets follow torchvision's Resize(int) and CenterCrop, so the array matches
    what open_clip's preprocess sees before ToTensor and Normalize.
    """
    width, height = image.size
    problem = size_problem(width, height, max_pixels=max(width * height, 1))  # aspect ratio only here
    if problem is not None:
        raise DataError(f"cover of {problem}")
    if width <= height:
        new_w, new_h = image_size, int(image_size * height / width)
    else:
        new_w, new_h = int(image_size * width / height), image_size
    if (new_w, new_h) != (width, height):
        image = image.resize((new_w, new_h), Image.Resampling.BICUBIC)
    if (new_w, new_h) == (image_size, image_size):
        return image
    top = int(round((new_h - image_size) / 2.0))
    left = int(round((new_w - image_size) / 2.0))
    return image.crop((left, top, left + image_size, top + image_size))


def cover_pixels(catalogue: Catalogue, i: int, image_size: int) -> np.ndarray:
    """Row i's cover as the cache stores it: (image_size, image_size, 3) uint8 (resize_and_crop of its RGB).

    A greyscale cover is resized in mode L and then converted: the same pixels as converting first."""
    image = resize_and_crop(catalogue.open_image(i, keep_grey=True), image_size)
    return np.asarray(image.convert("RGB") if image.mode == "L" else image)


def image_cache_path(catalogue: Catalogue, image_size: int) -> Path:
    key = sha256_hex(catalogue.fingerprint, str(image_size), RESIZE_METHOD)[:32]
    return cache_dir() / "images" / f"{key}.npy"


def decoded_images(catalogue: Catalogue, image_size: int) -> np.ndarray:
    """Read-only memory-mapped uint8 array (N, image_size, image_size, 3), row i = cover of row i.

    Built on first use under cache_dir()/images, keyed by the catalogue fingerprint, the size and
    the resize method; concurrent callers (DDP ranks) wait for one builder. A cover that cannot
    be decoded raises DataError naming it.
    """
    if image_size < 1:
        raise DataError(f"image_size={image_size} must be a positive number of pixels")
    path = image_cache_path(catalogue, image_size)
    expected = (len(catalogue), image_size, image_size, 3)
    cached = _open_if_valid(path, expected)
    if cached is not None:
        return cached
    try:
        with exclusive_lock(path.with_suffix(".lock")):
            clear_stale_temporaries(path)
            cached = _open_if_valid(path, expected)  # another process may have built it meanwhile
            if cached is not None:
                return cached
            _build(path, catalogue, image_size, expected)
            built = _open_if_valid(path, expected)
    except OSError as exc:
        raise DataError(
            f"cannot write the decoded-cover cache {path} ({exc.strerror or exc}); free space "
            "there or point BOOKCLIP_CACHE_DIR at a disk with room"
        ) from None
    if built is None:
        raise DataError(
            f"the decoded-cover cache {path} fails its checksum right after being written; "
            "check the disk, or point BOOKCLIP_CACHE_DIR elsewhere"
        )
    return built


def checksum_path(path: Path) -> Path:
    return path.with_suffix(".sha256")


def clear_stale_temporaries(path: Path) -> list[Path]:
    """Remove temporary files that builders of `path` (and its checksum) left when they died.

    Call with the build lock held: a live builder holds it while its temporary file exists."""
    removed = []
    for target in (path, checksum_path(path)):
        for tmp in target.parent.glob(f".{target.name}.*.tmp"):
            try:
                tmp.unlink()
                removed.append(tmp)
            except FileNotFoundError:
                pass
    return removed


def _build(path: Path, catalogue: Catalogue, image_size: int, shape: tuple[int, ...]) -> None:
    with atomic_path(path) as tmp:
        header = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)
        offset = header.offset
        del header  # the .npy header is written and the file sized; rows go in by pwrite below
        _reserve(tmp)  # ENOSPC now, not halfway
        with open(tmp, "rb") as fh:
            digest = hashlib.sha256(fh.read(offset))
        row_bytes = int(np.prod(shape[1:]))
        fd = os.open(tmp, os.O_WRONLY)

        def decode(rows: range) -> memoryview:
            block = np.empty((len(rows), *shape[1:]), dtype=np.uint8)
            for j, i in enumerate(rows):
                block[j] = cover_pixels(catalogue, i, image_size)
            data = block.data.cast("B")
            _write_at(fd, data, offset + rows.start * row_bytes)
            return data

        # Pillow decodes and resamples outside the GIL, so threads overlap; runs of rows keep the
        # per-task overhead (the GIL-held part) small next to the pixel work. Rows are written with pwrite,
        # not through a shared map: the first write to each page of a map of a preallocated file is a fault
        # that converts the filesystem's extent (about 8% of the decoding time at 64 px). The runs come back
        # in order, so the checksum is taken as they arrive instead of reading the file again.
        n, run = len(catalogue), DECODE_RUN
        try:
            with (
                progress(f"decoding covers ({image_size}px)", n) as advance,
                ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool,
            ):
                for data in pool.map(decode, [range(a, min(a + run, n)) for a in range(0, n, run)]):
                    digest.update(data)
                    advance(len(data) // row_bytes)
        finally:
            os.close(fd)
        atomic_write_text(checksum_path(path), digest.hexdigest() + "\n")  # an old array fails it until replaced
    _remember(path, digest.hexdigest())


def _write_at(fd: int, data: memoryview, offset: int) -> None:
    while data:
        written = os.pwrite(fd, data, offset)
        data, offset = data[written:], offset + written


def _reserve(path: Path) -> None:
    allocate = getattr(os, "posix_fallocate", None)
    if allocate is None:
        return
    fd = os.open(path, os.O_RDWR)
    try:
        allocate(fd, 0, os.fstat(fd).st_size)
    except OSError as exc:
        if exc.errno not in (errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
            raise
    finally:
        os.close(fd)


# files whose checksum this process has verified, by (path, size, mtime_ns, inode, device) -> digest
_VERIFIED: dict[tuple, str] = {}
_VERIFIED_LOCK = threading.Lock()


def _stat_key(path: Path) -> tuple | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (str(path), st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)


def _remember(path: Path, digest: str) -> None:
    key = _stat_key(path)
    if key is not None:
        with _VERIFIED_LOCK:
            _VERIFIED[key] = digest


def _checksum_ok(path: Path) -> bool:
    try:
        recorded = checksum_path(path).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return False
    key = _stat_key(path)
    with _VERIFIED_LOCK:
        if key is not None and _VERIFIED.get(key) == recorded:
            return True
    try:
        actual = sha256_file(path)
    except OSError:
        return False
    if actual != recorded:
        return False
    _remember(path, actual)
    return True


def _open_if_valid(path: Path, shape: tuple[int, ...]) -> np.ndarray | None:
    if not path.is_file():
        return None
    try:
        array = np.load(path, mmap_mode="r")
    except (OSError, ValueError):
        return None
    if array.shape != shape or array.dtype != np.uint8:
        return None
    return array if _checksum_ok(path) else None
