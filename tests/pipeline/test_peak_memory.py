"""The peak memory a job reports at its end (run.out: ' Peak memory of the job: N MiB')."""

from __future__ import annotations

import numpy as np

from vitreo.pipeline.execute import peak_memory_mib


def test_peak_memory_counts_what_was_allocated() -> None:
    before = peak_memory_mib()
    block = np.ones(300 * 2**20 // 8)  # 300 MiB, touched
    assert block.sum() > 0
    assert peak_memory_mib() >= max(before, 300.0)
