"""Worker processes that read spans of a file beside the calling process.

On Linux the workers are forked children (:mod:`multiprocessing`'s pool
with the ``fork`` start method): they start within milliseconds with
dietnet's modules already imported, where a fresh interpreter, as joblib's
loky pool starts, takes about half a second to import numpy and cyvcf2
(see benchmarks/RESULTS.md). Elsewhere (where forking a process that has
loaded system frameworks is unsafe, or impossible) they come from joblib's
loky pool. The pool must be made before the calling process starts any
thread of its own, so that no lock is held by a thread the children do
not have.
"""

from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Callable
from typing import Any


class Job:
    """One call running in a worker."""

    def __init__(self, handle: Any) -> None:
        # a multiprocessing AsyncResult, or a concurrent.futures Future
        self._handle = handle

    def failed(self) -> bool:
        """True once the call has ended with an exception."""
        handle = self._handle
        if hasattr(handle, "successful"):
            return handle.ready() and not handle.successful()
        return handle.done() and handle.exception() is not None

    def result(self) -> Any:
        """Wait for the call's value; raise its exception if it failed."""
        handle = self._handle
        return handle.get() if hasattr(handle, "successful") else handle.result()


class Workers:
    """A pool of ``count`` worker processes, forked where possible."""

    def __init__(self, count: int) -> None:
        self._pool = None
        self._executor = None
        if sys.platform.startswith("linux"):
            self._pool = multiprocessing.get_context("fork").Pool(count)
        else:
            # (imported here: joblib takes about 60 ms to import)
            from joblib.executor import get_memmapping_executor

            self._executor = get_memmapping_executor(count)

    def submit(self, function: Callable, *args: Any, **kwargs: Any) -> Job:
        """Start ``function(*args, **kwargs)`` in a worker."""
        if self._pool is not None:
            return Job(self._pool.apply_async(function, args, kwargs))
        return Job(self._executor.submit(function, *args, **kwargs))

    def close(self) -> None:
        """Let the workers exit once their calls are done."""
        if self._pool is not None:
            self._pool.close()
            self._pool.join()

    def terminate(self) -> None:
        """Stop the workers now, calls running or not."""
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
        else:
            self._executor.terminate(kill_workers=True)
