"""The files a fine-tuning run leaves in its --out directory, and the workers' logs.

out/model.safetensors     final model (harness.models checkpoint), written last by rank 0
out/manifest.json         the manifest every rank returned
out/train_log.jsonl       one JSON object per logged optimiser step (rank 0)
out/checkpoints/          resumable training states (step-NNNNNNNN.pt)
out/logs/rank<R>.log      each worker's log; out/logs/error-rank<R>.txt when it raised
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, TextIO

from harness.io import atomic_write_json, atomic_write_text


class RunFiles:
    def __init__(self, out: str | Path) -> None:
        self.root = Path(out)

    @property
    def model(self) -> Path:
        return self.root / "model.safetensors"

    @property
    def manifest(self) -> Path:
        return self.root / "manifest.json"

    @property
    def train_log(self) -> Path:
        return self.root / "train_log.jsonl"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def rank_log(self, rank: int) -> Path:
        return self.logs / f"rank{rank}.log"

    def error_file(self, rank: int) -> Path:
        return self.logs / f"error-rank{rank}.txt"

    def write_error(self, rank: int, exc: BaseException) -> None:
        message = " ".join(f"{type(exc).__name__}: {exc}".split())
        atomic_write_text(self.error_file(rank), message + "\n")

    def worker_errors(self) -> dict[int, str]:
        """rank -> one-line error, earliest first: the first rank to fail holds the cause, the
        others usually just lost their peer in a collective."""
        paths = sorted(self.logs.glob("error-rank*.txt"), key=lambda p: (p.stat().st_mtime_ns, p.name))
        return {int(p.stem.removeprefix("error-rank")): p.read_text(encoding="utf-8").strip() for p in paths}

    def log_tail(self, lines: int = 5) -> list[str]:
        """The last lines of every worker log, rank by rank."""
        tail: list[str] = []
        for path in sorted(self.logs.glob("rank*.log")):
            text = path.read_text(encoding="utf-8", errors="replace").splitlines()
            tail += [f"{path.stem}: {line}" for line in text[-lines:] if line.strip()]
        return tail

    def append_train_log(self, record: dict[str, Any]) -> None:
        # append-only JSONL: one short line per write, flushed so a reader never sees half a record
        self.train_log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.train_log, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, sort_keys=True) + "\n")

    def read_train_log(self) -> list[dict[str, Any]]:
        if not self.train_log.is_file():
            return []
        records = []
        for line in self.train_log.read_text(encoding="utf-8").splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:  # a line still being written
                break
        return records

    def truncate_train_log(self, step: int) -> None:
        """Keep only the records up to `step` (all of them gone for 0), rewritten atomically."""
        if not self.train_log.is_file():
            return
        kept = [r for r in self.read_train_log() if isinstance(r.get("step"), int) and r["step"] <= step]
        atomic_write_text(self.train_log, "".join(json.dumps(r, sort_keys=True) + "\n" for r in kept))

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        atomic_write_json(self.manifest, manifest)

    def clear_outputs(self) -> None:
        """Remove the previous run's final outputs and error marks before a new launch."""
        for path in (self.model, self.manifest, *self.logs.glob("error-rank*.txt")):
            path.unlink(missing_ok=True)

    def clear_run(self) -> None:
        """A fresh (not resumed) run: also drop old training states, logs and the training log."""
        self.clear_outputs()
        for path in (*self.checkpoints.glob("step-*.pt"), *self.logs.glob("rank*.log"), self.train_log):
            path.unlink(missing_ok=True)


class WorkerLog:
    """Plain line log of one worker, flushed per line so the driver can show its tail on failure."""

    def __init__(self, path: Path, *, rank: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh: TextIO | None = open(path, "a", encoding="utf-8")
        self.rank = rank

    def _write(self, level: str, message: str) -> None:
        if self._fh is None:
            return
        stamp = time.strftime("%H:%M:%S")
        for line in message.rstrip().splitlines() or [""]:
            self._fh.write(f"{stamp} {level} {line}\n")
        self._fh.flush()

    def info(self, message: str) -> None:
        self._write("INFO", message)

    def error(self, message: str) -> None:
        self._write("ERROR", message)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
