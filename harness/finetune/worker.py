"""Entry point of a torchrun worker: `python -m harness.finetune.worker CONFIG.json`.

Runs `train.main` on the config and leaves this rank's manifest beside the logs, so the
driver can check that every rank returned the same one.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from harness.finetune.runlog import RunFiles
from harness.finetune.train import main
from harness.io import atomic_write_json


def run(config_path: str) -> int:
    cfg = json.loads(Path(config_path).read_text(encoding="utf-8"))
    manifest = main(cfg)
    rank = int(os.environ.get("RANK", "0"))
    atomic_write_json(RunFiles(cfg["out"]).logs / f"manifest-rank{rank}.json", manifest)
    return 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1]))
