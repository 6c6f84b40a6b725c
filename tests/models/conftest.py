"""Fixtures for the model tests: real covers and titles from the book-cover sample, small checkpoints."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from PIL import Image


@pytest.fixture(scope="session")
def real_covers(real_bookcovers: Path) -> list[tuple[str, Image.Image]]:
    """Three (title, cover) pairs: two RGB Biography covers and one greyscale Medical cover."""
    picked: list[tuple[str, Image.Image]] = []
    for category, count in (("Biography", 2), ("Medical", 1)):
        with open(real_bookcovers / category / f"{category}.csv", newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))[:count]
        for row in rows:
            image_path = real_bookcovers / category / Path(row["img_paths"]).name
            with Image.open(image_path) as image:
                image.load()
                picked.append((row["name"], image.copy()))
    return picked


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved checkpoint of tiny:vit-xs@1 (built once per session)."""
    from harness.models import load, save_checkpoint

    model = load("tiny:vit-xs@1")
    path = tmp_path_factory.mktemp("ckpt") / "vit-xs.safetensors"
    save_checkpoint(
        path,
        model.state_dict(),
        config=model.config,
        metadata={"parent_fingerprint": None, "data_fingerprint": "d" * 64, "training": {"epochs": 1, "lr": 1e-4}},
    )
    return path
