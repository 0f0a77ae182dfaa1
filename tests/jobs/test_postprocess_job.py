"""The PostProcess job: RELION's outputs (postprocess.star with the real file's blocks and labels), resolution
and B-factor against the truth of the simulated half-maps, and clear errors for bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.picking.job_runner import run_job
from tests.post.project import BOX, HALF1, HALF2, MASK, PIXEL, write_half_maps
from vitreo.io.errors import InputError
from vitreo.io.mrc import read_mrc, write_mrc
from vitreo.io.star import Table, read_star
from vitreo.jobs.postprocess_job import job_spec

REAL_POSTPROCESS = "star/starfile/postprocess.star"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    write_half_maps(tmp_path)
    return tmp_path


def _labels(blocks: dict) -> dict[str, list[str]]:
    return {name: (block.labels if isinstance(block, Table) else list(block)) for name, block in blocks.items()}


def test_postprocess_writes_relions_outputs(project: Path) -> None:
    job = run_job(job_spec(), {"fn_in": HALF1, "fn_mask": MASK, "angpix": str(PIXEL)}, "PostProcess/job002")
    for name in ("postprocess.mrc", "postprocess_masked.mrc", "postprocess.star", "logfile.pdf",
                 "postprocess_fsc.xml"):
        assert (job / name).is_file(), name
    blocks = read_star(job / "postprocess.star")
    general = blocks["general"]
    assert general["rlnUnfilteredMapHalf1"] == HALF1 and general["rlnUnfilteredMapHalf2"] == HALF2
    assert general["rlnMaskName"] == MASK
    assert 4.0 <= general["rlnFinalResolution"] <= 6.5  # half-maps made with an FSC of 0.143 at 5 Å
    assert general["rlnBfactorUsedForSharpening"] == pytest.approx(-200, rel=0.25)
    assert general["rlnFittedSlopeGuinierPlot"] == pytest.approx(general["rlnBfactorUsedForSharpening"] / 4)
    assert len(blocks["fsc"]) == BOX // 2 + 1 and len(blocks["guinier"]) == BOX // 2 + 1
    sharpened, pixel = read_mrc(job / "postprocess.mrc")
    assert sharpened.shape == (BOX,) * 3 and pixel == pytest.approx(PIXEL)
    masked, _ = read_mrc(job / "postprocess_masked.mrc")
    mask, _ = read_mrc(MASK)
    np.testing.assert_allclose(masked, sharpened * mask, atol=1e-5)


def test_star_file_has_the_blocks_and_labels_of_relions(project: Path, shared_data: Path) -> None:
    real = _labels(read_star(shared_data / REAL_POSTPROCESS))
    # the real file: no B-factor, no MTF, FSC weighting (relion_postprocess --mask --angpix)
    job = run_job(job_spec(), {"fn_in": HALF1, "fn_mask": MASK, "do_auto_bfac": "No"}, "PostProcess/job003")
    ours = _labels(read_star(job / "postprocess.star"))
    assert ours == real
    sharpened = run_job(job_spec(), {"fn_in": HALF1, "fn_mask": MASK, "fn_mtf": "k2_300kV", "mtf_angpix": "1.0"},
                        "PostProcess/job004")
    labels = _labels(read_star(sharpened / "postprocess.star"))
    assert list(labels) == list(real) and labels["fsc"] == real["fsc"]
    assert labels["general"] == real["general"] + ["rlnFittedSlopeGuinierPlot", "rlnFittedInterceptGuinierPlot",
                                                   "rlnCorrelationFitGuinierPlot"]
    assert labels["guinier"] == ["rlnResolutionSquared", "rlnLogAmplitudesOriginal", "rlnLogAmplitudesMTFCorrected",
                                 "rlnLogAmplitudesWeighted", "rlnLogAmplitudesSharpened", "rlnLogAmplitudesIntercept"]


def test_hard_mask_is_warned_about_in_the_log(project: Path, caplog: pytest.LogCaptureFixture) -> None:
    mask, _ = read_mrc(MASK)
    write_mrc("masks/hard.mrc", (mask > 0.5).astype(np.float32), PIXEL)
    run_job(job_spec(), {"fn_in": HALF1, "fn_mask": "masks/hard.mrc"}, "PostProcess/job005")
    assert "hard edge" in caplog.text and "WARNING" in caplog.text


def test_bad_input_is_one_clear_error(project: Path) -> None:
    spec = job_spec()
    with pytest.raises(ValueError, match="solvent mask"):
        spec.validate(spec.params({"fn_in": HALF1}))
    with pytest.raises(ValueError, match="not both"):
        spec.validate(spec.params({"fn_in": HALF1, "fn_mask": MASK, "do_adhoc_bfac": "Yes"}))
    write_mrc("lonely_map.mrc", np.zeros((BOX,) * 3, np.float32), PIXEL)
    with pytest.raises(InputError, match="cannot find 'half1' or 'half2'"):
        run_job(spec, {"fn_in": "lonely_map.mrc", "fn_mask": MASK}, "PostProcess/job006")
    write_mrc("masks/bad.mrc", np.full((BOX,) * 3, 2.0, np.float32), PIXEL)
    with pytest.raises(InputError, match=r"masks/bad.mrc: mask values must lie in \[0, 1\]"):
        run_job(spec, {"fn_in": HALF1, "fn_mask": "masks/bad.mrc"}, "PostProcess/job007")
    write_mrc("masks/small.mrc", np.ones((8, 8, 8), np.float32), PIXEL)
    with pytest.raises(InputError, match="mask shape"):
        run_job(spec, {"fn_in": HALF1, "fn_mask": "masks/small.mrc"}, "PostProcess/job008")
    with pytest.raises(InputError, match="not an MTF file"):
        run_job(spec, {"fn_in": HALF1, "fn_mask": MASK, "fn_mtf": "nonsense.star"}, "PostProcess/job009")
    assert not any(Path("PostProcess").glob("job00[6-9]/postprocess.star"))
