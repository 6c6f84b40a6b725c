"""MLflow tracking, the optional extra `mlflow` (`pip install -e '.[mlflow]'`).

A run report is logged where MLflow and Databricks users look: one parent run per `pytest suites/`
run or command, one nested run per model role.

    parent    params: engine, seed, data fingerprint, finetune.* (the recipe hash and cache key)
              tags:   bookclip.verdict, gate/<metric> (each gate's outcome), bookclip.version,
                      mlflow.source.git.commit
              files:  bookclip/run.json, bookclip/run.html, bookclip/per_query/<view>.<direction>.json
                      (the per-query ranks, an MLflow table), bookclip/metric_names.json (MLflow name
                      -> report key), and a fine-tune's model and manifest
    <role>    params: spec, fingerprint, identity; metrics: every metric with ci_low/ci_high and,
              for a compared role, delta/<key> with its CI and p-value; a fine-tune's training curve
              per logged step, from rank 0's training log (so each step once, whatever the launcher)

Metric names keep the report's keys, with `@` written `_at_` and any other character MLflow refuses
written `_` (`mlflow_name`); two keys that clean to one name are told apart by `.2`, `.3`, ...
(`mlflow_names`), and `bookclip/metric_names.json` on the parent maps each name back to its key.
Values are the report's floats, unrounded.

It is on when `MLFLOW_TRACKING_URI` is set, with `mlflow = true` under `[tool.bookclip]` or
`--bookclip-mlflow`, and with a command's `--mlflow`. The run's own files are always written first;
a tracking server that cannot be reached costs one warning line and changes no verdict or exit code.
"""

from __future__ import annotations

import math
import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import BookclipError, ConfigError

if TYPE_CHECKING:
    import pandas as pd
    from mlflow.tracking import MlflowClient

    from harness.report.model import RunReport

ARTIFACTS = "bookclip"  # the folder of a run's files in its MLflow artifacts
NAMES = f"{ARTIFACTS}/metric_names.json"  # MLflow metric name -> the report key it was logged from
EXPERIMENT = "bookclip"  # unless MLFLOW_EXPERIMENT_NAME names another
_REFUSED = re.compile(r"[^A-Za-z0-9_\-. /:]")
_BATCH = 1000  # MLflow's log_batch limit on metrics (params and tags: 100)


class TrackingError(BookclipError):
    """MLflow could not be used: not installed, the server is unreachable, or a call failed."""


def wanted(enabled: bool = False, environ: Mapping[str, str] = os.environ) -> bool:
    return enabled or bool(environ.get("MLFLOW_TRACKING_URI"))


def mlflow_name(key: str) -> str:
    """A report key as an MLflow metric, param or tag name."""
    return _REFUSED.sub("_", key.replace("@", "_at_"))


def mlflow_names(keys: Iterable[str]) -> dict[str, str]:
    """Each report key's MLflow name, unique among `keys`: `mlflow_name` is not one to one (`A&B` and
    `A_B` both clean to `A_B`), so of keys that clean to one name the first in sorted order keeps it
    and the others get `.2`, `.3`, ...; else one metric would overwrite the other in MLflow."""
    names: dict[str, str] = {}
    taken: set[str] = set()
    for key in sorted(set(keys)):
        base = mlflow_name(key)
        name, n = base, 1
        while name in taken:
            n += 1
            name = f"{base}.{n}"
        taken.add(name)
        names[key] = name
    return names


def _client() -> MlflowClient:
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise TrackingError(
            "MLflow tracking was asked for but mlflow is not installed: pip install 'bookclip-harness[mlflow]'"
        ) from None
    # bound how long a dead server can hold a finished run: MLflow retries for minutes by default
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")  # bookclip says the run id once
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow

    try:
        uri = mlflow.get_tracking_uri()
        if uri.startswith(("http://", "https://")):
            with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=5):
                pass
        return MlflowClient()
    except (OSError, urllib.error.URLError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TrackingError(f"MLflow tracking server {uri} cannot be reached ({reason})") from None
    except ValueError as exc:  # a malformed URI, e.g. http://[::1
        given = os.environ.get("MLFLOW_TRACKING_URI", "")
        raise TrackingError(f"MLFLOW_TRACKING_URI {given!r} is not a usable tracking URI: {exc}") from None


def _experiment(client: MlflowClient) -> str:
    name = os.environ.get("MLFLOW_EXPERIMENT_NAME") or EXPERIMENT
    found = client.get_experiment_by_name(name)
    return found.experiment_id if found is not None else client.create_experiment(name)


def log_report(
    report: RunReport,
    files: Sequence[Path] = (),
    *,
    train_log: Sequence[Mapping[str, Any]] = (),
    model_files: Sequence[Path] = (),
) -> str:
    """Log `report` (with its written `files`) as a parent run and one nested run per role; a fine-tune
    adds its `train_log` records (rank 0's) to the candidate and its `model_files` to the parent.
    Returns the parent run id; raises TrackingError in one line."""
    try:
        return _log(report, files, train_log, model_files)
    except TrackingError:
        raise
    except Exception as exc:  # noqa: BLE001 -- any failure of the tracking service is one line, never the run's
        message = " ".join(str(exc).split())[:300]
        raise TrackingError(f"MLflow logging failed: {type(exc).__name__}: {message}") from None


def _log(
    report: RunReport, files: Sequence[Path], train_log: Sequence[Mapping[str, Any]], model_files: Sequence[Path]
) -> str:
    from mlflow.entities import Metric, Param

    from harness.report.glance import verdict

    client = _client()
    experiment = _experiment(client)
    now = int(time.time() * 1000)
    version = (report.environment.get("versions") or {}).get("bookclip-harness") or ""
    commit = (report.environment.get("git") or {}).get("commit") or ""
    tags = {
        "bookclip.kind": report.kind,
        "bookclip.run_id": report.run_id,
        "bookclip.version": str(version),
        "bookclip.verdict": verdict(report).outcome or "NO GATES",
        "mlflow.source.git.commit": str(commit),
    }
    names = mlflow_names(
        [key for role in report.metrics.values() for key in role]
        + [key for role in report.comparisons.values() for key in role]
        + [g.metric for g in report.gates]
    )
    tags |= {f"gate/{names[g.metric]}": g.outcome for g in report.gates}
    params = {"engine": report.engine, "seed": report.seed, "data.fingerprint": report.data.get("fingerprint", "")}
    finetune = report.sections.get("finetune") or {}  # the fine-tune's recipe hash, cache key, manifest
    params |= {
        f"finetune.{mlflow_name(str(k))}": v
        for k, v in dict(finetune).items()
        if isinstance(v, (str, int, float, bool)) or v is None
    }
    parent: str = client.create_run(
        experiment, run_name=f"bookclip {report.kind} {report.name or report.run_id}", tags=tags
    ).info.run_id
    _batches(client, parent, params=[Param(k, _param(v)) for k, v in params.items()])
    for path in files:  # under fixed names, whatever the run was saved as: run.json, run.html
        client.log_text(parent, Path(path).read_text(encoding="utf-8"), f"{ARTIFACTS}/run{Path(path).suffix}")
    client.log_dict(parent, {name: key for key, name in sorted(names.items())}, NAMES)
    for path in model_files:
        client.log_artifact(parent, str(path), f"{ARTIFACTS}/model")
    tables: set[str] = set()
    for prefix, entry in report.per_query.items():
        client.log_table(
            parent, data=_ranks_table(entry), artifact_file=f"{ARTIFACTS}/per_query/{_file_name(prefix, tables)}.json"
        )

    for role in report.roles:
        child = client.create_run(
            experiment, run_name=role, tags={"mlflow.parentRunId": parent, "bookclip.role": role}
        ).info.run_id
        model = report.models.get(role, {})
        role_params = {k: model[k] for k in ("spec", "fingerprint", "identity") if model.get(k)}
        metrics: list[Metric] = []
        for key, est in report.metrics.get(role, {}).items():
            name = names[key]
            metrics += _metrics(now, {name: est.value, f"{name}/ci_low": est.ci_low, f"{name}/ci_high": est.ci_high})
        for key, d in report.comparisons.get(role, {}).items():
            name = f"delta/{names[key]}"
            metrics += _metrics(
                now,
                {name: d.delta, f"{name}/ci_low": d.ci_low, f"{name}/ci_high": d.ci_high, f"{name}/p_value": d.p_value},
            )
        if role == "candidate":
            for record in train_log:
                step = record.get("step")
                if isinstance(step, int):
                    metrics += _metrics(
                        now, {f"train/{k}": v for k, v in record.items() if k not in ("step", "total_steps")}, step=step
                    )
        _batches(client, child, params=[Param(k, _param(v)) for k, v in role_params.items()], metrics=metrics)
        client.set_terminated(child)
    client.set_terminated(parent)
    return parent


def _ranks_table(entry: Mapping[str, Any]) -> pd.DataFrame:
    import pandas as pd

    # text as object columns: MLflow's table check reads those (pandas 3 would infer its own str dtype)
    table = pd.DataFrame(
        {
            "item_id": pd.Series(list(entry.get("item_ids", [])), dtype=object),
            "title": pd.Series(list(entry.get("titles", [])), dtype=object),
        }
    )
    for role, ranks in entry.get("ranks", {}).items():
        table[f"rank_{role}"] = pd.Series(list(ranks), dtype="int64")
    return table


def _file_name(prefix: str, taken: set[str]) -> str:
    """A per-query key (`cross:Self Help/image_to_text`) as an artifact file name, unique in `taken`."""
    base = re.sub(r"[^A-Za-z0-9_.-]", "_", prefix.replace("/", "."))
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}.{n}"
    taken.add(name)
    return name


def _metrics(timestamp: int, values: Mapping[str, Any], *, step: int = 0) -> list[Any]:
    from mlflow.entities import Metric

    return [
        Metric(name, float(v), timestamp, step)
        for name, v in values.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    ]


def _param(value: Any) -> str:
    return str(value)[:6000]  # MLflow's limit on a param value


def _batches(client: MlflowClient, run_id: str, *, params: Iterable[Any] = (), metrics: Iterable[Any] = ()) -> None:
    params, metrics = list(params), list(metrics)
    for i in range(0, len(params), 100):
        client.log_batch(run_id, params=params[i : i + 100])
    for i in range(0, len(metrics), _BATCH):
        client.log_batch(run_id, metrics=metrics[i : i + _BATCH])


def fetch_report(reference: str, into: Path) -> Path:
    """`mlflow:<run id>`: the run report logged with that run, downloaded into `into`."""
    run_id = reference.removeprefix("mlflow:").strip()
    if not run_id:
        raise ConfigError("mlflow: needs a run id, as in --against mlflow:0123abcd...")
    client = _client()
    try:
        local = client.download_artifacts(run_id, f"{ARTIFACTS}/run.json", str(into))
    except Exception as exc:  # noqa: BLE001 -- a missing run or artifact is a user error, in one line
        message = " ".join(str(exc).split())[:200]
        raise ConfigError(f"cannot read {ARTIFACTS}/run.json of MLflow run {run_id!r}: {message}") from None
    return Path(local)


def log_if_wanted(
    report: RunReport, files: Sequence[Path], say: Callable[[str], object], *, enabled: bool = False, **extra: Any
) -> str | None:
    """`log_report` when tracking is on (`wanted(enabled)`), a failure said in one warning line instead of
    raised. Without a written JSON file among `files` (a command run without --out), the report is written
    to a temporary one."""
    import tempfile

    if not wanted(enabled):
        return None
    try:
        with tempfile.TemporaryDirectory(prefix="bookclip-mlflow-") as tmp:
            if not any(Path(f).suffix == ".json" for f in files):
                files = [report.write(Path(tmp) / "run.json"), *files]
            run_id = log_report(report, files, **extra)
    except TrackingError as exc:
        say(f"bookclip: warning: not logged to MLflow: {exc}")
        return None
    say(f"bookclip: logged to MLflow run {run_id} (bookclip report --against mlflow:{run_id} compares with it)")
    return run_id
