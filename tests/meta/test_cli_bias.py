"""`sci-evidence meta --bias / --gosh FILE / --permutations N` (in process, on the bundled
dat.bcg example): the printed analyses agree with the library, the GOSH plot is written,
bad option values give one line `Error: ...` with exit code 2, Ctrl-C exits 130 cleanly."""

from __future__ import annotations

import numpy as np
import pytest
from rich.console import Console

from sci_evidence.cli._meta_bias import run_bias_options
from sci_evidence.errors import InputError
from sci_evidence.meta import pool
from support.cli_run import run


def test_bias_prints_every_analysis(capsys):
    code, out, err = run(["meta", "--example", "--bias"], capsys)
    assert code == 0, err
    for text in (
        "Regression test for funnel plot asymmetry",
        "weighted regression with multiplicative dispersion",
        "Rank correlation test",
        "PET-PEESE",
        "Trim-and-fill (L0)",
        "Fail-safe N calculation using the Rosenthal approach",
        "Fail-safe N calculation using the Orwin approach",
        "Leave-one-out analysis",
        "Influence diagnostics",
        "Influential studies: none",
    ):
        assert text in out, text
    # the numbers of dat.bcg (metafor: regtest z = -0.8033, ranktest tau = 0.0256, fsn 598)
    assert "z = -0.8033" in out
    assert "Kendall's tau = 0.0256" in out
    assert "fail-safe N: 598" in out
    assert "missing studies on the right side: 1" in out


def test_gosh_plot_and_permutations(tmp_path, capsys):
    path = tmp_path / "gosh.png"
    code, out, err = run(
        ["meta", "--example", "--method", "DL", "--gosh", str(path), "--permutations", "200"],
        capsys,
    )
    assert code == 0, err
    assert path.exists() and path.stat().st_size > 10_000
    assert "GOSH (DL): 8,191 fits to all subsets of k = 13 studies" in out
    assert "Permutation test (200 permutations, approximate" in out


def test_moderators_skip_what_needs_an_intercept_only_model(capsys):
    code, out, err = run(["meta", "--example", "--mods", "ablat", "--bias"], capsys)
    assert code == 0, err
    assert "PET-PEESE and trim-and-fill: only for models without moderators" in out
    assert "Influence diagnostics" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--permutations", "1"], "--permutations"),
        (["--gosh", "plot.txt"], "--gosh"),
        (["--gosh", "/no/such/folder/g.png"], "folder"),
    ],
)
def test_bad_options_are_one_line_errors(argv, message, capsys):
    code, out, err = run(["meta", "--example", *argv], capsys)
    assert code == 2
    assert err.startswith("Error: ") and message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_ctrl_c_stops_cleanly(monkeypatch, tmp_path):
    import sys

    # the package exports the function gosh, which shadows the module of the same name
    gosh_module = sys.modules["sci_evidence.meta.gosh"]

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(gosh_module, "gosh", interrupted)
    console = Console(record=True, width=100)
    res = pool([0.1, 0.3, 0.2, 0.5], [0.01, 0.02, 0.03, 0.04])
    with pytest.raises(SystemExit) as info:
        run_bias_options(
            res, bias=False, gosh_path=tmp_path / "g.png", permutations=None, console=console
        )
    assert info.value.code == 130
    assert "Interrupted: stopped cleanly." in console.export_text()
    assert not (tmp_path / "g.png").exists()


def test_unsupported_estimator_falls_back_to_dl_for_gosh(tmp_path):
    rng = np.random.default_rng(1)
    res = pool(rng.normal(size=6), rng.uniform(0.01, 0.1, 6), method="PM")
    console = Console(record=True, width=100)
    run_bias_options(
        res, bias=True, gosh_path=tmp_path / "g.svg", permutations=None, console=console
    )
    text = console.export_text()
    assert "fitted with DL" in text and (tmp_path / "g.svg").exists()
    with pytest.raises(InputError):
        run_bias_options(res, bias=False, gosh_path=None, permutations=0, console=console)
