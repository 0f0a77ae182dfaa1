"""Batched 2D real FFTs on tensors: pocketfft (scipy.fft, multithreaded) on the CPU, torch.fft on GPUs.

On CPUs scipy's pocketfft runs batched 2D transforms of 2^a·3^b sizes two to three times faster
than torch.fft (measured: 768² inverse transforms, 1.5 ms against 3.3 ms per image on two
cores), and picking spends most of its time in them. Same conventions as ``torch.fft``
(unnormalised forward transform).
"""

from __future__ import annotations

import scipy.fft
import torch


def rfft2(x: torch.Tensor) -> torch.Tensor:
    """``torch.fft.rfft2(x)`` over the last two axes."""
    if x.device.type != "cpu":
        return torch.fft.rfft2(x)
    return torch.from_numpy(scipy.fft.rfft2(x.detach().numpy(), workers=torch.get_num_threads()))


def irfft2(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``torch.fft.irfft2(x, s=size)`` over the last two axes."""
    if x.device.type != "cpu":
        return torch.fft.irfft2(x, s=size)
    return torch.from_numpy(scipy.fft.irfft2(x.detach().numpy(), s=size, workers=torch.get_num_threads()))


__all__ = ["rfft2", "irfft2"]
