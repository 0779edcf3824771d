"""glibc's malloc is told to keep freed memory."""

import platform

import pytest

from dietnet_cli import allocator


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="needs glibc")
def test_thresholds_are_raised_on_glibc():
    assert allocator.keep_freed_memory()
