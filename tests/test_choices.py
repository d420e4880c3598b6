"""Each named choice is declared once (repro.choices); what implements it must name exactly those values."""

from __future__ import annotations

import typing

import pytest

from repro import choices
from repro.choices import values


def test_students_and_datasets_match_their_registries():
    from repro.data import DATASETS
    from repro.models.registry import STUDENTS

    assert set(STUDENTS) == set(values(choices.StudentName))
    assert set(DATASETS) == set(values(choices.DatasetName))


def test_protocols_rmse_log_and_reductions_match_their_implementations():
    from repro.evaluation.metrics import PROTOCOLS, RMSE_LOG_VARIANTS
    from repro.losses import REDUCTIONS

    assert set(PROTOCOLS) == set(values(choices.Protocol))
    assert all(spec.align == name for name, spec in PROTOCOLS.items())
    assert set(RMSE_LOG_VARIANTS) == set(values(choices.RmseLog)) == {"ln", "log10", "released"}
    assert set(REDUCTIONS) == set(values(choices.LossReduction))


def test_evaluator_names_match_the_evaluators():
    from repro.evaluation.evaluators import EVALUATORS, SOURCES

    assert EVALUATORS == values(choices.Evaluator) and set(SOURCES) == set(EVALUATORS)


def test_teacher_resize_modes_are_resize_modes_of_the_teacher():
    from repro.teacher.depth_anything import ResizeMode

    assert set(values(choices.TeacherResize)) <= set(typing.get_args(ResizeMode))


def test_settings_take_their_choices_from_the_one_declaration():
    """Every Literal field of the run settings is one of the declared choices (no private copies)."""
    import dataclasses

    from repro import run_settings

    declared = {typing.get_args(getattr(choices, n)) for n in dir(choices) if typing.get_origin(getattr(choices, n)) is typing.Literal}
    # the few choices that only the settings schema knows (not acted on elsewhere)
    local = {("constant", "poly"), ("student", "teacher_equirect", "predictions")}
    for cls in (run_settings.TrainSettings, run_settings.EvalSettings, run_settings.DistillSpec,
                run_settings.TeacherSpec, run_settings.MaskSpec, run_settings.Schedule, run_settings.Recipe):
        hints = typing.get_type_hints(cls, vars(run_settings))
        for f in dataclasses.fields(cls):
            for tp in [hints[f.name], *typing.get_args(hints[f.name])]:
                if typing.get_origin(tp) is typing.Literal:
                    assert typing.get_args(tp) in declared | local, f"{cls.__name__}.{f.name}"


def test_a_value_outside_a_choice_is_refused_everywhere():
    from repro.config import ConfigError, from_data
    from repro.distill import teacher_targets
    from repro.evaluation.metrics import describe
    from repro.run_settings import EvalSettings

    with pytest.raises(ValueError, match="unknown rmse_log 'log2'"):
        describe("median", "log2", 0)
    with pytest.raises(ConfigError, match="rmse_log"):
        from_data(EvalSettings, {"dataset": {"dataset": "stanford2d3d"}, "rmse_log": "log2"})
    # log10 is accepted by the settings as well as by the metrics (they drifted once)
    assert from_data(EvalSettings, {"dataset": {"dataset": "stanford2d3d"}, "rmse_log": "log10"}).rmse_log == "log10"
    with pytest.raises(ValueError, match="unknown projection 'sphere'"):
        teacher_targets(None, None, projection="sphere")
