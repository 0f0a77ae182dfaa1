"""Movie refinement and particle polishing (RELION 2.1's MovieRefine and Polish, and RELION 3's
Bayesian polishing as an option).

Conventions: a particle's per-frame offset o (pixels, (x, y)) places its centre at (N//2 − o) in
its movie-frame box, as rlnOriginX/YAngst do for averaged particles; ``t = −o`` is the particle's
displacement from the box centre. Frame groups are numbered by their first movie frame (1-based).
"""
