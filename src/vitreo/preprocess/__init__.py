"""Preprocessing of raw data: motion correction (MotionCor2's approach) and CTF estimation (CTFFIND4's).

Motion correction: ``movie_frames`` (reading, gain, defects, hot pixels), ``frame_groups``,
``alignment`` + ``ccf_peak`` (iterative frame-against-the-rest cross-correlation),
``patches`` (local alignment), ``motion_model`` (fitting RELION's third-order polynomial,
``vitreo.em.motion_polynomial``),
``summation`` (aligned, dose-weighted and binned sums), ``spectra`` (power spectra for CTF
estimation), ``motion_correction`` (one movie end to end) and ``motion_files`` (RELION's
per-movie STAR file, log and accumulated-motion statistics).

CTF estimation: ``ctf_spectrum`` (the spectrum's pixels), ``ctf_background`` (smooth
background and envelope), ``ctf_search`` (exhaustive searches), ``ctf_refine`` (local
refinement), ``ctf_quality`` (equi-phase average, ring correlation, fit resolution),
``ctf_estimation`` (one micrograph end to end) and ``ctffind_files`` (CTFFIND4's files).
Jobs run either over many movies or micrographs with ``vitreo.em.parallel``.
"""
