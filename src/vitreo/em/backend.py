"""Where and how kernels run: devices, threads and default dtypes, parsed from user options.

Device strings: ``cpu``; ``cuda`` (the current CUDA device); ``cuda:N``; or RELION-style
``--gpu`` lists of CUDA ordinals, ``"0"``, ``"0:1"`` or ``"0,1"`` (colons and commas both
separate ids; repeats are dropped). An empty ``--gpu`` value means every visible GPU, as in
RELION. Bad or unavailable devices raise ValueError with a one-line message for the CLI.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import torch

DEFAULT_DTYPE = torch.float32
DEFAULT_COMPLEX_DTYPE = torch.complex64
_COMPLEX_OF = {torch.float32: torch.complex64, torch.float64: torch.complex128, torch.float16: torch.complex32}
_GPU_LIST = re.compile(r"\d+([:,]\d+)*")


def complex_dtype_for(dtype: torch.dtype) -> torch.dtype:
    """The complex dtype that pairs with a real one (float32 → complex64, float64 → complex128)."""
    try:
        return _COMPLEX_OF[dtype]
    except KeyError:
        raise ValueError(f"no complex dtype pairs with {dtype}") from None


def parse_devices(spec: str | None) -> list[torch.device]:
    """Devices from a device string or RELION --gpu value (see the module docstring); None → [cpu]."""
    text = "cpu" if spec is None else spec.strip().strip('"').strip("'").replace(" ", "")
    if text == "cpu":
        return [torch.device("cpu")]
    if text == "":
        _require_cuda(spec)
        return [torch.device("cuda", i) for i in range(torch.cuda.device_count())]
    if text == "cuda":
        _require_cuda(spec)
        return [torch.device("cuda", torch.cuda.current_device())]
    if text.startswith("cuda:"):
        text = text[len("cuda:") :]
    if not _GPU_LIST.fullmatch(text):
        raise ValueError(f"cannot read device {spec!r}: use cpu, cuda, cuda:N or GPU ids such as 0 or 0:1")
    ids = list(dict.fromkeys(int(t) for t in re.split("[:,]", text)))
    _require_cuda(spec)
    count = torch.cuda.device_count()
    missing = [i for i in ids if i >= count]
    if missing:
        raise ValueError(f"GPU {missing[0]} requested ({spec!r}) but only {count} CUDA device(s) are visible")
    return [torch.device("cuda", i) for i in ids]


def worker_device(spec: str | None, index: int) -> torch.device:
    """The device of worker ``index`` (0-based) from a RELION ``--gpu`` value: None → CPU; colons
    separate the workers' entries, used in turn ("0:1:0:1": workers 0 and 2 on GPU 0, 1 and 3 on
    GPU 1); a worker takes the first id of a comma list ("0,1:2,3", RELION's GPUs of one rank's
    threads); an empty value spreads the workers over every visible GPU."""
    text = "cpu" if spec is None else spec.strip().strip('"').strip("'").replace(" ", "")
    if text == "cpu" or text.startswith("cuda:"):
        return parse_devices(text)[0]
    if text in ("", "cuda"):
        _require_cuda(spec)
        return torch.device("cuda", index % max(1, torch.cuda.device_count()))
    entries = text.split(":")
    return parse_devices(entries[index % len(entries)].split(",")[0])[0]


def randn_like(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Standard normal noise with x's shape, dtype and device, drawn from ``generator`` on the
    generator's own device (so a CPU generator gives the same numbers for CPU and CUDA tensors)."""
    device = x.device if generator is None else generator.device
    return torch.randn(x.shape, generator=generator, device=device, dtype=x.dtype).to(x.device)


def set_threads(n: int) -> int:
    """Set the number of intra-op CPU threads (torch.set_num_threads); returns the previous number."""
    if n < 1:
        raise ValueError(f"number of threads must be at least 1, not {n}")
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    return previous


@dataclass(frozen=True)
class Backend:
    """The compute settings a job passes around: devices (the first is the main one), threads, dtype."""

    devices: tuple[torch.device, ...] = field(default_factory=lambda: (torch.device("cpu"),))
    threads: int = 1
    dtype: torch.dtype = DEFAULT_DTYPE

    @classmethod
    def from_options(cls, gpu: str | None = None, threads: int = 1, dtype: torch.dtype = DEFAULT_DTYPE) -> Backend:
        """From the CLI options: ``--gpu`` (None: CPU), ``--j`` threads, and a real dtype."""
        complex_dtype_for(dtype)
        if threads < 1:
            raise ValueError(f"number of threads must be at least 1, not {threads}")
        return cls(devices=tuple(parse_devices(gpu)), threads=threads, dtype=dtype)

    @property
    def device(self) -> torch.device:
        """The main device."""
        return self.devices[0]

    @property
    def complex_dtype(self) -> torch.dtype:
        """The complex dtype paired with ``dtype``."""
        return complex_dtype_for(self.dtype)

    def activate(self) -> None:
        """Apply the thread count to this process (and select the main CUDA device)."""
        set_threads(self.threads)
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)


def _require_cuda(spec: str | None) -> None:
    """Raise ValueError when CUDA is asked for but not available."""
    if not torch.cuda.is_available():
        raise ValueError(f"a GPU was requested ({spec!r}) but CUDA is not available on this machine")
