"""Tests use their own cache directory so they never touch (or are served by) a user's cache."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

_TEST_CACHE = Path(__file__).resolve().parent.parent / ".cache" / "test-cache"
os.environ.setdefault("BOOKCLIP_CACHE_DIR", str(_TEST_CACHE))
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("BOOKCLIP_NO_PROGRESS", "1")


@pytest.fixture(scope="session")
def near_ties():
    """Embeddings built to sit at float32 near-ties, with their float64 brute-force ranks computed here:
    identical vectors, vectors one float32 ulp apart in one coordinate, 300 byte-identical placeholder
    covers, and score gaps below 1e-7. Returns (images, texts, groups, image_to_text, text_to_image)."""
    import math

    import numpy as np

    rng = np.random.default_rng(23)
    n, d = 520, 24
    unit = lambda x: (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)  # noqa: E731
    images = unit(rng.standard_normal((n, d)))
    texts = unit(images + 0.9 * rng.standard_normal((n, d)))
    images[100:400] = images[100]  # byte-identical placeholder covers
    texts[10] = texts[11]  # identical titles of different books
    for i in range(20, 60, 2):  # one float32 ulp apart in a single coordinate
        texts[i + 1] = texts[i]
        k = i % d
        texts[i + 1, k] = np.nextafter(texts[i, k], np.float32(np.inf))
    for i in range(60, 100, 2):  # gaps below 1e-7: nudge a coordinate by a few ulps
        images[i + 1] = images[i]
        images[i + 1, 0] = np.nextafter(np.nextafter(images[i, 0], np.float32(1)), np.float32(1))
    groups = np.array([f"g{i}" for i in range(n)])
    groups[450:454] = "g450"  # editions
    groups[500] = groups[7]

    def brute(q: np.ndarray, c: np.ndarray) -> np.ndarray:
        # float64 products (exact) summed by math.fsum (correctly rounded): independent of any kernel
        scores = np.array([[math.fsum(row) for row in qi.astype(np.float64) * c.astype(np.float64)] for qi in q])
        positive = groups[:, None] == groups[None, :]
        best = np.where(positive, scores, -np.inf).max(axis=1)
        return 1 + ((scores >= best[:, None]) & ~positive).sum(axis=1)

    return images, texts, groups, brute(images, texts), brute(texts, images)


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    """A real MLflow tracking server on 127.0.0.1 with a sqlite store in a temporary folder: its URI."""
    import socket
    import subprocess
    import time
    import urllib.request

    root = tmp_path_factory.mktemp("mlflow")
    with socket.socket() as probe:  # a free port
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    uri = f"http://127.0.0.1:{port}"
    log = open(root / "server.log", "wb")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--backend-store-uri",
            f"sqlite:///{root / 'mlflow.db'}",
            "--artifacts-destination",
            str(root / "artifacts"),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=root,
    )
    try:
        for _ in range(240):  # start-up is several seconds; the loop only guards against a hang
            if server.poll() is not None:
                raise RuntimeError(f"mlflow server exited: {(root / 'server.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{uri}/health", timeout=2):
                    break
            except OSError:
                time.sleep(0.5)
        else:
            raise RuntimeError(f"mlflow server did not answer: {(root / 'server.log').read_text()[-2000:]}")
        yield uri
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.fixture
def tracking(mlflow_server, monkeypatch):
    """MLFLOW_TRACKING_URI pointing at the test server, for this test only, and a client to read runs back."""
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    return MlflowClient(tracking_uri=mlflow_server)
