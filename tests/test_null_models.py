"""No gate a null model can pass: the embedded default's gates against a constant predictor and a
randomly initialised model as candidates."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.config import build_config
from harness.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "key", ["heldout/zero_shot/accuracy", "cross:Health/zero_shot/balanced_accuracy", "cross/zero_shot/recall[Health]"]
)
def test_zero_shot_gates_a_constant_predictor_passes_are_refused(key):
    with pytest.raises(ConfigError, match="one category|predicts that category") as info:
        build_config({"categories": ["Mind-Body-Spirit"], "gates": {key: {"non_inferior": 0.05}}})
    assert "\n" not in str(info.value)


def test_a_multi_category_view_may_be_gated():
    config = build_config(
        {
            "categories": ["Health", "Medical"],
            "gates": {
                "heldout/zero_shot/balanced_accuracy": {"non_inferior": 0.05},
                "cross/zero_shot/accuracy": {"min": 0.3},
            },
        }
    )
    assert len(config.gates) == 2


def test_the_null_model_ranks_every_answer_last():
    import numpy as np

    from harness.evaluate.retrieval import retrieval_ranks
    from harness.models import load

    model = load("null:constant")
    texts = model.encode_texts(["a", "b", "c"]).numpy()
    assert model.identity != load("tiny:vit-xs").identity  # never another model's cached embeddings
    ranks = retrieval_ranks(texts, texts, ["g1", "g2", "g3"])
    assert all(np.array_equal(r.ranks, [3, 3, 3]) for r in ranks.values())


@pytest.mark.slow
@pytest.mark.parametrize("candidate", ["null:constant", "tiny:vit-xs@1"])
def test_no_default_gate_passes_a_null_or_random_candidate(candidate, tmp_path):
    env = {**os.environ, "BOOKCLIP_CACHE_DIR": str(ROOT / ".cache" / "null-tests"), "PYSPARK_PYTHON": sys.executable}
    reports = tmp_path / "reports"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "suites/",
            "-q",
            "-p",
            "no:cacheprovider",
            "--bookclip-candidate",
            candidate,
            "--bookclip-report-dir",
            str(reports),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert proc.returncode == 1, proc.stdout[-3000:]
    gates = json.loads((reports / "run.json").read_text())["gates"]
    assert len(gates) >= 8
    passed = [g["name"] for g in gates if g["outcome"] == "PASS"]
    assert passed == [], passed
