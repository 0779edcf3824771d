"""Worker processes for spans: forked on Linux, joblib's loky pool elsewhere."""

from __future__ import annotations

import os
import sys
import time

import pytest

from dietnet_cli import workers
from dietnet_cli.errors import InputError


def add(a: int, b: int = 0) -> tuple[int, int]:
    return a + b, os.getpid()


def refuse(path: str) -> None:
    raise InputError(f"Input file {path} is damaged; fix it.")


def sleep(seconds: float) -> None:
    time.sleep(seconds)


def wait_for(job: workers.Job, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not job.failed():
        assert time.monotonic() < deadline, "the job did not fail"
        time.sleep(0.01)


@pytest.fixture(params=["linux", "other"])
def platform(request, monkeypatch):
    if not sys.platform.startswith("linux"):
        pytest.skip("forked workers are for Linux")
    monkeypatch.setattr(workers.sys, "platform", request.param)
    return request.param


class TestWorkers:
    def test_calls_run_in_other_processes(self, platform):
        pool = workers.Workers(2)
        jobs = [pool.submit(add, number, b=10) for number in range(3)]
        results = [job.result() for job in jobs]
        pool.close()
        assert [value for value, _ in results] == [10, 11, 12]
        assert os.getpid() not in {pid for _, pid in results}
        assert not any(job.failed() for job in jobs)

    def test_forked_on_linux(self, platform):
        pool = workers.Workers(1)
        assert (pool._pool is not None) == (platform == "linux")
        pool.terminate()

    def test_failure_is_seen_and_raised(self, platform):
        pool = workers.Workers(1)
        job = pool.submit(refuse, "in.vcf.gz")
        wait_for(job)
        with pytest.raises(InputError, match=r"Input file in\.vcf\.gz is damaged"):
            job.result()
        pool.terminate()

    def test_terminate_stops_a_running_call(self, platform):
        pool = workers.Workers(1)
        job = pool.submit(sleep, 60)
        started = time.monotonic()
        pool.terminate()  # does not wait for the call to end
        assert time.monotonic() - started < 20
        assert not job.failed() or platform == "other"  # loky may mark it failed
