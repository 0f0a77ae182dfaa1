"""vitreo: cryo-EM single-particle analysis, from movies to a validated 3D map."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("vitreo")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"
