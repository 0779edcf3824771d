"""Provenance: what made an output, so a result can be traced back."""

from __future__ import annotations

import datetime
import hashlib
import mmap
import os
import platform
import sys
from pathlib import Path
from typing import Any

from dietnet_cli import __version__

# Bytes of a file mapped and hashed at a time (a multiple of the mapping
# granularity of every system). Each window costs the hashing thread a few
# waits for the GIL; 256 MiB hashed genotypes.npy beside the writing of
# variants.tsv in 0.40-0.44 s, 64 MiB in 0.52-0.64 s (the mapped window
# counts in the resident size meanwhile).
WINDOW_BYTES = 1 << 28


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    hash_file(digest, path)
    return digest.hexdigest()


def hash_file(digest: Any, path: str | Path) -> None:
    """Add a file's bytes to a hashlib object, a mapped window at a time.

    hashlib lets go of the GIL while it hashes a large piece, and needs it
    back after each; a thread hashing small pieces beside a busy Python
    thread waits for the GIL at every piece (about 5 ms each) and hardly
    moves, while a few windows of ``WINDOW_BYTES`` run beside it. The
    windows keep the mapped, resident part of a large file bounded.
    """
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        for start in range(0, size, WINDOW_BYTES):
            length = min(WINDOW_BYTES, size - start)
            try:
                window = mmap.mmap(
                    handle.fileno(), length, offset=start, access=mmap.ACCESS_READ
                )
            except (OSError, ValueError):  # a file system without mappings
                handle.seek(start)
                while chunk := handle.read(
                    min(1 << 22, start + length - handle.tell())
                ):
                    digest.update(chunk)
                continue
            with window:
                digest.update(window)


def describe_input(path: str | Path) -> dict:
    """Name, size and checksum of an input file (or of standard input)."""
    if str(path) == "-":
        return {"path": "-", "bytes": None, "sha256": None}
    path = Path(path)
    return {
        "path": str(path),
        "bytes": path.stat().st_size,
        "sha256": file_sha256(path),
    }


def record(**extra: object) -> dict:
    """A provenance record: dietnet version, command line, time, platform."""
    return {
        "dietnet_version": __version__,
        "command_line": [Path(sys.argv[0]).name, *sys.argv[1:]],
        "working_directory": os.getcwd(),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"
        ),
        "python": platform.python_version(),
        "platform": platform.platform(),
        **extra,
    }
