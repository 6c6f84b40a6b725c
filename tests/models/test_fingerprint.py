from __future__ import annotations

import hypothesis.strategies as st
import torch
from hypothesis import given, settings

from harness.models import fingerprint_state_dict

names = st.text(alphabet="abcdefgh._", min_size=1, max_size=8)
state_dicts = st.dictionaries(
    names,
    st.tuples(st.integers(1, 4), st.integers(1, 4), st.integers(0, 2**31 - 1)).map(
        lambda t: torch.randn(t[0], t[1], generator=torch.Generator().manual_seed(t[2]))
    ),
    min_size=1,
    max_size=5,
)


@settings(max_examples=40, deadline=None)
@given(state_dicts)
def test_independent_of_insertion_order(sd: dict[str, torch.Tensor]) -> None:
    reordered = dict(reversed(list(sd.items())))
    assert fingerprint_state_dict(sd) == fingerprint_state_dict(reordered)


@settings(max_examples=40, deadline=None)
@given(state_dicts, st.data())
def test_changing_any_single_element_changes_it(sd: dict[str, torch.Tensor], data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(sd)))
    index = data.draw(st.integers(0, sd[name].numel() - 1))
    changed = {k: v.clone() for k, v in sd.items()}
    changed[name].view(-1)[index] += 1.0
    assert fingerprint_state_dict(changed) != fingerprint_state_dict(sd)


@settings(max_examples=30, deadline=None)
@given(state_dicts)
def test_dtype_shape_and_name_are_part_of_it(sd: dict[str, torch.Tensor]) -> None:
    base = fingerprint_state_dict(sd)
    name = sorted(sd)[0]
    as_double = {**sd, name: sd[name].double()}
    reshaped = {**sd, name: sd[name].reshape(-1)}
    renamed = {(k + "_" if k == name else k): v for k, v in sd.items()}
    assert fingerprint_state_dict(as_double) != base
    if sd[name].dim() != 1:
        assert fingerprint_state_dict(reshaped) != base
    if name + "_" not in sd:
        assert fingerprint_state_dict(renamed) != base


def test_equal_values_in_other_memory_give_the_same_fingerprint() -> None:
    tensor = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    assert fingerprint_state_dict({"w": tensor}) == fingerprint_state_dict({"w": tensor.t().contiguous().t()})
    assert fingerprint_state_dict({"w": tensor.to(torch.bfloat16)}) != fingerprint_state_dict({"w": tensor})


def test_is_a_hex_sha256() -> None:
    fp = fingerprint_state_dict({"w": torch.zeros(2)})
    assert len(fp) == 64 and int(fp, 16) >= 0
