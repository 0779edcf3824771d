"""Provenance: what made an output, so a result can be traced back."""

from __future__ import annotations

import datetime
import hashlib
import os
import platform
import sys
from pathlib import Path
from typing import Any

from dietnet_cli import __version__

CHUNK_BYTES = 1 << 22


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    hash_file(digest, path)
    return digest.hexdigest()


def hash_file(digest: Any, path: str | Path) -> None:
    """Add a file's bytes, read in chunks, to a hashlib object."""
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)


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
