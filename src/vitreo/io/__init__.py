"""File formats: MRC/MRCS, TIFF movies, STAR, coordinate files, image references."""
