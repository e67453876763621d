"""`sci-evidence meta --bayes` and `sci-evidence meta convert` (issue 14): results equal the
library's, existing `meta FILE` calls are unchanged, bad input is one line with exit 2."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sci_evidence.meta import fivenum_to_mean_sd, pool, pool_bayes
from sci_evidence.meta.effects import effect_sizes
from support.cli_run import run

BCG_HEADER = "trial,author,year,tpos,tneg,cpos,cneg,ablat,alloc"
BCG_ROWS = [
    "1,Aronson,1948,4,119,11,128,44,random",
    "2,Ferguson & Simes,1949,6,300,29,274,55,random",
    "3,Rosenthal et al,1960,3,228,11,209,42,random",
    "4,Hart & Sutherland,1977,62,13536,248,12619,52,random",
    "5,Frimodt-Moller et al,1973,33,5036,47,5761,13,alternate",
]
RR = ["--measure", "RR", "--ai", "tpos", "--bi", "tneg", "--ci", "cpos", "--di", "cneg"]


def one_line_error(code, err, *fragments):
    assert code == 2, err
    lines = [ln for ln in err.strip().splitlines() if not ln.startswith("Warning")]
    assert len(lines) == 1 and lines[0].startswith("Error: "), err
    assert "Traceback" not in err
    for f in fragments:
        assert f in lines[0], (f, lines[0])


@pytest.fixture
def bcg(tmp_path):
    p = tmp_path / "bcg.csv"
    p.write_text("\n".join([BCG_HEADER, *BCG_ROWS]) + "\n")
    return p


def _library_es():
    cols = list(zip(*[r.split(",") for r in BCG_ROWS], strict=True))
    es = effect_sizes(
        "RR",
        ai=[float(x) for x in cols[3]],
        bi=[float(x) for x in cols[4]],
        ci=[float(x) for x in cols[5]],
        di=[float(x) for x in cols[6]],
    )
    return es["yi"].to_numpy(), es["vi"].to_numpy()


def test_bayes_json_equals_library(bcg, capsys):
    code, out, err = run(
        ["meta", str(bcg), *RR, "--bayes", "--tau-prior", "halfcauchy:0.5", "--json"], capsys
    )
    assert code == 0, err
    d = json.loads(out)
    yi, vi = _library_es()
    ref = pool_bayes(yi, np.sqrt(vi), tau_prior=("halfcauchy", 0.5), measure="RR")
    assert d["mu"]["median"] == pytest.approx(ref.mu.median, rel=1e-12)
    assert d["tau"]["hpd_ub"] == pytest.approx(ref.tau.hpd_ub, rel=1e-12)
    assert d["tau_prior"] == ["halfcauchy", 0.5] and d["file"].endswith("bcg.csv")


def test_bayes_text_normal_mu_prior_and_plot(bcg, tmp_path, capsys):
    plot = tmp_path / "post.png"
    code, out, err = run(
        ["meta", str(bcg), *RR, "--bayes", "--mu-prior", "normal:0,4", "--plot", str(plot)],
        capsys,
    )
    assert code == 0, err
    assert "mu ~ normal(0, 4)" in out and "theta_new" in out
    assert "ratio scale" in out
    assert plot.stat().st_size > 1000


def test_meta_without_bayes_is_unchanged(bcg, capsys):
    code, out, err = run(["meta", str(bcg), *RR, "--json"], capsys)
    assert code == 0, err
    yi, vi = _library_es()
    assert json.loads(out)["estimate"] == pytest.approx(pool(yi, vi).estimate, rel=1e-12)


@pytest.mark.parametrize(
    "extra, fragment",
    [
        (["--bayes", "--tau-prior", "gamma:1"], "not supported"),
        (["--tau-prior", "halfnormal:1"], "need --bayes"),
        (["--bayes", "--mods", "ablat"], "--mods is not available with --bayes"),
        (["--bayes", "--mu-prior", "cauchy:0,1"], "--mu-prior"),
        (["--bayes", "--plot", "x.txt"], "x.txt"),
    ],
)
def test_bayes_bad_options(bcg, capsys, extra, fragment):
    code, _, err = run(["meta", str(bcg), *RR, *extra], capsys)
    one_line_error(code, err, fragment)


FIVE = "study,min,q1,median,q3,max,n,mean,sd\nA,2,,9,,41,30,,\nB,,6,9,17,,30,,\nC,,,,,,12,4,1\n"


def test_convert_writes_atomically_with_method_column(tmp_path, capsys):
    src = tmp_path / "arms.csv"
    src.write_text(FIVE + "=HYPERLINK(1),0.5,1,3,9,20,40,,\n")
    dest = tmp_path / "out.csv"
    code, out, err = run(["meta", "convert", str(src), "-o", str(dest), "--method", "qe"], capsys)
    assert code == 0, err
    import pandas as pd

    got = pd.read_csv(dest)
    assert list(got["mean_sd_method"]) == ["qe", "qe", "reported", "qe"]
    ref = fivenum_to_mean_sd(min=2, median=9, max=41, n=30, method="qe")
    assert got.loc[0, "mean"] == pytest.approx(ref.mean, rel=1e-12)
    assert got.loc[2, "sd"] == 1.0
    assert got.loc[3, "study"].startswith("'=")  # formula neutralised
    assert "written to" in err
    assert not list(tmp_path.glob(".out.csv.*"))  # no temporary file left


def test_convert_to_stdout_and_help(tmp_path, capsys):
    src = tmp_path / "arms.csv"
    src.write_text(FIVE)
    code, out, err = run(["meta", "convert", str(src)], capsys)
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0].endswith("mean_sd_method,mean_sd_note")
    mean = float(lines[1].split(",")[7])
    assert mean == pytest.approx(fivenum_to_mean_sd(min=2, median=9, max=41, n=30).mean)
    code, out, _ = run(["meta", "convert", "--help"], capsys)
    assert code == 0 and "sci-evidence meta convert" in out and "--method" in out
    code, out, _ = run(["meta", "--help"], capsys)
    assert code == 0 and "meta convert" in out and "--bayes" in out


def test_convert_refusals(tmp_path, capsys):
    src = tmp_path / "arms.csv"
    src.write_text("study,min,median,max,n\nA,0,3,9,20\n")
    code, _, err = run(["meta", "convert", str(src), "--method", "bc"], capsys)
    one_line_error(code, err, "arms.csv", "row 2", "needs every value > 0")
    dest = tmp_path / "keep.csv"
    dest.write_text("untouched\n")
    code, _, err = run(["meta", "convert", str(src), "-o", str(dest), "--method", "bc"], capsys)
    assert code == 2 and dest.read_text() == "untouched\n"
    code, _, err = run(["meta", "convert", str(tmp_path / "none.csv")], capsys)
    one_line_error(code, err, "not found")
    bad = tmp_path / "nomedian.csv"
    bad.write_text("study,min,max,n\nA,0,9,20\n")
    code, _, err = run(["meta", "convert", str(bad)], capsys)
    one_line_error(code, err, "median column 'median' not found")
    code, _, err = run(["meta", "convert", str(src), "-o", str(tmp_path / "x.json")], capsys)
    assert code == 2 and "x.json" in err
