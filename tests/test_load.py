"""Load on real worker processes: ten tiny runs queued at once from two sessions while the Runs page is redrawn
(the queue limit holds, the page stays responsive, every run ends finished or stopped), and a worker killed
with SIGKILL (the run fails with a reason, keeps its epochs, and the app's supervisor gives its slot to the next
run)."""
import os
import signal
import statistics
import threading
import time

import pytest

from deepclust_core import jobs, store
from deepclust_core.store import states as run_states
from test_app import _navigation_mode, assert_clean, open_page  # noqa: F401 (an autouse fixture)
from test_reliability import leftovers, new_app, vade_config

MAX_JOBS = 2
DEADLINE = 300.0  # seconds for the whole queue; a tiny run takes ~10 s, mostly importing torch


@pytest.fixture
def runs_dir(tmp_path, monkeypatch):
    folder = tmp_path / "runs"
    monkeypatch.setenv("DEEPCLUST_RUNS", str(folder))
    monkeypatch.setenv("DEEPCLUST_MAX_JOBS", str(MAX_JOBS))
    yield folder
    for run in store.list_runs(folder):  # never leave a worker behind
        if run.state in store.ACTIVE_STATES:
            jobs.stop(run.path, grace=0.0, wait=True)


class QueueWatch(threading.Thread):
    """Polls every status file and remembers the most runs ever marked running, and the most live workers."""

    def __init__(self, runs_dir):
        super().__init__(daemon=True)
        self.runs_dir, self.done = runs_dir, threading.Event()
        self.most_running = self.most_alive = self.polls = 0

    def run(self):
        while not self.done.is_set():
            statuses = [run.status for run in store.list_runs(self.runs_dir) if run.state == "running"]
            alive = sum(run_states.pid_alive(s.get("pid"), s.get("pid_start")) for s in statuses)
            self.most_running = max(self.most_running, len(statuses))
            self.most_alive = max(self.most_alive, alive)
            self.polls += 1
            time.sleep(0.05)


def test_ten_runs_from_two_sessions_respect_the_queue_limit_and_all_end(runs_dir, capsys):
    watch = QueueWatch(runs_dir)
    watch.start()
    submitted = {0: [], 1: []}
    errors = []
    start_together = threading.Barrier(2)

    def session(number):
        start_together.wait()
        try:
            for seed in range(number, 10, 2):
                submitted[number].append(jobs.submit(runs_dir, vade_config(random_state=seed)))
        except Exception as exc:  # reported by the assertion below
            errors.append(repr(exc))

    sessions = [threading.Thread(target=session, args=(number,)) for number in (0, 1)]
    for thread in sessions:
        thread.start()
    for thread in sessions:
        thread.join()
    ids = submitted[0] + submitted[1]
    assert errors == [] and len(set(ids)) == 10

    # Students stop a few: the two newest queued runs and one that is training.
    queued = sorted((run for run in store.list_runs(runs_dir) if run.state == "queued"), key=lambda r: r.created)
    to_stop = [run.id for run in queued[-2:]]
    for run_id in to_stop:
        assert jobs.stop(runs_dir / run_id) == "stopped"
    running = [run for run in store.list_runs(runs_dir) if run.state == "running"]
    assert running, "nothing was started"
    stopped_while_running = running[0].id
    jobs.stop(runs_dir / stopped_while_running)  # as the app does: returns at once, a watchdog enforces it

    at = open_page(new_app(), "runs")
    redraws = []
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end:
        # Look before drawing: the last redraw then comes after every run has ended, so it must show the truth.
        drained = not any(run.state in store.ACTIVE_STATES for run in store.list_runs(runs_dir))
        started = time.perf_counter()
        at.run()
        redraws.append(time.perf_counter() - started)
        assert_clean(at)
        if drained:
            break
        time.sleep(0.5)
    watch.done.set()
    watch.join()

    final = {run.id: run for run in store.list_runs(runs_dir)}
    states = {run_id: final[run_id].state for run_id in ids}
    assert set(final) == set(ids)  # none lost, none invented
    assert all(state in ("finished", "stopped") for state in states.values()), states
    assert all(states[run_id] == "stopped" for run_id in to_stop)
    assert states[stopped_while_running] in ("stopped", "finished")  # it may end before it sees the request
    for run_id, state in states.items():
        if state == "finished":
            assert final[run_id].result["acc"] is not None and (runs_dir / run_id / "labels.npz").is_file()
    workers = [(run.status.get("pid"), run.status.get("pid_start")) for run in final.values()]
    while any(run_states.pid_alive(*worker) for worker in workers):  # each exits right after recording its end
        assert time.monotonic() < end + 30, "a worker stayed behind"
        time.sleep(0.1)
    assert watch.most_running <= MAX_JOBS and watch.most_alive <= MAX_JOBS, (watch.most_running, watch.most_alive)
    assert leftovers(runs_dir) == []
    frame = at.dataframe[0].value.set_index("id")
    assert sorted(frame["state"]) == sorted(states.values())  # the page ends showing the truth
    median, slowest = statistics.median(redraws), max(redraws)
    with capsys.disabled():
        print(f"\nload: 10 runs from 2 sessions, DEEPCLUST_MAX_JOBS={MAX_JOBS}: states "
              f"{sorted(states.values())}; at most {watch.most_running} running / {watch.most_alive} live workers "
              f"in {watch.polls} polls; Runs page redrawn {len(redraws)} times while the queue drained: "
              f"median {median:.2f} s, max {slowest:.2f} s")
    assert median < 5.0, redraws  # responsive, on a 2-core machine that is also training two runs


def test_a_killed_worker_fails_with_a_reason_keeps_its_epochs_and_frees_its_slot(runs_dir, monkeypatch):
    monkeypatch.setenv("DEEPCLUST_MAX_JOBS", "1")
    victim = runs_dir / jobs.submit(runs_dir, vade_config(epochs=100_000))
    waiting = runs_dir / jobs.submit(runs_dir, vade_config(random_state=1))
    at = open_page(new_app(), "runs")  # a student has the Runs page open (the app has started)
    end = time.monotonic() + DEADLINE
    while not store.list_snapshots(victim):  # killed once it has results worth keeping
        assert time.monotonic() < end and store.load_run(victim).state == "running"
        time.sleep(0.1)
    pid = run_states.read_status(victim)["pid"]
    os.killpg(pid, signal.SIGKILL)
    while run_states.pid_alive(pid):
        time.sleep(0.05)
    killed = store.load_run(victim)  # a reader sees the death at once, without writing anything
    assert killed.state == "failed" and killed.reason.startswith("worker process died")

    # A killed worker cannot start the next run itself: the app's supervisor thread does, within a few seconds.
    while store.load_run(waiting).state == "queued":
        assert time.monotonic() < end
        time.sleep(0.2)
    assert run_states.read_status(victim)["state"] == "failed"  # recorded on disk by then
    at.run()  # and looks again
    assert_clean(at)
    assert at.dataframe[0].value.set_index("id").loc[victim.name, "reason"].startswith("worker process died")
    assert store.load_run(waiting).state in ("running", "finished")  # its slot went to the queued run
    snapshot = store.load_snapshot(victim, store.list_snapshots(victim)[-1])
    assert snapshot is not None and snapshot["latent"].shape == (300, 2)  # epochs before the kill are kept
    assert any(record["phase"] == "train" for record in store.read_metrics(victim))
    while store.load_run(waiting).state in store.ACTIVE_STATES:
        assert time.monotonic() < end
        time.sleep(0.2)
    assert store.load_run(waiting).state == "finished"
