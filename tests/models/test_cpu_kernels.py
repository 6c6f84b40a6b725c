from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from harness.models import build_model, fingerprint_state_dict, get_tiny_config
from harness.models.cpu_kernels import ENV_SWITCH, linear, onednn_available, onednn_kernels

needs_onednn = pytest.mark.skipif(not onednn_available(), reason="this PyTorch build has no oneDNN linear kernel")


def _inputs(n: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    images = torch.randn(n, 3, 64, 64, generator=gen)
    tokens = torch.randint(1, 1000, (n, 32), generator=gen)
    tokens[:, 10:] = 0
    tokens[:, 9] = 49407  # end token: the text tower pools there
    return images, tokens


@needs_onednn
def test_encodings_match_pytorch_and_the_module_is_restored() -> None:
    module = build_model(get_tiny_config("vit-xs"), 0)
    images, tokens = _inputs()
    before = fingerprint_state_dict(module.state_dict())
    with torch.inference_mode():
        want_i, want_t = module.encode_image(images), module.encode_text(tokens)
        with onednn_kernels(module) as on:
            got_i, got_t = module.encode_image(images), module.encode_text(tokens)
    assert on
    torch.testing.assert_close(got_i, want_i, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(got_t, want_t, rtol=1e-5, atol=1e-5)
    assert not any("forward" in vars(m) for m in module.modules())
    assert fingerprint_state_dict(module.state_dict()) == before


@needs_onednn
def test_gradients_match_pytorch() -> None:
    module = build_model(get_tiny_config("vit-xs"), 0).train()
    images, tokens = _inputs(8)

    def grads(enabled: bool) -> tuple[float, dict[str, torch.Tensor]]:
        module.zero_grad(set_to_none=True)
        with onednn_kernels(module, enabled=enabled):
            image_f, text_f, scale = module(images, tokens)[:3]
            logits = scale * image_f @ text_f.T
            labels = torch.arange(len(images))
            loss = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
            loss.backward()
        return loss.item(), {n: p.grad.clone() for n, p in module.named_parameters() if p.grad is not None}

    loss_ref, ref = grads(False)
    loss_dnn, dnn = grads(True)
    assert loss_dnn == pytest.approx(loss_ref, rel=1e-5)
    assert ref.keys() == dnn.keys()
    for name in ref:
        # float32 products summed in another order: equal up to rounding, relative to the tensor's scale
        scale = float(ref[name].abs().max()) + 1e-12
        torch.testing.assert_close(
            dnn[name], ref[name], rtol=1e-3, atol=1e-4 * scale, msg=lambda m, name=name: f"{name}: {m}"
        )


@needs_onednn
def test_linear_keeps_pytorch_semantics_for_other_inputs() -> None:
    x, w, b = torch.randn(5, 4, dtype=torch.float64), torch.randn(3, 4, dtype=torch.float64), None
    torch.testing.assert_close(linear(x, w, b), F.linear(x, w, b))  # float64: PyTorch's own
    x32 = torch.randn(2, 7, 4)
    torch.testing.assert_close(linear(x32, w.float(), None), F.linear(x32, w.float()), rtol=1e-6, atol=1e-6)


@needs_onednn
def test_boolean_masks_and_attention_weights_use_the_module_own_forward() -> None:
    attn = torch.nn.MultiheadAttention(16, 2, batch_first=True).eval()
    x = torch.randn(3, 5, 16)
    mask = torch.ones(5, 5, dtype=torch.bool).triu(1)  # True = not allowed (the opposite of SDPA's bool masks)
    with torch.no_grad():
        want, want_w = attn(x, x, x, attn_mask=mask)
        with onednn_kernels(attn):
            got, got_w = attn(x, x, x, attn_mask=mask)
            got_nw = attn(x, x, x, attn_mask=mask.float().masked_fill(mask, float("-inf")), need_weights=False)[0]
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(got_w, want_w)
    torch.testing.assert_close(got_nw, want, rtol=1e-5, atol=1e-6)


def test_switch_turns_the_routing_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_SWITCH, "default")
    module = torch.nn.Linear(4, 3)
    with onednn_kernels(module) as on:
        assert not on
        assert "forward" not in vars(module)


@needs_onednn
def test_nested_blocks_leave_the_outer_routing_in_place() -> None:
    module = torch.nn.Sequential(torch.nn.Linear(4, 3))
    with onednn_kernels(module) as outer:
        with onednn_kernels(module) as inner:
            assert outer and not inner
        assert "forward" in vars(module[0])
    assert "forward" not in vars(module[0])
