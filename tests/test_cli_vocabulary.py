"""One flag vocabulary across commands, with help text on every option (issue 20)."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest

from repro.cli import COMMANDS, command_parser


def _parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                yield from _parsers(sub)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_option_of_every_command_has_help(name: str) -> None:
    missing = [
        f"{p.prog} {'/'.join(a.option_strings) or a.dest}"
        for p in _parsers(command_parser(name))
        for a in p._actions
        if not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction)) and not (a.help or "").strip()
    ]
    assert not missing, f"options without help text: {missing}"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_help_shows_each_default_once(name: str) -> None:
    for p in _parsers(command_parser(name)):
        text = p.format_help()
        assert "(default: None)" not in text and "(default: False)" not in text
        for a in p._actions:
            if a.option_strings and isinstance(a.default, (int, float)) and not isinstance(a.default, bool):
                assert "default" in p.formatter_class("x")._get_help_string(a), (p.prog, a.option_strings)


@pytest.mark.parametrize(
    ("command", "old", "new", "dest", "rest"),
    [
        (["train", "cfg.yaml"], "--output-dir", "--out", "output_dir", []),
        (["eval", "--dataset", "stanford2d3d"], "--root", "--data-root", "root", []),
        (["docker", "run"], "--data", "--data-root", "data", []),
        (["docker", "run"], "--runs", "--out", "runs", []),
    ],
)
def test_old_spellings_still_work_with_a_one_line_note(command, old, new, dest, rest, capsys) -> None:
    parser = command_parser(command[0])
    args = parser.parse_args([*command[1:], new, "somewhere", *rest])
    assert str(getattr(args, dest)) == "somewhere"
    assert capsys.readouterr().err == ""
    args = parser.parse_args([*command[1:], old, "elsewhere", *rest])
    assert str(getattr(args, dest)) == "elsewhere"
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{old} is deprecated" in err[0] and f"use {new}" in err[0]


@pytest.mark.parametrize("command", [["train", "cfg.yaml"], ["eval", "--dataset", "stanford2d3d", "--data-root", "d"],
                                     ["predict", "pano.png", "--checkpoint", "c.pt"], ["suite", "smoke"], ["data", "prepare", "matterport3d"]])
def test_every_long_running_command_takes_no_progress(command) -> None:
    parser = command_parser(command[0])
    assert parser.parse_args([*command[1:], "--no-progress"]).no_progress is True
    assert parser.parse_args(command[1:]).no_progress is False
