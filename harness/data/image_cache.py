"""Covers decoded once into a memory-mapped uint8 array, shared by fine-tuning and embedding."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from harness.data.catalogue import Catalogue
from harness.data.file_lock import exclusive_lock
from harness.errors import DataError
from harness.io import atomic_path, cache_dir, sha256_hex
from harness.progress import progress

# Named so a change of method gives new cache keys instead of stale arrays.
RESIZE_METHOD = "shorter-side-bicubic+centre-crop-v1"


def resize_and_crop(image: Image.Image, image_size: int) -> Image.Image:
    """CLIP's eval geometry: shorter side to `image_size` (bicubic), then a centre crop.

    Sizes and offsets follow torchvision's Resize(int) and CenterCrop, so the array matches
    what open_clip's preprocess sees before ToTensor and Normalize.
    """
    width, height = image.size
    if width <= height:
        new_w, new_h = image_size, int(image_size * height / width)
    else:
        new_w, new_h = int(image_size * width / height), image_size
    if (new_w, new_h) != (width, height):
        image = image.resize((new_w, new_h), Image.Resampling.BICUBIC)
    top = int(round((new_h - image_size) / 2.0))
    left = int(round((new_w - image_size) / 2.0))
    return image.crop((left, top, left + image_size, top + image_size))


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
    with exclusive_lock(path.with_suffix(".lock")):
        cached = _open_if_valid(path, expected)  # another process may have built it meanwhile
        if cached is not None:
            return cached
        with atomic_path(path) as tmp:
            array = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=expected)
            with progress(f"decoding covers ({image_size}px)", len(catalogue)) as advance:
                for i in range(len(catalogue)):
                    array[i] = np.asarray(resize_and_crop(catalogue.open_image(i), image_size))
                    advance(1)
            array.flush()
            del array
    return np.load(path, mmap_mode="r")


def _open_if_valid(path: Path, shape: tuple[int, ...]) -> np.ndarray | None:
    if not path.is_file():
        return None
    try:
        array = np.load(path, mmap_mode="r")
    except (OSError, ValueError):
        return None
    return array if array.shape == shape and array.dtype == np.uint8 else None
