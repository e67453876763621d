"""pool_glmm: result API, warnings, input errors, quadrature, the exact gradient, the CLI."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
from scipy.special import expit

from sci_evidence.cli import main
from sci_evidence.errors import ConvergenceWarning, DataWarning, InputError
from sci_evidence.meta import PoolResult, pool_glmm
from sci_evidence.meta import glmm as glmm_module
from sci_evidence.meta._glmm_conditional import NoncentralHypergeometric
from sci_evidence.meta._glmm_engine import GlmmProblem, loglik_and_grad, make_family
from support.forest_lines import study_whiskers

XI = [0, 2, 5, 1, 10, 3, 0]
NI = [12, 30, 25, 1, 10, 40, 8]
OR = dict(
    ai=[2, 0, 5, 0, 3, 1],
    n1i=[20, 15, 30, 10, 25, 12],
    ci=[5, 1, 9, 0, 3, 4],
    n2i=[20, 16, 28, 11, 24, 12],
)


def test_result_is_a_pool_result_with_glmm_facts():
    res = pool_glmm(measure="PLO", xi=XI, ni=NI)
    assert isinstance(res, PoolResult)
    assert res.model == "GLMM" and res.glmm_model is None and res.nAGQ == 7
    assert res.method == "ML" and res.tau2 > 0 and res.converged
    assert res.back["pred"] == pytest.approx(expit(res.estimate), rel=1e-12)
    assert res.back["pi_lb"] == pytest.approx(expit(res.pi_lb), rel=1e-12)
    half = math.sqrt(res.se**2 + res.tau2) * 1.959963984540054
    assert res.pi_ub - res.estimate == pytest.approx(half, rel=1e-9)
    assert res.tau2_ci is None and res.R2 is None
    text = res.summary()
    for piece in (
        "nAGQ = 7",
        "Wld(df = 6)",
        "LRT(df = 6)",
        "Back-transformed (proportion)",
        "logLik",
    ):
        assert piece in text
    d = res.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["QE_LRT"] == pytest.approx(res.QE_LRT) and d["nAGQ"] == 7
    assert d["back_transformed"]["pred"] == pytest.approx(res.back["pred"])


def test_plot_is_a_figure_on_the_proportion_scale():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res = pool_glmm(measure="PLO", xi=XI, ni=NI)
    fig = res.plot()
    try:
        assert fig.axes
        labels = [t.get_text() for ax in fig.axes for t in [ax.xaxis.label]]
        assert "proportion" in labels
    finally:
        plt.close(fig)


@pytest.mark.parametrize("method", ["clopper-pearson", "wilson"])
def test_plot_of_plo_draws_raw_proportions_with_their_exact_intervals(method):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sci_evidence.meta import proportion_ci

    res = pool_glmm(measure="PLO", xi=XI, ni=NI)
    np.testing.assert_array_equal(res.counts[0], XI)
    np.testing.assert_array_equal(res.counts[1], NI)
    kw = {} if method == "clopper-pearson" else {"proportion_ci_method": method}
    fig = res.plot(**kw)
    try:
        lo, hi = proportion_ci(np.array(XI), np.array(NI), method=method)
        drawn = study_whiskers(fig, len(XI))
        np.testing.assert_allclose([a for a, _ in drawn], lo, atol=1e-12)
        np.testing.assert_allclose([b for _, b in drawn], hi, atol=1e-12)
        texts = [t.get_text() for t in fig.axes[2].texts]
        if method == "clopper-pearson":
            # 1/1 is drawn at 1 with [0.025, 1], not at the escalc value expit(log 3) = 0.75
            assert "1.00 [0.03, 1.00]" in texts and "0.00 [0.00, 0.26]" in texts
    finally:
        plt.close(fig)
    # counts=None: the escalc-type estimates with Wald intervals, as for the other measures
    fig = res.plot(counts=None)
    try:
        drawn = study_whiskers(fig, len(XI))
        z = 1.959963984540054
        np.testing.assert_allclose(
            [a for a, _ in drawn], expit(res.yi - z * np.sqrt(res.vi)), rtol=1e-12
        )
    finally:
        plt.close(fig)


def test_plot_of_an_odds_ratio_glmm_has_no_counts():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)  # the double-zero table is dropped
        assert pool_glmm(measure="OR", **OR).counts is None


def test_double_zero_tables_are_dropped_and_named():
    with pytest.warns(DataWarning, match="dropped: s4"):
        res = pool_glmm(measure="OR", labels=["s1", "s2", "s3", "s4", "s5", "s6"], **OR)
    assert res.k == 5 and res.dropped == ("s4",)
    assert "s4" not in res.labels


def test_irr_cm_al_is_the_exact_conditional_model():
    res = pool_glmm(
        measure="IRR",
        x1i=[2, 0, 15, 1, 7],
        t1i=[100, 80, 150, 60, 220],
        x2i=[5, 2, 6, 3, 9],
        t2i=[95, 85, 140, 70, 200],
        model="CM.AL",
    )
    assert res.glmm_model == "CM.EL"


def test_more_quadrature_nodes_converge_to_the_integral():
    """nAGQ is a free choice (metafor's default 7); beyond ~20 nodes the estimates stop
    moving: the quadrature has reached the integral."""
    xi, ni = [0, 2, 5, 3, 0, 4, 6], [12, 30, 25, 40, 8, 20, 33]
    a = pool_glmm(measure="PLO", xi=xi, ni=ni, nAGQ=25)
    b = pool_glmm(measure="PLO", xi=xi, ni=ni, nAGQ=40)
    c = pool_glmm(measure="PLO", xi=xi, ni=ni, nAGQ=1)
    assert a.nAGQ == 25
    assert abs(a.estimate - b.estimate) < 1e-7 and abs(a.tau2 - b.tau2) < 1e-6 * b.tau2
    assert abs(c.estimate - b.estimate) > 1e-4  # Laplace is an approximation


def test_moderator_gives_qm_and_no_prediction_interval():
    route = [1, 0, 1, 1, 0, 0, 1]
    res = pool_glmm(measure="PLO", xi=XI, ni=NI, mods={"intrathecal": route})
    assert res.coef_names == ("intrcpt", "intrathecal")
    assert res.QM_df == 1 and res.QM == pytest.approx((res.beta[1] / res.beta_se[1]) ** 2)
    assert res.pi_lb is None and res.back == {}


def test_optimiser_diagnostics_surface_as_warnings(monkeypatch):
    real = glmm_module.fit_glmm

    def stubborn(*args, **kwargs):
        fit = real(*args, **kwargs)
        fit.converged = False
        fit.messages.append("no convergence after 1 Newton iterations (test)")
        return fit

    monkeypatch.setattr(glmm_module, "fit_glmm", stubborn)
    with pytest.warns(ConvergenceWarning, match="no convergence"):
        res = pool_glmm(measure="PLO", xi=XI, ni=NI)
    assert not res.converged
    assert any("no convergence" in m for m in res.diagnostics)
    assert "did NOT converge" in res.summary()


@pytest.mark.parametrize("method", ["ML", "EE"])
def test_no_events_anywhere_is_flagged_not_silently_pooled(method):
    with pytest.warns(ConvergenceWarning, match="separated"):
        res = pool_glmm(measure="PLO", xi=[0, 0, 0], ni=[10, 9, 31], method=method)
    assert res.se > 1e3 and any("separated" in m for m in res.diagnostics)


def test_summaries_name_the_model_and_the_random_intercepts():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        fs = pool_glmm(measure="OR", **OR)
        rs = pool_glmm(measure="OR", model="UM.RS", **OR)
    assert "fixed study effects" in fs.summary()
    assert "random study effects" in rs.summary() and rs.sigma2 is not None
    assert "sigma^2" in rs.summary() and rs.nAGQ == 1


def test_level_in_percent_and_dataframe_moderators():
    import pandas as pd

    route = [1, 0, 1, 1, 0, 0, 1]
    a = pool_glmm(measure="PLO", xi=XI, ni=NI, level=90, mods=pd.DataFrame({"it": route}))
    b = pool_glmm(measure="PLO", xi=XI, ni=NI, level=0.9, mods={"it": route})
    assert a.level == 0.9 and a.coef_names == b.coef_names == ("intrcpt", "it")
    np.testing.assert_allclose(a.beta_ci_lb, b.beta_ci_lb, rtol=1e-12)


def test_single_study_equal_effects():
    res = pool_glmm(measure="PLO", xi=[2], ni=[10], method="EE")
    assert res.k == 1 and res.estimate == pytest.approx(math.log(2 / 8), rel=1e-9)
    assert res.QE_LRT is None
    json.dumps(res.to_dict(), allow_nan=False)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(measure="PLO", xi=[3, 11], ni=[10, 10]), "xi exceeds ni"),
        (dict(measure="PLO", xi=[3, -1], ni=[10, 10]), "must not be negative"),
        (dict(measure="PLO", xi=[3, 1.5], ni=[10, 10]), "whole number"),
        (dict(measure="PLO", xi=[3, 1], ni=[10, 0]), "must be positive"),
        (dict(measure="PLO", xi=[3, 1], ni=[10]), "expected 2"),
        (dict(measure="RR", xi=[3, 1], ni=[10, 10]), "measure must be one of"),
        (dict(measure="OR", model="XX", **OR), "model must be one of"),
        (dict(measure="PLO", xi=[3, 1], ni=[10, 10], method="REML"), "method must be"),
        (dict(measure="PLO", xi=[3], ni=[10]), "needs more studies"),
        (dict(measure="PLO", xi=[3, 1, 2], ni=[10, 10, 9], mods=[1, 2]), "mods has 2 rows"),
        (dict(measure="PLO", xi=[3, 1, 2], ni=[10, 10, 9], mods=[1, 1, 1]), "full rank"),
        (dict(measure="IRLN", xi=[3, 1, 2], ti=[10, 0, 9]), "ti must be positive"),
        (dict(measure="PLO", xi=[3, 1, 2], ni=[10, 10, 9], nAGQ=0), "nAGQ"),
    ],
)
def test_bad_input_is_one_clear_error(kwargs, match):
    with pytest.raises(InputError, match=match):
        pool_glmm(**kwargs)


def test_bad_input_names_the_row():
    with pytest.raises(InputError) as exc:
        pool_glmm(measure="PLO", xi=[3, 11, 2], ni=[10, 10, 9])
    assert exc.value.row == 2 and exc.value.column == "xi"


def _numeric_grad(prob, params, u):
    out = []
    for j in range(len(params)):
        e = np.zeros(len(params))
        e[j] = 1e-6
        out.append(
            (loglik_and_grad(prob, params + e, u)[0] - loglik_and_grad(prob, params - e, u)[0])
            / 2e-6
        )
    return np.array(out)


@pytest.mark.parametrize("family", ["binomial", "poisson", "nchg"])
def test_gradient_of_the_quadrature_likelihood_is_exact(family):
    """The gradient includes the dependence of the modes and scales on the parameters
    (implicit differentiation); it matches central differences of the likelihood."""
    k = 6
    y = np.array([0, 3, 7, 2, 12, 1.0])
    X = np.column_stack([np.ones(k), [0, 1, 0, 1, 1, 0.0]])
    if family == "nchg":
        fam = NoncentralHypergeometric(y, np.full(k, 15.0), np.full(k, 14.0), y + 4)
        off = np.zeros(k)
    else:
        fam = make_family(family, y, np.full(k, 15.0) if family == "binomial" else None)
        off = np.log(np.linspace(20, 60, k)) if family == "poisson" else np.zeros(k)
    prob = GlmmProblem.build(fam, X, off, np.ones(k), np.arange(k), k, 7)
    params = np.array([-0.7, 0.4, 0.9])
    u = np.zeros(k)
    grad = loglik_and_grad(prob, params, u)[1]
    np.testing.assert_allclose(grad, _numeric_grad(prob, params, u), rtol=1e-6, atol=1e-8)


def test_two_row_design_gradient_is_exact():
    k = 4
    y = np.ravel(np.column_stack([[2, 1, 5, 3], [5, 4, 9, 3]])).astype(float)
    n = np.ravel(np.column_stack([[20, 15, 30, 25], [20, 16, 28, 24]])).astype(float)
    group = np.repeat(np.arange(k), 2)
    g1 = np.tile([1.0, 0.0], k)
    X = np.column_stack([g1, np.eye(k)[group]])
    prob = GlmmProblem.build(
        make_family("binomial", y, n), X, np.zeros(2 * k), np.tile([0.5, -0.5], k), group, k, 7
    )
    params = np.array([-0.4, -2, -1.5, -1, -2.2, 0.7])
    u = np.zeros(k)
    np.testing.assert_allclose(
        loglik_and_grad(prob, params, u)[1], _numeric_grad(prob, params, u), rtol=1e-6, atol=1e-8
    )


# ---- the CLI ------------------------------------------------------------------------
def _run(argv, capsys):
    code = 0
    try:
        main(argv)
    except SystemExit as exc:
        code = exc.code or 0
    out, err = capsys.readouterr()
    return code, out, err


def _csv(tmp_path):
    path = tmp_path / "ae.csv"
    rows = ["study,events,total,route"] + [
        f"s{i + 1},{x},{n},{'it' if i % 2 else 'iv'}"
        for i, (x, n) in enumerate(zip(XI, NI, strict=True))
    ]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_cli_meta_model_glmm_json_matches_the_library(tmp_path, capsys):
    path = _csv(tmp_path)
    code, out, _ = _run(
        [
            "meta",
            str(path),
            "--model",
            "glmm",
            "--measure",
            "PLO",
            "--xi",
            "events",
            "--ni",
            "total",
            "--json",
        ],
        capsys,
    )
    assert code == 0
    d = json.loads(out)
    ref = pool_glmm(measure="PLO", xi=XI, ni=NI)
    assert d["tau2"] == pytest.approx(ref.tau2, rel=1e-10)
    assert d["estimate"] == pytest.approx(ref.estimate, rel=1e-10)
    assert d["nAGQ"] == 7 and d["file"] == str(path)


def test_cli_glmm_text_with_a_text_moderator_and_a_plot(tmp_path, capsys):
    path = _csv(tmp_path)
    code, out, _ = _run(
        [
            "meta",
            str(path),
            "--model",
            "glmm",
            "--measure",
            "PLO",
            "--xi",
            "events",
            "--ni",
            "total",
            "--mods",
            "route",
        ],
        capsys,
    )
    assert code == 0 and "route[iv]" in out and "Test of Moderators" in out
    png = tmp_path / "f.png"
    code, out, _ = _run(
        [
            "meta",
            str(path),
            "--model",
            "glmm",
            "--measure",
            "PLO",
            "--xi",
            "events",
            "--ni",
            "total",
            "--plot",
            str(png),
        ],
        capsys,
    )
    assert code == 0 and png.stat().st_size > 0


def test_cli_glmm_plot_draws_raw_proportions_with_clopper_pearson(tmp_path, capsys, monkeypatch):
    from sci_evidence.cli import _common
    from sci_evidence.meta import proportion_ci

    drawn = {}
    real_save = _common.save_figure

    def capture(fig, path, **kw):
        drawn["whiskers"] = study_whiskers(fig, len(XI))
        return real_save(fig, path, **kw)

    monkeypatch.setattr(_common, "save_figure", capture)
    png = tmp_path / "f.png"
    args = ["--model", "glmm", "--measure", "PLO", "--xi", "events", "--ni", "total"]
    code, _, _ = _run(["meta", str(_csv(tmp_path)), *args, "--plot", str(png)], capsys)
    assert code == 0 and png.stat().st_size > 0
    lo, hi = proportion_ci(np.array(XI), np.array(NI))
    np.testing.assert_allclose([a for a, _ in drawn["whiskers"]], lo, atol=1e-12)
    np.testing.assert_allclose([b for _, b in drawn["whiskers"]], hi, atol=1e-12)


def test_cli_glmm_or_with_glmm_model(tmp_path, capsys):
    path = tmp_path / "or.csv"
    rows = ["a,n1,c,n2"] + [
        ",".join(map(str, r)) for r in zip(OR["ai"], OR["n1i"], OR["ci"], OR["n2i"], strict=True)
    ]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        code, out, _ = _run(
            [
                "meta",
                str(path),
                "--model",
                "glmm",
                "--measure",
                "OR",
                "--ai",
                "a",
                "--n1i",
                "n1",
                "--ci",
                "c",
                "--n2i",
                "n2",
                "--glmm-model",
                "CM.AL",
                "--json",
            ],
            capsys,
        )
    assert code == 0
    assert json.loads(out)["glmm_model"] == "CM.AL"


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--xi", "events", "--ni", "nope"], "no column 'nope'"),
        (["--xi", "events", "--ni", "total", "--method", "DL"], "ML or EE"),
        (["--xi", "events", "--ni", "total", "--glmm-model", "XX"], "model must be one of"),
    ],
)
def test_cli_glmm_bad_input_exit_2(tmp_path, capsys, extra, message):
    path = _csv(tmp_path)
    code, out, err = _run(
        ["meta", str(path), "--model", "glmm", "--measure", "PLO", *extra], capsys
    )
    assert code == 2
    assert message in err and "Traceback" not in err


def test_cli_help_documents_glmm(capsys):
    code, out, _ = _run(["meta", "--help"], capsys)
    assert code == 0
    assert "--glmm-model" in out and "--nagq" in out


IRR = dict(
    x1i=[2, 0, 15, 1, 7, 3, 0, 14],
    t1i=[100, 80, 150, 60, 220, 90, 70, 130],
    x2i=[5, 2, 6, 3, 9, 8, 0, 4],
    t2i=[95, 85, 140, 70, 200, 100, 65, 120],
)


def _irr_csv(tmp_path):
    path = tmp_path / "irr.csv"
    cols = list(IRR)
    rows = [",".join(cols)] + [
        ",".join(str(IRR[c][i]) for c in cols) for i in range(len(IRR["x1i"]))
    ]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("glmm_model", ["UM.FS", "CM.EL"])
def test_cli_glmm_irr_two_group_rates(tmp_path, capsys, glmm_model):
    cols = [a for c in IRR for a in (f"--{c}", c)]
    argv = ["meta", str(_irr_csv(tmp_path)), "--model", "glmm", "--measure", "IRR", *cols]
    code, out, err = _run([*argv, "--glmm-model", glmm_model, "--json"], capsys)
    assert code == 0, err
    d = json.loads(out)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)  # the 0/0 study is dropped, as metafor
        ref = pool_glmm(measure="IRR", model=glmm_model, **IRR)
    assert d["glmm_model"] == glmm_model and d["k"] == 7
    assert d["estimate"] == pytest.approx(ref.estimate, rel=1e-10)
    assert d["tau2"] == pytest.approx(ref.tau2, rel=1e-10)
    assert d["back_transformed"]["pred"] == pytest.approx(math.exp(ref.estimate), rel=1e-10)


def test_cli_rate_ratio_columns_also_feed_the_inverse_variance_model(tmp_path, capsys):
    from sci_evidence.meta import pool
    from sci_evidence.meta.effects import effect_sizes

    cols = [a for c in IRR for a in (f"--{c}", c)]
    argv = ["meta", str(_irr_csv(tmp_path)), "--measure", "IRR", *cols, "--method", "DL"]
    code, out, err = _run([*argv, "--json"], capsys)
    assert code == 0, err
    es = effect_sizes("IRR", **{k: np.asarray(v, float) for k, v in IRR.items()})
    ok = es["yi"].notna().to_numpy()
    ref = pool(es["yi"].to_numpy()[ok], es["vi"].to_numpy()[ok], method="DL", measure="IRR")
    d = json.loads(out)
    assert d["k"] == ref.k and d["estimate"] == pytest.approx(ref.estimate, rel=1e-10)
