"""Every command and every option is documented in its ``--help`` (issue 12/13)."""

from __future__ import annotations

import pytest
import typer.main

from sci_evidence.cli import app

from ._helpers import run_cli
from .test_usage_errors import ALL, GROUPS, _id


@pytest.mark.parametrize("path,cmd", [(p, c) for p, c, _ in ALL], ids=[_id(p) for p, *_ in ALL])
def test_every_option_is_in_help(path, cmd):
    out = run_cli(*path, "--help")
    assert out.returncode == 0, out.stderr
    text = out.stdout
    for param in cmd.params:
        if param.param_type_name == "option":
            if getattr(param, "hidden", False):
                continue
            for opt in param.opts:
                if opt.startswith("--"):
                    assert opt in text, f"{_id(path)}: {opt} missing from --help"
            assert param.help, f"{_id(path)}: option {param.opts[0]} has no help text"
        else:
            assert param.name.upper() in text.upper(), f"{_id(path)}: argument {param.name}"
    assert (cmd.help or "").strip(), f"{_id(path)} has no help text"


@pytest.mark.parametrize("path,group", GROUPS, ids=[_id(p) for p, _ in GROUPS])
def test_every_command_is_in_its_group_help(path, group):
    out = run_cli(*path, "--help")
    assert out.returncode == 0
    for name, sub in group.commands.items():
        if not getattr(sub, "hidden", False):
            assert name in out.stdout, f"{name} missing from '{_id(path)} --help'"


def test_root_lists_groups():
    root = typer.main.get_command(app)
    assert {"meta", "classify", "evidence", "review", "trial"} <= set(root.commands)
