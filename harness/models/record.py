"""What a run report records of a model: the one function every command and the suites use."""

from __future__ import annotations


def model_record(model: object) -> dict[str, str]:
    """The model's spec, weights fingerprint and `identity` (weights + architecture config + preprocessing +
    tokenizer, ClipModel.identity: what the embedding cache is keyed by). A stand-in without an identity is
    recorded without one."""
    record = {"spec": str(getattr(model, "spec", "")), "fingerprint": str(getattr(model, "fingerprint", ""))}
    identity = getattr(model, "identity", None)
    if isinstance(identity, str) and identity:
        record["identity"] = identity
    return record
