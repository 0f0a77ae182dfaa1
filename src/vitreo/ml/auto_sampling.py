"""RELION's auto-refine decisions (MlOptimiser::updateAngularSampling and checkConvergence).

After each iteration of a gold-standard refinement:

- resolution gain: none when the resolution (1/Å) did not improve by 1e-4 on the best so far;
- large hidden-variable changes: none when the changes of classes are within 3% of the smallest
  seen since the last change of sampling, and those of orientations and of offsets each either
  within 3% of their smallest or below 40% of the current (fine) step
  (MlOptimiser::updateOverallChangesInHiddenVariables, RELION 3.1 on);
- when both have stalled (for 1 iteration each): if the angular step is already below 75% of the
  estimated angular accuracy, the sampling is fine enough; else the HEALPix order goes up by one
  (halving the angular step), the offset step becomes min(1.5, 0.75·accuracy) pixels (× 2^oversampling
  for the coarse grid) and the range 5× the last change of offsets (bounded as RELION does; a step
  coarser than the current one keeps the current step and range), and
  from ``local_order`` on the searches are local with σ = 2 × the (oversampled) angular step
  (from the first iteration when the initial sampling is already that fine);
- convergence: fine-enough sampling with stalled resolution and hidden variables; the last
  iteration then joins the halves at full resolution;
- ``faster`` (RELION 3.1's "Use finer angular sampling faster?": --auto_ignore_angles
  --auto_resol_angles): the hidden-variable changes are ignored, in both decisions, and the step
  also goes finer while the resolution still improves once it exceeds the rotation that moves the
  particle's edge (``particle_radius`` Å) by the current resolution;
- image size (MlOptimiser::updateImageSizeAndResolutionPointers): the next E-step uses the shells
  up to the resolution (SSNR ≥ 1, i.e. half-map FSC ≥ 0.5) plus ``incr_size`` shells, where
  incr_size never falls below the distance from FSC 0.5 to FSC 0.143 plus 5 shells; while the
  FSC at the edge of the current size is still above 0.2 (and ⟨Pmax⟩ > 0.1) the step is a
  quarter of the box instead, so that the refinement is not held back by its own size limit.

Every decision is logged with RELION's own " Auto-refine: ..." wording (``grep Auto run.out``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch

from vitreo.em.fsc import first_shell_below
from vitreo.em.sampling import angular_step_deg

MAX_ITER_WITHOUT_RESOLUTION_GAIN = 1
MAX_ITER_WITHOUT_CHANGES = 1
SMALL_CHANGE = 0.4  # changes below this fraction of the sampling step count as stalled
MAX_HEALPIX_ORDER = 8  # 0.23° before oversampling: finer is never useful

Log = Callable[[str], None]


@dataclass(frozen=True)
class AutoSampling:
    """The sampling and the convergence counters of an auto-refinement (pixels, degrees)."""

    healpix_order: int
    offset_range: float
    offset_step: float
    oversampling: int = 1
    local_order: int = 4
    sigma_angles: float | None = None  # σ of local searches (degrees); None: global
    iter_without_resolution_gain: int = 0
    iter_without_changes: int = 0
    best_resolution: float = 0.0  # 1/Å
    smallest_changes_orientations: float = 999.0
    smallest_changes_offsets: float = 999.0
    smallest_changes_classes: float = 9999999.0
    fine_enough: bool = False
    converged: bool = False
    incr_size: int = 10  # shells beyond the resolution that the next E-step uses
    faster: bool = False  # --auto_ignore_angles --auto_resol_angles
    particle_radius: float = 0.0  # Å, for the resolution-based step of ``faster``

    @property
    def angular_step(self) -> float:
        """The oversampled (fine) angular step, degrees, as RELION reports it."""
        return angular_step_deg(self.healpix_order + self.oversampling)

    @property
    def fine_offset_step(self) -> float:
        return self.offset_step / (1 << self.oversampling)

    def starting(self) -> AutoSampling:
        """The state of a new refinement: local searches from the first iteration when the initial
        HEALPix order already reaches ``local_order`` (RELION's MlOptimiser::initialiseGeneral),
        around the input orientations with σ = 2 × the angular step."""
        if self.healpix_order < self.local_order:
            return self
        return replace(self, sigma_angles=2.0 * self.angular_step)

    def image_size_step(self, fsc: torch.Tensor, used_size: int, avg_pmax: float, box: int) -> tuple[AutoSampling, int]:
        """The state with RELION's incr_size updated from this iteration's half-map ``fsc``
        (N//2+1,), and the number of shells the next image size adds to the resolution shell,
        given the image size ``used_size`` of this iteration's E-step."""
        below_half = first_shell_below(fsc, 0.5)
        below_gold = first_shell_below(fsc, 0.143)
        incr = max(self.incr_size, below_gold - below_half + 5)
        edge = min(max(used_size // 2 - 1, 0), fsc.shape[0] - 1)
        high_at_limit = float(fsc[edge]) > 0.2
        step = round(0.25 * box / 2) if (avg_pmax > 0.1 and high_at_limit) else incr
        return replace(self, incr_size=incr), step

    def after_iteration(
        self,
        resolution: float,
        changes_orientations: float,
        changes_offsets_px: float,
        changes_classes: float,
        accuracy_rotations: float,
        accuracy_translations_px: float,
        log: Log,
        pixel: float = 1.0,
        iteration: int = 0,
    ) -> AutoSampling:
        """The decisions after an iteration with this ``resolution`` (Å), changes (degrees,
        pixels, fraction) and estimated accuracies (degrees, pixels)."""
        state = self._update_counters(resolution, changes_orientations, changes_offsets_px, changes_classes)
        state = state._update_sampling(resolution, accuracy_rotations, accuracy_translations_px, changes_offsets_px, log,
                                       pixel)
        return state._check_convergence(resolution, changes_orientations, changes_offsets_px, log, pixel, iteration)

    def _update_counters(self, resolution: float, orientations: float, offsets: float, classes: float) -> AutoSampling:
        inverse = 1.0 / resolution if resolution > 0 else 0.0
        gain = inverse > self.best_resolution + 1e-4
        stalled = (
            1.03 * classes >= self.smallest_changes_classes
            and (offsets < SMALL_CHANGE * self.fine_offset_step or 1.03 * offsets >= self.smallest_changes_offsets)
            and (orientations < SMALL_CHANGE * self.angular_step
                 or 1.03 * orientations >= self.smallest_changes_orientations)
        )
        return replace(
            self,
            iter_without_resolution_gain=0 if gain else self.iter_without_resolution_gain + 1,
            best_resolution=max(self.best_resolution, inverse),
            iter_without_changes=self.iter_without_changes + 1 if stalled else 0,
            smallest_changes_orientations=min(self.smallest_changes_orientations, orientations),
            smallest_changes_offsets=min(self.smallest_changes_offsets, offsets),
            smallest_changes_classes=min(self.smallest_changes_classes, round(classes)),
        )

    @property
    def _stalled(self) -> bool:
        return (
            self.iter_without_resolution_gain >= MAX_ITER_WITHOUT_RESOLUTION_GAIN
            and (self.faster or self.iter_without_changes >= MAX_ITER_WITHOUT_CHANGES)
        )

    def _resolution_needs_finer(self, resolution: float) -> bool:
        """``faster`` only: the current (fine) step rotates the particle's edge by more than the
        resolution (Å), i.e. it is coarser than degrees(resolution / radius)."""
        if not self.faster or self.particle_radius <= 0 or resolution <= 0:
            return False
        return self.angular_step > math.degrees(resolution / self.particle_radius)

    def _update_sampling(self, resolution: float, acc_rot: float, acc_trans: float, changes_offsets: float, log: Log,
                         pixel: float) -> AutoSampling:
        state = self
        if (self._stalled or self._resolution_needs_finer(resolution)) and not self.fine_enough:
            if self.angular_step < 0.75 * acc_rot or self.healpix_order >= MAX_HEALPIX_ORDER:
                state = replace(self, fine_enough=True)
            else:
                factor = 1 << self.oversampling
                step = min(1.5, 0.75 * acc_trans) * factor
                span = min(1.3 * self.offset_range, 5.0 * changes_offsets)
                span = max(span, 1.5 * step)
                if span > 4.0 * step:
                    span /= 2.0
                if span > 4.0 * step:
                    step = span / 4.0
                if step > self.offset_step:  # never coarser than now
                    step, span = self.offset_step, self.offset_range
                order = self.healpix_order + 1
                sigma = self.sigma_angles
                if order >= self.local_order:
                    sigma = 2.0 * angular_step_deg(order + self.oversampling)
                state = replace(
                    self, healpix_order=order, offset_range=span, offset_step=step, sigma_angles=sigma,
                    iter_without_resolution_gain=0, iter_without_changes=0,
                    smallest_changes_orientations=999.0, smallest_changes_offsets=999.0, smallest_changes_classes=9999999.0,
                )
        local = "true" if state.sigma_angles is not None else "false"
        log(f" Auto-refine: Angular step= {state.angular_step:g} degrees; local searches= {local}")
        log(f" Auto-refine: Offset search range= {state.offset_range * pixel:g} Angstroms; "
            f"offset step= {state.fine_offset_step * pixel:g} Angstroms")
        return state

    def _check_convergence(
        self, resolution: float, orientations: float, offsets: float, log: Log, pixel: float, iteration: int
    ) -> AutoSampling:
        converged = self.fine_enough and self._stalled
        log(f" Auto-refine: Iteration= {iteration}")
        log(f" Auto-refine: Resolution= {resolution:g} (no gain for {self.iter_without_resolution_gain} iter) ")
        log(f" Auto-refine: Changes in angles= {orientations:g} degrees; and in offsets= {offsets * pixel:g} Angstroms "
            f"(no gain for {self.iter_without_changes} iter) ")
        if converged:
            log(" Auto-refine: Refinement has converged, entering last iteration where two halves will be combined...")
        return replace(self, converged=converged)

    def optimiser_values(self) -> dict[str, object]:
        """The counters as RELION's optimiser_general labels (resolution in 1/Å, offsets in pixels)."""
        return {
            "rlnIncrementImageSize": self.incr_size,
            "rlnAutoLocalSearchesHealpixOrder": self.local_order,
            "rlnNumberOfIterWithoutResolutionGain": self.iter_without_resolution_gain,
            "rlnBestResolutionThusFar": self.best_resolution,
            "rlnNumberOfIterWithoutChangingAssignments": self.iter_without_changes,
            "rlnSmallestChangesOrientations": self.smallest_changes_orientations,
            "rlnSmallestChangesOffsets": self.smallest_changes_offsets,
            "rlnSmallestChangesClasses": self.smallest_changes_classes,
            "rlnHasConverged": int(self.converged),
            "rlnVitreoFineEnoughSampling": int(self.fine_enough),
            "rlnVitreoSigmaAngles": -1.0 if self.sigma_angles is None else self.sigma_angles,
        }

    @classmethod
    def from_saved(cls, values: dict[str, object], sampling: dict[str, object], pixel: float, oversampling: int) -> AutoSampling:
        """The state recorded by :meth:`optimiser_values` and the sampling file (offsets in Å)."""
        sigma = float(values.get("rlnVitreoSigmaAngles", -1.0))
        return cls(
            healpix_order=int(sampling["rlnHealpixOrder"]),
            offset_range=float(sampling["rlnOffsetRange"]) / pixel,
            offset_step=float(sampling["rlnOffsetStep"]) / pixel,
            oversampling=oversampling,
            local_order=int(values.get("rlnAutoLocalSearchesHealpixOrder", 4)),
            sigma_angles=None if sigma <= 0 else sigma,
            iter_without_resolution_gain=int(values.get("rlnNumberOfIterWithoutResolutionGain", 0)),
            best_resolution=float(values.get("rlnBestResolutionThusFar", 0.0)),
            iter_without_changes=int(values.get("rlnNumberOfIterWithoutChangingAssignments", 0)),
            smallest_changes_orientations=float(values.get("rlnSmallestChangesOrientations", 999.0)),
            smallest_changes_offsets=float(values.get("rlnSmallestChangesOffsets", 999.0)),
            smallest_changes_classes=float(values.get("rlnSmallestChangesClasses", 9999999.0)),
            fine_enough=bool(int(values.get("rlnVitreoFineEnoughSampling", 0))),
            converged=bool(int(values.get("rlnHasConverged", 0))),
            incr_size=int(values.get("rlnIncrementImageSize", 10)),
        )

