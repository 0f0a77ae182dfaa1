"""Options shared by the 3D job types Class3D and Refine3D (RELION's names, labels and defaults):
the reference and mask (tab Reference) and RELION's angular sampling choices."""

from __future__ import annotations

from typing import Any

from vitreo.jobs import node_types
from vitreo.jobs.options import JobOption, OptionKind, Params

REFERENCE = "Reference"
#: RELION's GUI angular sampling: the step after one order of oversampling; index = HEALPix order
SAMPLING_CHOICES = ("30 degrees", "15 degrees", "7.5 degrees", "3.7 degrees", "1.8 degrees", "0.9 degrees",
                    "0.5 degrees", "0.2 degrees", "0.1 degrees")


def reference_options(ini_high_default: str = "60") -> tuple[JobOption, ...]:
    """fn_img's companions: fn_ref, fn_mask, ref_correct_greyscale, ini_high, sym_name."""
    yes_no = OptionKind.BOOLEAN
    return (
        JobOption("fn_ref", "Reference map:", "", OptionKind.INPUT_NODE, "I/O",
                  "A 3D map in MRC format with the particles' box and pixel size (resample it with `vitreo image "
                  "handle --rescale`).", node_type=node_types.MAP, pattern="Image Files (*.{spi,vol,mrc})"),
        JobOption("fn_mask", "Reference mask (optional):", "", OptionKind.INPUT_NODE, "I/O",
                  "A solvent mask (values in [0, 1], e.g. from MaskCreate) multiplied with the references after every "
                  "iteration. Empty: a soft sphere of the particle diameter.",
                  node_type=node_types.MASK, pattern="Image Files (*.{spi,vol,msk,mrc})"),
        JobOption("ref_correct_greyscale", "Ref. map is on absolute greyscale?", "Yes", yes_no, REFERENCE,
                  "Yes for a map made by RELION/vitreo from these particles. No (e.g. a map from a PDB model or another "
                  "program): the map is first scaled to the particles' signal level."),
        JobOption("ini_high", "Initial low-pass filter (A):", ini_high_default, OptionKind.NUMBER, REFERENCE,
                  "The reference is low-pass filtered to this resolution (Å) before the first iteration, so that it "
                  "does not bias the result with high-resolution details.", minimum=0, maximum=200),
        JobOption("sym_name", "Symmetry:", "C1", OptionKind.TEXT, REFERENCE,
                  "The point group in RELION's conventions (C1, Cn, Dn, T, O, I1-I4): the map must have its symmetry "
                  "axes where RELION expects them (`vitreo image align-symmetry`)."),
    )


def sampling_option(default: str = "7.5 degrees", name: str = "sampling", label: str = "Angular sampling interval:") -> JobOption:
    """An angular sampling choice (the step after oversampling)."""
    return JobOption(name, label, default, OptionKind.RADIO, "Sampling",
                     "The angular step after one order of adaptive oversampling: the coarse search uses a HEALPix "
                     "grid twice as coarse.", choices=SAMPLING_CHOICES, on_continue=True)


def healpix_order(params: Params, name: str = "sampling") -> int:
    """The HEALPix order (before oversampling) of a sampling choice."""
    text = params.text(name)
    if text not in SAMPLING_CHOICES:
        raise ValueError(f"{name} must be one of {', '.join(SAMPLING_CHOICES)}, not {text!r}")
    return SAMPLING_CHOICES.index(text)


def reference_settings(params: Params) -> dict[str, Any]:
    """The engine settings of :func:`reference_options` and the angular sampling, as keyword
    arguments: ini_high (Å), symmetry (C1 when empty), healpix_order, absolute_greyscale."""
    return dict(
        ini_high=params.number("ini_high"),
        symmetry=params.text("sym_name") or "C1",
        healpix_order=healpix_order(params),
        absolute_greyscale=params.flag("ref_correct_greyscale"),
    )


__all__ = ["REFERENCE", "SAMPLING_CHOICES", "reference_options", "sampling_option", "healpix_order",
           "reference_settings"]
