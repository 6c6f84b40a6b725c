"""Engines: where embeddings and per-query ranks are computed, behind one interface.

- `local`: this process, on its CPU or the model's GPU (harness.evaluate.embed, harness.evaluate.retrieval's
  certified exact ranks).
- `spark-local`, `spark-cluster`: the same functions on Spark executors (harness.evaluate.engines.spark):
  query blocks spread over tasks against the gallery, one column piece of it per Spark job (a single piece
  when it fits the budget), covers and captions embedded with mapInArrow. Ranks are exact by definition
  (harness.evaluate.kernels), so they equal the local engine's given the same embeddings, whatever the
  executors' CPUs, BLAS or GPUs.

Metrics, CIs, tests and reports never know which engine ran: they read the ranks an engine returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from harness.errors import ConfigError

if TYPE_CHECKING:
    from harness.evaluate.embed import Embeddings
    from harness.evaluate.retrieval import DirectionRanks, Matrix

ENGINES = ("local", "spark-local", "spark-cluster")
DEFAULT_ENGINE = "local"


class Engine(Protocol):
    """Embeds a catalogue and ranks queries; `describe()` says where, for the run report."""

    name: str

    def embed(self, model: Any, catalogue: Any, *, template: str, batch_size: int) -> Embeddings: ...

    def retrieval_ranks(
        self,
        images: Matrix,
        texts: Matrix,
        groups: Sequence | np.ndarray,
        *,
        pool_images: Matrix | None = None,
        pool_texts: Matrix | None = None,
        pool_groups: Sequence | np.ndarray | None = None,
        where: str = "view",
    ) -> dict[str, DirectionRanks]: ...

    def describe(self) -> dict[str, Any]: ...


def check_engine(name: str, where: str = "--engine") -> str:
    """The engine name, or a one-line ConfigError listing the engines."""
    if name not in ENGINES:
        raise ConfigError(f"{where}: unknown engine {name!r}; use one of {', '.join(ENGINES)}")
    return name


def get_engine(name: str = DEFAULT_ENGINE, **options: Any) -> Engine:
    """A fresh engine of this name (`options` go to its constructor, e.g. kernel, tile_rows, chunk_bytes,
    device (local), blocks (Spark))."""
    check_engine(name)
    if name == "local":
        from harness.evaluate.engines.local import LocalEngine

        return LocalEngine(**options)
    from harness.evaluate.engines.spark import SparkEngine

    return SparkEngine(name, **options)


__all__ = ["DEFAULT_ENGINE", "ENGINES", "Engine", "check_engine", "get_engine"]
