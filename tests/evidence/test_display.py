"""Stored text never breaks what prints it: Rich markup and terminal escapes (issue 12, item 3)."""

from __future__ import annotations

import json

import pytest

from sci_evidence.cli import main

from ._builders import small_frames, write_stacked

HOSTILE = [
    "[/]",
    "[bold red]x[/]",
    "Jiang [/link]",
    "\x1b[2J\x1b[31mred",  # clear screen, colour (CSI)
    "\x1b]0;pwned\x07title",  # window title (OSC)
    "\x1b]8;;http://evil\x1b\\link",  # hyperlink (OSC ... ST)
    "bell\x07",
]


def run(capsys, *args: str) -> tuple[int, str, str]:
    try:
        main(["evidence", *args])
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_author_and_message_display_on_every_later_run(
    capsys, tmp_path, isolated_env, text
):
    db = f"sqlite:///{tmp_path / 'd.sqlite'}"
    run(capsys, "init", "--db", db, "--empty")
    frames = small_frames()
    frames["studies"].loc[0, "first_author"] = text
    frames["studies"].loc[0, "journal"] = text
    frames["arms"].loc[0, "route_verbatim"] = text
    frames["outcomes"].loc[0, "notes"] = text
    p = write_stacked(frames, tmp_path / "x.csv")
    code, out, err = run(capsys, "import", str(p), "--db", db, "-m", text)
    assert code == 0, err
    for _ in range(2):  # the second run is what used to fail "for good"
        for args in (["list"], ["show", "smith2020"], ["history"]):
            code, out, err = run(capsys, *args, "--db", db)
            assert code == 0, (args, err)
            assert "\x1b" not in out and "\x07" not in out, args
    # JSON output keeps the stored text exactly.
    code, out, _ = run(capsys, "list", "--db", db, "--json")
    assert json.loads(out)[0]["first_author"] == text
    code, out, _ = run(capsys, "history", "--db", db, "--json")
    assert any(h["message"] == text for h in json.loads(out))


def test_markup_text_is_shown_literally(capsys, tmp_path, isolated_env):
    db = f"sqlite:///{tmp_path / 'd.sqlite'}"
    run(capsys, "init", "--db", db, "--empty")
    frames = small_frames()
    frames["studies"].loc[0, "first_author"] = "[b]Smith[/b]"
    p = write_stacked(frames, tmp_path / "x.csv")
    run(capsys, "import", str(p), "--db", db, "-m", "[/]")
    code, out, err = run(capsys, "show", "smith2020", "--db", db)
    assert code == 0 and "[b]Smith[/b]" in out, err
    code, out, err = run(capsys, "history", "--db", db)
    assert code == 0 and "[/]" in out, err
