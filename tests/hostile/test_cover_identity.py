"""Item 2: covers are identified by a content hash; the decoded-pixel cache is checksummed on read."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.data import decoded_images, load_catalogue, resize_and_crop
from harness.data.image_cache import checksum_path, image_cache_path
from harness.errors import DataError


def _edit_middle(path: Path) -> None:
    """Overwrite bytes in the middle of a real JPEG in place: same size, same first and last KB."""
    data = bytearray(path.read_bytes())
    assert len(data) > 2500, "the real covers are larger than two probe windows"
    middle = len(data) // 2
    data[middle : middle + 64] = bytes((b + 77) % 256 for b in data[middle : middle + 64])
    path.write_bytes(bytes(data))


def _first_cover(root: Path) -> Path:
    return sorted((root / "Medical").glob("*.jpg"))[0]


def test_editing_the_middle_of_a_cover_changes_the_catalogue_fingerprint(catalogue_dir) -> None:
    root = catalogue_dir(6)
    before, _ = load_catalogue(root)
    _edit_middle(_first_cover(root))
    after, _ = load_catalogue(root)
    assert before.fingerprint != after.fingerprint
    assert before.image_digests[1:] == after.image_digests[1:]


def test_a_cover_changed_after_loading_is_refused_not_decoded_under_the_old_identity(catalogue_dir) -> None:
    root = catalogue_dir(6)
    catalogue, _ = load_catalogue(root)
    row = int(np.flatnonzero(catalogue.frame["image_path"].to_numpy() == str(_first_cover(root).resolve()))[0])
    catalogue.open_image(row)
    _edit_middle(_first_cover(root))
    with pytest.raises(DataError, match="changed since the catalogue was loaded") as info:
        catalogue.open_image(row)
    assert "\n" not in str(info.value)


def test_edited_cover_gives_new_pixels_after_reload(catalogue_dir, fresh_cache) -> None:
    root = catalogue_dir(6)
    catalogue, _ = load_catalogue(root)
    old = np.array(decoded_images(catalogue, 32))
    path = _first_cover(root)
    from PIL import Image

    Image.new("RGB", (128, 128), (0, 255, 0)).save(path, format="JPEG")  # a different cover, same file
    reloaded, _ = load_catalogue(root)
    new = np.array(decoded_images(reloaded, 32))
    row = int(np.flatnonzero(reloaded.frame["image_path"].to_numpy() == str(path.resolve()))[0])
    assert not np.array_equal(old[row], new[row])
    np.testing.assert_array_equal(new[row], np.asarray(resize_and_crop(reloaded.open_image(row), 32)))


def test_zeroed_pixel_cache_is_detected_and_rebuilt(catalogue_dir, fresh_cache) -> None:
    root = catalogue_dir(6)
    catalogue, _ = load_catalogue(root)
    good = np.array(decoded_images(catalogue, 32))
    path = image_cache_path(catalogue, 32)
    assert checksum_path(path).is_file()
    data = bytearray(path.read_bytes())
    start = data.index(b"\n") + 1  # keep the .npy header: the array still "loads"
    data[start:] = b"\x00" * (len(data) - start)
    path.write_bytes(bytes(data))
    assert not np.load(path).any()  # the file really is zeroed
    again = decoded_images(catalogue, 32)
    np.testing.assert_array_equal(np.array(again), good)
    assert np.array(np.load(path)).any()


def test_pixel_cache_without_its_checksum_is_rebuilt(catalogue_dir, fresh_cache) -> None:
    root = catalogue_dir(4)
    catalogue, _ = load_catalogue(root)
    good = np.array(decoded_images(catalogue, 32))
    path = image_cache_path(catalogue, 32)
    checksum_path(path).unlink()
    np.save(path, np.zeros_like(good))  # a valid .npy of the right shape, but not what was built
    np.testing.assert_array_equal(np.array(decoded_images(catalogue, 32)), good)


def test_embedded_baseline_still_recognises_its_training_rows() -> None:
    """The catalogue fingerprint changed (content hashes); the baseline's recorded data_fingerprint with it."""
    from harness.data import fixture_catalogue
    from harness.evaluate.leakage import training_overlap
    from harness.models import load

    catalogue, _ = load_catalogue(str(fixture_catalogue(0)))
    overlap = training_overlap(load("fixtures:tiny-baseline"), catalogue, {"all": catalogue})
    assert overlap.known, overlap.reason
    assert overlap.views["all"] > 0
