"""Shared plumbing: run a training configuration like the CLI does, and record results with the exact
command, git commit, machine and wall time. Results are produced by running, never typed in."""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, Iterable, List, Sequence

from deepclust_core.bench import machine
from deepclust_core.config import method_specs, resolve_params
from deepclust_core.metrics import MIXTURE_DIAGNOSTICS, mean_std
from deepclust_core.params import coerce_value
from deepclust_core import store
from deepclust_core.compare import compare_executor
from deepclust_core.store import read_metrics, run_in_process
from deepclust_core.sweep import InProcess, run_configs

RESULTS = Path(__file__).resolve().parent / "results"


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
                             cwd=Path(__file__).resolve().parent)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, cwd=Path(__file__).resolve().parent).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


COMMIT_AT_START = git_commit()  # the code that ran: later commits during a long benchmark do not count
# What a benchmark row keeps of a run's result.json.
RESULT_KEYS = ("acc", "nmi", "ari", "seconds", "state", "reason", "init_scores", "model_start_scores",
               "graph_cross_fraction", "graph_seconds", "pretrain_cached") + MIXTURE_DIAGNOSTICS


def train(dataset: str, method: str, dataset_options: Dict, params: Dict, runs_dir: str = None) -> Dict:
    """One run through the same path as `python -m deepclust_core train` (recipe, then overrides)."""
    config = {"dataset": dataset, "dataset_options": dataset_options, "method": method,
              "params": resolve_params(dataset, method, params)}
    result = run_config(config, runs_dir)
    result["params"] = config["params"]
    return result


def run_config(config: Dict, runs_dir: str = None) -> Dict:
    """Train one run configuration through the executor seam and return its result.json (with its state and
    reason): in this process by default, exactly as ``train`` does; on the Ray cluster that
    ``$DEEPCLUST_RAY_ADDRESS`` / ``$RAY_ADDRESS`` names when one is set (the run streams back into a local run
    folder, under ``runs_dir`` or a temporary one)."""
    executor = compare_executor()
    if isinstance(executor, InProcess):
        return run_in_process(config, runs_dir)
    executor.check()
    with tempfile.TemporaryDirectory(prefix="deepclust-bench-") as scratch:
        (folder,) = run_configs(executor, runs_dir or scratch, [config])
        run = store.load_run(folder)
    result = dict(run.result or {})
    result.setdefault("state", run.state)
    result.setdefault("reason", run.reason)
    if runs_dir:
        result["run_dir"] = str(folder)
    return result


def curve_of(result: Dict, keep: Sequence[str] = ("epoch", "acc", "nmi", "loss")) -> List[Dict]:
    """Per-epoch values (``keep``) of the training phase, from the run's metrics.jsonl (needs ``run_dir``)."""
    if not result.get("run_dir"):
        return []
    return [{k: r.get(k) for k in keep} for r in read_metrics(result["run_dir"]) if r.get("phase") == "train"]


def summarise(values: Iterable[float]) -> Dict:
    """Mean ± sample std (ddof = 1) of the values given, failed runs (None) left out."""
    return mean_std(values)


def record(name: str, figures: Dict, started: float) -> Dict:
    payload = {"name": name, "command": " ".join([Path(sys.executable).name, "-m", f"benchmarks.{name}",
                                                   *sys.argv[1:]]),
               "git_commit": COMMIT_AT_START, "machine": machine(), "wall_seconds": time.time() - started,
               "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **figures}
    RESULTS.mkdir(parents=True, exist_ok=True)
    suffix = figures.get("tag")
    target = RESULTS / (f"{name}-{suffix}.json" if suffix else f"{name}.json")
    target.write_text(json.dumps(payload, indent=2, default=str))
    print(json.dumps(payload, default=str))
    return payload


def overrides(pairs: Iterable[str], method: str) -> Dict:
    """``--set name=value`` pairs that ``method`` accepts, converted to their declared types."""
    specs = method_specs(method)
    params = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        if name in specs:
            params[name] = coerce_value(specs[name], value)
    return params


def seeds_arg(text: str) -> List[int]:
    return [int(s) for s in text.split(",") if s.strip()]
