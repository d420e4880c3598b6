"""Is there enough ground truth in a split to train on or to score? Checked before the long work.

A depth map of zeros (a wrong ``depth_scale``, an EXR saved as an 8-bit PNG, a failed conversion)
reads without error; without this check ``eval`` reports NaN from zero scored images and ``train``
logs a loss of 0 and learns nothing, both with exit status 0. The thresholds:

* a labeled split whose ground truth is on average less than :data:`MIN_VALID_FRACTION` (5 %)
  valid is refused by ``repro data verify`` (all images), ``repro train`` and ``repro eval`` (a
  sample of :data:`SAMPLE_IMAGES` images spread over the split, before the first step or
  inference).
* an evaluation that scores no image at all (every image without a valid pixel after the
  crop and depth range) is an error, never NaN metrics.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from repro.data.base import DataError

#: Below this mean fraction of valid ground-truth pixels a labeled split is refused.
MIN_VALID_FRACTION = 0.05
#: Images read by the pre-flight check of ``train`` and ``eval`` (evenly spaced over the split).
SAMPLE_IMAGES = 32

__all__ = ["MIN_VALID_FRACTION", "SAMPLE_IMAGES", "check_ground_truth", "sample_indices", "too_little_valid"]


def sample_indices(length: int, count: int = SAMPLE_IMAGES) -> list[int]:
    """``count`` indices spread evenly over ``range(length)`` (all of them when the split is small)."""
    if length <= count:
        return list(range(length))
    return sorted({round(i * (length - 1) / (count - 1)) for i in range(count)})


def too_little_valid(fractions: Sequence[float]) -> bool:
    """True when the images' mean valid fraction is below :data:`MIN_VALID_FRACTION`."""
    return not fractions or sum(fractions) / len(fractions) < MIN_VALID_FRACTION


def check_ground_truth(dataset: torch.utils.data.Dataset, what: str, *, sample: int = SAMPLE_IMAGES) -> float:
    """Raise :class:`DataError` when ``dataset``'s sampled ground truth is (nearly) all invalid.

    ``dataset`` yields the project's sample dicts (``valid``); ``what`` names the split in the
    message (e.g. ``"matterport3d/train under data/matterport3d"``). Returns the mean valid fraction.
    """
    indices = sample_indices(len(dataset), sample)  # type: ignore[arg-type]
    fractions = [float(dataset[i]["valid"].float().mean()) for i in indices]
    mean = sum(fractions) / len(fractions) if fractions else 0.0
    if too_little_valid(fractions):
        raise DataError(
            f"{what}: only {100 * mean:.1f} % of the ground-truth depth pixels are valid in {len(indices)} "
            f"sampled images (at least {100 * MIN_VALID_FRACTION:g} % needed): is the depth encoding "
            "(units per metre, invalid value) right for these files? `repro data verify` checks every file"
        )
    return mean
