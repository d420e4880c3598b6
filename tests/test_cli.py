import subprocess
import sys

from repro.cli import COMMANDS, main


def test_help_lists_every_subcommand(capsys):
    assert main([]) == 2
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert name in out


def test_console_entry_runs_as_module():
    res = subprocess.run([sys.executable, "-m", "repro", "--help"], capture_output=True, text=True)
    assert res.returncode == 0
    assert "COMMAND" in res.stdout


def test_unknown_command_is_an_error():
    res = subprocess.run([sys.executable, "-m", "repro", "no-such-command"], capture_output=True, text=True)
    assert res.returncode == 2
    assert "invalid choice" in res.stderr
