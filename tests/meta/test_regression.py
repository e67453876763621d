"""Moderators → design matrix (R's model.matrix conventions) and meta-regression behaviour.
Numbers against metafor are in test_models_metafor.py / test_models_published.py; here the
coding itself and the equivalences it implies."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from meta_refcases import metafor_cases

from sci_evidence.errors import InputError
from sci_evidence.meta import fit_design, pool
from sci_evidence.meta.regression import design_matrix, moderator_columns

BCG = metafor_cases("fit")[0]["input"]
ABLAT = [44, 55, 42, 52, 13, 44, 19, 13, 27, 42, 18, 33, 33]
ALLOC = ["random"] * 4 + ["alternate"] * 2 + ["random"] * 3 + ["systematic"] * 4


def _design(mods, k=13):
    return design_matrix(moderator_columns(mods, k))


def test_string_column_is_a_factor_against_its_first_sorted_level():
    X, names = _design({"alloc": ALLOC})
    assert names == ("intrcpt", "allocrandom", "allocsystematic")
    assert X[:, 1].tolist() == [float(a == "random") for a in ALLOC]
    assert X[:, 2].tolist() == [float(a == "systematic") for a in ALLOC]


def test_categorical_keeps_its_level_order_and_bool_is_true_vs_false():
    cat = pd.Series(pd.Categorical(ALLOC, categories=["systematic", "random", "alternate"]))
    _, names = _design(pd.DataFrame({"alloc": cat}))
    assert names == ("intrcpt", "allocrandom", "allocalternate")
    X, names = _design({"big": [a > 30 for a in ABLAT]})
    assert names == ("intrcpt", "bigTRUE")
    assert X[:, 1].tolist() == [float(a > 30) for a in ABLAT]


def test_numeric_strings_are_numbers():
    X, names = _design({"ablat": [str(a) for a in ABLAT]})
    assert names == ("intrcpt", "ablat") and X[:, 1].tolist() == [float(a) for a in ABLAT]


def test_dataframe_dict_and_array_agree():
    a = pool(BCG["yi"], BCG["vi"], mods=pd.DataFrame({"X1": ABLAT}))
    b = pool(BCG["yi"], BCG["vi"], mods={"X1": ABLAT})
    c = pool(BCG["yi"], BCG["vi"], mods=np.asarray(ABLAT, float).reshape(-1, 1))
    d = pool(BCG["yi"], BCG["vi"], mods=np.asarray(ABLAT, float))
    for r in (b, c, d):
        np.testing.assert_array_equal(r.beta, a.beta)
        assert r.coef_names == ("intrcpt", "X1")


def test_factor_equals_hand_made_dummies_through_fit_design():
    res = pool(BCG["yi"], BCG["vi"], mods={"alloc": ALLOC})
    X = np.column_stack(
        [np.ones(13), [a == "random" for a in ALLOC], [a == "systematic" for a in ALLOC]]
    ).astype(float)
    ref = fit_design(BCG["yi"], BCG["vi"], X, coef_names=["intrcpt", "r", "s"])
    np.testing.assert_allclose(res.beta, ref.beta, rtol=1e-12)
    assert res.QM == pytest.approx(ref.QM, rel=1e-12)
    assert ref.coefficients.index.tolist() == ["intrcpt", "r", "s"]


def test_equal_effect_meta_regression_decomposes_q():
    """QE + QM = Q of the intercept-only model (published case 18's check)."""
    res = pool(BCG["yi"], BCG["vi"], mods={"ablat": ABLAT}, method="EE")
    total = pool(BCG["yi"], BCG["vi"], method="EE")
    assert res.Q + res.QM == pytest.approx(total.Q, rel=1e-12)
    assert res.R2 is None and res.pi_lb is None


def test_qm_under_knha_is_an_f_and_single_moderator_f_is_t_squared():
    res = pool(BCG["yi"], BCG["vi"], mods={"ablat": ABLAT}, test="knha")
    assert res.QM_df == 1 and res.QM_ddf == 11 and res.dof == 11
    assert res.QM == pytest.approx(res.beta_stat[1] ** 2, rel=1e-12)
    assert res.QM_pval == pytest.approx(res.beta_pval[1], rel=1e-10)


def test_r2_is_zero_when_moderators_explain_nothing():
    rng = np.random.default_rng(3)
    yi = rng.normal(0, 0.1, 20)
    res = pool(yi, np.full(20, 0.01), mods={"noise": rng.normal(size=20)}, method="DL")
    base = pool(yi, np.full(20, 0.01), method="DL")
    expect = max(0.0, 100 * (base.tau2 - res.tau2) / base.tau2) if base.tau2 > 0 else 0.0
    assert res.R2 == pytest.approx(expect)


def test_missing_level_after_dropping_rows_is_a_clear_error():
    alloc = ["a", "a", "b", "b", "c"]
    with pytest.raises(InputError, match="moderator 'g' has a single level"):
        pool([0.1, 0.2, 0.3, 0.4, 0.5], [0.1] * 5, mods={"g": ["x"] * 5})
    res = pool([0.1, 0.2, 0.3, 0.4, 0.5], [0.1] * 5, mods={"g": alloc}, method="DL")
    assert res.coef_names == ("intrcpt", "gb", "gc")


def test_collinear_moderators_name_the_column():
    with pytest.raises(InputError, match="moderator 'twice' is a linear combination"):
        pool(BCG["yi"], BCG["vi"], mods={"ablat": ABLAT, "twice": [2 * a for a in ABLAT]})


def test_non_numeric_moderator_value_is_named():
    with pytest.raises(InputError, match="study 2 has"):
        pool([0.1, 0.2, 0.3], [0.1] * 3, mods={"x": [1.0, object(), 2.0]})


def test_r2_is_computed_at_fit_time_and_results_never_refit():
    """R² is a field filled by the fit; meta/results.py imports nothing from meta/models."""
    import ast
    import dataclasses
    from pathlib import Path

    import sci_evidence.meta.results as results_module

    assert "R2" in {f.name for f in dataclasses.fields(results_module.PoolResult)}
    res = pool(BCG["yi"], BCG["vi"], mods={"ablat": ABLAT}, method="REML")
    assert "R2" in vars(res)  # stored at construction, not a lazily cached property
    tree = ast.parse(Path(results_module.__file__).read_text(encoding="utf-8"))
    imported = {
        node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
    }
    assert "sci_evidence.meta.models" not in imported
