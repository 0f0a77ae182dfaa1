"""The AutoPick job's parameters: RELION 5's names, labels, defaults, tabs and help, plus two of vitreo's.

vitreo additions: ``do_gauss`` (RELION's ``--ref gauss`` Gaussian-blob picking, which its GUI does
not offer) and ``particle_diameter`` (RELION 3's mask diameter; RELION 5 only estimates it).
``threshold_autopick`` keeps its name but is a z-score here (see :mod:`vitreo.picking.fom`), so
its default is 5 rather than RELION's 0.05. Topaz, helical picking and interactive editing
(``continue_manual``) are declared for compatibility and refused when switched on.
"""

from __future__ import annotations

import os

from vitreo.jobs import node_types
from vitreo.jobs.options import NOT_AVAILABLE, JobOption, OptionKind, unavailable_option
from vitreo.jobs.options_3d import SAMPLING_CHOICES
from vitreo.jobs.running_options import running_options

IO, LOG, TOPAZ, REFS, PICKING, HELIX = "I/O", "Laplacian", "Topaz", "References", "autopicking", "Helix"


def healpix_order(choice: str) -> int:
    """RELION's HEALPix order for a "3D angular sampling" choice: "30 degrees" -> 1, "15 degrees" -> 2, ..."""
    return SAMPLING_CHOICES.index(choice) + 1


def _topaz_default() -> str:
    return os.environ.get("RELION_TOPAZ_EXECUTABLE", "relion_python_topaz")


def autopick_options() -> tuple[JobOption, ...]:
    """Every AutoPick option (see the module docstring)."""
    num, yes_no, node, text = OptionKind.NUMBER, OptionKind.BOOLEAN, OptionKind.INPUT_NODE, OptionKind.TEXT
    return (
        JobOption("fn_input_autopick", "Input micrographs for autopick:", "", node, IO,
                  "Input STAR file (preferably with CTF information) with all micrographs to pick from.",
                  node_type=node_types.MICROGRAPHS, pattern="Input micrographs (*.{star})"),
        JobOption("angpix", "Pixel size in micrographs (A)", "-1", num, IO,
                  "Pixel size in Angstroms. If a CTF-containing STAR file is input, then the value given here will "
                  "be ignored, and the pixel size will be calculated from the values in the STAR file. A negative "
                  "value can then be given here.", minimum=-1, maximum=5),
        JobOption("continue_manual", "OR: continue manually?", "No", yes_no, IO,
                  "If set to Yes, an Autopick job can be continued as a manualpick job, so that incorrect picks can "
                  "be corrected interactively (in vitreo: with the GUI's picker, not from this job)."),
        JobOption("do_refs", "Use reference-based template-matching?", "No", yes_no, IO,
                  "If set to Yes, 2D or 3D references, as defined on the References tab will be used for autopicking."),
        JobOption("do_log", "OR: use Laplacian-of-Gaussian?", "No", yes_no, IO,
                  "If set to Yes, a Laplacian-of-Gaussian blob detection will be used (you can then leave the "
                  "'References' field empty). The preferred way to autopick is template matching with references "
                  "from 2D classification of this data set; the Laplacian-of-Gaussian method may be useful to "
                  "kickstart a new data set."),
        JobOption("do_gauss", "OR: use a Gaussian blob?", "No", yes_no, IO,
                  "(vitreo) If set to Yes, a Gaussian blob of the mask diameter (References tab) is the only "
                  "template, as RELION's '--ref gauss': reference-free picking by template matching."),
        JobOption("do_topaz", "OR: use Topaz?", "No", yes_no, IO,
                  "Topaz picking needs the external topaz program, which vitreo does not run."),
        JobOption("log_diam_min", "Min. diameter for LoG filter (A)", "200", num, LOG,
                  "The smallest allowed diameter for the blob-detection algorithm. This should correspond to the "
                  "smallest size of your particles in Angstroms.", minimum=50, maximum=500),
        JobOption("log_diam_max", "Max. diameter for LoG filter (A)", "250", num, LOG,
                  "The largest allowed diameter for the blob-detection algorithm. This should correspond to the "
                  "largest size of your particles in Angstroms.", minimum=50, maximum=500),
        JobOption("log_invert", "Are the particles white?", "No", yes_no, LOG,
                  "Set this option to No if the particles are black, and to Yes if the particles are white."),
        JobOption("log_maxres", "Maximum resolution to consider (A)", "20", num, LOG,
                  "The Laplacian-of-Gaussian filter will be applied to downscaled micrographs with the corresponding "
                  "size. Give a negative value to skip downscaling.", minimum=10, maximum=100),
        JobOption("log_adjust_thr", "Adjust default threshold (stddev):", "0", num, LOG,
                  "Use this to pick more (negative number -> lower threshold) or less (positive number -> higher "
                  "threshold) particles compared to the default setting. The threshold is moved this many standard "
                  "deviations away from the average.", minimum=-1, maximum=1),
        JobOption("log_upper_thr", "Upper threshold (stddev):", "999", num, LOG,
                  "Use this to discard picks with LoG thresholds that are this many standard deviations above the "
                  "average, e.g. to avoid high contrast contamination like ice and ethane droplets.",
                  minimum=0, maximum=10),
        JobOption("fn_topaz_exe", "Topaz executable", _topaz_default, text, TOPAZ,
                  "The location of the Topaz executable (not used by vitreo)."),
        unavailable_option("do_topaz_train", "Perform topaz training?", "No", yes_no, TOPAZ),
        JobOption("topaz_train_picks", "Input picked coordinates for training:", "", node, TOPAZ,
                  NOT_AVAILABLE, node_type=node_types.COORDINATES),
        unavailable_option("do_topaz_train_parts", "OR train on a set of particles? ", "No", yes_no, TOPAZ),
        JobOption("topaz_train_parts", "Particles STAR file for training: ", "", node, TOPAZ,
                  NOT_AVAILABLE, node_type=node_types.PARTICLES),
        unavailable_option("do_topaz_pick", "Perform topaz picking?", "No", yes_no, TOPAZ),
        unavailable_option("topaz_particle_diameter", "Particle diameter (A) ", "-1", num, TOPAZ),
        unavailable_option("topaz_nr_particles", "Nr of particles per micrograph: ", "-1", num, TOPAZ),
        JobOption("topaz_model", "Trained topaz model: ", "", OptionKind.FILE, TOPAZ, NOT_AVAILABLE,
                  pattern="SAV Files (*.sav)"),
        unavailable_option("topaz_other_args", "Additional topaz arguments:", "", text, TOPAZ),
        unavailable_option("do_topaz_filaments", "Pick filaments?", "No", yes_no, TOPAZ),
        unavailable_option("topaz_filament_threshold", "Threshold:", "-5", num, TOPAZ),
        unavailable_option("topaz_hough_length", "Hough length (A):", "-1", num, TOPAZ),
        JobOption("fn_refs_autopick", "2D references:", "", node, REFS,
                  "Input STAR file or MRC stack with the 2D references to be used for picking (class averages). In "
                  "vitreo the figure of merit does not depend on the references' grey scale.",
                  node_type=node_types.IMAGES_2D, pattern="Input references (*.{star,mrcs})"),
        JobOption("do_ref3d", "OR: provide a 3D reference?", "No", yes_no, REFS,
                  "Set this option to Yes if you want to provide a 3D map, which will be projected into multiple "
                  "directions to generate 2D references."),
        JobOption("fn_ref3d_autopick", "3D reference:", "", node, REFS,
                  "Input MRC file with the 3D reference map, from which 2D references will be made by projection.",
                  node_type=node_types.MAP, pattern="Input reference (*.{mrc})"),
        JobOption("ref3d_symmetry", "Symmetry:", "C1", text, REFS,
                  "Symmetry point group of the 3D reference. Only projections in the asymmetric part of the sphere "
                  "will be generated."),
        JobOption("ref3d_sampling", "3D angular sampling:", SAMPLING_CHOICES[0], OptionKind.RADIO, REFS,
                  "There are only a few discrete angular samplings possible because we use the HealPix library to "
                  "generate the sampling of the first two Euler angles on the sphere. For autopicking, 30 degrees is "
                  "usually fine enough, but for highly symmetrical objects one may need to go finer.",
                  choices=SAMPLING_CHOICES),
        JobOption("particle_diameter", "Mask diameter (A)", "-1", num, REFS,
                  "(vitreo, as RELION 3) Diameter of the circular mask applied around the templates, in Angstroms. "
                  "When negative, it is estimated from the references themselves. Also the Gaussian blob's size.",
                  minimum=-1, maximum=2000),
        JobOption("lowpass", "Lowpass filter references (A)", "20", num, REFS,
                  "Lowpass filter that will be applied to the references before template matching. Do NOT use very "
                  "high-resolution templates to search your micrographs. Give a negative value to skip it.",
                  minimum=-1, maximum=100),
        JobOption("highpass", "Highpass filter (A)", "-1", num, REFS,
                  "Highpass filter that will be applied to the micrographs, against background ramps due to uneven "
                  "ice. Give a negative value to skip it; useful values are often 200-400 Angstroms.",
                  minimum=-1, maximum=1000),
        JobOption("angpix_ref", "Pixel size in references (A)", "-1", num, REFS,
                  "Pixel size in Angstroms of the references. If negative, the references are assumed to have the "
                  "micrographs' pixel size. A value that contradicts the references' MRC header is an error.",
                  minimum=-1, maximum=5),
        JobOption("psi_sampling_autopick", "In-plane angular sampling (deg)", "5", num, REFS,
                  "Angular sampling in degrees for exhaustive searches of the in-plane rotations for all references.",
                  minimum=1, maximum=30),
        JobOption("do_invert_refs", "References have inverted contrast?", "Yes", yes_no, REFS,
                  "Set to Yes to indicate that the references have inverted contrast with respect to the particles "
                  "in the micrographs (white particles, as after extraction with inverted contrast)."),
        JobOption("do_ctf_autopick", "Are References CTF corrected?", "Yes", yes_no, REFS,
                  "Set to Yes if the references were created with CTF-correction: the CTF of each micrograph is then "
                  "applied to them, so the input must be a STAR file with CTF information."),
        JobOption("do_ignore_first_ctfpeak_autopick", "Ignore CTFs until first peak?", "No", yes_no, REFS,
                  "Set this to Yes, only if this option was also used to generate the references."),
        JobOption("threshold_autopick", "Picking threshold:", "5", num, PICKING,
                  "Use lower thresholds to pick more particles (and more junk probably). In vitreo the figure of merit "
                  "is the signal-to-noise ratio (z-score) of the best template at each position: about 4-7 separates "
                  "particles from noise. Ignored by the Laplacian-of-Gaussian picker.", minimum=0, maximum=20),
        JobOption("mindist_autopick", "Minimum inter-particle distance (A):", "100", num, PICKING,
                  "Of two peaks closer than this distance only the stronger is kept. Ignored by the "
                  "Laplacian-of-Gaussian picker, which uses the particle diameters.", minimum=0, maximum=1000),
        JobOption("maxstddevnoise_autopick", "Maximum stddev noise:", "1.1", num, PICKING,
                  "Prevents picking in carbon areas or on big contamination features: peaks where the background "
                  "standard deviation (relative to the micrograph's typical background) is higher are ignored. "
                  "Useful values are 1.0 to 1.3; -1 switches this off. Ignored by the LoG picker.",
                  minimum=-1, maximum=1.5),
        JobOption("minavgnoise_autopick", "Minimum avg noise:", "-999", num, PICKING,
                  "Prevents picking in dark areas (thick ice, contamination): peaks where the background average (in "
                  "background standard deviations) is lower are ignored. -999 switches this off. Ignored by the LoG "
                  "picker.", minimum=-999, maximum=0.5),
        JobOption("do_write_fom_maps", "Write FOM maps?", "No", yes_no, PICKING,
                  "If set to Yes, the figure-of-merit maps are written, so that re-picking with other thresholds and "
                  "distances (Read FOM maps) takes seconds.", on_continue=True),
        JobOption("do_read_fom_maps", "Read FOM maps?", "No", yes_no, PICKING,
                  "If written out previously, read the FOM maps back in and re-run the peak search to quickly find the "
                  "optimal threshold and inter-particle distance parameters.", on_continue=True),
        JobOption("shrink", "Shrink factor:", "0", num, PICKING,
                  "The micrographs are downscaled (shrunk) for the cross-correlations. 0: to the references' lowpass "
                  "filter; between 0 and 1: by that factor; above 1: to that size in pixels. Sizes are made FFT "
                  "friendly. Ignored by the LoG picker.", minimum=0, maximum=1),
        JobOption("use_gpu", "Use GPU acceleration?", "No", yes_no, PICKING,
                  "If set to Yes, the job will use a GPU (the Laplacian-of-Gaussian picker runs on it too).",
                  on_continue=True),
        JobOption("gpu_ids", "Which GPUs to use:", "", text, PICKING,
                  "Which GPU (0, 1, ...) to use; leave empty for the first.", on_continue=True),
        unavailable_option("do_pick_helical_segments", "Pick 2D helical segments?", "No", yes_no, HELIX),
        unavailable_option("do_amyloid", "Pick amyloid segments?", "No", yes_no, HELIX),
        unavailable_option("helical_tube_outer_diameter", "Tube diameter (A): ", "200", num, HELIX),
        unavailable_option("helical_nr_asu", "Number of unique asymmetrical units:", "1", num, HELIX),
        unavailable_option("helical_rise", "Helical rise (A):", "-1", num, HELIX),
        unavailable_option("helical_tube_kappa_max", "Maximum curvature (kappa): ", "0.1", num, HELIX),
        unavailable_option("helical_tube_length_min", "Minimum length (A): ", "-1", num, HELIX),
        *running_options(has_mpi=True, has_threads=False),
    )


__all__ = ["SAMPLING_CHOICES", "healpix_order", "autopick_options"]
