"""Templates: the zoom DFT, exact energies, and RELION's in-plane angle convention."""

from __future__ import annotations

import math

import torch

from vitreo.picking.references import References
from vitreo.picking.templates import make_template_bank, psi_angles_deg, template_energies, zoom_rfft2


def test_zoom_dft_is_the_rfft_of_the_centred_image_at_unit_step_and_the_dft_otherwise() -> None:
    torch.manual_seed(0)
    images = torch.randn(3, 10, 10, dtype=torch.float64)
    rolled = torch.fft.rfft2(torch.roll(images, (-5, -5), (1, 2)))
    assert torch.allclose(zoom_rfft2(images, 1.0, 10), rolled, atol=1e-10)
    assert torch.allclose(zoom_rfft2(images, 1.0, 10, conjugate=True), rolled.conj(), atol=1e-10)
    size, step = 16, 0.7
    u = torch.arange(10, dtype=torch.float64) - 5
    ky, kx = torch.fft.fftfreq(size, 1 / size, dtype=torch.float64), torch.arange(size // 2 + 1, dtype=torch.float64)
    phase = -2 * math.pi * step / size * (ky[:, None, None, None] * u[None, None, :, None] + kx[None, :, None, None] * u)
    direct = (torch.polar(torch.ones_like(phase), phase)[None] * images[:, None, None]).sum((-2, -1))
    assert torch.allclose(zoom_rfft2(images, step, size), direct, atol=1e-9)


def test_energies_from_autocorrelations_equal_the_weighted_power_sums() -> None:
    torch.manual_seed(1)
    images = torch.randn(4, 12, 12, dtype=torch.float64)
    size, step = 40, 0.8
    power = torch.rand(size, size // 2 + 1, dtype=torch.float64)
    direct = (zoom_rfft2(images, step, size).abs().square() * power).sum((-2, -1))
    assert torch.allclose(template_energies(images, step, size, power), direct, rtol=1e-10)


def test_template_for_psi_is_the_reference_turned_as_relion_does() -> None:
    box = 32
    reference = torch.zeros(1, box, box)
    reference[0, box // 2, box // 2 + 8] = 1.0  # a dot at +x from the centre
    bank = make_template_bank(References(reference, 1.0), 1.0, 90.0, 24.0)
    assert bank.psi.tolist() == [0.0, 90.0, 180.0, 270.0]
    b = bank.images.shape[-1]
    peaks = [divmod(int(image.argmax()), b) for image in bank.images]
    # RELION: out(r) = ref(Aᵀr), A = Rz(psi); psi = 90° moves a dot at (+8, 0) to (0, −8)
    assert peaks[0] == (b // 2, b // 2 + 8) and peaks[1] == (b // 2 - 8, b // 2)
    assert peaks[2] == (b // 2, b // 2 - 8) and peaks[3] == (b // 2 + 8, b // 2)


def test_psi_steps_divide_the_circle() -> None:
    assert psi_angles_deg(5.0).numel() == 72
    assert psi_angles_deg(7.0)[1].item() == 360 / 51
