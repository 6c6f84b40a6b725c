"""The original write-up's case on the real cover of "The Power of Now", with tiny models."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from harness.data import load_catalogue
from harness.errors import DataError
from harness.models import list_tiny, load
from harness.probes.writeup_case import WRITEUP_PROMPTS, find_cover, writeup_case


@pytest.fixture(scope="module")
def mind_body_spirit(real_bookcovers):  # noqa: ANN001, ANN201
    catalogue, _ = load_catalogue(real_bookcovers / "Mind-Body-Spirit")
    return catalogue


def test_the_cover_is_the_first_edition_of_the_power_of_now(mind_body_spirit) -> None:  # noqa: ANN001
    row = find_cover(mind_body_spirit)
    assert mind_body_spirit.frame["title"].iat[row] == "The Power of Now"
    assert mind_body_spirit.frame["image_path"].iat[row].endswith("Mind-Body-Spirit/0000002.jpg")


@pytest.mark.parametrize("spec", [f"tiny:{name}" for name in list_tiny()] + [f"tiny:{list_tiny()[0]}@3"])
def test_case_reproduces_with_any_tiny_model(spec: str, mind_body_spirit) -> None:  # noqa: ANN001
    model = load(spec)
    case = writeup_case(model, mind_body_spirit)
    ranking = case.ranking()
    assert sorted(p for _, p, _, _ in ranking) == sorted(WRITEUP_PROMPTS)
    cosines = [c for _, _, c, _ in ranking]
    assert cosines == sorted(cosines, reverse=True) and all(-1.0 <= c <= 1.0 for c in cosines)
    assert math.isclose(sum(case.shares), 1.0, rel_tol=1e-9)
    # the same numbers computed directly from the model
    image = model.preprocess(mind_body_spirit.open_image(find_cover(mind_body_spirit))).unsqueeze(0)
    with torch.no_grad():
        img = torch.nn.functional.normalize(model.encode_images(image), dim=-1)
        txt = torch.nn.functional.normalize(model.encode_texts(list(WRITEUP_PROMPTS)), dim=-1)
        direct = (img @ txt.T)[0]
        shares = (model.module.logit_scale.exp() * direct).softmax(dim=-1)
    np.testing.assert_allclose(case.similarities, direct.numpy(), atol=1e-5)
    np.testing.assert_allclose(case.shares, shares.numpy(), atol=1e-5)
    text = case.render()
    assert "The Power of Nowww" in text and "not how accurate" in text
    assert case.to_dict()["ranking"][0]["prompt"] == ranking[0][1]


def test_a_catalogue_without_the_cover_is_a_one_line_data_error(real_bookcovers) -> None:  # noqa: ANN001
    medical, _ = load_catalogue(real_bookcovers / "Medical")
    with pytest.raises(DataError, match="no cover titled 'The Power of Now'") as info:
        find_cover(medical)
    assert "\n" not in str(info.value)
