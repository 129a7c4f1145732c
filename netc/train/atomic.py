"""All-or-nothing file writes: a crash at any moment leaves either the old file or the new one.

Shared by the torch and Keras checkpoints; imports no framework.
"""
from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Callable

TEMP_SUFFIX = ".tmp"


def atomic_write(path: Path, write: Callable[[Path], None], suffix: str = TEMP_SUFFIX) -> None:
    """``write(temp)``, then rename the temp file over ``path``. ``suffix`` ends the temp file's
    name (Keras insists on ``.weights.h5``)."""
    path = Path(path)
    temp = path.with_name(f".{path.name}-{uuid.uuid4().hex[:8]}{suffix}")
    try:
        write(temp)
        _fsync(temp)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _fsync(path.parent)  # the rename is durable only once the folder entry is


def remove_stale_temps(folder: Path, suffix: str = TEMP_SUFFIX) -> None:
    """Drop temp files a killed writer left behind (the files they were replacing are intact)."""
    for stale in Path(folder).glob(f".*{suffix}"):
        stale.unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return  # not every platform opens a folder
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
