"""Checksums over a checkpoint's contents, shared by every trainer's checkpoints.

The digest covers the stored values, not the file's bytes: a flipped byte either breaks the file
(its reader fails) or changes a value (the digest differs), so both are caught, and the digest can
travel inside the file it checks. Framework-neutral: a backend passes ``to_array`` to turn its
tensor type into a numpy array or a mapping of plain values.
"""
from __future__ import annotations

import hashlib
from typing import Any, Callable

import numpy as np

from netc.train.errors import TrainError

ALGORITHM = "sha256"


def content_digest(value: Any, to_array: Callable[[Any], Any] | None = None) -> str:
    """A digest of nested dicts, lists, tuples, scalars, strings and arrays. Types are part of
    the digest, so ``1`` and ``1.0`` or a list and a tuple differ."""
    digest = hashlib.new(ALGORITHM)
    _feed(digest, value, to_array)
    return f"{ALGORITHM}:{digest.hexdigest()}"


def verify_digest(stored: Any, value: Any, where: str,
                  to_array: Callable[[Any], Any] | None = None) -> None:
    if not isinstance(stored, str):
        raise TrainError(f"{where}: the checkpoint carries no checksum",
                         hint="it was not written by this version of netc, or was edited")
    if content_digest(value, to_array) != stored:
        raise TrainError(f"{where}: checksum mismatch: the checkpoint's contents changed after "
                         "it was written (a damaged disk or copy, or an edit)",
                         hint="use another copy, or best/last checkpoint of the same run")


def _feed(digest, value: Any, to_array) -> None:
    if isinstance(value, dict):
        digest.update(b"{%d;" % len(value))
        for key in sorted(value, key=repr):
            _feed(digest, key, to_array)
            _feed(digest, value[key], to_array)
    elif isinstance(value, (list, tuple)):
        digest.update(b"%s%d;" % (b"[" if isinstance(value, list) else b"(", len(value)))
        for item in value:
            _feed(digest, item, to_array)
    elif value is None or isinstance(value, (bool, int, float, str, bytes)):
        text = f"{type(value).__name__}:{value!r}".encode("utf-8")
        digest.update(b"s%d;" % len(text) + text)
    elif isinstance(value, np.ndarray) and value.dtype == object:
        digest.update(f"o{value.shape};".encode("ascii"))
        _feed(digest, value.reshape(-1).tolist(), to_array)
    elif isinstance(value, np.ndarray):
        array = np.ascontiguousarray(value)
        digest.update(f"a{array.dtype.str}{array.shape};".encode("ascii"))
        digest.update(array.reshape(-1).view(np.uint8))
    elif to_array is not None:
        _feed(digest, to_array(value), None)
    else:
        raise TypeError(f"cannot checksum a {type(value).__name__}")
