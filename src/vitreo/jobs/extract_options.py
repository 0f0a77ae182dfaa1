"""The Extract job's parameters: RELION 5's names, labels, defaults, tabs and help."""

from __future__ import annotations

from vitreo.jobs import node_types
from vitreo.jobs.options import JobOption, OptionKind, unavailable_option
from vitreo.jobs.running_options import running_options

IO, EXTRACT, HELIX = "I/O", "extract", "Helix"


def extract_options() -> tuple[JobOption, ...]:
    """Every Extract option (helical extraction is declared for compatibility and refused)."""
    num, yes_no, node, text = OptionKind.NUMBER, OptionKind.BOOLEAN, OptionKind.INPUT_NODE, OptionKind.TEXT
    return (
        JobOption("star_mics", "micrograph STAR file: ", "", node, IO,
                  "Filename of the STAR file that contains all micrographs from which to extract particles.",
                  node_type=node_types.MICROGRAPHS, pattern="Input STAR file (*.{star})"),
        JobOption("coords_suffix", "Input coordinates: ", "", node, IO,
                  "Starfile with a 2-column list of micrograph names and corresponding coordinate filenames (in .star, "
                  ".box or as 2 or 3-column free text format), or an imported coords_suffix file.",
                  node_type=node_types.COORDINATES, pattern="Input coordinates list file (*.star)"),
        JobOption("do_reextract", "OR re-extract refined particles? ", "No", yes_no, IO,
                  "If set to Yes, the input Coordinates above will be ignored. Instead, one uses a _data.star file from "
                  "a previous 2D or 3D refinement to re-extract the particles in that refinement, possibly re-centered "
                  "with their refined origin offsets. This is particularly useful when going from binned to unbinned "
                  "particles."),
        JobOption("fndata_reextract", "Refined particles STAR file: ", "", node, IO,
                  "Filename of the STAR file with the refined particle coordinates, e.g. from a previous 2D or 3D "
                  "classification or auto-refine run.", node_type=node_types.PARTICLES, pattern="Input STAR file (*.{star})"),
        JobOption("do_reset_offsets", "Reset the refined offsets to zero? ", "No", yes_no, IO,
                  "If set to Yes, the input origin offsets will be reset to zero. This may be useful after 2D "
                  "classification of helical segments."),
        JobOption("do_recenter", "OR: re-center refined coordinates? ", "No", yes_no, IO,
                  "If set to Yes, the input coordinates will be re-centered according to the refined origin offsets in "
                  "the provided _data.star file. The unit is pixel, not angstrom. The origin is at the center of the "
                  "box, not at the corner."),
        JobOption("recenter_x", "Re-center on X-coordinate (in pix): ", "0", text, IO,
                  "Re-extract particles centered on this X-coordinate (in pixels in the reference)"),
        JobOption("recenter_y", "Re-center on Y-coordinate (in pix): ", "0", text, IO,
                  "Re-extract particles centered on this Y-coordinate (in pixels in the reference)"),
        JobOption("recenter_z", "Re-center on Z-coordinate (in pix): ", "0", text, IO,
                  "Re-extract particles centered on this Z-coordinate (in pixels in the reference)"),
        JobOption("extract_size", "Particle box size (pix):", "128", num, EXTRACT,
                  "Size of the extracted particles (in pixels). This should be an even number!", minimum=64, maximum=512),
        JobOption("do_invert", "Invert contrast?", "Yes", yes_no, EXTRACT,
                  "If set to Yes, the contrast in the particles will be inverted."),
        JobOption("do_float16", "Write output in float16?", "Yes", yes_no, EXTRACT,
                  "If set to Yes, this program will write output images in float16 MRC format. This will save a factor "
                  "of two in disk space compared to the default of writing in float32."),
        JobOption("do_norm", "Normalize particles?", "Yes", yes_no, EXTRACT,
                  "If set to Yes, particles will be normalized in the way RELION prefers it."),
        JobOption("bg_diameter", "Diameter background circle (pix): ", "-1", num, EXTRACT,
                  "Particles will be normalized to a mean value of zero and a standard-deviation of one for all pixels "
                  "in the background area, all pixels outside a circle with this given diameter in pixels (before "
                  "rescaling). When specifying a negative value, a default value of 75% of the Particle box size will "
                  "be used.", minimum=-1, maximum=600),
        JobOption("white_dust", "Stddev for white dust removal: ", "-1", num, EXTRACT,
                  "Remove very white pixels from the extracted particles. Pixels values higher than this many times "
                  "the image stddev will be replaced with values from a Gaussian distribution. Use negative value to "
                  "switch off dust removal.", minimum=-1, maximum=10),
        JobOption("black_dust", "Stddev for black dust removal: ", "-1", num, EXTRACT,
                  "Remove very black pixels from the extracted particles. Use negative value to switch off dust "
                  "removal.", minimum=-1, maximum=10),
        JobOption("do_rescale", "Rescale particles?", "No", yes_no, EXTRACT,
                  "If set to Yes, particles will be re-scaled. Note that the particle diameter below will be in the "
                  "down-scaled images."),
        JobOption("rescale", "Re-scaled size (pixels): ", "128", num, EXTRACT,
                  "The re-scaled value needs to be an even number", minimum=64, maximum=512),
        JobOption("do_fom_threshold", "Use autopick FOM threshold?", "No", yes_no, EXTRACT,
                  "If set to Yes, only particles with rlnAutopickFigureOfMerit values at least the threshold below "
                  "will be extracted."),
        JobOption("minimum_pick_fom", "Minimum autopick FOM: ", "0", num, EXTRACT,
                  "The minimum value for the rlnAutopickFigureOfMerit for particles to be extracted.",
                  minimum=-5, maximum=10),
        unavailable_option("do_extract_helix", "Extract helical segments?", "No", yes_no, HELIX),
        unavailable_option("helical_tube_outer_diameter", "Tube diameter (A): ", "200", num, HELIX),
        unavailable_option("helical_bimodal_angular_priors", "Use bimodal angular priors?", "Yes", yes_no, HELIX),
        unavailable_option("do_extract_helical_tubes", "Coordinates are start-end only?", "Yes", yes_no, HELIX),
        unavailable_option("do_cut_into_segments", "Cut helical tubes into segments?", "Yes", yes_no, HELIX),
        unavailable_option("helical_nr_asu", "Number of unique asymmetrical units:", "1", num, HELIX),
        unavailable_option("helical_rise", "Helical rise (A):", "1", num, HELIX),
        *running_options(has_mpi=True, has_threads=False),
    )


__all__ = ["extract_options"]
