"""glibc's malloc is told to keep freed memory."""

import platform
import subprocess
import sys

import pytest

from dietnet_cli import allocator


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="needs glibc")
def test_thresholds_are_raised_on_glibc():
    assert allocator.keep_freed_memory()


RSS_AFTER = """
import numpy as np
from dietnet_cli import allocator

def resident_mib():
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * 4096 / 2**20

assert allocator.keep_freed_memory()
blocks = [np.ones((1024, 4096), dtype=np.int8) for _ in range(48)]  # 192 MiB
before = resident_mib()
del blocks
kept = resident_mib()
{release}
print(before - kept, before - resident_mib())
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="needs glibc")
@pytest.mark.parametrize("release", [False, True])
def test_freed_memory_is_kept_until_released(release):
    # In a process of its own: the thresholds last for the process.
    code = RSS_AFTER.format(
        release="allocator.release_freed_memory()" if release else ""
    )
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    dropped_on_free, dropped_in_all = map(float, output.split())
    assert dropped_on_free < 16
    if release:
        assert dropped_in_all > 150
    else:
        assert dropped_in_all < 16
