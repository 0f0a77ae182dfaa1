"""Device parsing (cpu, cuda, RELION --gpu lists), threads and the Backend settings."""

from __future__ import annotations

import pytest
import torch

from vitreo.em import backend
from vitreo.em.backend import Backend, complex_dtype_for, parse_devices, randn_like, set_threads, worker_device


@pytest.fixture
def two_gpus(monkeypatch):
    """Pretend two CUDA devices are visible (parsing only; nothing runs on them)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)


def test_cpu_strings():
    assert parse_devices(None) == [torch.device("cpu")]
    assert parse_devices("cpu") == [torch.device("cpu")]
    assert parse_devices(" cpu ") == [torch.device("cpu")]


@pytest.mark.usefixtures("two_gpus")
@pytest.mark.parametrize(
    "spec,expected",
    [
        ("cuda", [0]),
        ("cuda:1", [1]),
        ("0", [0]),
        ("1", [1]),
        ("0:1", [0, 1]),
        ("0,1", [0, 1]),
        ('"0:1"', [0, 1]),
        ("0:0:1:1", [0, 1]),
        ("", [0, 1]),
    ],
)
def test_gpu_strings(spec, expected):
    assert parse_devices(spec) == [torch.device("cuda", i) for i in expected]


@pytest.mark.usefixtures("two_gpus")
@pytest.mark.parametrize(
    "spec,expected",
    [
        ("0:1:0:1", [0, 1, 0, 1, 0]),  # RELION: one entry per rank, used in turn
        ("1", [1, 1, 1, 1, 1]),
        ("0,1:1", [0, 1, 0, 1, 0]),  # a rank's comma list: its first GPU
        ("", [0, 1, 0, 1, 0]),  # every visible GPU, in turn
        ("cuda:1", [1, 1, 1, 1, 1]),
    ],
)
def test_worker_devices(spec, expected):
    assert [worker_device(spec, i) for i in range(5)] == [torch.device("cuda", i) for i in expected]


def test_worker_devices_on_cpu(no_gpu):
    assert worker_device(None, 3) == torch.device("cpu") == worker_device("cpu", 0)
    with pytest.raises(ValueError, match="CUDA is not available"):
        worker_device("0:1", 1)


@pytest.mark.usefixtures("two_gpus")
@pytest.mark.parametrize("spec", ["gpu0", "0;1", "-1", "cuda:x", "0:", "cuda0"])
def test_malformed_strings(spec):
    with pytest.raises(ValueError, match="cannot read device"):
        parse_devices(spec)


@pytest.mark.usefixtures("two_gpus")
def test_missing_gpu_index():
    with pytest.raises(ValueError, match="GPU 2 requested"):
        parse_devices("0:2")


@pytest.mark.usefixtures("no_gpu")
@pytest.mark.parametrize("spec", ["cuda", "cuda:0", "0", "0:1", ""])
def test_cuda_unavailable_is_a_clear_error(spec):
    with pytest.raises(ValueError, match="CUDA is not available"):
        parse_devices(spec)
    with pytest.raises(ValueError, match="CUDA is not available"):
        Backend.from_options(gpu=spec)


def test_set_threads_round_trip():
    before = torch.get_num_threads()
    try:
        assert set_threads(1) == before
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    with pytest.raises(ValueError):
        set_threads(0)


def test_backend_defaults_and_cpu_path():
    default = Backend()
    assert default.device == torch.device("cpu") and default.threads == 1
    assert default.dtype == backend.DEFAULT_DTYPE == torch.float32
    assert default.complex_dtype == backend.DEFAULT_COMPLEX_DTYPE == torch.complex64
    b = Backend.from_options(None, threads=2, dtype=torch.float64)
    assert b.devices == (torch.device("cpu"),) and b.complex_dtype == torch.complex128
    before = torch.get_num_threads()
    try:
        b.activate()
        assert torch.get_num_threads() == 2
        x = torch.ones(4, device=b.device, dtype=b.dtype)
        assert torch.fft.rfft(x).dtype == b.complex_dtype
    finally:
        torch.set_num_threads(before)
    with pytest.raises(ValueError):
        Backend.from_options(threads=0)
    with pytest.raises(ValueError):
        complex_dtype_for(torch.int32)


def test_randn_like_follows_the_tensor_and_the_generator():
    x = torch.zeros(3, 4, dtype=torch.float64)
    a = randn_like(x, torch.Generator().manual_seed(5))
    b = randn_like(x, torch.Generator().manual_seed(5))
    assert a.shape == x.shape and a.dtype == x.dtype and a.device == x.device
    torch.testing.assert_close(a, b)
    assert randn_like(x).std() > 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_real_gpu():
    devices = parse_devices("0")
    assert torch.zeros(1, device=devices[0]).device.type == "cuda"
