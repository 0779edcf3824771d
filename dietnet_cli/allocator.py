"""Keep freed heap memory in the process instead of returning it at once.

By default glibc's malloc serves every request above a threshold with fresh
``mmap`` pages and hands the freed top of its heap back to the kernel. The
temporaries of a training step or of a block of variants (a batch of 64 x
315,345 float32 is 80 MB) then come back as new pages each time, and the
page faults cost more than the arithmetic: turning a batch of int8
genotypes into the network's input takes 115 ms that way, 41 ms with the
pages kept. Raising both thresholds keeps the pages, so the process holds
on to the memory of its largest working set, which is its peak RSS anyway.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

logger = logging.getLogger(__name__)

# mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# Requests above this still get their own mapping, returned when freed.
_KEEP_BYTES = 1 << 30


def keep_freed_memory() -> bool:
    """Tell glibc's malloc to reuse freed memory; False where it is not glibc."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):  # not glibc (macOS, musl without it)
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    done = mallopt(_M_TRIM_THRESHOLD, _KEEP_BYTES) and mallopt(
        _M_MMAP_THRESHOLD, _KEEP_BYTES
    )
    logger.debug("malloc thresholds raised: %s", bool(done))
    return bool(done)
