"""`vitreo reconstruct` from the command line."""

from __future__ import annotations

from pathlib import Path

import mrcfile
import torch

from tests.cli.test_cli import assert_one_line_error, run_cli
from vitreo.em.fsc import fsc
from vitreo.simulate.particle_stack import StackSettings, simulate_particle_stack, write_particle_stack
from vitreo.simulate.structures import default_structure_map


def test_reconstruct_gold_standard(tmp_path: Path) -> None:
    truth = torch.from_numpy(default_structure_map(7.08, 50))
    settings = StackSettings(n_particles=800, snr=float("inf"))
    write_particle_stack(simulate_particle_stack(truth, 7.08, settings, torch.Generator().manual_seed(3)), settings, tmp_path)
    result = run_cli(
        "reconstruct", "--i", "Particles/particles.star", "--o", "Reconstruct/map.mrc", "--gold-standard", "--sym", "D2",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "gold-standard resolution" in result.stdout
    for name in ("map.mrc", "map_half1.mrc", "map_half2.mrc", "map_fsc.star"):
        assert (tmp_path / "Reconstruct" / name).is_file()
    with mrcfile.open(tmp_path / "Reconstruct" / "map.mrc") as mrc:
        assert float(mrc.voxel_size.x) == 7.08 or abs(float(mrc.voxel_size.x) - 7.08) < 1e-4
        volume = torch.from_numpy(mrc.data.copy())
    assert float(fsc(volume, truth)[1:20].min()) > 0.9


def test_reconstruct_bad_symmetry(tmp_path: Path) -> None:
    truth = torch.from_numpy(default_structure_map(7.08, 50))
    settings = StackSettings(n_particles=4, snr=float("inf"))
    write_particle_stack(simulate_particle_stack(truth, 7.08, settings, torch.Generator()), settings, tmp_path)
    result = run_cli("reconstruct", "--i", "Particles/particles.star", "--o", "m.mrc", "--sym", "X7", cwd=tmp_path)
    assert_one_line_error(result, "X7")
    assert not (tmp_path / "m.mrc").exists()
