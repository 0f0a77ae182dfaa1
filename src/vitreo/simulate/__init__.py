"""Synthetic data with ground truth: potentials from atomic models, micrographs, movies."""

from vitreo.simulate.density import density_from_model, read_model
from vitreo.simulate.structures import default_structure, default_structure_map

__all__ = ["default_structure", "default_structure_map", "density_from_model", "read_model"]
