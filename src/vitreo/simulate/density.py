"""The electron-scattering (Coulomb) potential of an atomic model on a cubic grid.

Each atom contributes the Fourier transform of its electron scattering factor,
f_e(s) · exp(−B s²/4) with Peng's 5-Gaussian f_e (International Tables C 4.3.2.2, as
gemmi's ``DensityCalculatorE``), its isotropic B (Å²) and its occupancy. The sum is
converted to volts: V(r) = h²/(2π m₀ e) · Σ FT[f_e](r) (:data:`VOLT_A2`).

Sampling. Narrow atomic Gaussians on a coarse grid alias. We therefore sample on a grid
twice as fine as the target, with every atom blurred by an extra B (:func:`anti_alias_blur`)
so that what lies beyond the fine grid's Nyquist is negligible, then keep only the target
band (Fourier crop, :func:`vitreo.em.fourier.fourier_resize`) and undo the extra blur
there. The result is the band-limited potential sampled at the target pixels: its
discrete transform times pixel³ equals
Σ f_e(s) e^{−Bs²/4} e^{−2πi k·r} for every frequency below the target Nyquist.

Conventions: arrays (z, y, x); voxel (iz, iy, ix) sits at (ix, iy, iz) · pixel_size Å in
the model's frame; the grid is periodic with period box · pixel_size.
"""

from __future__ import annotations

import math
import os
from typing import TypeAlias

import gemmi
import numpy as np
import torch

from vitreo.em.filters import bfactor_response
from vitreo.em.fourier import fourier_resize
from vitreo.io.errors import InputError

ModelSource: TypeAlias = str | os.PathLike[str] | gemmi.Structure

#: h²/(2π m₀ e) in V·Å²: converts Σ FT[f_e] (Å⁻², f_e in Å) to the Coulomb potential in volts.
VOLT_A2 = 6.62607015e-34**2 / (2 * math.pi * 9.1093837015e-31 * 1.602176634e-19) * 1e20

#: The fine grid has this many points per target pixel along each axis.
OVERSAMPLING = 2

#: Aliased signal is damped to at most exp(−ALIAS_EXPONENT) of the signal it lands on.
ALIAS_EXPONENT = 12.0

#: gemmi drops each atom's Gaussians where they fall below this (Å⁻²); 1e-7 keeps the
#: integral to a few 1e-6 (gemmi's default 1e-5 loses about 2e-4 of it).
GAUSSIAN_CUTOFF = 1e-7


def read_model(path: str | os.PathLike[str]) -> gemmi.Structure:
    """Read a PDB or mmCIF model (gzip allowed; format detected from the content).

    Raises InputError naming the file when it cannot be read or holds no atoms.
    """
    try:
        structure = gemmi.read_structure(os.fspath(path), format=gemmi.CoorFormat.Detect)
    except (OSError, RuntimeError, ValueError) as err:
        raise InputError(path, f"not a readable PDB/mmCIF model ({' '.join(str(err).split())})") from err
    if len(structure) == 0 or structure[0].count_atom_sites() == 0:
        raise InputError(path, "no atoms found: not a PDB/mmCIF model")
    return structure


def anti_alias_blur(pixel_size_A: float, min_bfactor: float) -> float:
    """Extra B (Å²) that makes aliasing on the fine grid negligible.

    With fine spacing p/m, an alias reaching the target band (|s_i| ≤ 1/2p) comes from
    s'_i = s_i ± m/p, so |s'|² − |s|² ≥ m(m−1)/p²: relative to its target it is damped by
    exp(−B_tot · m(m−1)/(4p²)). B_tot ≥ 4p² · ALIAS_EXPONENT/(m(m−1)) makes that at most
    exp(−ALIAS_EXPONENT) (6e-6); for m = 2 that is 24 p² (300 Å² at 3.54 Å/px).
    """
    m = OVERSAMPLING
    return max(0.0, 4.0 * pixel_size_A**2 * ALIAS_EXPONENT / (m * (m - 1)) - min_bfactor)


def density_from_model(
    path_or_structure: ModelSource,
    pixel_size_A: float,
    box: int,
    *,
    bfactor_extra: float = 0.0,
    center: bool = True,
) -> np.ndarray:
    """Coulomb potential (volts) of all atoms of the first model on a box³ grid: (z, y, x) float32.

    ``bfactor_extra`` (Å²) is added to every atom's B. With ``center`` the centre of mass
    goes to voxel (box//2, box//2, box//2), RELION's origin; without it model coordinates
    are kept, (0, 0, 0) Å at voxel 0. Raises InputError for an unreadable file and
    ValueError when the model does not fit in the box or an atom's B + extra is negative.
    """
    if box <= 0 or box % 2 or pixel_size_A <= 0:
        raise ValueError(f"box ({box}) must be even and positive, pixel size ({pixel_size_A} Å) positive")
    source = path_or_structure
    structure = source if isinstance(source, gemmi.Structure) else read_model(source)
    model = _placed_model(structure, pixel_size_A, box, center)
    min_b = model.calculate_b_iso_range()[0] + bfactor_extra
    if min_b < 0:
        raise ValueError(f"B-factor + bfactor_extra is {min_b:.1f} Å² for some atom; must be ≥ 0")
    blur = anti_alias_blur(pixel_size_A, min_b)
    fine_shape, shape = (OVERSAMPLING * box,) * 3, (box,) * 3
    fine = _fine_spectrum(model, box * pixel_size_A, fine_shape, bfactor_extra + blur)
    spectrum = fourier_resize(fine, fine_shape, shape)
    del fine
    spectrum *= bfactor_response(shape, -blur, pixel_size_A)
    volume_xyz = torch.fft.irfftn(spectrum, s=shape) * (VOLT_A2 / OVERSAMPLING**3)
    return np.ascontiguousarray(volume_xyz.numpy().transpose(2, 1, 0), dtype=np.float32)


def _placed_model(structure: gemmi.Structure, pixel_size_A: float, box: int, center: bool) -> gemmi.Model:
    """A copy of the first model, shifted to the box centre if asked; checked to fit in the box."""
    model = structure[0].clone()
    if center:
        shift = np.full(3, (box // 2) * pixel_size_A) - np.array(model.calculate_center_of_mass().tolist())
        model.transform_pos_and_adp(gemmi.Transform(gemmi.Mat33(), gemmi.Vec3(*shift)))
    lo, hi = _bounds(model)
    side = box * pixel_size_A
    if lo.min() < 0 or hi.max() >= side:
        raise ValueError(
            f"the model spans {np.round(lo, 1).tolist()}..{np.round(hi, 1).tolist()} Å, "
            f"outside the {side:.1f} Å box: use a larger box{'' if center else ' or center=True'}"
        )
    return model


def _bounds(model: gemmi.Model) -> tuple[np.ndarray, np.ndarray]:
    """Lowest and highest atom coordinates (x, y, z) in Å."""
    structure = gemmi.Structure()
    structure.add_model(model)
    box = structure.calculate_box()
    return np.array(box.minimum.tolist()), np.array(box.maximum.tolist())


def _fine_spectrum(model: gemmi.Model, side_A: float, shape: tuple[int, int, int], blur: float) -> torch.Tensor:
    """rfftn of Σ FT[f_e · e^{−(B+blur)s²/4}] (Å⁻²) sampled on a periodic cube of ``shape``, axes (x, y, z)."""
    calculator = gemmi.DensityCalculatorE()
    calculator.grid.set_unit_cell(gemmi.UnitCell(side_A, side_A, side_A, 90, 90, 90))
    calculator.grid.spacegroup = gemmi.find_spacegroup_by_name("P 1")
    calculator.grid.set_size(*shape)
    calculator.blur = blur
    calculator.cutoff = GAUSSIAN_CUTOFF
    calculator.add_model_density_to_grid(model)
    return torch.fft.rfftn(torch.from_numpy(np.asarray(calculator.grid)))
