import pytest
import torch

from repro.geometry.disparity import depth_to_disparity, normalize_01
from repro.losses import affine_invariant_l1, berhu, masked_median


def maps(*values):
    """Maps (N, 1, 1, P) in float64 from N lists of P pixel values."""
    return torch.tensor(values, dtype=torch.float64).reshape(len(values), 1, 1, -1)


def test_affine_invariant_hand_case():
    # p: median 1, mean|p-1| = 1 -> [-1, 0, 1, 2]; g: median 1, mean|g-1| = 7/4 -> [-4/7, 0, 4/7, 20/7]
    loss = affine_invariant_l1(maps([0, 1, 2, 3]), maps([0, 1, 2, 6]))
    assert loss.item() == pytest.approx(3 / 7, abs=1e-12)


def test_median_is_the_lower_median_of_valid_pixels():
    x = torch.tensor([[4.0, 1.0, 3.0, 2.0, 100.0], [5.0, 7.0, 6.0, 0.0, 0.0], [1.0, 2.0, 3.0, 4.0, 5.0]])
    mask = torch.tensor([[1, 1, 1, 1, 0], [1, 1, 1, 0, 0], [0, 0, 0, 0, 0]], dtype=torch.bool)
    med, count = masked_median(x, mask)
    assert med.tolist() == [2.0, 6.0, 0.0] and count.tolist() == [4, 3, 0]


@pytest.mark.parametrize("a,b", [(2.0, 0.5), (0.01, -3.0), (100.0, 7.0)])
def test_affine_invariance_of_either_argument(a, b):
    g = torch.Generator().manual_seed(0)
    p = torch.rand(3, 1, 8, 8, generator=g, dtype=torch.float64)
    t = torch.rand(3, 1, 8, 8, generator=g, dtype=torch.float64)
    base = affine_invariant_l1(p, t)
    assert base.item() > 0.1
    assert affine_invariant_l1(a * p + b, t).item() == pytest.approx(base.item(), rel=1e-9)
    assert affine_invariant_l1(p, a * t + b).item() == pytest.approx(base.item(), rel=1e-9)
    assert affine_invariant_l1(a * t + b, t).item() == pytest.approx(0.0, abs=1e-9)
    # a < 0 flips the order: not an invariance
    assert affine_invariant_l1(-a * t + b, t).item() > 1.0


def test_masked_pixels_change_nothing_and_get_no_gradient():
    g = torch.Generator().manual_seed(2)
    p, t = torch.rand(2, 1, 6, 6, generator=g), torch.rand(2, 1, 6, 6, generator=g)
    mask = torch.rand(2, 1, 6, 6, generator=g) > 0.3
    base = affine_invariant_l1(p, t, mask)
    p2, t2 = p.clone(), t.clone()
    p2[~mask], t2[~mask] = float("nan"), float("inf")
    p2.requires_grad_(True)
    loss = affine_invariant_l1(p2, t2, mask)
    assert loss.item() == pytest.approx(base.item(), rel=1e-6)
    loss.backward()
    assert torch.isfinite(p2.grad).all() and p2.grad[~mask].abs().sum() == 0 and p2.grad[mask].abs().sum() > 0


def test_vectorised_equals_naive_per_map_loop():
    g = torch.Generator().manual_seed(1)
    p, t = torch.rand(2, 6, 1, 5, 5, generator=g), torch.rand(2, 6, 1, 5, 5, generator=g)
    mask = torch.rand(2, 6, 1, 5, 5, generator=g) > 0.4
    losses = []
    for pm, tm, mm in zip(p.reshape(12, -1), t.reshape(12, -1), mask.reshape(12, -1)):
        def norm(x, mm=mm):
            med = x[mm].median()
            return (x - med) / (x[mm] - med).abs().mean()
        losses.append((norm(pm) - norm(tm)).abs()[mm].mean())
    assert affine_invariant_l1(p, t, mask).item() == pytest.approx(torch.stack(losses).mean().item(), rel=1e-5)


def test_pixel_pooled_reduction_weighs_maps_by_valid_count():
    p = torch.cat([maps([0, 1, 2, 3]), maps([0, 1, 2, 3])]).float()
    t = torch.cat([maps([0, 1, 2, 6]), maps([0, 1, 2, 3])]).float()
    mask = torch.ones_like(p, dtype=torch.bool)
    mask[1, ..., 3] = False  # second map (loss 0) keeps 3 pixels
    per_map = affine_invariant_l1(p, t, mask)
    pooled = affine_invariant_l1(p, t, mask, reduction="pixels")
    assert per_map.item() == pytest.approx((3 / 7) / 2, rel=1e-6)
    assert pooled.item() == pytest.approx((12 / 7) / 7, rel=1e-6)
    with pytest.raises(ValueError, match="reduction"):
        affine_invariant_l1(p, t, mask, reduction="mean")


def test_pixel_reduction_keeps_the_released_handling_of_zero_scale_maps():
    # map 2 has a constant target: the released code normalises it to 0 (division by inf) and
    # still counts its 4 pixels: |[-1, 0, 1, 2] - 0| sums to 4. Map 1 sums to 12/7 (hand case).
    p = maps([0, 1, 2, 3], [0, 1, 2, 3])
    t = maps([0, 1, 2, 6], [5, 5, 5, 5])
    assert affine_invariant_l1(p, t, reduction="pixels").item() == pytest.approx((12 / 7 + 4) / 8, abs=1e-12)
    assert affine_invariant_l1(p, t).item() == pytest.approx(3 / 7, abs=1e-12)  # per_map: map 2 drops out


def test_degenerate_maps_contribute_nothing_and_stay_finite():
    p = torch.rand(4, 1, 4, 4)
    p[3] = 0.25  # constant prediction: zero scale
    p.requires_grad_(True)
    t = torch.rand(4, 1, 4, 4)
    t[1] = 0.5  # constant target: zero scale
    mask = torch.ones_like(t, dtype=torch.bool)
    mask[2] = False  # no valid pixel
    loss = affine_invariant_l1(p, t, mask)
    alone = affine_invariant_l1(p[:1], t[:1])
    assert loss.item() == pytest.approx(alone.item(), rel=1e-6)
    loss.backward()
    assert torch.isfinite(p.grad).all() and p.grad[1:].abs().sum() == 0
    for reduction in ("per_map", "pixels"):
        empty = affine_invariant_l1(p, t, torch.zeros_like(mask), reduction=reduction)
        assert empty.item() == 0.0 and empty.requires_grad
        flat = affine_invariant_l1(p[3:], t[1:2], reduction=reduction)
        assert torch.isfinite(flat) and flat.item() == 0.0
        flat.backward()
    assert torch.isfinite(p.grad).all()


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="shape"):
        affine_invariant_l1(torch.rand(1, 1, 2, 2), torch.rand(1, 1, 2, 3))
    with pytest.raises(ValueError, match="shape"):
        berhu(torch.rand(1, 1, 2, 2), torch.rand(1, 1, 2, 3))


def test_depth_to_disparity_keeps_invalid_zero_with_finite_grad():
    d = torch.tensor([0.0, 2.0, -1.0, 4.0, float("nan")], requires_grad=True)
    disp = depth_to_disparity(d)
    assert disp.tolist() == [0.0, 0.5, 0.0, 0.25, 0.0]
    disp.sum().backward()
    assert torch.isfinite(d.grad).all() and d.grad[1].item() == pytest.approx(-0.25)


def test_normalize_01_per_map_over_valid_pixels():
    x = maps([2, 4, 6, 100], [5, 5, 5, 5])
    mask = torch.tensor([True, True, True, False]).expand(2, 1, 1, 4)
    out = normalize_01(x, mask)
    assert out[0].flatten().tolist() == [0.0, 0.5, 1.0, 0.0]  # invalid pixel -> 0
    assert out[1].abs().sum() == 0  # flat map -> zeros, not NaN
    # unmasked and batched: each map on its own
    assert normalize_01(maps([1, 3, 5], [-2, 0, 6])).flatten().tolist() == [0, 0.5, 1, 0, 0.25, 1]


def test_normalize_01_gradient_is_finite_for_flat_maps():
    x = maps([1, 2, 3], [4, 4, 4]).requires_grad_(True)
    normalize_01(x).sum().backward()
    assert torch.isfinite(x.grad).all()


def test_berhu_hand_case():
    # diff [1, 0, 1, 2], c = 0.2·2 = 0.4: 1 -> (1 + .16)/.8 = 1.45, 2 -> (4 + .16)/.8 = 5.2
    loss = berhu(torch.tensor([0.0, 1, 2, 3]), torch.tensor([1.0, 1, 1, 1]))
    assert loss.item() == pytest.approx((1.45 + 0 + 1.45 + 5.2) / 4)
    # small errors are L1: c = 0.2 · 2 = 0.4, diff 0.3 < c
    small = berhu(torch.tensor([1.3, 3.0]), torch.tensor([1.0, 1.0]))
    assert small.item() == pytest.approx((0.3 + (4 + 0.16) / 0.8) / 2)
    # target 0 = invalid, and an explicit mask
    assert berhu(torch.tensor([5.0, 1.0]), torch.tensor([0.0, 1.0])).item() == 0.0
    assert berhu(torch.tensor([5.0, 1.0]), torch.tensor([2.0, 1.0]), torch.tensor([False, True])).item() == 0.0


def test_berhu_threshold_is_pooled_over_the_batch_and_not_differentiated():
    # two maps, errors 1 and 0.1: c = 0.2 · 1 = 0.2 from the batch maximum, so 0.1 stays L1
    pred = torch.tensor([[[[2.0]]], [[[1.1]]]], requires_grad=True)
    target = torch.tensor([[[[1.0]]], [[[1.0]]]])
    loss = berhu(pred, target)
    assert loss.item() == pytest.approx(((1 + 0.04) / 0.4 + 0.1) / 2)
    loss.backward()
    # d/de (e² + c²)/2c = e/c = 5 with c held fixed; the L1 branch has slope 1; mean over 2 pixels
    assert pred.grad.flatten().tolist() == pytest.approx([2.5, 0.5])


def test_berhu_degenerate_cases_are_finite():
    pred = torch.tensor([1.0, 2.0, float("nan")], requires_grad=True)
    target = torch.tensor([1.0, 2.0, 0.0])  # exact where valid; NaN prediction where invalid
    loss = berhu(pred, target)
    assert loss.item() == 0.0
    loss.backward()
    assert torch.isfinite(pred.grad).all()
    none = berhu(pred, torch.zeros(3))
    assert none.item() == 0.0 and none.requires_grad


def test_half_precision_inputs_are_reduced_in_float32():
    g = torch.Generator().manual_seed(4)
    p, t = torch.rand(2, 1, 64, 64, generator=g), torch.rand(2, 1, 64, 64, generator=g)
    for fn in (affine_invariant_l1, berhu):
        half = fn(p.half(), t.half())
        assert half.dtype == torch.float32
        assert half.item() == pytest.approx(fn(p, t).item(), rel=1e-2)
