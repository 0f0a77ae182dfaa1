"""Faults for the distributed tests: images whose first read in a worker process kills that process."""

from __future__ import annotations

import os
from pathlib import Path

import torch


class KillingImages:
    """Pre-read images (n, N, N) that kill the first process other than ``parent_pid`` that reads
    them (at once, as a crash would); ``marker`` records that it happened, so that it happens once."""

    def __init__(self, images: torch.Tensor, marker: Path, parent_pid: int) -> None:
        self.images, self.marker, self.parent_pid = images, str(marker), parent_pid
        self.shape, self.device, self.dtype = images.shape, images.device, images.dtype

    def __len__(self) -> int:
        return self.shape[0]

    def numel(self) -> int:
        return self.images.numel()

    def element_size(self) -> int:
        return self.images.element_size()

    def __getitem__(self, ids: torch.Tensor) -> torch.Tensor:
        if os.getpid() != self.parent_pid and _first_claim(self.marker):
            os._exit(17)
        return self.images[ids]


def square_or_die_once(marker_and_value: tuple[str, float]) -> float:
    """x² of an item, killing the calling process instead the first time any item is seen."""
    marker, value = marker_and_value
    if _first_claim(marker):
        os._exit(17)
    return value * value


def _first_claim(path: str) -> bool:
    """True for the one caller that creates ``path`` (atomic across processes)."""
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True
