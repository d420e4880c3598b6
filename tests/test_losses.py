import pytest
import torch

from repro.losses import affine_invariant_l1, berhu, depth_to_disparity, normalize_01


def maps(*values):
    return torch.tensor(values, dtype=torch.float64).reshape(len(values), 1, 1, -1)


def test_affine_invariant_hand_case():
    # p: median 1, mean|p-1| = 1 -> [-1, 0, 1, 2]; g: median 1, mean|g-1| = 7/4 -> [-4/7, 0, 4/7, 20/7]
    loss = affine_invariant_l1(maps([0, 1, 2, 3]), maps([0, 1, 2, 6]))
    assert loss.item() == pytest.approx(3 / 7, abs=1e-12)


@pytest.mark.parametrize("a,b", [(2.0, 0.5), (0.01, -3.0), (100.0, 7.0)])
def test_affine_invariance_of_either_argument(a, b):
    g = torch.Generator().manual_seed(0)
    p, t = torch.rand(3, 1, 8, 8, generator=g, dtype=torch.float64), torch.rand(3, 1, 8, 8, generator=g, dtype=torch.float64)
    base = affine_invariant_l1(p, t)
    assert base.item() > 0.1
    assert affine_invariant_l1(a * p + b, t).item() == pytest.approx(base.item(), rel=1e-9)
    assert affine_invariant_l1(p, a * t + b).item() == pytest.approx(base.item(), rel=1e-9)
    assert affine_invariant_l1(a * t + b, t).item() == pytest.approx(0.0, abs=1e-9)


def test_masked_pixels_are_ignored():
    p, t = torch.rand(2, 1, 6, 6), torch.rand(2, 1, 6, 6)
    mask = torch.rand(2, 1, 6, 6) > 0.3
    base = affine_invariant_l1(p, t, mask)
    p2, t2 = p.clone(), t.clone()
    p2[~mask], t2[~mask] = 1e6, float("nan")
    assert affine_invariant_l1(p2, t2, mask).item() == pytest.approx(base.item(), rel=1e-6)


def test_vectorised_equals_naive_per_map_loop():
    g = torch.Generator().manual_seed(1)
    p, t = torch.rand(2, 6, 1, 5, 5, generator=g), torch.rand(2, 6, 1, 5, 5, generator=g)
    mask = torch.rand(2, 6, 1, 5, 5, generator=g) > 0.4
    losses = []
    for pm, tm, mm in zip(p.reshape(12, -1), t.reshape(12, -1), mask.reshape(12, -1)):
        def norm(x):
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


def test_degenerate_maps_contribute_nothing_and_stay_finite():
    p = torch.rand(3, 1, 4, 4, requires_grad=True)
    t = torch.rand(3, 1, 4, 4)
    t[1] = 0.5  # constant target: zero scale
    mask = torch.ones_like(t, dtype=torch.bool)
    mask[2] = False  # no valid pixel
    loss = affine_invariant_l1(p, t, mask)
    alone = affine_invariant_l1(p[:1], t[:1])
    assert loss.item() == pytest.approx(alone.item(), rel=1e-6)
    loss.backward()
    assert torch.isfinite(p.grad).all() and p.grad[1:].abs().sum() == 0
    empty = affine_invariant_l1(p, t, torch.zeros_like(mask))
    assert empty.item() == 0.0 and empty.requires_grad


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="shape"):
        affine_invariant_l1(torch.rand(1, 1, 2, 2), torch.rand(1, 1, 2, 3))


def test_depth_to_disparity_keeps_invalid_zero_with_finite_grad():
    d = torch.tensor([0.0, 2.0, -1.0, 4.0], requires_grad=True)
    disp = depth_to_disparity(d)
    assert disp.tolist() == [0.0, 0.5, 0.0, 0.25]
    disp.sum().backward()
    assert torch.isfinite(d.grad).all() and d.grad[1].item() == pytest.approx(-0.25)


def test_normalize_01_per_map_over_valid_pixels():
    x = maps([2, 4, 6, 100], [5, 5, 5, 5])
    mask = torch.tensor([True, True, True, False]).expand(2, 1, 1, 4)
    out = normalize_01(x, mask)
    assert out[0].flatten().tolist() == [0.0, 0.5, 1.0, 0.0]
    assert out[1].abs().sum() == 0  # flat map -> zeros, not NaN


def test_berhu_hand_case():
    # diff [1, 0, 1, 2], c = 0.4: 1 -> (1 + .16)/.8 = 1.45, 2 -> (4 + .16)/.8 = 5.2
    loss = berhu(torch.tensor([0.0, 1, 2, 3]), torch.tensor([1.0, 1, 1, 1]))
    assert loss.item() == pytest.approx((1.45 + 0 + 1.45 + 5.2) / 4)
    # small errors are L1: c = 0.2 · 2 = 0.4, diff 0.3 < c
    assert berhu(torch.tensor([1.3, 3.0]), torch.tensor([1.0, 1.0])).item() == pytest.approx((0.3 + (4 + 0.16) / 0.8) / 2)
    # target 0 = invalid, and an explicit mask
    assert berhu(torch.tensor([5.0, 1.0]), torch.tensor([0.0, 1.0])).item() == 0.0
    assert berhu(torch.tensor([5.0, 1.0]), torch.tensor([2.0, 1.0]), torch.tensor([False, True])).item() == 0.0
