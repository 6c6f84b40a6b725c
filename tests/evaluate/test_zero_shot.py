from __future__ import annotations

import numpy as np
import pytest

from harness.errors import EvaluationError
from harness.evaluate.compare import estimate
from harness.evaluate.zero_shot import accepted_categories, classify


def test_predictions_accuracy_and_confusion():
    prompts = np.eye(3, dtype=np.float32)  # category i <-> axis i
    images = np.array([[1, 0, 0], [0, 1, 0], [0, 0.9, 0.1], [0, 0, 1]], dtype=np.float32)
    r = classify(images, prompts, view="v", categories=("A", "B", "C"), item_categories=["A", "B", "C", "C"])
    assert r.predictions.tolist() == [0, 1, 1, 2]
    assert r.correct.tolist() == [True, True, False, True]
    assert r.confusion.tolist() == [[1, 0, 0], [0, 1, 0], [0, 1, 1]]
    from harness.evaluate.metrics import resolve

    def metric(name):
        found = resolve(name, "zero_shot")
        return estimate(f"v/zero_shot/{name}", found.metric.from_zero_shot(r, **found.params))

    assert metric("accuracy").value == pytest.approx(0.75)
    assert metric("recall[C]").value == pytest.approx(0.5)
    assert metric("recall[A]").n == 1


def test_a_book_in_two_categories_is_right_for_either():
    import pandas as pd

    frame = pd.DataFrame({"group_id": ["g1", "g1", "g2"], "category": ["Medical", "Biography", "Medical"]})
    accepted = accepted_categories(frame, frame)
    assert accepted[0] == frozenset({"Medical", "Biography"}) and accepted[2] == frozenset({"Medical"})
    prompts = np.eye(2, dtype=np.float32)  # Biography, Medical
    images = np.array([[1, 0], [1, 0], [1, 0]], dtype=np.float32)  # all predicted Biography
    r = classify(
        images,
        prompts,
        view="v",
        categories=("Biography", "Medical"),
        item_categories=frame["category"].tolist(),
        accepted=accepted,
    )
    assert r.correct.tolist() == [True, True, False]


def test_ties_go_to_the_first_category():
    r = classify(np.array([[1.0, 1.0]]), np.eye(2), view="v", categories=("A", "B"), item_categories=["B"])
    assert r.predictions.tolist() == [0]


@pytest.mark.parametrize(
    "images, cats, message",
    [
        (np.zeros((0, 2)), [], "empty"),
        (np.array([[np.nan, 0.0]]), ["A"], "NaN"),
        (np.array([[1.0, 0.0]]), ["Z"], "no prompt"),
    ],
)
def test_bad_input(images, cats, message):
    with pytest.raises(EvaluationError, match=message):
        classify(images, np.eye(2), view="v", categories=("A", "B"), item_categories=cats)
