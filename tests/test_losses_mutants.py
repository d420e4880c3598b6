"""Losses: cases that surviving mutants of repro/losses.py showed to be untested (issue 25)."""

import pytest
import torch

from repro.losses import affine_invariant_l1, berhu, masked_median


def test_median_gradient_is_shared_by_the_valid_ties_of_each_row():
    # row 0: lower median 2, held by pixels 1 and 2 (pixel 3 equals it but is masked);
    # row 1: lower median 5 held by pixel 0 alone; row 2: one valid pixel, its own median
    x = torch.tensor([[1.0, 2.0, 2.0, 2.0], [5.0, 4.0, 9.0, 7.0], [0.0, 3.0, 0.0, 0.0]], requires_grad=True)
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1], [0, 1, 0, 0]], dtype=torch.bool)
    med, count = masked_median(x, mask)
    assert med.tolist() == [2.0, 5.0, 3.0] and count.tolist() == [3, 4, 1]
    (med * torch.tensor([1.0, 10.0, 100.0])).sum().backward()
    assert x.grad.tolist() == [[0.0, 0.5, 0.5, 0.0], [10.0, 0.0, 0.0, 0.0], [0.0, 100.0, 0.0, 0.0]]


def test_pixel_reduction_normalises_a_zero_scale_side_to_zero():
    # the constant prediction of map 2 is normalised to 0 against the target [-4/7, 0, 4/7, 20/7]
    # (|.| sums to 4; a normalisation to 1 would give 34/7); map 1 scores 0
    p = torch.tensor([[0.0, 1, 2, 6], [3.0, 3, 3, 3]]).reshape(2, 1, 1, 4)
    t = torch.tensor([[0.0, 1, 2, 6], [0.0, 1, 2, 6]]).reshape(2, 1, 1, 4)
    assert affine_invariant_l1(p, t, reduction="pixels").item() == pytest.approx(4 / 8, abs=1e-6)


def test_berhu_threshold_ignores_masked_pixels():
    # errors 0.1 and 0.05 where valid; the masked pixel's error (and a would-be 1) must not set c:
    # c = 0.2 · 0.1 = 0.02, both errors above it: (e² + c²) / 2c
    pred = torch.tensor([1.1, 1.05, 9.0])
    target = torch.tensor([1.0, 1.0, 1.0])
    mask = torch.tensor([True, True, False])
    c = 0.02
    want = ((0.01 + c * c) / (2 * c) + (0.0025 + c * c) / (2 * c)) / 2
    assert berhu(pred, target, mask).item() == pytest.approx(want, rel=1e-5)


def test_berhu_of_one_valid_pixel():
    # one error e = 2: c = 0.4, (4 + 0.16) / 0.8 = 5.2, the mean over that one pixel
    assert berhu(torch.tensor([3.0, 7.0]), torch.tensor([1.0, 0.0])).item() == pytest.approx(5.2)
