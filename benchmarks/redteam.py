"""A red-team pass over the doors: the CLI (benchmarks/redteam_cases.json), hostile data files, the Python API,
the run store under storage faults (a read-only folder, a small full tmpfs, an immutable run folder, a file in
the folder's place) and every app page on those folders (Streamlit AppTest), plus the peak memory of the
upload path for a decompression bomb. Prints JSON and writes benchmarks/results/redteam.json.

    python -m benchmarks.redteam

A case is *clean* when the door answers with a clear message (a DeepClustError, an exit code it documents, a
page without a traceback) and *lost* when something that existed before is gone or changed (a finished run's
files, its state). Read-only folders need ``chattr +i`` as root (chmod otherwise); the full tmpfs needs root
to mount one (skipped, and said so, when it cannot be mounted).
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Callable, Dict, List

import numpy as np

from benchmarks.common import RESULTS, git_commit

CASES = Path(__file__).resolve().parent / "redteam_cases.json"
ROOT = Path(__file__).resolve().parent.parent
SECRET = "root:x:0:0:SECRET"


class Tally:
    def __init__(self):
        self.groups: Dict[str, Dict[str, int]] = {}
        self.failures: List[str] = []

    def record(self, group: str, name: str, clean: bool, lost: bool = False, detail: str = "") -> None:
        counts = self.groups.setdefault(group, {"tried": 0, "clean": 0, "lost": 0})
        counts["tried"] += 1
        counts["clean"] += bool(clean and not lost)
        counts["lost"] += bool(lost)
        if not clean or lost:
            self.failures.append(f"{group}/{name}: {detail[:300]}")

    def check(self, group: str, name: str, call: Callable[[], object], ok=None) -> None:
        from deepclust_core import DeepClustError

        try:
            value = call()
            clean = ok(value) if ok else True
            detail = repr(value)[:200]
        except DeepClustError as exc:
            clean, detail = len(str(exc)) < 600 and SECRET not in str(exc), str(exc)
        except Exception as exc:  # anything else is a traceback a user would see
            clean, detail = False, f"{type(exc).__name__}: {exc}"
        self.record(group, name, clean, detail=detail)


@contextlib.contextmanager
def read_only(folder: Path):
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield "chmod"
        finally:
            folder.chmod(0o755)
        return
    subprocess.run(["chattr", "+i", str(folder)], check=True)
    try:
        yield "chattr +i"
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)


@contextlib.contextmanager
def full_tmpfs(size_kb: int = 1024):
    """A small tmpfs, filled to the last byte; None when it cannot be mounted."""
    mount = Path(tempfile.mkdtemp(prefix="deepclust-full-"))
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(mount)],
                      capture_output=True).returncode != 0:
        mount.rmdir()
        yield None
        return
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)
        mount.rmdir()


def fill(folder: Path) -> None:
    with contextlib.suppress(OSError), open(folder / ".filler", "wb", buffering=0) as stream:
        while True:
            stream.write(b"\0" * 4096)


def fingerprint(run_dir: Path) -> str:
    digest = hashlib.sha1()
    for path in sorted(p for p in run_dir.rglob("*") if p.is_file() and p.name != "status.json"):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()


def npz_bytes(**arrays) -> bytes:
    """The bytes of an .npz file holding ``arrays``."""
    stream = io.BytesIO()
    np.savez(stream, **arrays)
    return stream.getvalue()


def npy_bytes(array) -> bytes:
    """The bytes of an .npy file holding ``array``."""
    stream = io.BytesIO()
    np.save(stream, array)
    return stream.getvalue()


def bomb_bytes(rows: int = 40_000, cols: int = 10_000, data_bytes: int = None) -> bytes:
    """A small .npz whose x.npy header says ``rows`` × ``cols`` float32 (1.6 GB for the default), followed by
    ``data_bytes`` of zeros (all of them by default: the real bomb; a few MB are enough for a check that reads
    the header only, as the tests do)."""
    stream = io.BytesIO()
    size = rows * cols * 4 if data_bytes is None else min(rows * cols * 4, data_bytes)
    with zipfile.ZipFile(stream, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("x.npy", "w", force_zip64=True) as member:
            header = io.BytesIO()
            np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False,
                                                          "shape": (rows, cols)})
            member.write(header.getvalue())
            zeros = bytes(1 << 22)
            for _ in range(size // len(zeros)):
                member.write(zeros)
    return stream.getvalue()


# --------------------------------------------------------------------------------------------- the doors

def cli_cases(tally: Tally, scratch: Path) -> None:
    from deepclust_core.cli import main as cli_main

    ro, plain = scratch / "ro", scratch / "plain"
    ro.mkdir()
    plain.write_text("x")
    with read_only(ro):
        for index, case in enumerate(json.loads(CASES.read_text())["cli"]):
            args = [a.replace("{tmp}", str(scratch)).replace("{ro}", str(ro)).replace("{file}", str(plain))
                    for a in case["args"]]
            out, err = io.StringIO(), io.StringIO()
            try:
                with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                    code = cli_main(args)
                text = out.getvalue() + err.getvalue()
                clean = code in case["codes"] and case["says"] in text and "Traceback" not in text
                detail = f"exit {code}: {text[-300:]}"
            except SystemExit as exc:  # argparse's own errors exit 2 with a usage line
                clean, detail = exc.code in case["codes"], f"SystemExit {exc.code}"
            except Exception as exc:
                clean, detail = False, f"{type(exc).__name__}: {exc}"
            tally.record("cli", f"{index}:{' '.join(args[:6])}", clean, detail=detail)


def file_cases(tally: Tally, scratch: Path) -> None:
    from deepclust_core.datasets import read_user_file, store_user_file

    folder = scratch / "files"
    folder.mkdir()
    rng = np.random.default_rng(0)

    npz, npy = npz_bytes, npy_bytes

    header_lie = io.BytesIO()
    np.lib.format.write_array_header_1_0(header_lie, {"descr": "<f8", "fortran_order": False, "shape": (10**6, 10**6)})
    files = {
        "empty.csv": b"", "binary.csv": bytes(range(256)) * 4, "text-cell.csv": f"1,2\n3,{SECRET}\n".encode(),
        "huge-cell.csv": b"1,2\n3," + b"A" * 3_000_000 + b"\n", "header-secret.csv": f"a,{SECRET}\n1,2\n3,4\n".encode(),
        "ragged.csv": b"1,2\n3,4,5\n", "nan.csv": b"1,2\nnan,3\n", "inf.csv": b"1,2\ninf,3\n",
        "latin1.csv": "1,2\n3,\xe9\n".encode("latin-1"), "semicolon.csv": b"a;b\n1;2\n3;4\n",
        "one-row.csv": b"1,2\n", "wide.csv": (",".join(["1"] * 5000) + "\n") .encode() * 3,
        "lie.npy": header_lie.getvalue() + b"\0" * 64, "truncated.npz": npz(x=rng.random((50, 3)))[:200],
        "pickle.npy": npy(np.array([{"a": 1}], dtype=object)), "object.npz": npz(x=np.array([None, 1], dtype=object)),
        "no-x.npz": npz(data=rng.random((10, 2))), "complex.npy": npy(np.ones((5, 2), dtype=complex)),
        "strings.npy": npy(np.array([["a", "b"], ["c", "d"]])), "3d.npy": npy(rng.random((5, 2, 2))),
        "1d.npy": npy(rng.random(5)), "nan.npz": npz(x=np.array([[np.nan, 1.0], [2.0, 3.0]])),
        "labels-short.npz": npz(x=rng.random((10, 2)), y=np.arange(3)), "zip-not-npz.npz": b"PK\x05\x06" + b"\0" * 18,
        "ok.npz": npz(x=rng.random((20, 2)), y=rng.integers(0, 2, 20)), "ok.csv": b"1,2\n3,4\n5,6\n",
        "bomb-small.npz": None,
    }
    files["bomb-small.npz"] = bomb_bytes(20_000, 10_000)
    for name, content in files.items():
        tally.check("files", f"upload {name}", lambda: store_user_file(name, content, folder, max_bytes=50_000_000))
        path = folder / f"direct-{name}"
        path.write_bytes(content)
        tally.check("files", f"read {name}", lambda: read_user_file(path))
    link = folder / "passwd.csv"
    link.symlink_to("/etc/passwd")
    tally.check("files", "symlink to /etc/passwd", lambda: read_user_file(link))
    for name in ("../../etc/passwd.csv", "a\0b.csv", "CON.csv", "x" * 500 + ".csv", ".csv", "..npz"):
        tally.check("files", f"name {name[:30]!r}", lambda: store_user_file(name, b"1,2\n3,4\n", folder, max_bytes=10**6),
                    ok=lambda stored: Path(stored).parent == folder)


def api_cases(tally: Tally) -> None:
    from deepclust_core import create_method, load_dataset

    x = np.random.default_rng(0).normal(size=(60, 2)).astype(np.float32)
    bad = [{"random_state": 2**32}, {"random_state": 2**64}, {"random_state": -1}, {"hidden_dims": 8},
           {"hidden_dims": "8,8"}, {"hidden_dims": (10**8,)}, {"hidden_dims": ()}, {"n_clusters": 0},
           {"n_clusters": 1000}, {"epochs": 0}, {"lr": float("nan")}, {"n_neighbors": 60}, {"latent_dim": 0},
           {"batch_size": "big"}, {"lam": -1.0}]
    for params in bad:
        tally.check("api", f"dgg {params}", lambda: create_method("dgg", **{"epochs": 1, "pretrain_epochs": 1,
                                                                              **params}).fit(x))
    for call, name in ((lambda: load_dataset("file", path=5), "file path=5"),
                       (lambda: load_dataset("file", path=None), "file path=None"),
                       (lambda: load_dataset("moons", n_samples=-5), "moons n=-5"),
                       (lambda: load_dataset("moons", bogus=1), "moons bogus option"),
                       (lambda: create_method("nope"), "unknown method")):
        tally.check("api", name, call)


def storage_cases(tally: Tally, scratch: Path, finished: Path) -> Dict[str, str]:
    from deepclust_core import jobs, store
    from deepclust_core.cli import main as cli_main

    config = {"dataset": "moons", "dataset_options": {"n_samples": 60}, "method": "kmeans", "params": {}}
    notes = {}

    def exercise(kind: str, runs: Path, expect_delete: bool) -> None:
        run = runs / finished.name
        before = fingerprint(run) if run.is_dir() else None
        tally.check("storage", f"{kind}: storage_problem", lambda: store.storage_problem(runs),
                    ok=lambda problem: problem is not None)
        tally.check("storage", f"{kind}: startup", lambda: jobs.startup(runs, supervise=False))
        tally.check("storage", f"{kind}: list_runs", lambda: store.list_runs(runs))
        tally.check("storage", f"{kind}: submit", lambda: jobs.submit(runs, config))
        tally.check("storage", f"{kind}: reconcile", lambda: store.reconcile(runs))
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = cli_main(["train", "--dataset", "moons", "--method", "kmeans", "--n-samples", "60",
                             "--runs-dir", str(runs)])
        tally.record("storage", f"{kind}: cli train --runs-dir", code == 2 and "Traceback" not in err.getvalue(),
                     detail=err.getvalue())
        if before is not None:
            if expect_delete:
                tally.check("storage", f"{kind}: delete frees space", lambda: store.delete_run(runs, finished.name),
                            ok=lambda _: not run.exists())
            else:
                tally.check("storage", f"{kind}: delete refused", lambda: store.delete_run(runs, finished.name))
                lost = not run.is_dir() or fingerprint(run) != before or store.load_run(run).state != "finished"
                tally.record("storage", f"{kind}: finished run intact", True, lost=lost)
        app_pages(tally, kind, runs, finished.name if run.is_dir() else None)

    ro = scratch / "ro-runs"
    ro.mkdir()
    shutil.copytree(finished, ro / finished.name)
    with read_only(ro) as how:
        notes["read-only"] = how
        exercise("read-only", ro, expect_delete=False)
    immutable = scratch / "immutable-run"
    immutable.mkdir()
    shutil.copytree(finished, immutable / finished.name)
    with read_only(immutable / finished.name) as how:
        notes["immutable run folder"] = how
        tally.check("storage", "immutable run: delete", lambda: store.delete_run(immutable, finished.name))
        tally.check("storage", "immutable run: list", lambda: store.list_runs(immutable),
                    ok=lambda runs: runs[0].state == "finished")
        tally.record("storage", "immutable run: intact", True,
                     lost=fingerprint(immutable / finished.name) != fingerprint(finished))
        app_pages(tally, "immutable run", immutable, finished.name)
    plain = scratch / "a-file"
    plain.write_text("not a folder")
    exercise("file in place", plain, expect_delete=False)
    with full_tmpfs() as mount:
        if mount is None:
            notes["full tmpfs"] = "skipped: cannot mount a tmpfs here"
        else:
            notes["full tmpfs"] = "mounted 1 MB tmpfs, filled"
            shutil.copytree(finished, mount / finished.name, ignore=shutil.ignore_patterns("snapshots", "*.npz"))
            dead = store.create_run(mount, config)
            from deepclust_core.store import states
            states.mark_scheduled(dead.path)
            states.record_worker(dead.path, 999_999)
            fill(mount)
            exercise("full tmpfs", mount, expect_delete=True)
            tally.check("storage", "full tmpfs: dead worker reported failed", lambda: store.load_run(dead.path),
                        ok=lambda run: run.state == "failed")
    return notes


def app_pages(tally: Tally, kind: str, runs: Path, run_id) -> None:
    from streamlit.testing.v1 import AppTest

    from tests.test_app import PAGES

    os.environ["DEEPCLUST_RUNS"] = str(runs)
    for page in PAGES:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
        if run_id:
            at.query_params["run"] = run_id
        try:
            at.run()
            if page != "train":
                at.switch_page(f"pages/{page}.py").run()
            unexpected = [e.value for e in at.exception] + [e.value for e in at.error if "Unexpected" in e.value]
            clean, detail = not unexpected, "; ".join(unexpected)
        except Exception as exc:
            clean, detail = False, f"{type(exc).__name__}: {exc}"
        tally.record("app", f"{kind}: {page}", clean, detail=detail)
    os.environ.pop("DEEPCLUST_RUNS", None)


def bomb_memory(scratch: Path) -> Dict[str, float]:
    """Peak resident memory (MB) of a process that takes the bomb through the upload path (store_user_file),
    next to one that only imports the same modules."""
    bomb = scratch / "bomb.npz"
    bomb.write_bytes(bomb_bytes())
    code = ("import resource, sys; from pathlib import Path; from deepclust_core.datasets import store_user_file\n"
            "from deepclust_core import InputError\n"
            "content = Path(sys.argv[1]).read_bytes()\n"
            "try:\n    store_user_file('bomb.npz', content, sys.argv[2], max_bytes=200_000_000); print('accepted')\n"
            "except InputError as e: print('refused:', e)\n"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)")
    baseline = ("import resource; from deepclust_core.datasets import store_user_file\n"
                "print('-'); print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code, str(bomb), str(scratch / "uploads")], capture_output=True,
                         text=True, env=env).stdout.splitlines()
    base = subprocess.run([sys.executable, "-c", baseline], capture_output=True, text=True, env=env).stdout.splitlines()
    return {"bomb_bytes": bomb.stat().st_size, "decompressed_bytes": 40_000 * 10_000 * 4, "answer": out[0],
            "peak_mb": float(out[-1]), "baseline_peak_mb": float(base[-1])}


def main() -> int:
    started = time.time()
    tally = Tally()
    scratch = Path(tempfile.mkdtemp(prefix="deepclust-redteam-"))
    os.environ["DEEPCLUST_CACHE"] = str(scratch / "cache")
    os.environ["DEEPCLUST_OFFLINE"] = "1"
    from deepclust_core import store

    finished = store.create_run(scratch / "source", {"dataset": "moons", "dataset_options": {"n_samples": 200},
                                                     "method": "dgg", "params": {
                                                         "hidden_dims": (8, 8), "latent_dim": 2, "epochs": 2,
                                                         "pretrain_epochs": 2, "gmm_restarts": 1, "n_neighbors": 5,
                                                         "classifier_pretrain_epochs": 2}}).path
    store.execute_run(finished)
    try:
        cli_cases(tally, scratch)
        file_cases(tally, scratch)
        api_cases(tally)
        notes = storage_cases(tally, scratch, finished)
        memory = bomb_memory(scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    total = {key: sum(group[key] for group in tally.groups.values()) for key in ("tried", "clean", "lost")}
    report = {"command": "python -m benchmarks.redteam", "commit": git_commit(), "seconds": round(time.time() - started, 1),
              "total": total, "groups": tally.groups, "not_clean": tally.failures, "storage_faults": notes,
              "bomb_upload": memory}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "redteam.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))
    return 0 if total["clean"] == total["tried"] and not total["lost"] else 1


if __name__ == "__main__":
    sys.exit(main())
