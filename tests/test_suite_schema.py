"""Suite files: inheritance, scales, variants, kinds, and errors that name file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from repro.config import ConfigError
from repro.run_settings import RECIPES
from repro.suite.schema import find_suite, iter_suite_files, load_suite

ROOT = Path(__file__).resolve().parents[1]
SUITES = ROOT / "suites"

BASE = """\
suite: t
defaults:
  train:
    student: {name: unifuse}
    labeled: [{dataset: matterport3d, split: all}]
    distill: {rotation_max_deg: 45.0}
  eval:
    dataset: {dataset: stanford2d3d, split: test}
scales:
  tiny:
    train: {schedule: {steps: 3}, input_size: [64, 128]}
variants:
  released_code:
    eval: {protocol: lsq_disparity_median}
cells:
"""


def load(tmp_path: Path, cells: str, **kw):
    p = tmp_path / "t.yaml"
    p.write_text(BASE + cells)
    return load_suite(p, **kw)


def test_shipped_suites_resolve_as_the_paper_says():
    t3 = load_suite(SUITES / "table3_zero_shot.yaml")
    cell = t3.cells["bifusepp_m_all_sp"]
    assert cell.train.student.name == "bifusepp"
    assert [(r.dataset, r.split) for r in cell.train.labeled] == [("matterport3d", "all")]
    assert [(r.dataset, r.split) for r in cell.train.pseudo] == [("spatialaudiogen", "all")]
    assert (cell.eval.dataset.dataset, cell.eval.dataset.split, cell.eval.protocol) == (
        "stanford2d3d",
        "test",
        "median",
    )
    assert cell.train.distill.projection == "cube" and cell.train.distill.rotation_max_deg == 45.0
    assert cell.train.teacher.id == "LiheYoung/depth-anything-large-hf" and cell.train.ratio == "1:1"
    assert t3.cells["depth_anything"].kind == "eval_only" and t3.cells["depth_anything"].train is None
    assert t3.cells["unifuse_berhu"].kind == "cited" and t3.cells["unifuse_berhu"].eval is None
    resolved = cell.train.schedule
    assert (resolved.epochs, resolved.batch_size, resolved.lr) == (200, 4, 3e-4)  # BiFuse++ recipe
    t7 = load_suite(SUITES / "table7_ratio.yaml")
    assert [t7.cells[f"ratio_1_{n}"].train.pseudo_per_labeled for n in (1, 2, 4)] == [1, 2, 4]
    t8 = load_suite(SUITES / "table8_projection.yaml")
    assert t8.cells["tangent"].train.distill.projection == "tangent"
    t5 = load_suite(SUITES / "table5_metric_ft.yaml")
    ft = t5.cells["unifuse_metric_ft"]
    assert ft.depends_on == "unifuse_m_all_st" and ft.train.loss == "berhu" and ft.eval.protocol == "none"
    assert ft.train.schedule.epochs == 1


def test_table7_and_table8_reference_cells_equal_table3s():
    """Same configuration ⇒ same training cache key: trained once for three tables."""
    from repro.config import to_plain

    t3 = load_suite(SUITES / "table3_zero_shot.yaml").cells["unifuse_m_all_st"].train
    t7 = load_suite(SUITES / "table7_ratio.yaml").cells["ratio_1_1"].train
    t8 = load_suite(SUITES / "table8_projection.yaml").cells["cube"].train
    t5 = load_suite(SUITES / "table5_metric_ft.yaml").cells["unifuse_m_all_st"].train
    assert to_plain(t3) == to_plain(t7) == to_plain(t8) == to_plain(t5)
    # ... and so are the baselines Table 7's and Table 8's claims need
    base = [load_suite(SUITES / f"{n}.yaml").cells["unifuse_m_all"].train for n in
            ("table3_zero_shot", "table7_ratio", "table8_projection")]
    assert to_plain(base[0]) == to_plain(base[1]) == to_plain(base[2]) and base[0].pseudo == []


def test_baseline_recipe_is_a_recorded_choice():
    t5 = load_suite(SUITES / "table5_metric_ft.yaml")
    official = t5.cells["unifuse_sf_metric"].train
    assert official.baseline_recipe == "official" and official.uses_official_recipe
    assert (official.schedule.batch_size, official.schedule.epochs) == (6, 100)  # UniFuse's own schedule
    t3 = load_suite(SUITES / "table3_zero_shot.yaml")
    same = t3.cells["unifuse_m_all"].train
    assert same.baseline_recipe == "same_as_distilled" and not same.uses_official_recipe
    assert (same.schedule.batch_size, same.schedule.epochs) == (3, 200)  # the distilled run's labeled half
    assert t3.cells["unifuse_m_all_st"].train.schedule.batch_size == 3


def test_tiny_scale_and_released_code_variant():
    tiny = load_suite(SUITES / "table3_zero_shot.yaml", scale="tiny", variant="released_code")
    cell = tiny.cells["unifuse_m_all_st"]
    assert cell.synthetic is not None and cell.train.teacher.is_oracle and cell.train.input_size == (64, 128)
    assert cell.train.schedule.steps == 4 and cell.train.student.pretrained is False
    assert cell.eval.protocol == "lsq_disparity_median" and cell.eval.crop_rows == 68
    assert cell.train.distill.mask_mode == "released_code"
    assert tiny.cells["depth_anything"].eval.teacher.is_oracle
    # a cell's explicit choice beats the variant: metric fine-tuning stays unaligned
    t5 = load_suite(SUITES / "table5_metric_ft.yaml", variant="released_code")
    assert t5.cells["unifuse_metric_ft"].eval.protocol == "none"
    assert t5.cells["unifuse_m_all_st"].eval.protocol == "lsq_disparity_median"


def test_smoke_defaults_to_tiny():
    smoke = load_suite(SUITES / "smoke.yaml")
    assert smoke.scale == "tiny" and all(c.synthetic for c in smoke.cells.values())
    assert all(c.train.teacher.is_oracle and c.train.masks.backend == "ground_truth" for c in smoke.cells.values())
    assert smoke.cells["metric_ft"].depends_on == "gt_pseudo"


def test_aliases_and_discovery():
    assert find_suite("zero_shot", SUITES).name == "table3_zero_shot.yaml"
    assert {p.stem for p in iter_suite_files(SUITES)} >= {"smoke", "table2_matterport", "table8_projection"}
    with pytest.raises(ConfigError, match="no suite 'nope'"):
        find_suite("nope", SUITES)


def test_recipes_cover_every_student():
    assert set(RECIPES) == {"unifuse", "bifusepp", "hohonet", "egformer", "equi"}
    assert RECIPES["egformer"].betas == (0.5, 0.999) and RECIPES["hohonet"].scheduler == "poly"


@pytest.mark.parametrize(
    ("cells", "message"),
    [
        (
            "  a: {train: {student: {name: unifus}}}\n",
            r"t.yaml:16: key 'cells.a.train.student.name': expected one of 'unifuse'",
        ),
        ("  a: {kind: cited, train: {}}\n", r"t.yaml:16: key 'cells.a.train': a cited cell has no train: section"),
        ("  a: {kind: eval_only, train: {}}\n", r"key 'cells.a.train': a eval_only cell has no train: section"),
        ("  a: {train: {ratio: '2:1'}}\n", r"t.yaml:16: key 'cells.a.train.ratio': must look like '1:N'"),
        ("  a: {train: {pseudo: [{dataset: structured3d}], loss: berhu}}\n", r"pseudo labels are relative depth"),
        ("  a: {train: {init_from: 'cell:zz'}}\n", r"key 'cells.a.train.init_from': init_from names unknown cell 'zz'"),
        ("  a: {train: {init_from: 'cell:b'}}\n  b: {train: {init_from: 'cell:a'}}\n", r"init_from cycle"),
        ("  a: {extends: b}\n", r"key 'a.extends': unknown entry 'b'"),
        ("  a: {name: x}\n", r"t.yaml:16: key 'cells.a.name': a cell's name is its key"),
        ("  a: {seeds: [1, 1]}\n", r"seeds must be distinct"),
        ("  a: {eval: {model: predictions}}\n", r"model 'predictions' needs predictions"),
    ],
)
def test_errors_name_file_line_key(tmp_path, cells, message):
    with pytest.raises(ConfigError, match=message):
        load(tmp_path, cells)


def test_unknown_top_level_key_and_scale(tmp_path):
    with pytest.raises(ConfigError, match=r"t.yaml:1: key 'suit': unknown suite key"):
        p = tmp_path / "t.yaml"
        p.write_text("suit: x\ncells: {}\n")
        load_suite(p)
    with pytest.raises(ConfigError, match=r"suite defines no scale 'huge' \(scales: full, tiny\)"):
        load(tmp_path, "  a: {}\n", scale="huge")
    with pytest.raises(ConfigError, match=r"no variant 'paper2'"):
        load(tmp_path, "  a: {}\n", variant="paper2")


def test_scale_overrides_cell_but_variant_does_not(tmp_path):
    suite = load(
        tmp_path,
        "  a: {train: {schedule: {steps: 99}}, eval: {protocol: none}}\n",
        scale="tiny",
        variant="released_code",
    )
    a = suite.cells["a"]
    assert a.train.schedule.steps == 3 and a.eval.protocol == "none"


def test_groups_keep_dependencies_together(tmp_path):
    suite = load(
        tmp_path, "  a: {}\n  b: {train: {init_from: 'cell:a'}}\n  c: {}\n  d: {train: {init_from: 'cell:b'}}\n"
    )
    assert sorted(map(sorted, suite.groups())) == [["a", "b", "d"], ["c"]]
    assert [c.name for c in suite.ordered(["d"])] == ["a", "b", "d"]
