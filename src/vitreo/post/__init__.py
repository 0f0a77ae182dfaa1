"""Mask creation, post-processing and local resolution (the tutorial's sections 8 and 9).

``inputs``: the two unfiltered half-maps, masks and MTF curves; ``mask_create``: solvent masks
from a map; ``sharpening``: MTF division, FSC weighting, Guinier plots and B-factor fits;
``postprocess``: the gold-standard, mask-corrected FSC and the sharpened map, written by
``postprocess_files`` as RELION's postprocess.star; ``local_resolution``: RELION's own
local-resolution method (a soft sphere moved over the map).
"""
