"""Particle picking, extraction and sorting: template and reference-free auto-picking, FOM maps,
coordinate sets, box extraction with normalisation, and Z-score sorting against references."""
