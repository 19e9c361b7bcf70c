"""Writing a user's file so that a reader (a parallel kubectl run, a crash) never sees half
of it: the token cache and the kubeconfig share this one way."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

__all__ = ["atomic_write"]


def atomic_write(path: Path, data: bytes, *, prefix: str = ".tmp-") -> None:
    """Replace ``path`` with ``data``, mode 0600: a temporary file beside it (``mkstemp``
    creates it 0600), fsync, one rename, then fsync the directory so the rename itself
    survives a crash (POSIX: the directory entry lives in the directory)."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=prefix)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
