"""docs/guide.md is executable documentation: every code block runs, every command and option
of the program is in it, and the README links it.

The Python blocks run in order in one namespace; the shell blocks run in order with bash in
one folder. Both folders hold two small example files made from the test generators:
``exams.csv`` (ISNCSCI exams) and ``trial.csv`` (a synthetic two-arm trial).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "guide.md"
FENCE = re.compile(r"^```(\w+)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def blocks(language: str) -> list[str]:
    return [
        code for lang, code in FENCE.findall(GUIDE.read_text(encoding="utf-8")) if lang == language
    ]


def _example_files(folder: Path) -> None:
    from support.random_exams import random_exams
    from support.synthetic_trials import synthetic_trial

    random_exams(6, seed=1).to_csv(folder / "exams.csv", index=False)
    synthetic_trial(6, seed=3, visits=(10, 200)).exams.to_csv(folder / "trial.csv", index=False)


def test_the_guide_has_code_for_each_kind_of_user():
    text = GUIDE.read_text(encoding="utf-8")
    for heading in ("For a systematic reviewer", "For a metafor user", "For a trialist"):
        assert "## " in text and heading in text
    assert len(blocks("python")) >= 6 and len(blocks("bash")) >= 8
    assert {lang for lang, _ in FENCE.findall(text)} <= {"python", "bash"}


def test_python_blocks_run(tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    _example_files(tmp_path)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "guide"}
    for i, code in enumerate(blocks("python"), 1):
        try:
            exec(compile(code, f"{GUIDE.name}: python block {i}", "exec"), namespace)
        except Exception as exc:  # name the block, then fail
            pytest.fail(f"python block {i} of the guide failed: {type(exc).__name__}: {exc}")
    for figure in ("forest.png", "funnel.png", "funnel_trimfill.png", "baujat.png"):
        assert (tmp_path / figure).stat().st_size > 0, figure


@pytest.mark.slow
def test_shell_blocks_run(tmp_path):
    _example_files(tmp_path)
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.pop("SCI_EVIDENCE_DB", None)
    env["MPLBACKEND"] = "Agg"
    for i, code in enumerate(blocks("bash"), 1):
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", code],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, f"shell block {i}:\n{code}\n{done.stderr[-2000:]}"
    for path in (
        "review/report.html",
        "my_review/results.json",
        "with_my_study/report.html",
        "evidence.db",
        "extraction.xlsx",
        "classified.csv",
        "classified.json",
        "trial_report/index.html",
        "power.png",
        "forest.svg",
        "regression.json",
    ):
        assert (tmp_path / path).stat().st_size > 0, path


def _commands_and_options():
    import typer

    from sci_evidence.cli import app

    found = []

    def walk(command, path):
        found.append((" ".join(["sci-evidence", *path]), None))
        for param in command.params:
            for opt in param.opts:
                if opt.startswith("-") and opt != "--help":
                    found.append((" ".join(["sci-evidence", *path]), opt))
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return found


def test_every_command_and_option_is_in_the_guide():
    text = GUIDE.read_text(encoding="utf-8")
    missing = []
    for command, opt in _commands_and_options():
        if opt is None:
            if command not in text:
                missing.append(command)
        elif not re.search(rf"(?<![\w-]){re.escape(opt)}(?![\w-])", text):
            missing.append(f"{command} {opt}")
    assert missing == []


def test_readme_links_the_guide_and_keeps_a_two_command_quick_start():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/guide.md" in readme
    quick = readme.split("## Quick start", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    assert len([line for line in quick.splitlines() if line.strip()]) == 2
