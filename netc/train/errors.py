"""Training-time user errors: members of netc's one error family (netc.spec.errors)."""

from __future__ import annotations

from netc.spec.errors import Location, SpecError


class TrainError(SpecError):
    """A user error met while preparing or running training (a bad recipe, data that does not
    fit the model, a damaged checkpoint, a diverging run). ``loc`` is where a recipe value was
    written, when it came from a file or a command-line assignment; the CLI prints it with the
    source line and a caret, as it prints a spec's errors."""

    def __init__(self, message: str, hint: str | None = None, loc: Location | None = None):
        super().__init__(message, loc, hint)

    def __str__(self) -> str:
        where = f"{self.loc}: " if self.loc else ""
        tail = f"\n  hint: {self.hint}" if self.hint else ""
        return f"{where}{self.message}{tail}"


def no_average_error(checkpoint) -> TrainError:
    """Asked to score the average of the weights of a run that kept none."""
    return TrainError(f"{checkpoint} holds no average of the weights: its run was trained "
                      "without ema", hint="drop --ema, or train with --ema DECAY")
