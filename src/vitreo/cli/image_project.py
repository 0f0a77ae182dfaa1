"""`vitreo image project`: projections of a map with a particles STAR file, like relion_project.

Orientations: N uniformly random ones (--nr-uniform), a HEALPix grid (--healpix-order: every
direction of that order × psi at the same step), or those of a particles STAR file (--ang, with its
offsets and, with --ctf, its CTFs). --sym keeps generated directions in RELION's asymmetric unit.
Writes DIR/proj.mrcs and DIR/proj.star (RELION 3.1+: data_optics + data_particles with
rlnImageName, rlnAngleRot/Tilt/Psi, rlnOriginXAngst/YAngst and, with --ctf, the CTF columns).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from vitreo.io.errors import InputError

STEM = "proj"


def _generated_orientations(count: int, order: int, sym: str, generator: Any) -> Any:
    """RELION matrices (n, 3, 3): ``count`` random uniform ones (directions in the asymmetric unit of ``sym``),
    or with ``order`` ≥ 0 every asymmetric-unit HEALPix direction of that order × psi at its step."""
    import torch

    from vitreo.em.geometry import euler_to_matrix, matrix_to_euler, random_rotations
    from vitreo.em.sampling import angular_step_deg, asymmetric_unit_directions, psi_angles
    from vitreo.em.symmetry import in_asymmetric_unit

    if order >= 0:
        directions = asymmetric_unit_directions(order, sym)
        psi = psi_angles(angular_step_deg(order))
        rot, p = torch.meshgrid(directions.rot, psi, indexing="ij")
        tilt, _ = torch.meshgrid(directions.tilt, psi, indexing="ij")
        return euler_to_matrix(rot.reshape(-1), tilt.reshape(-1), p.reshape(-1))
    kept: list[torch.Tensor] = []
    found = 0
    while found < count:  # rejection: uniform rotations whose direction lies in the asymmetric unit
        batch = random_rotations(max(2 * (count - found), 64), generator=generator)
        rot, tilt, _ = matrix_to_euler(batch)
        batch = batch[in_asymmetric_unit(rot, tilt, sym)]
        kept.append(batch)
        found += len(batch)
    return torch.cat(kept)[:count]


def _angles_table(star: Path, pixel_size: float) -> tuple[Any, Any]:
    """The particles and optics tables of a --ang STAR file (2.x/3.0 files are converted)."""
    from vitreo.io.star import Table, read_star
    from vitreo.io.star_convert import convert_to_relion31

    blocks = convert_to_relion31(read_star(star), pixel_size)
    table = blocks.get("particles")
    if not isinstance(table, Table) or len(table) == 0:
        raise InputError(star, "no particles (needs a data_particles loop with rows)")
    for label in ("rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi"):
        if label not in table:
            raise InputError(star, f"missing column {label}")
    optics = blocks.get("optics")
    return table, optics if isinstance(optics, Table) else None


def _file_ctf(star: Path, table: Any, optics: Any) -> Any:
    """Per-particle CTFs (float64) from the --ang file's columns and optics groups."""
    import torch

    from vitreo.em.ctf import CtfParams
    from vitreo.io.optics import with_optics

    try:
        columns = with_optics(table, optics) if optics is not None else dict(table.columns)
        return CtfParams.from_columns(columns, dtype=torch.float64)
    except (ValueError, InputError) as err:
        raise InputError(star, f"--ctf: {err}") from None


def project_command(
    map_path: Annotated[Path, typer.Argument(metavar="MAP", help="Map to project (.mrc).")],
    output_dir: Annotated[Path, typer.Option("-o", "--o", help="Output folder for proj.mrcs and proj.star.")],
    nr_uniform: Annotated[int, typer.Option("--nr-uniform", "--nr_uniform", help="Number of random uniform orientations.")] = 0,
    healpix_order: Annotated[
        int, typer.Option("--healpix-order", help="Instead: every HEALPix direction of this order (2: 15°) × psi.")
    ] = -1,
    ang: Annotated[Path | None, typer.Option("--ang", help="Instead: the orientations (and offsets, CTFs) of this STAR file.")] = None,
    sym: Annotated[str, typer.Option("--sym", help="Generate directions in this point group's asymmetric unit.")] = "C1",
    ctf: Annotated[bool, typer.Option("--ctf", help="Apply a CTF (from --ang, or random defocus for generated ones).")] = False,
    defocus_min: Annotated[float, typer.Option("--defocus-min", help="Random defocus range: lowest (Å).")] = 10000.0,
    defocus_max: Annotated[float, typer.Option("--defocus-max", help="Random defocus range: highest (Å).")] = 25000.0,
    voltage: Annotated[float, typer.Option("--voltage", help="Voltage (kV) of generated CTFs.")] = 300.0,
    cs: Annotated[float, typer.Option("--cs", help="Spherical aberration (mm) of generated CTFs.")] = 2.7,
    q0: Annotated[float, typer.Option("--q0", help="Amplitude contrast of generated CTFs.")] = 0.1,
    max_offset: Annotated[float, typer.Option("--max-offset", help="Random offsets up to this many pixels in x and y.")] = 0.0,
    add_noise: Annotated[bool, typer.Option("--add-noise", "--add_noise", help="Add white Gaussian noise.")] = False,
    white_noise: Annotated[
        float, typer.Option("--white-noise", "--white_noise", help="Standard deviation of the noise per pixel.")
    ] = 0.0,
    maxres: Annotated[float, typer.Option("--maxres", help="Highest resolution in the projections (Å); default Nyquist.")] = -1.0,
    angpix: Annotated[float, typer.Option("--angpix", help="Pixel size (Å); default: the map's header.")] = 0.0,
    seed: Annotated[int, typer.Option("--random-seed", help="Seed for orientations, defocus, offsets and noise.")] = 0,
) -> None:
    """Project a map at many orientations; write an MRCS stack and a particles STAR file that RELION reads."""
    import torch

    from vitreo.cli.image_io import check_symmetry, read_map, require_pixel_size
    from vitreo.cli.progress import progress_bar
    from vitreo.em.ctf import CtfParams
    from vitreo.em.geometry import euler_degrees_to_matrix
    from vitreo.em.projection_images import render_projections
    from vitreo.em.projector import Projector
    from vitreo.io.image_refs import format_image_names
    from vitreo.io.mrc import write_mrc
    from vitreo.io.star import Table, write_star

    chosen = [name for name, on in (("--nr-uniform", nr_uniform > 0), ("--healpix-order", healpix_order >= 0),
                                     ("--ang", ang is not None)) if on]
    if len(chosen) != 1:
        raise ValueError("give exactly one of --nr-uniform N, --healpix-order K and --ang STAR")
    if add_noise and white_noise <= 0:
        raise ValueError("--add-noise needs --white-noise SIGMA > 0")
    group = check_symmetry(sym)
    image = read_map(map_path, angpix or None)
    pixel_size = require_pixel_size(map_path, image.pixel_size, "projection")
    box = image.data.shape[-1]
    generator = torch.Generator().manual_seed(seed)

    origins = None
    ctf_params = None
    if ang is not None:
        if group != "C1":
            raise ValueError("--sym applies to generated orientations, not to --ang")
        table, optics = _angles_table(ang, pixel_size)
        rotations = euler_degrees_to_matrix(*(table[label] for label in ("rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi")))
        columns = {label: np.asarray(table[label], np.float64) if label in table else np.zeros(len(table))
                   for label in ("rlnOriginXAngst", "rlnOriginYAngst")}
        origins = torch.from_numpy(np.stack([columns["rlnOriginXAngst"], columns["rlnOriginYAngst"]], 1) / pixel_size)
        if ctf:
            ctf_params = _file_ctf(ang, table, optics)
    else:
        rotations = _generated_orientations(nr_uniform, healpix_order, group, generator)
        n = len(rotations)
        table, optics = Table(), None
        if max_offset > 0:
            origins = (torch.rand(n, 2, generator=generator, dtype=torch.float64) * 2 - 1) * max_offset
        if ctf:
            defocus = defocus_min + torch.rand(n, generator=generator, dtype=torch.float64) * (defocus_max - defocus_min)
            ctf_params = CtfParams.from_values(defocus_u=defocus, voltage=voltage, cs=cs, amplitude_contrast=q0,
                                               dtype=torch.float64)
    n = len(rotations)
    projector = Projector(torch.from_numpy(image.data).to(torch.float32))
    max_radius = box * pixel_size / maxres if maxres > 0 else None
    with progress_bar("projecting", n) as advance:
        images = render_projections(projector, rotations.to(torch.float32), pixel_size, origins=origins,
                                    ctf=ctf_params, max_radius=max_radius, progress=advance)
    if add_noise:
        for part in images.split(1024):  # in place, a chunk at a time
            part += white_noise * torch.randn(part.shape, generator=generator, dtype=part.dtype)

    stack_path = output_dir / f"{STEM}.mrcs"
    write_mrc(stack_path, images.numpy(), pixel_size, is_stack=True)
    particles = table.copy()
    particles["rlnImageName"] = format_image_names(np.arange(n), str(stack_path)).astype(object)
    if ang is None:
        _add_generated_columns(particles, rotations, origins, ctf_params, pixel_size)
    if "rlnOpticsGroup" not in particles:
        particles["rlnOpticsGroup"] = np.ones(n, dtype=np.int64)
    optics = _optics(optics, pixel_size, box, (voltage, cs, q0) if ctf and ang is None else None)
    star_path = output_dir / f"{STEM}.star"
    write_star(star_path, {"optics": optics, "particles": particles})
    typer.echo(f"wrote {n} projections to {stack_path} and {star_path} ({box} px, {pixel_size:.4g} Å/px)")


def _add_generated_columns(particles: Any, rotations: Any, origins: Any, ctf: Any, pixel_size: float) -> None:
    """Angles (degrees), offsets (Å) and, with a CTF, defocus columns of generated projections."""
    from vitreo.em.geometry import matrix_to_euler

    n = len(rotations)
    for label, angle in zip(("rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi"), matrix_to_euler(rotations.double())):
        particles[label] = np.degrees(angle.numpy())
    offsets = np.zeros((n, 2)) if origins is None else origins.double().numpy() * pixel_size
    particles["rlnOriginXAngst"], particles["rlnOriginYAngst"] = offsets[:, 0], offsets[:, 1]
    particles["rlnOpticsGroup"] = np.ones(n, dtype=np.int64)
    if ctf is not None:
        particles["rlnDefocusU"] = ctf.defocus_u.numpy()
        particles["rlnDefocusV"] = ctf.defocus_v.numpy()
        particles["rlnDefocusAngle"] = ctf.defocus_angle.numpy()


def _optics(optics: Any, pixel_size: float, box: int, acquisition: tuple[float, float, float] | None) -> Any:
    """The data_optics table: the --ang file's (with this map's pixel and box size) or a new single group."""
    from vitreo.io.star import Table

    if optics is None:
        optics = Table.from_columns({"rlnOpticsGroupName": np.array(["opticsGroup1"], dtype=object),
                                     "rlnOpticsGroup": np.array([1])})
    else:
        optics = optics.copy()
    rows = len(optics)
    if acquisition is not None:
        for label, value in zip(("rlnVoltage", "rlnSphericalAberration", "rlnAmplitudeContrast"), acquisition):
            optics[label] = np.full(rows, value)
    optics["rlnImagePixelSize"] = np.full(rows, pixel_size)
    optics["rlnImageSize"] = np.full(rows, box)
    optics["rlnImageDimensionality"] = np.full(rows, 2)
    return optics

