"""decoded_images: CLIP's resize + centre crop, decoded once into a memory-mapped cache."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from harness.data import decoded_images, load_catalogue, resize_and_crop
from harness.data.image_cache import image_cache_path
from harness.errors import DataError


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BOOKCLIP_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def catalogue(tmp_path, put_image, build):
    rng = np.random.default_rng(3)
    rows = []
    for i, size in enumerate([(128, 128), (100, 150), (150, 97), (33, 20)]):
        pixels = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
        rows.append(build.row(f"Book {i}", put_image(f"Art/{i}.png", _png(pixels)), category="Art"))
    rows.append(build.row("Grey", put_image("Art/grey.jpg", build.image_bytes(mode="L", colour=60)), category="Art"))
    catalogue, report = load_catalogue(build.write_csv(tmp_path / "root" / "Art" / "Art.csv", rows))
    assert report.skipped == {}
    return catalogue


def _png(pixels: np.ndarray) -> bytes:
    import io

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("size", [(128, 128), (100, 150), (150, 97), (33, 20), (64, 64)])
def test_geometry_matches_torchvision_resize_and_centre_crop(size):
    from torchvision import transforms

    rng = np.random.default_rng(sum(size))
    image = Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))
    reference = transforms.Compose(
        [transforms.Resize(64, interpolation=transforms.InterpolationMode.BICUBIC), transforms.CenterCrop(64)]
    )(image)
    ours = resize_and_crop(image, 64)
    assert ours.size == (64, 64)
    assert np.array_equal(np.asarray(ours), np.asarray(reference))


def test_array_rows_follow_catalogue_rows(cache, catalogue):
    array = decoded_images(catalogue, 32)
    assert array.shape == (5, 32, 32, 3) and array.dtype == np.uint8
    assert isinstance(array, np.memmap) and not array.flags.writeable
    for i in range(len(catalogue)):
        assert np.array_equal(array[i], np.asarray(resize_and_crop(catalogue.open_image(i), 32)))
    assert (array[4] == array[4, 0, 0, 0]).all() and array[4, 0, 0, 0] == 60  # greyscale became grey RGB


def test_runs_written_in_any_order_give_every_row_and_the_files_checksum(cache, catalogue, monkeypatch):
    import harness.data.image_cache as image_cache
    from harness.io import sha256_file

    monkeypatch.setattr(image_cache, "DECODE_RUN", 2)  # three runs on two or more threads
    array = decoded_images(catalogue, 32)
    for i in range(len(catalogue)):
        assert np.array_equal(array[i], np.asarray(resize_and_crop(catalogue.open_image(i), 32)))
    path = image_cache_path(catalogue, 32)
    # taken as the runs arrived; another process verifies the file against it
    assert image_cache.checksum_path(path).read_text().strip() == sha256_file(path)


def test_covers_are_decoded_once(cache, catalogue, tmp_path):
    first = decoded_images(catalogue, 32)
    path = image_cache_path(catalogue, 32)
    assert path.is_file() and path.parent == cache / "images"
    for p in catalogue.frame["image_path"]:  # the second call must not need the files
        (tmp_path / "gone").mkdir(exist_ok=True)
        __import__("os").replace(p, tmp_path / "gone" / __import__("os").path.basename(p))
    again = decoded_images(catalogue, 32)
    assert np.array_equal(first, again)
    with pytest.raises(DataError, match="does not exist"):
        decoded_images(catalogue, 16)  # another size is another cache entry, which needs the files


def test_subset_and_size_change_the_key(cache, catalogue):
    keys = {
        image_cache_path(catalogue, 32),
        image_cache_path(catalogue, 64),
        image_cache_path(catalogue.subset([0, 1]), 32),
        image_cache_path(catalogue.subset([1, 0]), 32),
    }
    assert len(keys) == 4
    assert np.array_equal(decoded_images(catalogue.subset([1, 0]), 32)[0], decoded_images(catalogue, 32)[1])


def test_a_wrong_shaped_cache_file_is_rebuilt(cache, catalogue):
    path = image_cache_path(catalogue, 32)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.zeros((2, 2), dtype=np.uint8))
    assert decoded_images(catalogue, 32).shape == (5, 32, 32, 3)


def test_undecodable_cover_names_the_file(cache, tmp_path, put_image, build):
    data = bytearray(build.image_bytes(size=(64, 64)))
    data[200:-10] = b"\x00" * len(data[200:-10])
    rows = [build.row("Broken", put_image("Art/b.jpg", bytes(data)), category="Art")]
    catalogue, _ = load_catalogue(build.write_csv(tmp_path / "root" / "Art" / "Art.csv", rows))
    with pytest.raises(DataError, match="b.jpg"):
        decoded_images(catalogue, 32)
    assert not image_cache_path(catalogue, 32).exists()


@pytest.mark.parametrize("size", [32, 70])
def test_greyscale_covers_resized_before_conversion_give_the_pixels_of_converting_first(
    cache, tmp_path, put_image, build, size
):
    import io

    rng = np.random.default_rng(size)
    rows = []
    for i, (w, h) in enumerate([(100, 150), (150, 97), (41, 41)]):
        buffer = io.BytesIO()
        Image.fromarray(rng.integers(0, 255, (h, w), dtype=np.uint8), mode="L").save(
            buffer, format="JPEG" if i % 2 else "PNG"
        )
        rows.append(
            build.row(
                f"Grey {i}", put_image(f"Art/g{i}.{'jpg' if i % 2 else 'png'}", buffer.getvalue()), category="Art"
            )
        )
    catalogue, _ = load_catalogue(build.write_csv(tmp_path / "root" / "Art" / "Art.csv", rows))
    assert all(catalogue.open_image(i, keep_grey=True).mode == "L" for i in range(len(catalogue)))
    array = decoded_images(catalogue, size)
    for i in range(len(catalogue)):
        converted_first = catalogue.open_image(i)
        assert converted_first.mode == "RGB"
        assert np.array_equal(array[i], np.asarray(resize_and_crop(converted_first, size)))
        assert len(np.unique(array[i])) > 10  # real texture, not a flat grey that any order would keep
