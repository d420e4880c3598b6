"""The teacher is the original Depth Anything network (LiheYoung/Depth-Anything) at every input size.

Always run: the original-layout state dict goes through the published conversion rules into our
teacher; the original DINOv2's position-embedding resize, the original's final resize + ReLU, the
named resize modes and the precision setting.

Against the original code itself (not ours to copy, so not vendored): set ``DEPTH_ANYTHING_SRC`` to
a checkout of https://github.com/LiheYoung/Depth-Anything (the folder holding ``depth_anything/``
and ``torchhub/``). A randomly initialised original network, its state dict mapped into our
teacher, must then give the same disparity within 1e-4 relative at 518×518, 224×224, 112×224 and
518×1036 (the size of Table 3's teacher-on-equirect row).
"""

from __future__ import annotations

import os
import sys
from functools import partial
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config

from repro.errors import UserError
from repro.teacher import DepthAnythingTeacher, convert_original_state_dict, load_original_weights
from repro.teacher.depth_anything import original_final_resize, resize
from repro.teacher.pos_embed import resize_pos_grid, use_pos_embed

SIZES = [(518, 518), (224, 224), (112, 224), (518, 1036)]
TOL = 1e-4  # relative: max |ours − original| / (max original − min original), stricter than / max |original|

# A ViT-S-like network, small enough for CPU tests: 4 blocks of width 32, DPT features 16.
WIDTH, DEPTH, HEADS, FEATURES, NECK = 32, 4, 2, 16, (8, 16, 32, 32)


def tiny_config() -> DepthAnythingConfig:
    """What the published conversion produces for an original ``DPT_DINOv2`` of the sizes above."""
    backbone = Dinov2Config(
        hidden_size=WIDTH,
        num_hidden_layers=DEPTH,
        num_attention_heads=HEADS,
        intermediate_size=4 * WIDTH,
        image_size=518,
        patch_size=14,
        out_indices=list(range(1, DEPTH + 1))[-4:],  # the original takes the last 4 blocks
        apply_layernorm=True,
        reshape_hidden_states=False,
    )
    return DepthAnythingConfig(
        backbone_config=backbone,
        reassemble_hidden_size=WIDTH,
        neck_hidden_sizes=list(NECK),
        fusion_hidden_size=FEATURES,
    )


def original_layout(seed: int = 0) -> dict[str, torch.Tensor]:
    """A random state dict named and shaped as the original checkpoints are (published layer names)."""
    g = torch.Generator().manual_seed(seed)
    c, f, grid = WIDTH, FEATURES, 37 * 37

    def rnd(*shape: int) -> torch.Tensor:
        return 0.05 * torch.randn(*shape, generator=g)

    sd = {
        "pretrained.cls_token": rnd(1, 1, c),
        "pretrained.mask_token": rnd(1, c),
        "pretrained.pos_embed": rnd(1, 1 + grid, c),
        "pretrained.patch_embed.proj.weight": rnd(c, 3, 14, 14),
        "pretrained.patch_embed.proj.bias": rnd(c),
        "pretrained.norm.weight": 1 + rnd(c),
        "pretrained.norm.bias": rnd(c),
    }
    for i in range(DEPTH):
        b = f"pretrained.blocks.{i}."
        sd.update({
            b + "norm1.weight": 1 + rnd(c), b + "norm1.bias": rnd(c),
            b + "attn.qkv.weight": rnd(3 * c, c), b + "attn.qkv.bias": rnd(3 * c),
            b + "attn.proj.weight": rnd(c, c), b + "attn.proj.bias": rnd(c),
            b + "ls1.gamma": 1 + rnd(c),
            b + "norm2.weight": 1 + rnd(c), b + "norm2.bias": rnd(c),
            b + "mlp.fc1.weight": rnd(4 * c, c), b + "mlp.fc1.bias": rnd(4 * c),
            b + "mlp.fc2.weight": rnd(c, 4 * c), b + "mlp.fc2.bias": rnd(c),
            b + "ls2.gamma": 1 + rnd(c),
        })  # fmt: skip
    h = "depth_head."
    for i, n in enumerate(NECK):
        sd[f"{h}projects.{i}.weight"], sd[f"{h}projects.{i}.bias"] = rnd(n, c, 1, 1), rnd(n)
        sd[f"{h}scratch.layer{i + 1}_rn.weight"] = rnd(f, n, 3, 3)
    for i, (n, k) in enumerate(zip(NECK[:2], (4, 2), strict=True)):  # transposed-conv upsampling
        sd[f"{h}resize_layers.{i}.weight"], sd[f"{h}resize_layers.{i}.bias"] = rnd(n, n, k, k), rnd(n)
    sd[f"{h}resize_layers.3.weight"], sd[f"{h}resize_layers.3.bias"] = rnd(NECK[3], NECK[3], 3, 3), rnd(NECK[3])
    for r in range(1, 5):
        p = f"{h}scratch.refinenet{r}."
        sd[p + "out_conv.weight"], sd[p + "out_conv.bias"] = rnd(f, f, 1, 1), rnd(f)
        for unit in (1, 2):
            for conv in (1, 2):
                q = f"{p}resConfUnit{unit}.conv{conv}."
                sd[q + "weight"], sd[q + "bias"] = rnd(f, f, 3, 3), rnd(f)
    sd[f"{h}scratch.output_conv1.weight"], sd[f"{h}scratch.output_conv1.bias"] = rnd(f // 2, f, 3, 3), rnd(f // 2)
    sd[f"{h}scratch.output_conv2.0.weight"], sd[f"{h}scratch.output_conv2.0.bias"] = rnd(32, f // 2, 3, 3), rnd(32)
    sd[f"{h}scratch.output_conv2.2.weight"], sd[f"{h}scratch.output_conv2.2.bias"] = rnd(1, 32, 1, 1), 0.5 + rnd(1)
    return sd


def teacher_from(state: dict[str, torch.Tensor], **opts) -> DepthAnythingTeacher:
    model = load_original_weights(DepthAnythingForDepthEstimation(tiny_config()), state)
    return DepthAnythingTeacher(model, **opts)


def rel(ours: torch.Tensor, ref: torch.Tensor) -> float:
    """Largest difference over the reference's range (random weights give a narrow range around an offset)."""
    return float((ours - ref).abs().max() / (ref.max() - ref.min()))


@pytest.fixture(scope="module")
def original_sd() -> dict[str, torch.Tensor]:
    return original_layout()


@pytest.fixture(scope="module")
def teacher(original_sd) -> DepthAnythingTeacher:
    return teacher_from(original_sd)


# --------------------------------------------------------------------------- conversion rules


def test_every_original_weight_lands_where_the_conversion_rules_say(original_sd, teacher):
    m = teacher.model
    converted = convert_original_state_dict(original_sd)
    assert len(converted) == len(original_sd) + 4 * DEPTH  # each qkv weight and bias becomes three
    ours = m.state_dict()
    assert len(ours) == len(converted)  # strict: nothing missing, nothing left over
    for i in range(DEPTH):  # query, key, value are the rows of qkv, in that order, wherever transformers keeps them
        qkv = original_sd[f"pretrained.blocks.{i}.attn.qkv.weight"]
        for part in qkv.chunk(3):
            assert sum(torch.equal(v, part) for v in ours.values()) == 1
    # the original counts fusion blocks from the finest map, Hugging Face from the coarsest
    for r in range(1, 5):
        layer = m.neck.fusion_stage.layers[4 - r]
        assert torch.equal(layer.projection.weight, original_sd[f"depth_head.scratch.refinenet{r}.out_conv.weight"])
        assert torch.equal(
            layer.residual_layer2.convolution1.bias,
            original_sd[f"depth_head.scratch.refinenet{r}.resConfUnit2.conv1.bias"],
        )
    assert torch.equal(m.neck.convs[0].weight, original_sd["depth_head.scratch.layer1_rn.weight"])
    assert torch.equal(m.head.conv3.weight, original_sd["depth_head.scratch.output_conv2.2.weight"])
    assert torch.equal(
        m.backbone.encoder.layer[2].layer_scale2.lambda1, original_sd["pretrained.blocks.2.ls2.gamma"]
    )
    assert torch.equal(m.backbone.embeddings.position_embeddings, original_sd["pretrained.pos_embed"])


def test_foreign_or_incomplete_state_dicts_are_refused(original_sd):
    model = DepthAnythingForDepthEstimation(tiny_config())
    with pytest.raises(UserError, match="no rule for depth_head.scratch.stem"):
        load_original_weights(model, {**original_sd, "depth_head.scratch.stem.weight": torch.zeros(1)})
    partial_sd = {k: v for k, v in original_sd.items() if "refinenet3" not in k}
    with pytest.raises(UserError, match="missing_keys"):
        load_original_weights(model, partial_sd)


def test_original_checkpoint_file_loads_with_weights_only(tmp_path, original_sd, teacher):
    path = tmp_path / "depth_anything_vits14.pth"
    torch.save(original_sd, path)
    model = load_original_weights(DepthAnythingForDepthEstimation(tiny_config()), path)
    x = torch.randn(1, 3, 56, 56)
    assert torch.equal(DepthAnythingTeacher(model).network(x), teacher.network(x))
    (tmp_path / "junk.pth").write_text("not a checkpoint")
    with pytest.raises(UserError, match="junk.pth"):
        load_original_weights(model, tmp_path / "junk.pth")


# --------------------------------------------------------------------------- position embeddings


def sample_at(grid: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """Bicubic samples of ``grid`` (1,C,S,S) at source pixel coordinates (rows × cols), via grid_sample."""
    side = grid.shape[-1]
    ys, xs = torch.meshgrid((2 * rows + 1) / side - 1, (2 * cols + 1) / side - 1, indexing="ij")
    where = torch.stack((xs, ys), dim=-1).unsqueeze(0)
    return F.grid_sample(grid, where, mode="bicubic", padding_mode="border", align_corners=False)


def test_original_pos_grid_samples_at_the_scale_factor_positions():
    """The original samples patch row i of g at (i + ½)·37/(g + 0.1) − ½, not at the (i + ½)·37/g − ½
    of an exact-size resize: checked against grid_sample at those coordinates."""
    side, c = 37, 4
    pos = torch.randn(1, 1 + side * side, c, generator=torch.Generator().manual_seed(0))
    grid = pos[:, 1:].reshape(1, side, side, c).permute(0, 3, 1, 2)
    for gh, gw in ((16, 16), (8, 16), (37, 74)):
        out = resize_pos_grid(pos, (gh, gw))
        assert out.shape == (1, 1 + gh * gw, c) and torch.equal(out[:, 0], pos[:, 0])
        got = out[:, 1:].reshape(1, gh, gw, c).permute(0, 3, 1, 2)

        def coords(g: int, offset: float) -> torch.Tensor:
            return (torch.arange(g) + 0.5) * side / (g + offset) - 0.5

        rows, cols = coords(gh, 0.1), coords(gw, 0.1)
        # interior samples only: at the border interpolate clamps the kernel's taps, grid_sample the coordinate
        inner = ((rows >= 1) & (rows <= side - 3)).view(-1, 1) & ((cols >= 1) & (cols <= side - 3)).view(1, -1)
        original = sample_at(grid, rows, cols)
        exact_size = sample_at(grid, coords(gh, 0.0), coords(gw, 0.0))
        assert inner.float().mean() > 0.5
        assert torch.allclose(got[..., inner], original[..., inner], atol=1e-4)  # float32 rounding
        assert (got - exact_size)[..., inner].abs().max() > 1e-2


def test_pos_embed_modes_agree_at_518_and_differ_elsewhere(teacher):
    model = teacher.model
    try:
        for size, same in (((518, 518), True), ((112, 224), False)):
            x = torch.randn(1, 3, *size)
            use_pos_embed(model, "original")
            original = teacher.network(x)
            use_pos_embed(model, "transformers")
            hf = teacher.network(x)
            assert torch.equal(original, hf) == same, size
    finally:
        use_pos_embed(model, teacher.pos_embed)
    with pytest.raises(ValueError, match="pos_embed must be one of"):
        use_pos_embed(model, "nearest")


# --------------------------------------------------------------------------- the original's end step


def test_final_resize_is_a_no_op_at_multiples_of_14(teacher):
    for size in ((28, 28), (56, 112), (98, 42)):
        x = torch.randn(2, 3, *size)
        plain = teacher.model(pixel_values=x).predicted_depth.unsqueeze(1)
        assert plain.shape[-2:] == size  # the head already returns the input size ...
        assert torch.equal(teacher.network(x), plain)  # ... so the original's resize + ReLU changes nothing
    d = torch.randn(1, 1, 9, 13)
    assert torch.equal(original_final_resize(d, (9, 13)), d.clamp(min=0))
    assert original_final_resize(d, (18, 26)).shape[-2:] == (18, 26)
    with pytest.raises(ValueError, match="multiples of 14"):
        teacher.network(torch.randn(1, 3, 30, 28))


# --------------------------------------------------------------------------- resize modes, precision


def test_resize_modes_are_what_they_say():
    x = torch.rand(1, 1, 64, 64)
    size = (24, 24)
    assert torch.equal(resize(x, size, "bilinear"), F.interpolate(x, size, mode="bilinear", align_corners=False))
    assert torch.equal(
        resize(x, size, "bilinear_antialias"),
        F.interpolate(x, size, mode="bilinear", align_corners=False, antialias=True),
    )
    assert not torch.allclose(resize(x, size, "bilinear"), resize(x, size, "bilinear_antialias"), atol=1e-3)
    assert torch.equal(resize(x, size, "nearest"), F.interpolate(x, size, mode="nearest"))
    with pytest.raises(ValueError, match="resize mode"):
        resize(x, size, "lanczos")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="output_resize must be one of"):
        DepthAnythingTeacher(torch.nn.Identity(), output_resize="linear")  # type: ignore[arg-type]


def test_precision_is_explicit_and_fp32_ignores_an_outer_autocast(teacher):
    x = torch.randn(1, 3, 56, 112)
    fp32 = teacher.network(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.equal(teacher.network(x), fp32)  # fp32 means fp32, whoever calls
    bf16 = DepthAnythingTeacher(teacher.model, precision="bf16").network(x)
    assert bf16.dtype == torch.float32 and not torch.equal(bf16, fp32)
    assert (bf16 - fp32).abs().max() < 0.02 * fp32.abs().max()  # bf16 keeps ~3 significant digits
    with pytest.raises(ValueError, match="precision must be one of"):
        DepthAnythingTeacher(teacher.model, precision="auto")  # type: ignore[arg-type]


def test_provenance_names_every_setting(teacher):
    p = DepthAnythingTeacher(teacher.model, precision="bf16", output_resize="nearest", name="x/y", revision="abc").provenance()
    assert p == {
        "id": "x/y",
        "revision": "abc",
        "weights": "pretrained",
        "precision": "bf16",
        "input_size": 518,
        "input_resize": "bilinear_antialias",
        "output_resize": "nearest",
        "pos_embed": "original",
        "attention": "sdpa",
        "chunk_size": 12,
        "channels_last": False,
        "compile": False,
        "stand_in": False,
    }


# --------------------------------------------------------------------------- against the original code

SRC = os.environ.get("DEPTH_ANYTHING_SRC")
needs_src = pytest.mark.skipif(
    not SRC or not (Path(SRC) / "depth_anything" / "dpt.py").is_file(),
    reason="the original Depth Anything code is not ours to vendor: set DEPTH_ANYTHING_SRC to a checkout of "
    "github.com/LiheYoung/Depth-Anything to compare against it",
)


def build_original(src: str | Path, seed: int = 0) -> torch.nn.Module:
    """A randomly initialised original Depth Anything (their classes, ViT-S-like tiny sizes)."""
    root = Path(src).resolve()
    paths = [str(root), str(root / "torchhub" / "facebookresearch_dinov2_main")]
    sys.path[:0] = paths
    try:
        from depth_anything.dpt import DPT_DINOv2, DPTHead
        from dinov2.models import vision_transformer as vt
    finally:
        del sys.path[: len(paths)]

    class Original(DPT_DINOv2):
        def __init__(self) -> None:  # DPT_DINOv2 itself would build the full ViT-S through torch.hub
            torch.nn.Module.__init__(self)
            self.pretrained = vt.DinoVisionTransformer(
                img_size=518, patch_size=14, embed_dim=WIDTH, depth=DEPTH, num_heads=HEADS, mlp_ratio=4,
                init_values=1.0, ffn_layer="mlp", block_chunks=0,
                block_fn=partial(vt.Block, attn_class=vt.MemEffAttention),
            )  # fmt: skip
            self.depth_head = DPTHead(1, WIDTH, FEATURES, False, out_channels=list(NECK), use_clstoken=False)

    torch.manual_seed(seed)
    net = Original().eval()
    with torch.no_grad():  # move every weight off its initial value (zero biases, unit scales hide swaps)
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
        net.depth_head.scratch.output_conv2[2].bias.fill_(POSITIVE_BIAS)
    return net


#: The last bias, raised so that the final ReLU keeps the disparity alive on random weights.
POSITIVE_BIAS = 0.5


@pytest.fixture(scope="module")
def original_network() -> torch.nn.Module:
    return build_original(str(SRC))


@needs_src
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_teacher_network_equals_the_original(original_network, size):
    ours = teacher_from(original_network.state_dict())
    x = torch.randn(2, 3, *size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = original_network(x).unsqueeze(1)
    assert rel(ours.network(x), ref) < TOL
    if size != (518, 518):  # Hugging Face's exact-size position-embedding resize is measurably not the original
        use_pos_embed(ours.model, "transformers")
        assert rel(ours.network(x), ref) > TOL
