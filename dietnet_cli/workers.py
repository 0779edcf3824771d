"""Worker processes that read spans of a file beside the calling process.

On Linux the workers are forked children (a ``concurrent.futures`` process
pool with the ``fork`` start method): they start within milliseconds with
dietnet's modules already imported, where a fresh interpreter, as joblib's
loky pool starts, takes about half a second to import numpy and cyvcf2
(see benchmarks/RESULTS.md). Elsewhere (where forking a process that has
loaded system frameworks is unsafe, or impossible) they come from joblib's
loky pool. Either way a worker that dies (killed for memory, say) makes its
call raise rather than hang. The pool must be made before the calling
process starts any thread of its own, so that no lock is held by a thread
the children do not have; arguments are pickled with plain ``pickle`` (no
lambdas). Forked workers die when the thread that started them ends (Linux
ties them to it, so that none outlives the calling process), so the pool
is used from the main thread.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Future, ProcessPoolExecutor
from concurrent.futures import wait as wait_futures
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from dietnet_cli.errors import WorkerError


class Job:
    """One call running in a worker."""

    def __init__(self, future: Future) -> None:
        self._future = future

    def done(self) -> bool:
        """True once the call has ended, one way or the other."""
        return self._future.done()

    def failed(self) -> bool:
        """True once the call has ended with an exception."""
        return self._future.done() and self._future.exception() is not None

    def result(self) -> Any:
        """Wait for the call's value; raise its exception if it failed, and
        :class:`WorkerError` if its worker process died."""
        try:
            return self._future.result()
        except BrokenProcessPool:  # loky's kind derives from it too
            raise WorkerError(
                "A dietnet worker process ended before it finished (killed by "
                "a signal, most often by the system for lack of memory); run "
                "again with fewer --threads or more memory."
            ) from None


def wait(jobs: list[Job]) -> None:
    """Wait until every job has ended, or one has failed."""
    wait_futures([job._future for job in jobs], return_when=FIRST_EXCEPTION)


# prctl's option that sends the caller a signal when its parent ends
_PR_SET_PDEATHSIG = 1


def _set_up_worker(parent: int) -> None:
    # Ctrl-C reaches the whole process group; the calling process stops
    # the workers itself, and they have nothing to say about it. A
    # termination signal ends a worker at once (the calling process's
    # handler, inherited by fork, would unwind the worker's call instead).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # A worker dies with the calling process, however that ends. One the
    # pool had not yet counted when the calling process was stopped (in
    # the middle of starting it) would otherwise wait for work for ever.
    try:
        libc = ctypes.CDLL(None)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux
        return
    if os.getppid() != parent:  # it ended before the request took
        os._exit(1)


class Workers:
    """A pool of ``count`` worker processes.

    ``fork`` chooses forked workers (True) or joblib's loky pool (False);
    by default, forked on Linux.
    """

    def __init__(self, count: int, *, fork: bool | None = None) -> None:
        if fork is None:
            fork = sys.platform.startswith("linux")
        self.forked = fork
        if fork:
            # With fork, the pool starts its processes before its own
            # manager thread.
            self._executor = ProcessPoolExecutor(
                count,
                mp_context=multiprocessing.get_context("fork"),
                initializer=_set_up_worker,
                initargs=(os.getpid(),),
            )
        else:
            # (imported here: joblib takes about 60 ms to import)
            from joblib.executor import get_memmapping_executor

            self._executor = get_memmapping_executor(count)

    def submit(self, function: Callable, *args: Any, **kwargs: Any) -> Job:
        """Start ``function(*args, **kwargs)`` in a worker."""
        return Job(self._executor.submit(function, *args, **kwargs))

    def close(self) -> None:
        """Let the workers exit once their calls are done."""
        if self.forked:
            self._executor.shutdown(wait=True)

    def terminate(self) -> None:
        """Stop the workers now, calls running or not."""
        if not self.forked:
            self._executor.terminate(kill_workers=True)
            return
        executor = self._executor
        if hasattr(executor, "kill_workers"):  # Python 3.14
            executor.kill_workers()
        else:
            # the pool's own table of its processes (concurrent.futures
            # offers no public way to stop a running call before 3.14)
            for process in list((executor._processes or {}).values()):
                process.kill()
        executor.shutdown(wait=True, cancel_futures=True)
