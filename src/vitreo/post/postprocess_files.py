"""postprocess.star (RELION's data_general, data_fsc and data_guinier blocks) and postprocess_fsc.xml."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from vitreo.io.atomic import write_text_atomic
from vitreo.io.fsc_table import fsc_table
from vitreo.io.star import Table
from vitreo.post.postprocess import PostProcessResult


def postprocess_blocks(result: PostProcessResult, half1: str, half2: str, mask: str) -> dict[str, Any]:
    """The blocks relion_postprocess writes, with its labels and in its order (a mask is always used)."""
    general: dict[str, Any] = {
        "rlnFinalResolution": result.resolution if np.isfinite(result.resolution) else 999.0,
        "rlnBfactorUsedForSharpening": result.bfactor,
        "rlnUnfilteredMapHalf1": half1,
        "rlnUnfilteredMapHalf2": half2,
        "rlnMaskName": mask,
        "rlnRandomiseFrom": result.randomise_from,
    }
    if result.fit is not None:
        general["rlnFittedSlopeGuinierPlot"] = result.fit.slope
        general["rlnFittedInterceptGuinierPlot"] = result.fit.intercept
        general["rlnCorrelationFitGuinierPlot"] = result.fit.correlation
    return {
        "general": general,
        "fsc": fsc_table(fsc_curves(result), result.pixel_size, result.box),
        "guinier": Table.from_columns(result.guinier),
    }


def fsc_curves(result: PostProcessResult) -> dict[str, np.ndarray]:
    """The four FSC curves under RELION's data_fsc labels, in its column order."""
    return {
        "rlnFourierShellCorrelationCorrected": result.fsc_corrected,
        "rlnFourierShellCorrelationUnmaskedMaps": result.fsc_unmasked,
        "rlnFourierShellCorrelationMaskedMaps": result.fsc_masked,
        "rlnCorrectedFourierShellCorrelationPhaseRandomizedMaskedMaps": result.fsc_random_masked,
    }


def write_fsc_xml(path: str | os.PathLike[str], result: PostProcessResult) -> None:
    """The corrected FSC against resolution (1/Å) in the XML form EMDB takes (RELION's postprocess_fsc.xml)."""
    frequencies = np.arange(result.box // 2 + 1) / (result.box * result.pixel_size)
    frequencies[0] = 1.0 / 999.0
    points = "".join(f"  <coordinate>\n    <x>{x:g}</x>\n    <y>{y:g}</y>\n  </coordinate>\n"
                     for x, y in zip(frequencies, result.fsc_corrected))
    write_text_atomic(path, '<fsc title="RELION masked-corrected FSC" xaxis="Resolution (A-1)" '
                            f'yaxis="Correlation Coefficient">\n{points}</fsc>\n')


__all__ = ["postprocess_blocks", "fsc_curves", "write_fsc_xml"]
