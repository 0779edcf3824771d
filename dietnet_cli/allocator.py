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

# mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# Requests above this still get their own mapping, returned when freed;
# glibc versions that cap the threshold take the cap (32 MiB on 64-bit).
_KEEP_BYTES = (1 << 30, 1 << 25)


def keep_freed_memory() -> bool:
    """Tell glibc's malloc to reuse freed memory; False where it did not.

    The mapping threshold is raised first and the trim threshold only once
    that took: setting the trim threshold alone turns off glibc's own
    adjustment of the mapping threshold, which would leave more page faults
    than the defaults.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library already loaded
    except (OSError, AttributeError):  # no mallopt: not glibc
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    for size in _KEEP_BYTES:
        if mallopt(_M_MMAP_THRESHOLD, size):
            return bool(mallopt(_M_TRIM_THRESHOLD, size))
    return False


def release_freed_memory() -> None:
    """Hand the heap's free pages back to the kernel now (``malloc_trim``),
    after a large working set is done with; nothing where it is not glibc."""
    try:
        malloc_trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return
    malloc_trim.argtypes = [ctypes.c_size_t]
    malloc_trim(0)
