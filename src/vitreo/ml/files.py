"""The files of an ML iteration, named and laid out as RELION writes them.

``<prefix>_itNNN_classes.mrcs`` (2D references) or ``<prefix>_itNNN_classNNN.mrc`` (3D maps;
``_itNNN_halfH_classNNN.mrc`` and ``_halfH_model.star`` for the half-sets of a gold-standard
refinement), ``_model.star`` (model_general, model_classes,
model_class_N, model_groups, model_group_N with each group's noise spectrum, and
model_optics_group_N with the particle-weighted mean spectrum as RELION 3.1+ keeps it),
``_data.star`` (optics + particles with their class, angles, offsets and diagnostics),
``_sampling.star`` and ``_optimiser.star`` (whose first line is the command).

Spectra are written in RELION's units: its FFTs are normalised by the number of pixels, so
σ² and tau² of 2D images are vitreo's divided by N⁴ (by N^(2·D) for D-dimensional references).
Every file is written atomically.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

import vitreo
from vitreo.io.atomic import write_text_atomic
from vitreo.io.errors import InputError
from vitreo.io.fsc_table import fsc_table
from vitreo.io.image_refs import format_image_names, parse_image_name, resolve
from vitreo.io.mrc import read_mrc, write_mrc
from vitreo.io.star import Table, read_star, write_star
from vitreo.ml.model import MlModel, ParticleState
from vitreo.ml.particles import ParticleSet

STAR_VERSION = 50001


def iteration_path(prefix: str | os.PathLike[str], iteration: int, suffix: str) -> Path:
    """``<prefix>_itNNN_<suffix>``, e.g. Class2D/job010/run_it025_model.star."""
    return Path(f"{prefix}_it{iteration:03d}_{suffix}")


def relion_power_factor(box: int, ndim: int) -> float:
    """vitreo power per Fourier component divided by RELION's: N^(2·ndim)."""
    return float(box) ** (2 * ndim)


@dataclass(frozen=True)
class OptimiserInfo:
    """What an _optimiser.star records beyond the model and data: RELION's optimiser_general
    values (label → value) and the command that made it."""

    command: str
    values: dict[str, Any]


def _shell_columns(box: int, pixel_size: float) -> tuple[np.ndarray, np.ndarray]:
    index = np.arange(box // 2 + 1)
    return index, index / (box * pixel_size)


def model_blocks(
    model: MlModel,
    classes_path: str,
    group_names: list[str],
    optics_groups: np.ndarray,
    group_optics: np.ndarray,
    *,
    reference_names: list[str] | None = None,
    gold_fsc: torch.Tensor | None = None,
) -> dict[str, Table | dict[str, Any]]:
    """The blocks of a _model.star. ``optics_groups`` (O,) are the optics group numbers and
    ``group_optics`` (G,) the optics group of each group; ``reference_names`` (K,) name each
    class's map (default: images of the stack ``classes_path``); ``gold_fsc`` (N//2+1,) the FSC
    between half-maps (rlnGoldStandardFsc, else 0)."""
    k, box, pixel = model.n_classes, model.box, model.pixel_size
    factor = relion_power_factor(box, model.ndim)
    noise_factor = relion_power_factor(box, 2)
    counts = model.group_counts if model.group_counts is not None else torch.zeros(model.n_groups)
    general = {
        "rlnReferenceDimensionality": model.ndim,
        "rlnDataDimensionality": 2,
        "rlnOriginalImageSize": box,
        "rlnCurrentResolution": model.current_resolution if math.isfinite(model.current_resolution) else 999.0,
        "rlnCurrentImageSize": model.current_size,
        "rlnPaddingFactor": 2.0,
        "rlnIsHelix": 0,
        "rlnFourierSpaceInterpolator": 1,
        "rlnMinRadiusNnInterpolation": 10,
        "rlnPixelSize": pixel,
        "rlnNrClasses": k,
        "rlnNrBodies": 1,
        "rlnNrGroups": model.n_groups,
        "rlnNrOpticsGroups": len(optics_groups),
        "rlnTau2FudgeFactor": model.tau2_fudge,
        "rlnNormCorrectionAverage": model.avg_norm,
        "rlnSigmaOffsetsAngst": model.sigma_offset * pixel,
        "rlnOrientationalPriorMode": 0,
        "rlnSigmaPriorRotAngle": 0.0,
        "rlnSigmaPriorTiltAngle": 0.0,
        "rlnSigmaPriorPsiAngle": 0.0,
        "rlnLogLikelihood": model.log_likelihood,
        "rlnAveragePmax": model.avg_pmax,
    }
    resolution = model.class_resolution if model.class_resolution is not None else torch.full((k,), math.inf)
    accuracy_rot = model.accuracy_rotations if model.accuracy_rotations is not None else torch.full((k,), 999.0)
    accuracy_trans = model.accuracy_translations if model.accuracy_translations is not None else torch.full((k,), 999.0)
    completeness = model.completeness.double()
    overall = [
        float(completeness[c, : max(1, _shell_of(float(resolution[c]), box, pixel)) + 1].mean()) for c in range(k)
    ]
    classes = Table.from_columns(
        {
            "rlnReferenceImage": (
                np.asarray(reference_names, dtype=object) if reference_names is not None
                else format_image_names(np.arange(k), np.full(k, classes_path)).astype(object)
            ),
            "rlnClassDistribution": model.class_distribution.double().numpy(),
            "rlnAccuracyRotations": accuracy_rot.double().numpy(),
            "rlnAccuracyTranslationsAngst": (accuracy_trans.double() * pixel).numpy().clip(max=999.0),
            "rlnEstimatedResolution": resolution.double().numpy(),
            "rlnOverallFourierCompleteness": np.asarray(overall),
            "rlnClassPriorOffsetX": np.zeros(k),
            "rlnClassPriorOffsetY": np.zeros(k),
        }
    )
    blocks: dict[str, Table | dict[str, Any]] = {"model_general": general, "model_classes": classes}
    sigma2_class = model.sigma2_class if model.sigma2_class is not None else torch.zeros_like(model.tau2)
    for c in range(k):
        blocks[f"model_class_{c + 1}"] = fsc_table(
            {
                "rlnSsnrMap": model.ssnr[c].double().numpy(),
                "rlnGoldStandardFsc": np.zeros(box // 2 + 1) if gold_fsc is None else gold_fsc.double().cpu().numpy(),
                "rlnFourierCompleteness": completeness[c].numpy(),
                "rlnReferenceSigma2": sigma2_class[c].double().numpy() / factor,
                "rlnReferenceTau2": model.tau2[c].double().numpy() / factor,
            },
            pixel,
            box,
        )
    index, frequency = _shell_columns(box, pixel)
    blocks["model_groups"] = Table.from_columns(
        {
            "rlnGroupNumber": np.arange(1, model.n_groups + 1),
            "rlnGroupName": np.asarray(group_names, dtype=object),
            "rlnGroupNrParticles": counts.double().numpy().round().astype(np.int64),
            "rlnGroupScaleCorrection": model.scale.double().numpy(),
        }
    )
    sigma2 = model.sigma2_noise.double().numpy() / noise_factor
    for g in range(model.n_groups):
        blocks[f"model_group_{g + 1}"] = Table.from_columns(
            {"rlnSpectralIndex": index, "rlnResolution": frequency, "rlnSigma2Noise": sigma2[g]}
        )
    weights = counts.double().numpy()
    for number in optics_groups:
        members = group_optics == number
        total = weights[members].sum()
        mean = (sigma2[members] * weights[members, None]).sum(0) / total if total > 0 else sigma2[members].mean(0)
        blocks[f"model_optics_group_{int(number)}"] = Table.from_columns(
            {"rlnSpectralIndex": index, "rlnResolution": frequency, "rlnSigma2Noise": mean}
        )
    return blocks


def _shell_of(resolution: float, box: int, pixel_size: float) -> int:
    if not math.isfinite(resolution) or resolution <= 0:
        return 0
    return min(box // 2, int(round(box * pixel_size / resolution)))


def data_blocks(
    particles: ParticleSet, state: ParticleState, extra_columns: dict[str, np.ndarray] | None = None
) -> dict[str, Table | dict[str, Any]]:
    """The blocks of a _data.star: the input optics and particles with the new alignment columns
    (and ``extra_columns``, e.g. rlnRandomSubset)."""
    pixel = particles.pixel_size
    columns = dict(particles.table.particles.columns)
    angles = torch.rad2deg(state.angles.double())
    psi = torch.remainder(angles[:, 2] + 180.0, 360.0) - 180.0
    columns.update(
        {
            "rlnClassNumber": state.class_index.numpy() + 1,
            "rlnAngleRot": angles[:, 0].numpy(),
            "rlnAngleTilt": angles[:, 1].numpy(),
            "rlnAnglePsi": psi.numpy(),
            "rlnOriginXAngst": state.offsets[:, 0].double().numpy() * pixel,
            "rlnOriginYAngst": state.offsets[:, 1].double().numpy() * pixel,
            "rlnGroupNumber": particles.groups.numpy() + 1,
            "rlnNormCorrection": state.norm.double().numpy(),
            "rlnLogLikeliContribution": state.log_likelihood.double().numpy(),
            "rlnMaxValueProbDistribution": state.pmax.double().numpy(),
            "rlnNrOfSignificantSamples": state.n_significant.numpy().astype(np.int64),
            **(extra_columns or {}),
        }
    )
    blocks: dict[str, Table | dict[str, Any]] = {}
    if particles.table.optics is not None:
        blocks["optics"] = particles.table.optics
    blocks["particles"] = Table.from_columns(columns)
    return blocks


def sampling_block(
    psi_step: float, offset_range_px: float, offset_step_px: float, pixel_size: float, perturbation: float,
    healpix_order: int = 2, is_3d: bool = False,
) -> dict[str, Any]:
    """data_sampling_general: coarse psi step (°), offset range and step (Å), the perturbation."""
    return {
        "rlnIs3DSampling": int(is_3d),
        "rlnIs3DTranslationalSampling": 0,
        "rlnPsiStep": psi_step,
        "rlnOffsetRange": offset_range_px * pixel_size,
        "rlnOffsetStep": offset_step_px * pixel_size,
        "rlnHelicalOffsetStep": -1.0,
        "rlnSamplingPerturbInstance": perturbation,
        "rlnSamplingPerturbFactor": 0.5,
        "rlnHealpixOrderOriginal": healpix_order,
        "rlnPsiStepOriginal": psi_step,
        "rlnOffsetRangeOriginal": offset_range_px * pixel_size,
        "rlnOffsetStepOriginal": offset_step_px * pixel_size,
    }


def map_paths(stem: str | os.PathLike[str], n_classes: int) -> list[Path]:
    """``<stem>_classNNN.mrc`` for each 3D class, e.g. run_it005_half1_class001.mrc."""
    return [Path(f"{stem}_class{c + 1:03d}.mrc") for c in range(n_classes)]


def write_references(stem: str | os.PathLike[str], model: MlModel) -> list[str]:
    """Write the references: 2D as the stack ``<stem>_classes.mrcs``, 3D as one map per class;
    returns each class's rlnReferenceImage."""
    if model.ndim == 2:
        path = Path(f"{stem}_classes.mrcs")
        write_mrc(path, model.references.float().numpy(), model.pixel_size, is_stack=True)
        return list(format_image_names(np.arange(model.n_classes), np.full(model.n_classes, str(path))))
    paths = map_paths(stem, model.n_classes)
    for path, reference in zip(paths, model.references):
        write_mrc(path, reference.float().numpy(), model.pixel_size)
    return [str(path) for path in paths]


def write_model(
    path: str | os.PathLike[str], model: MlModel, particles: ParticleSet, reference_names: list[str],
    gold_fsc: torch.Tensor | None = None,
) -> None:
    """Write a _model.star for ``model`` whose class maps are ``reference_names``."""
    optics_numbers, group_optics = _group_optics(particles)
    blocks = model_blocks(
        model, "", particles.group_names, optics_numbers, group_optics, reference_names=reference_names, gold_fsc=gold_fsc
    )
    write_star(path, blocks, version=STAR_VERSION)


def write_iteration(
    prefix: str | os.PathLike[str],
    iteration: int,
    model: MlModel,
    state: ParticleState,
    particles: ParticleSet,
    sampling: dict[str, Any],
    optimiser: OptimiserInfo,
    *,
    half_models: tuple[MlModel, MlModel] | None = None,
    gold_fsc: torch.Tensor | None = None,
    extra_columns: dict[str, np.ndarray] | None = None,
) -> dict[str, Path]:
    """Write the files of an iteration; returns their paths by kind. With ``half_models`` (a
    gold-standard refinement) ``model`` is ignored and each half gets its maps and model file
    (``model`` and ``model2``), as RELION's _itNNN_halfH_*."""
    paths = {kind: iteration_path(prefix, iteration, name) for kind, name in (
        ("model", "model.star"), ("data", "data.star"), ("sampling", "sampling.star"), ("optimiser", "optimiser.star"),
    )}
    stem = f"{prefix}_it{iteration:03d}"
    if half_models is None:
        names = write_references(stem, model)
        if model.ndim == 2:
            paths["classes"] = Path(f"{stem}_classes.mrcs")
        write_model(paths["model"], model, particles, names)
    else:
        for h, half in enumerate(half_models, start=1):
            key = "model" if h == 1 else "model2"
            paths[key] = iteration_path(prefix, iteration, f"half{h}_model.star")
            write_model(paths[key], half, particles, write_references(f"{stem}_half{h}", half), gold_fsc)
    write_star(paths["data"], data_blocks(particles, state, extra_columns), version=STAR_VERSION)
    write_star(paths["sampling"], {"sampling_general": sampling}, version=STAR_VERSION)
    general = {
        "rlnOutputRootName": str(prefix),
        "rlnModelStarFile": str(paths["model"]),
        **({"rlnModelStarFile2": str(paths["model2"])} if "model2" in paths else {}),
        "rlnExperimentalDataStarFile": str(paths["data"]),
        "rlnOrientSamplingStarFile": str(paths["sampling"]),
        "rlnCurrentIteration": iteration,
        **optimiser.values,
    }
    write_star(paths["optimiser"], {"optimiser_general": general}, version=STAR_VERSION)
    text = paths["optimiser"].read_text(encoding="utf-8")
    header = f"# {optimiser.command}\n# vitreo optimiser; version {vitreo.__version__}\n"
    write_text_atomic(paths["optimiser"], header + text)
    return paths


def _group_optics(particles: ParticleSet) -> tuple[np.ndarray, np.ndarray]:
    """Optics group numbers (O,) and the optics group of each particle group (G,) (its first particle's)."""
    columns = particles.table.columns
    optics = np.asarray(columns.get("rlnOpticsGroup", np.ones(len(particles))), dtype=np.int64)
    groups = particles.groups.numpy()
    first = np.zeros(particles.n_groups, dtype=np.int64)
    first[groups[::-1]] = np.arange(len(groups))[::-1]
    return np.unique(optics), optics[first]


@dataclass(frozen=True)
class SavedIteration:
    """An iteration read back for continuing: its number, model, particle state, data STAR path,
    and the optimiser values it recorded."""

    iteration: int
    model: MlModel
    state: ParticleState
    data_star: Path
    optimiser: dict[str, Any]
    model2: MlModel | None = None
    sampling: dict[str, Any] | None = None


def read_iteration(optimiser_star: str | os.PathLike[str], project_dir: str | os.PathLike[str] = ".") -> SavedIteration:
    """Read an _optimiser.star and the model, data and class files it names (relative to ``project_dir``)."""
    optimiser_star = Path(optimiser_star)
    general = read_star(optimiser_star).get("optimiser_general")
    if not isinstance(general, dict) or "rlnModelStarFile" not in general:
        raise InputError(optimiser_star, "not an optimiser file (needs data_optimiser_general with rlnModelStarFile)")
    model_path = resolve(general["rlnModelStarFile"], project_dir)
    data_path = resolve(general["rlnExperimentalDataStarFile"], project_dir)
    blocks = read_star(model_path)
    model = _read_model(model_path, blocks, project_dir)
    data = read_star(data_path).get("particles")
    if not isinstance(data, Table):
        raise InputError(data_path, "no data_particles block")
    state = _read_state(data_path, data, model.pixel_size)
    model2 = None
    if "rlnModelStarFile2" in general:
        path2 = resolve(general["rlnModelStarFile2"], project_dir)
        model2 = _read_model(path2, read_star(path2), project_dir)
    sampling = None
    if "rlnOrientSamplingStarFile" in general:
        sampling_path = resolve(general["rlnOrientSamplingStarFile"], project_dir)
        if sampling_path.exists():
            block = read_star(sampling_path).get("sampling_general")
            sampling = block if isinstance(block, dict) else None
    return SavedIteration(int(general.get("rlnCurrentIteration", 0)), model, state, data_path, general, model2, sampling)


def _read_model(path: Path, blocks: dict[str, Any], project_dir: str | os.PathLike[str]) -> MlModel:
    general, classes = blocks.get("model_general"), blocks.get("model_classes")
    if not isinstance(general, dict) or not isinstance(classes, Table):
        raise InputError(path, "not a model file (needs data_model_general and data_model_classes)")
    box, pixel = int(general["rlnOriginalImageSize"]), float(general["rlnPixelSize"])
    ndim = int(general["rlnReferenceDimensionality"])
    k, n_groups = int(general["rlnNrClasses"]), int(general["rlnNrGroups"])
    factor, noise_factor = relion_power_factor(box, ndim), relion_power_factor(box, 2)
    names = [str(name) for name in classes["rlnReferenceImage"]]
    if ndim == 3:
        maps = [read_mrc(resolve(parse_image_name(name).path, project_dir))[0] for name in names]
        references = torch.from_numpy(np.stack(maps).astype(np.float32).reshape(k, box, box, box))
    else:
        stack, _ = read_mrc(resolve(parse_image_name(names[0]).path, project_dir))
        references = torch.from_numpy(np.asarray(stack, dtype=np.float32).reshape(k, *(box,) * ndim))

    def per_class(label: str) -> torch.Tensor:
        return torch.stack([torch.from_numpy(np.asarray(blocks[f"model_class_{c + 1}"][label], np.float32)) for c in range(k)])

    groups = blocks["model_groups"]
    sigma2 = torch.stack(
        [torch.from_numpy(np.asarray(blocks[f"model_group_{g + 1}"]["rlnSigma2Noise"], np.float64)) for g in range(n_groups)]
    )
    resolution = float(general["rlnCurrentResolution"])
    return MlModel(
        references=references,
        class_distribution=torch.from_numpy(np.asarray(classes["rlnClassDistribution"], np.float32)),
        sigma2_noise=(sigma2 * noise_factor).float(),
        scale=torch.from_numpy(np.asarray(groups["rlnGroupScaleCorrection"], np.float32)),
        tau2=(per_class("rlnReferenceTau2").double() * factor).float(),
        ssnr=per_class("rlnSsnrMap"),
        completeness=per_class("rlnFourierCompleteness"),
        pixel_size=pixel,
        tau2_fudge=float(general["rlnTau2FudgeFactor"]),
        sigma_offset=float(general["rlnSigmaOffsetsAngst"]) / pixel,
        current_size=int(general["rlnCurrentImageSize"]),
        current_resolution=math.inf if resolution >= 999.0 else resolution,
        avg_norm=float(general["rlnNormCorrectionAverage"]),
        log_likelihood=float(general["rlnLogLikelihood"]),
        avg_pmax=float(general["rlnAveragePmax"]),
        class_resolution=torch.from_numpy(np.asarray(classes["rlnEstimatedResolution"], np.float64)),
        group_counts=torch.from_numpy(np.asarray(groups["rlnGroupNrParticles"], np.float64)),
    )


def _read_state(path: Path, data: Table, pixel_size: float) -> ParticleState:
    for label in ("rlnClassNumber", "rlnAnglePsi", "rlnOriginXAngst", "rlnOriginYAngst"):
        if label not in data:
            raise InputError(path, f"missing column {label}")
    n = len(data)

    def column(label: str, default: float = 0.0) -> torch.Tensor:
        values = np.asarray(data[label], np.float64) if label in data else np.full(n, default)
        return torch.from_numpy(values)

    angles = torch.deg2rad(torch.stack([column("rlnAngleRot"), column("rlnAngleTilt"), column("rlnAnglePsi")], 1))
    offsets = torch.stack([column("rlnOriginXAngst"), column("rlnOriginYAngst")], 1) / pixel_size
    state = ParticleState.initial(offsets, column("rlnNormCorrection", 1.0))
    state.class_index = column("rlnClassNumber").long() - 1
    state.angles = angles
    state.pmax = column("rlnMaxValueProbDistribution")
    state.n_significant = column("rlnNrOfSignificantSamples").long()
    state.log_likelihood = column("rlnLogLikeliContribution")
    return state
