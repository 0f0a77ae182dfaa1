"""Potential from atomic models: physics against Peng's tables, 5A1A against the real betagal map."""

from __future__ import annotations

import gzip
import itertools
import shutil

import gemmi
import mrcfile
import numpy as np
import pytest
import torch

from vitreo.em.filters import lowpass
from vitreo.io.errors import InputError
from vitreo.simulate import default_structure, default_structure_map, density_from_model, read_model
from vitreo.simulate.density import VOLT_A2
from vitreo.simulate.structures import BETAGAL_AXIS_ORDER

#: Peng (1996) Acta Cryst. A52, 257, Table 1 (elastic, 0 < s < 2 Å⁻¹): a_i (Å), b_i (Å²);
#: f_e(s) = Σ a_i exp(−b_i s²/4), s = 1/d. Typed in from the paper, independent of gemmi.
PENG = {
    "C": ((0.0893, 0.2563, 0.7570, 1.0487, 0.3575), (0.2465, 1.7100, 6.4094, 18.6113, 50.2523)),
    "O": ((0.0974, 0.2921, 0.6910, 0.6990, 0.2039), (0.2067, 1.3815, 4.6943, 12.7105, 32.4726)),
}
BETAGAL_PIXEL_A, BETAGAL_BOX = 3.54, 100


def make_structure(atoms: list[tuple[str, tuple[float, float, float], float]]) -> gemmi.Structure:
    """A one-chain structure of (element, (x, y, z) Å, B Å²) atoms, occupancy 1."""
    chain = gemmi.Chain("A")
    for number, (element, xyz, bfactor) in enumerate(atoms, start=1):
        residue = gemmi.Residue()
        residue.name, residue.seqid = "UNK", gemmi.SeqId(number, " ")
        atom = gemmi.Atom()
        atom.name, atom.element, atom.pos = element, gemmi.Element(element), gemmi.Position(*xyz)
        atom.b_iso, atom.occ = bfactor, 1.0
        residue.add_atom(atom)
        chain.add_residue(residue)
    model = gemmi.Model(1)
    model.add_chain(chain)
    structure = gemmi.Structure()
    structure.add_model(model)
    return structure


def analytic_transform(atoms, pixel_size: float, box: int, bfactor_extra: float) -> np.ndarray:
    """Σ f_e(s) e^{−(B+extra)s²/4} e^{−2πi k·r} on the rfftn grid of a (z, y, x) box (Å)."""
    kz, ky, kx = np.meshgrid(np.fft.fftfreq(box), np.fft.fftfreq(box), np.fft.rfftfreq(box), indexing="ij")
    kx, ky, kz = kx / pixel_size, ky / pixel_size, kz / pixel_size
    s2 = kx**2 + ky**2 + kz**2
    total = np.zeros(s2.shape, complex)
    for element, (x, y, z), bfactor in atoms:
        a, b = PENG[element]
        f_e = sum(ai * np.exp(-bi * s2 / 4) for ai, bi in zip(a, b))
        total += f_e * np.exp(-(bfactor + bfactor_extra) * s2 / 4) * np.exp(-2j * np.pi * (kx * x + ky * y + kz * z))
    return total


def relative_l2(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


def flip180(volume: np.ndarray, axes: tuple[int, int]) -> np.ndarray:
    """Rotate by 180° about the third axis through voxel N//2: index i → (N − i) mod N on ``axes``."""
    return np.roll(np.flip(volume, axes), 1, axes)


def radial_profile(volume: np.ndarray) -> np.ndarray:
    """Mean of (volume − its mean) in shells round(|i − N//2|) = 0..N/2−1 voxels, divided by its maximum."""
    n = volume.shape[0]
    i = np.arange(n) - n // 2
    shell = np.round(np.sqrt(i[:, None, None] ** 2 + i[None, :, None] ** 2 + i[None, None, :] ** 2)).astype(int).ravel()
    sums = np.bincount(shell, (volume - volume.mean()).ravel())[: n // 2]
    profile = sums / np.bincount(shell)[: n // 2]
    return profile / profile.max()


def outer_radius(profile: np.ndarray, level: float) -> float:
    """Radius (voxels) beyond the profile's peak where it first falls below ``level`` (linear interpolation)."""
    peak = int(profile.argmax())
    j = peak + int(np.argmax(profile[peak:] < level))
    return j - 1 + (profile[j - 1] - level) / (profile[j - 1] - profile[j])


@pytest.fixture(scope="module")
def betagal() -> np.ndarray:
    return default_structure_map(BETAGAL_PIXEL_A, BETAGAL_BOX).astype(np.float64)


@pytest.fixture(scope="module")
def real_betagal(shared_data) -> np.ndarray:
    return mrcfile.read(shared_data / "maps" / "betaGal.mrc").astype(np.float64)


def match_resolution(volume: np.ndarray, pixel_size: float = BETAGAL_PIXEL_A) -> np.ndarray:
    """Low-pass to 8 Å, about the real betagal map's resolution."""
    return lowpass(torch.from_numpy(volume), 8.0, pixel_size).numpy()


# ---------------------------------------------------------------- physics on tiny models


@pytest.mark.parametrize(("pixel_size", "bfactor_extra"), [(1.0, 0.0), (3.54, 0.0), (2.0, 40.0)])
def test_potential_equals_peng_scattering_factors(pixel_size, bfactor_extra):
    # Two atoms off the grid, one sharp (B = 5 Å², the aliasing worst case at 3.54 Å/px).
    box = 32
    atoms = [("C", (20.3, 25.1, 17.7), 5.0), ("O", (27.0, 19.4, 23.9), 25.0)]
    atoms = [(e, tuple(c * pixel_size / 1.5 for c in xyz), b) for e, xyz, b in atoms]
    volume = density_from_model(make_structure(atoms), pixel_size, box, center=False, bfactor_extra=bfactor_extra)
    assert volume.dtype == np.float32 and volume.shape == (box,) * 3

    # Integral: Σ V · pixel³ = VOLT_A2 · Σ f_e(0).
    f0_sum = sum(sum(PENG[e][0]) for e, _, _ in atoms)
    assert volume.astype(np.float64).sum() * pixel_size**3 / VOLT_A2 == pytest.approx(f0_sum, rel=1e-4)

    # Every Fourier coefficient below Nyquist: DFT · pixel³ = Σ f_e(s) e^{−Bs²/4} e^{−2πik·r}.
    measured = np.fft.rfftn(volume.astype(np.float64)) * pixel_size**3 / VOLT_A2
    expected = analytic_transform(atoms, pixel_size, box, bfactor_extra)
    below_nyquist = np.ones(measured.shape, bool)
    below_nyquist[box // 2], below_nyquist[:, box // 2], below_nyquist[:, :, box // 2] = False, False, False
    assert np.abs(measured - expected)[below_nyquist].max() < 1e-4 * f0_sum


def test_grid_is_zyx_and_centre_is_box_half():
    pixel_size, box = 2.0, 24
    atoms = [("C", (10 * pixel_size, 5 * pixel_size, 3 * pixel_size), 20.0)]
    placed = density_from_model(make_structure(atoms), pixel_size, box, center=False)
    assert np.unravel_index(placed.argmax(), placed.shape) == (3, 5, 10)
    centred = density_from_model(make_structure(atoms), pixel_size, box)
    assert np.unravel_index(centred.argmax(), centred.shape) == (box // 2,) * 3


def test_model_outside_box_is_refused():
    structure = make_structure([("C", (-3.0, 5.0, 5.0), 20.0), ("C", (5.0, 5.0, 5.0), 20.0)])
    with pytest.raises(ValueError, match="box"):
        density_from_model(structure, 1.0, 32, center=False)
    with pytest.raises(ValueError, match="box"):
        density_from_model(make_structure([("C", (0, 0, 0), 20.0), ("O", (40, 0, 0), 20.0)]), 1.0, 32)


@pytest.mark.parametrize(
    ("name", "content"),
    [("empty.pdb", b"HEADER    NOTHING HERE\nEND\n"), ("broken.cif", b"data_x\nloop_\n_atom_site.id\n"),
     ("map.mrc", bytes(1024)), ("missing.pdb", None)],
)
def test_unreadable_model_raises_input_error_naming_the_file(tmp_path, name, content):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError, match=name):
        density_from_model(path, 2.0, 16)


def test_reads_pdb_mmcif_and_gzip(tmp_path, shared_data):
    shipped = default_structure(BETAGAL_AXIS_ORDER)  # from data/5a1a.cif.gz
    pdb_gz = tmp_path / "5a1a.pdb.gz"
    with open(shared_data / "models" / "5a1a.pdb", "rb") as src, gzip.open(pdb_gz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    for path in (shared_data / "models" / "5a1a.cif", pdb_gz):
        structure = read_model(path)
        assert structure[0].count_atom_sites() == shipped[0].count_atom_sites() == 33696


# ---------------------------------------------------------------- 5A1A against the real map


def test_betagal_is_d2_symmetric_in_relion_axes(betagal):
    for axes, about in (((1, 2), "z"), ((0, 1), "x"), ((0, 2), "y")):
        assert relative_l2(flip180(betagal, axes), betagal) < 0.02, f"not symmetric under 180° about {about}"
    # A rotation that is not a symmetry operation changes the map a lot: the check can fail.
    assert relative_l2(np.roll(np.rot90(betagal, 1, (1, 2)), 1, 1), betagal) > 0.5


def test_betagal_has_the_real_maps_size(betagal, real_betagal):
    # Size: the outer radius where the max-normalised radial profile (box mean removed) falls
    # to 50% and to 20% of its maximum; ours (low-passed to 8 Å) within 10% of the real map's.
    real = radial_profile(real_betagal)
    ours = radial_profile(match_resolution(betagal))
    for level in (0.5, 0.2):
        assert outer_radius(ours, level) == pytest.approx(outer_radius(real, level), rel=0.10)
    # The metric can fail: a map 30% too small (pixel size 1.3× too large) is caught.
    small = radial_profile(match_resolution(default_structure_map(1.3 * BETAGAL_PIXEL_A, BETAGAL_BOX).astype(float)))
    assert outer_radius(small, 0.5) < 0.9 * outer_radius(real, 0.5)


def test_betagal_orientation_is_the_one_that_matches_the_real_map(betagal, real_betagal):
    chosen = correlation(match_resolution(betagal), real_betagal)
    assert chosen > 0.85
    for order in itertools.permutations(range(3)):
        if order != BETAGAL_AXIS_ORDER:
            other = density_from_model(default_structure(order), BETAGAL_PIXEL_A, BETAGAL_BOX).astype(np.float64)
            assert correlation(match_resolution(other), real_betagal) < chosen - 0.2, order
    # Swapping x and z (axes 0 and 2 of the (z, y, x) array) or mirroring (the other hand) fits worse.
    assert correlation(match_resolution(betagal.transpose(2, 1, 0)), real_betagal) < chosen - 0.15
    assert correlation(match_resolution(flip180(betagal, (0,))), real_betagal) < chosen - 0.15
