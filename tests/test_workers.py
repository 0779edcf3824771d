"""Worker processes for spans: forked on Linux, joblib's loky pool elsewhere."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from dietnet_cli import workers
from dietnet_cli.errors import InputError, WorkerError

FORK = pytest.param(
    True,
    id="fork",
    marks=pytest.mark.skipif(
        not sys.platform.startswith("linux"), reason="forked workers are for Linux"
    ),
)
POOLS = [FORK, pytest.param(False, id="loky")]


def add(a: int, b: int = 0) -> tuple[int, int]:
    return a + b, os.getpid()


def refuse(path: str) -> None:
    raise InputError(f"Input file {path} is damaged; fix it.")


def sleep(seconds: float) -> None:
    time.sleep(seconds)


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def terminated() -> None:
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(5)


def unwind(_signal: int, _frame: object) -> None:
    # what dietnet's command line does on SIGTERM
    raise KeyboardInterrupt


def interrupted() -> bool:
    """Whether a Ctrl-C sent to this worker stops it (it should not)."""
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(0.2)
    return False


def alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, ended but not reaped by its
    new parent yet, counts as ended)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_for(job: workers.Job, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not job.done():
        assert time.monotonic() < deadline, "the job did not end"
        time.sleep(0.01)


class TestWorkers:
    def test_forked_on_linux(self):
        pool = workers.Workers(1)
        assert pool.forked == sys.platform.startswith("linux")
        pool.close()

    @pytest.mark.parametrize("fork", POOLS)
    def test_calls_run_in_other_processes(self, fork):
        pool = workers.Workers(2, fork=fork)
        jobs = [pool.submit(add, number, b=10) for number in range(3)]
        results = [job.result() for job in jobs]
        pool.close()
        assert [value for value, _ in results] == [10, 11, 12]
        assert os.getpid() not in {pid for _, pid in results}
        assert not any(job.failed() for job in jobs)

    @pytest.mark.parametrize("fork", POOLS)
    @pytest.mark.parametrize(
        ("call", "error", "message"),
        [
            ((refuse, "in.vcf.gz"), InputError, r"Input file in\.vcf\.gz is damaged"),
            # killed (as the kernel's out-of-memory killer would): no hang
            ((die,), WorkerError, "ended before it finished"),
        ],
        ids=["raises", "killed"],
    )
    def test_failure_is_seen_and_raised(self, fork, call, error, message):
        pool = workers.Workers(1, fork=fork)
        job = pool.submit(*call)
        wait_for(job)
        assert job.failed()
        with pytest.raises(error, match=message):
            job.result()
        pool.terminate()

    @pytest.mark.parametrize("fork", POOLS)
    def test_wait_ends_at_the_first_failure(self, fork):
        pool = workers.Workers(2, fork=fork)
        slow = pool.submit(sleep, 60)
        failing = pool.submit(refuse, "in.vcf.gz")
        started = time.monotonic()
        workers.wait([slow, failing])
        assert time.monotonic() - started < 30
        assert failing.failed()
        assert not slow.done()
        pool.terminate()
        # and when none fails, once all have ended
        pool = workers.Workers(2, fork=fork)
        jobs = [pool.submit(sleep, 0.2), pool.submit(add, 1)]
        workers.wait(jobs)
        assert all(job.done() and not job.failed() for job in jobs)
        pool.close()

    @pytest.mark.parametrize("fork", [FORK])
    def test_a_terminated_worker_ends_at_once(self, fork):
        # A forked worker inherits the command line's SIGTERM handler; it
        # must not unwind the call as the calling process would, but end.
        previous = signal.signal(signal.SIGTERM, unwind)
        try:
            pool = workers.Workers(1, fork=fork)
            job = pool.submit(terminated)
            wait_for(job)
            with pytest.raises(WorkerError, match="ended before it finished"):
                job.result()
            pool.terminate()
        finally:
            signal.signal(signal.SIGTERM, previous)

    @pytest.mark.parametrize("fork", [FORK])
    def test_workers_die_with_the_calling_process(self, fork):
        # However it ends (here killed outright, leaving no time to stop
        # them), its workers do not live on waiting for work.
        script = (
            "import os, signal, time\n"
            "from dietnet_cli import workers\n"
            "pool = workers.Workers(1)\n"
            "print(pool.submit(os.getpid).result(), flush=True)\n"
            "pool.submit(time.sleep, 60)\n"
            "time.sleep(0.5)\n"
            "os.kill(os.getpid(), signal.SIGKILL)\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
        )
        worker = int(done.stdout.split()[0])
        deadline = time.monotonic() + 20
        while alive(worker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(worker)

    @pytest.mark.parametrize("fork", POOLS)
    def test_terminate_stops_a_running_call(self, fork):
        pool = workers.Workers(1, fork=fork)
        job = pool.submit(sleep, 60)
        time.sleep(0.2)  # running
        started = time.monotonic()
        pool.terminate()  # does not wait for the call to end
        assert time.monotonic() - started < 20
        wait_for(job)

    def test_forked_workers_ignore_ctrl_c(self):
        if not sys.platform.startswith("linux"):
            pytest.skip("forked workers are for Linux")
        pool = workers.Workers(1, fork=True)
        assert pool.submit(interrupted).result() is False
        pool.close()
