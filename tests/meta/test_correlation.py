"""correlation_sensitivity against metafor REML fits of MC/SMCC/SMCR over a grid of assumed
pre-post correlations (metafor_effects_extra.json, tol 1e-12 in metafor)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sci_evidence.errors import DataWarning, InputError
from sci_evidence.meta import correlation_sensitivity, effect_sizes, pool

DATA = Path(__file__).resolve().parents[1] / "data"
EXTRA = json.loads((DATA / "metafor_effects_extra.json").read_text())
CASES = [c for c in EXTRA["cases"] if c["kind"] == "ri_sensitivity"]
PREPOST = CASES[0]["input"]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_metafor_reml_over_assumed_ri(case):
    rows = case["expected"]["rows"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the assumption is reported in the table, not warned
        out = correlation_sensitivity(
            case["measure"],
            ri_values=[r["ri"] for r in rows],
            pool_kwargs=case["args"],
            **case["input"],
        )
    assert out["ri"].tolist() == [r["ri"] for r in rows]
    assert (out["k"] == 9).all() and (out["n_assumed"] == 9).all()
    for name in ("estimate", "se", "ci_lb", "ci_ub", "pi_lb", "pi_ub", "tau2", "I2"):
        # REML/PM are iterative: metafor solved to 1e-12, pool to its own threshold
        np.testing.assert_allclose(
            out[name], [r[name] for r in rows], rtol=1e-8, atol=1e-10, err_msg=name
        )


def test_fixture_has_three_measures_and_other_estimators():
    assert sorted({c["measure"] for c in CASES}) == ["MC", "SMCC", "SMCR"]
    pairs = {(c["args"]["method"], c["args"]["test"]) for c in CASES}
    assert pairs == {("REML", "z"), ("DL", "knha"), ("PM", "z")}


def test_columns_and_attrs():
    out = correlation_sensitivity(
        "SMCR", ri_values=[0.5], pool_kwargs={"method": "DL", "test": "knha"}, **PREPOST
    )
    assert list(out.columns) == [
        "ri",
        "k",
        "n_assumed",
        "estimate",
        "se",
        "ci_lb",
        "ci_ub",
        "pval",
        "pi_lb",
        "pi_ub",
        "tau2",
        "I2",
    ]
    assert out.attrs == {"measure": "SMCR", "pool_kwargs": {"method": "DL", "test": "knha"}}
    es = effect_sizes("SMCR", ri=[0.5] * 9, **PREPOST)
    ref = pool(es["yi"], es["vi"], method="DL", test="knha")
    assert (
        out["estimate"][0] == ref.estimate
        and out["ci_lb"][0] == ref.ci_lb
        and out["pi_ub"][0] == ref.pi_ub
    )


def test_reported_correlations_are_kept_and_only_missing_ones_vary():
    reported = [0.7, None, 0.4, None, 0.6, 0.5, 0.8, 0.3, 0.9]
    out = correlation_sensitivity("MC", ri_values=[0.1, 0.9], ri=reported, **PREPOST)
    assert out["n_assumed"].tolist() == [2, 2]
    for r, est in zip((0.1, 0.9), out["tau2"], strict=True):
        filled = [r if v is None else v for v in reported]
        es = effect_sizes("MC", ri=filled, **PREPOST)
        assert pool(es["yi"], es["vi"]).tau2 == pytest.approx(est, rel=1e-12, abs=1e-14)


def test_data_frame_input():
    frame = pd.DataFrame(PREPOST).rename(columns={"m1i": "post", "m2i": "pre"})
    out = correlation_sensitivity(
        "MC", ri_values=[0.5], data=frame, m1i="post", m2i="pre", sd1i="sd1i", sd2i="sd2i", ni="ni"
    )
    direct = correlation_sensitivity("MC", ri_values=[0.5], **PREPOST)
    assert out["estimate"][0] == direct["estimate"][0]


def test_studies_with_missing_data_are_dropped_with_a_warning():
    data = {**PREPOST, "sd2i": [None] + PREPOST["sd2i"][1:]}
    with pytest.warns(DataWarning, match="row 1"):
        out = correlation_sensitivity("MC", ri_values=[0.5], **data)
    assert out["k"][0] == 8


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(measure="SMD"), "only matters"),
        (dict(measure="MC", ri_values=[]), "empty"),
        (dict(measure="MC", ri_values=[0.5, 1.1]), r"\[-1, 1\]"),
        (dict(measure="MC", pool_kwargs={"vi": [1]}), "must not set"),
        (dict(measure="MC", pool_kwargs={"method": "XX"}), "method"),
    ],
)
def test_errors(kwargs, words):
    with pytest.raises(InputError, match=words):
        correlation_sensitivity(**kwargs, **PREPOST)


def test_plot(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from sci_evidence.meta.correlation import plot_correlation_sensitivity

    out = correlation_sensitivity("SMCR", ri_values=[0.2, 0.5, 0.8], **PREPOST)
    fig = plot_correlation_sensitivity(out)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "assumed pre-post correlation ri"
    assert "raw-score SD" in ax.get_ylabel()
    np.testing.assert_allclose(ax.lines[0].get_ydata(), out["estimate"])
    fig.savefig(tmp_path / "ri.png", dpi=50)
    with pytest.raises(InputError, match="not a correlation_sensitivity"):
        plot_correlation_sensitivity(pd.DataFrame({"ri": [0.5]}))
