"""TensorBoard event files of a torch run, through torch's ``SummaryWriter`` (which needs the
``tensorboard`` package, in ``netc[train]``)."""

from __future__ import annotations

from pathlib import Path

from netc.train.run_logs import can_write_events


class SummaryScalars:
    """The recorder's EventWriter over a ``SummaryWriter``."""

    def __init__(self, folder: Path, first_epoch: int):
        from torch.utils.tensorboard import SummaryWriter

        # purge_step: TensorBoard drops what an interrupted run logged from this epoch on,
        # as the resumed run logs those epochs again.
        self.writer = SummaryWriter(str(folder), purge_step=first_epoch if first_epoch > 1
                                    else None)

    def scalar(self, tag: str, value: float, step: int) -> None:
        self.writer.add_scalar(tag, value, step)

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def open_event_writer(folder: Path, first_epoch: int) -> SummaryScalars | None:
    if not can_write_events():
        return None
    return SummaryScalars(folder, first_epoch)
