"""All-or-nothing file writes: a crash at any moment leaves either the old file or the new one.

Shared by every trainer's checkpoints and the run folder; imports no framework.
"""
from __future__ import annotations

import errno
import os
import shutil
import uuid
from pathlib import Path
from typing import Callable

from netc.train.errors import TrainError

TEMP_SUFFIX = ".tmp"
# A full disk and an exhausted quota leave the same choice to the user: free space, then resume.
NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})


class NoSpaceError(TrainError):
    """The device ran out of space while a file was being replaced; the old file is intact."""


def atomic_write(path: Path, write: Callable[[Path], None], suffix: str = TEMP_SUFFIX) -> None:
    """``write(temp)``, then rename the temp file over ``path``. ``suffix`` ends the temp file's
    name (Keras insists on ``.weights.h5``). A full disk raises NoSpaceError naming ``path``,
    which still holds its previous contents."""
    path = Path(path)
    temp = path.with_name(f".{path.name}-{uuid.uuid4().hex[:8]}{suffix}")
    try:
        write(temp)
        _fsync(temp)
        os.replace(temp, path)
    except BaseException as err:
        temp.unlink(missing_ok=True)
        if is_no_space(err):
            raise no_space_error(path) from None
        raise
    _fsync(path.parent)  # the rename is durable only once the folder entry is


def atomic_copy(source: Path, target: Path, suffix: str = TEMP_SUFFIX) -> None:
    """Copy a finished file under another name with the same all-or-nothing guarantee."""
    atomic_write(target, lambda temp: shutil.copyfile(source, temp), suffix)


def is_no_space(err: BaseException) -> bool:
    """True for an out-of-space failure, also when a library wrapped the OSError in its own."""
    while err is not None:
        if isinstance(err, OSError) and err.errno in NO_SPACE:
            return True
        err = err.__cause__ or err.__context__
    return False


def no_space_error(path: Path) -> NoSpaceError:
    if path.exists():
        kept = f"the previous {path.name} is intact ({path})"
    else:
        kept = f"nothing was written to {path}"
    return NoSpaceError(f"no space left on the device while writing {path}; {kept}",
                        hint="free some space, then resume the run from its last checkpoint")


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
