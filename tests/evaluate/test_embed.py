from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from harness.errors import ConfigError, EvaluationError
from harness.evaluate.embed import _checksum, embed, embed_with_stats, embedding_cache_dir, encode_texts
from harness.evaluate.templates import render_captions


def test_embeddings_are_unit_float32_rows_in_catalogue_order(tiny_model, small_catalogue, fresh_cache):
    emb = embed(tiny_model, small_catalogue, batch_size=16)
    assert emb.images.dtype == np.float32 and emb.texts.dtype == np.float32
    assert emb.images.shape == (len(small_catalogue), tiny_model.embed_dim) == emb.texts.shape
    np.testing.assert_allclose(np.linalg.norm(emb.images, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(emb.texts, axis=1), 1.0, atol=1e-5)
    assert emb.book_ids.tolist() == small_catalogue.frame["book_id"].tolist()
    assert emb.group_ids.tolist() == small_catalogue.frame["group_id"].tolist()


def test_batched_embeddings_equal_the_model_one_item_at_a_time(tiny_model, small_catalogue, fresh_cache):
    """The decoded-cache path gives what the model's own PIL preprocess and tokenizer give."""
    emb = embed(tiny_model, small_catalogue, batch_size=7)
    with torch.inference_mode():
        for i in (0, 5, len(small_catalogue) - 1):
            x = tiny_model.preprocess(small_catalogue.open_image(i)).unsqueeze(0)
            img = torch.nn.functional.normalize(tiny_model.encode_images(x), dim=-1)[0].numpy()
            txt = torch.nn.functional.normalize(tiny_model.encode_texts([small_catalogue.titles[i]]), dim=-1)[0].numpy()
            np.testing.assert_allclose(emb.images[i], img, atol=2e-3)
            np.testing.assert_allclose(emb.texts[i], txt, atol=1e-5)


def test_second_call_is_served_from_the_cache(tiny_model, small_catalogue, fresh_cache):
    first, stats1 = embed_with_stats(tiny_model, small_catalogue)
    second, stats2 = embed_with_stats(tiny_model, small_catalogue)
    assert (stats1.images, stats1.texts) == ("built", "built")
    assert (stats2.images, stats2.texts) == ("hit", "hit")
    assert np.array_equal(first.images, second.images) and np.array_equal(first.texts, second.texts)


def test_changed_weights_are_never_served_a_stale_cache(tiny_model, small_catalogue, fresh_cache):
    from harness.models import load

    base = embed(tiny_model, small_catalogue)
    other_model = load("tiny:vit-xs@1")  # same architecture, different weights
    other, stats = embed_with_stats(other_model, small_catalogue)
    assert (stats.images, stats.texts) == ("built", "built")
    assert not np.allclose(base.images, other.images)
    assert embed_with_stats(tiny_model, small_catalogue)[1].images == "hit"  # both entries are kept


def test_weights_edited_in_place_are_never_served_a_stale_cache(small_catalogue, fresh_cache):
    from harness.models import load

    model = load("tiny:vit-xs")  # its own instance: this test edits the weights
    before = embed(model, small_catalogue)
    loaded_fingerprint = model.fingerprint
    with torch.no_grad():
        model.module.visual.proj.mul_(-1.0)  # an in-place edit, as an optimiser step would make
    after, stats = embed_with_stats(model, small_catalogue)
    assert model.fingerprint != loaded_fingerprint
    assert (stats.images, stats.texts) == ("built", "built")  # keys hold the whole model's fingerprint
    assert np.allclose(after.images, -before.images, atol=1e-5)  # unit rows, projection negated
    assert np.allclose(after.texts, before.texts, atol=1e-6)


def test_template_change_rebuilds_texts_only(tiny_model, small_catalogue, fresh_cache):
    plain = embed(tiny_model, small_catalogue)
    with_author, stats = embed_with_stats(tiny_model, small_catalogue, template="{title} by {author}")
    assert (stats.images, stats.texts) == ("hit", "built")
    assert np.array_equal(plain.images, with_author.images)
    assert not np.allclose(plain.texts, with_author.texts)
    assert with_author.template == "{title} by {author}"


def _only_entry(kind: str):
    entries = sorted(embedding_cache_dir().glob(f"{kind}-*.npz"))
    assert len(entries) == 1
    return entries[0]


def test_corrupt_cache_file_is_detected_and_rebuilt(tiny_model, small_catalogue, fresh_cache):
    good = embed(tiny_model, small_catalogue)
    path = _only_entry("texts")
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # one flipped byte inside the stored array
    path.write_bytes(bytes(raw))
    again, stats = embed_with_stats(tiny_model, small_catalogue)
    assert stats.texts.startswith("rebuilt")
    assert stats.images == "hit"
    assert np.array_equal(again.texts, good.texts)
    assert embed_with_stats(tiny_model, small_catalogue)[1].texts == "hit"


def test_tampered_cache_values_fail_the_checksum(tiny_model, small_catalogue, fresh_cache):
    good = embed(tiny_model, small_catalogue)
    path = _only_entry("images")
    with np.load(path) as data:
        stored = {k: data[k] for k in data.files}
    stored["embeddings"] = stored["embeddings"] * 0.5  # a well-formed file holding the wrong numbers
    buffer = io.BytesIO()
    np.savez(buffer, **stored)
    path.write_bytes(buffer.getvalue())
    again, stats = embed_with_stats(tiny_model, small_catalogue)
    assert stats.images == "rebuilt: checksum mismatch"
    assert np.array_equal(again.images, good.images)


def test_checksum_covers_the_key():
    a = np.ones((2, 3), np.float32)
    assert _checksum("k1", a, 0) != _checksum("k2", a, 0)
    assert _checksum("k1", a, 0) != _checksum("k1", a, 1)


def test_unknown_placeholder_fails_before_any_work(small_catalogue):
    with pytest.raises(ConfigError, match=r"unknown placeholder.*\{isbn\}") as info:
        embed(None, small_catalogue, template="{title} ({isbn})")  # no model needed to reject it
    assert "\n" not in str(info.value)


def test_templates_render_each_row(small_catalogue):
    frame = small_catalogue.frame
    captions = render_captions("a {category} book titled {title}", frame)
    assert captions[0] == f"a {frame['category'][0]} book titled {frame['title'][0]}".replace("-", " ")
    by_author = render_captions("title-by-author", frame)
    assert all(c.startswith(t) for c, t in zip(by_author, frame["title"], strict=True))
    assert all(not c.endswith(" ") and "  " not in c for c in by_author)


def test_empty_catalogue_is_an_evaluation_error(tiny_model, small_catalogue):
    with pytest.raises(EvaluationError, match="empty"):
        embed(tiny_model, small_catalogue.subset([]))


def test_select_by_book_id_and_missing_ids(tiny_model, small_catalogue, fresh_cache):
    emb = embed(tiny_model, small_catalogue)
    ids = emb.book_ids[[3, 1]].tolist()
    picked = emb.select(ids)
    assert picked.book_ids.tolist() == ids
    assert np.array_equal(picked.images, emb.images[[3, 1]])
    with pytest.raises(EvaluationError, match="not in the embedded catalogue"):
        emb.select(["no-such-book"])


def test_encode_texts_is_unit_norm(tiny_model):
    out = encode_texts(tiny_model, ["a book about Medical", "a book about Biography"])
    assert out.shape == (2, tiny_model.embed_dim)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)


def test_probe_texts_are_cached_by_model_and_every_text(tiny_model, fresh_cache):
    from harness.evaluate.embed import cached_texts

    titles = ["The Power of Nowww", "the power of now", "Lord of Rings"]
    first = cached_texts(tiny_model, titles)
    np.testing.assert_array_equal(first, encode_texts(tiny_model, titles))
    entries = {p: p.stat().st_mtime_ns for p in embedding_cache_dir().glob("texts-*.npz")}
    assert len(entries) == 1
    np.testing.assert_array_equal(cached_texts(tiny_model, titles), first)  # read back, not rewritten
    assert {p: p.stat().st_mtime_ns for p in embedding_cache_dir().glob("texts-*.npz")} == entries
    cached_texts(tiny_model, titles[:2])  # other texts: another entry
    assert len(list(embedding_cache_dir().glob("texts-*.npz"))) == 2
