"""Write outputs so that an interrupted run never leaves one that looks done.

Files and directories are built under a temporary name beside their final
place and renamed when complete; ``--force`` replaces an existing output
only at that final rename.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from dietnet_cli.errors import DietnetError


def check_writable(
    target: Path, *, force: bool, what: str, directory: bool | None = None
) -> None:
    """Refuse an existing output without ``--force``, or an unwritable place.

    With ``directory`` True (False), an existing file (directory) in the way
    is refused even with ``--force``: it cannot be replaced by a rename.
    """
    if target.exists() and not force:
        raise DietnetError(
            f"{what.capitalize()} {target} already exists; choose another path "
            "or pass --force to replace it."
        )
    if directory is not None and target.exists() and target.is_dir() != directory:
        found = "directory" if target.is_dir() else "file"
        raise DietnetError(
            f"Cannot write {what} {target}: a {found} of that name is in the way "
            "and --force cannot replace it; remove it or choose another path."
        )
    parent = target.resolve().parent
    if not parent.is_dir():
        raise DietnetError(
            f"Cannot write {what} {target}: directory {parent} does not exist; "
            "create it first."
        )
    if not os.access(parent, os.W_OK):
        raise DietnetError(
            f"Cannot write {what} {target}: directory {parent} is not writable; "
            "choose another output path."
        )


def _cannot_create(target: Path, what: str, error: OSError) -> DietnetError:
    # os.access says yes to root even where nothing can be created (/proc)
    return DietnetError(
        f"Cannot write {what} {target}: {error.strerror or error}; choose "
        "another output path."
    )


def _replace(temporary: Path, target: Path) -> None:
    if target.is_dir() and not target.is_symlink():
        backup = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.rename(target, backup)
        os.rename(temporary, target)
        shutil.rmtree(backup, ignore_errors=True)
    else:
        os.replace(temporary, target)


@contextlib.contextmanager
def atomic_directory(target: Path, *, force: bool, what: str) -> Iterator[Path]:
    """Yield a temporary directory that becomes ``target`` on success."""
    target = Path(target)
    check_writable(target, force=force, what=what, directory=True)
    try:
        temporary = Path(
            tempfile.mkdtemp(
                prefix=f".{target.name}.partial-", dir=target.resolve().parent
            )
        )
    except OSError as error:
        raise _cannot_create(target, what, error) from None
    os.chmod(temporary, 0o755)
    try:
        yield temporary
        if target.exists() and not force:
            raise DietnetError(
                f"{what.capitalize()} {target} appeared while dietnet was running; "
                "pass --force to replace it."
            )
        _replace(temporary, target)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise


@contextlib.contextmanager
def atomic_file(target: Path, *, force: bool, what: str) -> Iterator[Path]:
    """Yield a temporary file path that becomes ``target`` on success."""
    target = Path(target)
    check_writable(target, force=force, what=what, directory=False)
    try:
        handle, name = tempfile.mkstemp(
            prefix=f".{target.name}.partial-", dir=target.resolve().parent
        )
    except OSError as error:
        raise _cannot_create(target, what, error) from None
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        os.chmod(temporary, 0o644)
        _replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
