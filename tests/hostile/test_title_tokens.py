"""Crafted titles through a catalogue: the titles that reach the text tower get exactly the token ids
open_clip's own tokenizer gives them (entities, line breaks, control characters, ANSI escapes, mojibake,
fullwidth text, special-token strings), so a title cannot smuggle a different tokenisation past it."""

from __future__ import annotations

import numpy as np
import torch

from harness.data import load_catalogue

CRAFTED = [
    "Fish &amp; Chips &lt;b&gt;",
    "AT&T: a history",
    "two\r\nlines",
    "bell\x07 and \x1b[31mred\x1b[0m",
    "âœ” No problems",
    "ＬＯＵＤ　ＮＯＩＳＥＳ",
    "ﬂubberiﬁc “curly”",
    "a <start_of_text> then <end_of_text> inside",
    "C\x80\x9f1 controls",
    "The Power of Nowww",
    "word " * 60,
]


def test_crafted_titles_get_open_clips_token_ids_and_embeddings(catalogue_dir, fresh_cache) -> None:
    from open_clip.tokenizer import SimpleTokenizer

    from harness.evaluate.embed import embed
    from harness.models import load

    catalogue, _ = load_catalogue(catalogue_dir(titles=CRAFTED) / "Medical" / "Medical.csv")
    titles = catalogue.titles
    assert len(titles) == len(CRAFTED)  # the loader may clean a title's spaces; it keeps every one of these

    model = load("tiny:vit-xs")
    reference = SimpleTokenizer(context_length=model.context_length)
    ids, truncated = model.tokenizer.tokenize(titles)
    for row, title in zip(ids.tolist(), titles, strict=True):
        tokens = [reference.sot_token_id, *reference.encode(title), reference.eot_token_id]
        if len(tokens) > model.context_length:
            tokens = [*tokens[: model.context_length - 1], reference.eot_token_id]
        assert row[: len(tokens)] == tokens and not any(row[len(tokens) :]), title
    assert truncated == 1  # the 60-word title

    emb = embed(model, catalogue)
    with torch.inference_mode():
        direct = model.module.encode_text(ids)
    direct = torch.nn.functional.normalize(direct.float(), dim=-1).numpy()
    np.testing.assert_allclose(emb.texts, direct, atol=1e-6)
