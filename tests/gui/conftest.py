"""A GUI client on a fresh project, and tiny stacks with known contents."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from vitreo.gui.app import create_app
from vitreo.io.image_refs import format_image_names
from vitreo.io.mrc import write_mrc
from vitreo.io.star import Table, read_star, write_star
from vitreo.pipeline.project import Project

TOKEN = "test-token"


def gui_client(root: Path, token: str = TOKEN, **kwargs) -> TestClient:
    """A client of the GUI for ``root`` that sends the token as a header."""
    client = TestClient(create_app(root, token, **kwargs))
    client.headers["x-vitreo-token"] = token
    return client


@pytest.fixture
def project(tmp_path: Path) -> Path:
    Project.init(tmp_path / "project")
    return tmp_path / "project"


@pytest.fixture
def client(project: Path) -> TestClient:
    return gui_client(project)


def write_particles(root: Path, n: int = 12, box: int = 16, classes: int = 3, seed: int = 1) -> tuple[np.ndarray, Table]:
    """Noise images (uncorrelated, so each is recognisable) and Particles/particles.star with a
    random score column and class numbers 1..classes; returns (images, particle table)."""
    rng = np.random.default_rng(seed)
    images = rng.standard_normal((n, box, box)).astype(np.float32)
    write_mrc(root / "Particles/particles.mrcs", images, 2.0, is_stack=True)
    optics = Table({"rlnOpticsGroupName": ["opticsGroup1"], "rlnOpticsGroup": [1], "rlnImagePixelSize": [2.0],
                    "rlnImageSize": [box], "rlnImageDimensionality": [2], "rlnVoltage": [300.0],
                    "rlnSphericalAberration": [2.7], "rlnAmplitudeContrast": [0.1]})
    particles = Table({"rlnImageName": format_image_names(np.arange(n), "Particles/particles.mrcs").astype(object),
                       "rlnOpticsGroup": np.ones(n, dtype=np.int64),
                       "rlnClassNumber": np.arange(n) % classes + 1,
                       "rlnAutopickFigureOfMerit": rng.permutation(n).astype(float) / n})
    write_star(root / "Particles/particles.star", {"optics": optics, "particles": particles})
    return images, particles


MODEL = "Class2D/job001/run_it025_model.star"


def write_classes(root: Path, particles: Table, seed: int = 2) -> np.ndarray:
    """Three noise class averages, a _model.star (distributions 0.2, 0.5, 0.3) and the _data.star of
    ``particles`` beside it (their rlnClassNumber); returns the averages (3, 16, 16)."""
    averages = np.random.default_rng(seed).standard_normal((3, 16, 16)).astype(np.float32)
    stack = "Class2D/job001/run_it025_classes.mrcs"
    write_mrc(root / stack, averages, 2.0, is_stack=True)
    model = Table({"rlnReferenceImage": format_image_names(np.arange(3), stack).astype(object),
                   "rlnClassDistribution": [0.2, 0.5, 0.3], "rlnEstimatedResolution": [12.0, 8.0, 20.0]})
    write_star(root / MODEL, {"model_general": {"rlnPixelSize": 2.0}, "model_classes": model})
    optics = read_star(root / "Particles/particles.star")["optics"]
    write_star(root / MODEL.replace("_model", "_data"), {"optics": optics, "particles": particles})
    return averages


def png(response) -> np.ndarray:
    """The greyscale PNG of a successful response as a float array."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    return np.asarray(Image.open(io.BytesIO(response.content)), dtype=np.float64)
