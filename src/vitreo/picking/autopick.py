"""Auto-picking of one micrograph: template matching or Laplacian-of-Gaussian, then peak search.

:class:`TemplatePicker` correlates references (2D images, projections of a 3D map, or a
Gaussian blob; already contrast-matched to the raw micrograph, i.e. dark particles) turned at
every in-plane angle with the micrograph (:mod:`fom`) and keeps the peaks (:mod:`peaks`).
:class:`LogPicker` does RELION's LoG blob detection (:mod:`log_picker`). Both split the work into
``compute`` (the expensive FOM maps, which can be written and read back) and ``pick`` (the peak
search, seconds), and are picklable so that micrographs can be picked in worker processes.
Peaks become a coordinate table as RELION's autopicker writes it: rlnCoordinateX/Y (pixels),
rlnAutopickFigureOfMerit, rlnClassNumber (1-based reference; 0 for LoG) and rlnAnglePsi (degrees).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from vitreo.em.ctf import CtfParams
from vitreo.io.star import Table
from vitreo.picking.fom import fom_maps
from vitreo.picking.fom_files import MicrographMaps
from vitreo.picking.log_picker import LogMaps, log_diameters, log_maps, log_peaks
from vitreo.picking.micrograph import prepare_micrograph
from vitreo.picking.peaks import Peaks, find_peaks
from vitreo.picking.references import References, estimate_diameter
from vitreo.picking.templates import TemplateBank, make_template_bank, template_transfer


@dataclass(frozen=True)
class PeakSettings:
    """Peak search: FOM ``threshold``; ``min_distance`` (Å) between picks; ``max_stddev`` / ``min_avg``
    of the local background (≤ 0 / ≤ −900: off); ``skip_side`` extra pixels kept from the edges."""

    threshold: float = 5.0
    min_distance: float = 100.0
    max_stddev: float = 1.1
    min_avg: float = -999.0
    skip_side: int = 0


@dataclass(frozen=True)
class TemplateSettings:
    """Template matching: ``lowpass``/``highpass`` (Å, ≤ 0: none), ``shrink`` (RELION's), ``psi_step``
    (degrees), ``mask_diameter`` (Å, ≤ 0: from the references), CTF use."""

    lowpass: float = 20.0
    highpass: float = -1.0
    shrink: float = 0.0
    psi_step: float = 5.0
    mask_diameter: float = -1.0
    use_ctf: bool = True
    ignore_first_peak: bool = False


@dataclass
class TemplatePicker:
    """Template picking with fixed references and settings (see the module docstring)."""

    references: References
    settings: TemplateSettings
    peaks: PeakSettings
    _banks: dict[float, TemplateBank] = field(default_factory=dict, repr=False)

    @property
    def mask_diameter(self) -> float:
        """Å: the given mask diameter, or RELION's estimate from the references."""
        given = self.settings.mask_diameter
        return given if given > 0 else estimate_diameter(self.references)

    def _bank(self, work_pixel_size: float) -> TemplateBank:
        key = round(work_pixel_size, 6)
        if key not in self._banks:
            self._banks[key] = make_template_bank(self.references, work_pixel_size, self.settings.psi_step,
                                                  self.mask_diameter)
        return self._banks[key]

    def compute(self, image: torch.Tensor, pixel_size: float, ctf: CtfParams | None) -> MicrographMaps:
        """FOM maps of a micrograph (y, x) at ``pixel_size`` Å with its CTF (None: no CTF on templates)."""
        s = self.settings
        box = self.references.box * self.references.pixel_size / pixel_size
        prepared = prepare_micrograph(image, pixel_size, lowpass=s.lowpass, shrink=s.shrink,
                                      background_box=int(round(box)), particle_radius=0.5 * self.mask_diameter / pixel_size,
                                      highpass_resolution=s.highpass)
        transfer = template_transfer(prepared.grid, s.lowpass, ctf if s.use_ctf else None, s.ignore_first_peak)
        maps = fom_maps(prepared, self._bank(prepared.grid.work_pixel_size), transfer)
        return MicrographMaps(maps, prepared.grid, prepared.shape)

    def pick(self, maps: MicrographMaps) -> Peaks:
        """Peaks of the maps (see :func:`peaks.find_peaks`)."""
        m, p = maps.maps, self.peaks
        pixel = maps.grid.pixel_size
        box = self.references.box * self.references.pixel_size / pixel
        return find_peaks(m.fom, m.psi, m.reference, m.mean, m.std, scale=maps.grid.scale, shape=maps.shape,
                          threshold=p.threshold, min_distance=p.min_distance / pixel, skip_side=p.skip_side + box / 2,
                          max_stddev=p.max_stddev, min_avg=p.min_avg)


@dataclass(frozen=True)
class LogSettings:
    """LoG picking: particle diameters (Å), ``max_resolution`` (Å, the work grid; ≤ 0: full size),
    ``particles_white``, threshold ``adjust`` and ``upper`` limit in σ of the responses."""

    min_diameter: float = 200.0
    max_diameter: float = 250.0
    max_resolution: float = 20.0
    particles_white: bool = False
    adjust: float = 0.0
    upper: float = 999.0


@dataclass(frozen=True)
class LogPicker:
    """Laplacian-of-Gaussian picking (see :mod:`log_picker`); ``skip_side`` extra pixels from the edges."""

    settings: LogSettings
    skip_side: int = 0

    def compute(self, image: torch.Tensor, pixel_size: float, ctf: CtfParams | None = None) -> MicrographMaps:
        """Best LoG response and diameter maps of a micrograph (the CTF is not used)."""
        s = self.settings
        prepared = prepare_micrograph(image, pixel_size, lowpass=s.max_resolution, shrink=0.0)
        maps = log_maps(prepared, log_diameters(s.min_diameter, s.max_diameter), s.particles_white)
        return MicrographMaps(maps, prepared.grid, prepared.shape)

    def pick(self, maps: MicrographMaps) -> Peaks:
        """Peaks of LoG maps; edges kept clear by half the minimum diameter at least, as RELION."""
        s = self.settings
        pixel = maps.grid.pixel_size
        assert isinstance(maps.maps, LogMaps)
        skip = max(float(self.skip_side), 0.5 * s.min_diameter / pixel)
        return log_peaks(maps.maps, scale=maps.grid.scale, shape=maps.shape, min_diameter=s.min_diameter,
                         max_diameter=s.max_diameter, pixel_size=pixel, adjust=s.adjust, upper=s.upper, skip_side=skip)


def picks_table(peaks: Peaks, with_references: bool) -> Table:
    """RELION's autopick coordinate columns for peaks (class 0 and psi 0 without references)."""
    n = len(peaks)
    return Table({
        "rlnCoordinateX": peaks.x,
        "rlnCoordinateY": peaks.y,
        "rlnAutopickFigureOfMerit": peaks.fom,
        "rlnClassNumber": peaks.reference + 1 if with_references else np.zeros(n, np.int64),
        "rlnAnglePsi": peaks.psi if with_references else np.zeros(n),
    })


__all__ = ["PeakSettings", "TemplateSettings", "TemplatePicker", "LogSettings", "LogPicker", "picks_table"]
