"""Usage errors of every command: one line on stderr, exit 2, never a traceback (issue 12, 1).

Runs the installed ``sci-evidence`` program as a subprocess, as a user would on a fresh
install (typer >= 0.26 vendors click and installs no ``click``). The commands are listed from
the application itself, so a command added later is tested without editing this file.
"""

from __future__ import annotations

import pytest
import typer.main

from sci_evidence.cli import app

from ._helpers import assert_one_line_error, run_cli


def _walk(cmd, path):
    subs = getattr(cmd, "commands", None)
    if subs:
        yield path, cmd, True
        for name, sub in subs.items():
            yield from _walk(sub, [*path, name])
    else:
        yield path, cmd, False


ROOT = typer.main.get_command(app)
ALL = list(_walk(ROOT, []))
LEAVES = [(path, cmd) for path, cmd, group in ALL if not group]
GROUPS = [(path, cmd) for path, cmd, group in ALL if group]


def _id(path):
    return " ".join(path) or "(root)"


def _value_option(cmd) -> str | None:
    """A long option of ``cmd`` that takes a value."""
    for p in cmd.params:
        long = [o for o in p.opts if o.startswith("--")]
        if long and not getattr(p, "is_flag", False) and p.param_type_name == "option":
            return long[0]
    return None


def test_every_command_is_listed():
    names = {_id(path) for path, _ in LEAVES}
    assert {"meta", "classify", "review"} <= names
    assert any(n.startswith("evidence ") for n in names)
    assert any(n.startswith("trial ") for n in names)


@pytest.mark.parametrize("path", [p for p, *_ in ALL], ids=[_id(p) for p, *_ in ALL])
def test_unknown_option_is_one_line(path):
    out = run_cli(*path, "--no-such-option")
    assert_one_line_error(out, contains="no such option")
    assert out.stdout == ""


@pytest.mark.parametrize("path,cmd", LEAVES, ids=[_id(p) for p, _ in LEAVES])
def test_missing_argument_is_one_line(path, cmd):
    required = [p for p in cmd.params if p.required]
    if required:
        out = run_cli(*path)
        assert_one_line_error(out, contains="missing")
    option = _value_option(cmd)
    if option is None:
        assert required, f"{_id(path)} has neither a required argument nor a value option"
        return
    out = run_cli(*path, option)  # an option without its value
    assert_one_line_error(out, contains="requires an argument")
    assert out.stdout == ""


@pytest.mark.parametrize("path", [p for p, _ in GROUPS], ids=[_id(p) for p, _ in GROUPS])
def test_unknown_command_is_one_line(path):
    out = run_cli(*path, "no-such-command")
    assert_one_line_error(out, contains="no such command")


@pytest.mark.parametrize("path", [p for p, _ in GROUPS], ids=[_id(p) for p, _ in GROUPS])
def test_bare_group_shows_help_or_one_line(path):
    out = run_cli(*path)
    if out.returncode == 0:  # no_args_is_help: the help on stdout, nothing on stderr
        assert "Usage" in out.stdout and out.stderr == ""
    else:  # a group without it: "Missing command", one line
        assert_one_line_error(out, contains="missing command")


def test_bad_option_value_is_one_line():
    out = run_cli("meta", "--example", "--level", "abc")
    assert_one_line_error(out, contains="--level")


def test_usage_error_handler_needs_no_click_package():
    """The handler must not import ``click`` (a fresh install has only ``typer._click``)."""
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['click'] = None\n"  # import click now raises ImportError
        "from sci_evidence.cli import main\n"
        "main(['meta', '--nosuch'])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert_one_line_error(out, contains="no such option")
