"""The one exception family for training-time user errors."""

from __future__ import annotations


class TrainError(Exception):
    """A user error met while preparing or running training (bad recipe, data that does not fit
    the model, a diverging run). The CLI prints ``message`` and ``hint`` without a traceback."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message
