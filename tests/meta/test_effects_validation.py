"""effect_sizes: bad input gives one InputError naming row, column and value; missing values
give NaN and a DataWarning naming the rows; assumptions are recorded."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from sci_evidence.errors import DataWarning, InputError
from sci_evidence.meta import MEASURES, effect_sizes

BCG = pd.DataFrame(
    {
        "tpos": [4, 6, 3],
        "tneg": [119, 300, 228],
        "cpos": [11, 29, 11],
        "cneg": [128, 274, 209],
    }
)
CHANGE = dict(
    m1i=[39.8, 52.2, 29.7],
    m2i=[23.9, 38.1, 23.4],
    sd1i=[22.6, 13.7, 19.8],
    sd2i=[17.6, 12.6, 17.1],
    ni=[26, 38, 35],
)


def err(excinfo) -> InputError:
    e = excinfo.value
    assert isinstance(e, InputError)
    assert "\n" not in str(e)
    return e


def test_data_frame_with_column_names_keeps_the_frame():
    df = effect_sizes("RR", data=BCG, ai="tpos", bi="tneg", ci="cpos", di="cneg")
    assert list(df.columns) == ["tpos", "tneg", "cpos", "cneg", "yi", "vi"]
    direct = effect_sizes("RR", ai=BCG.tpos, bi=BCG.tneg, ci=BCG.cpos, di=BCG.cneg)
    np.testing.assert_array_equal(df["yi"], direct["yi"])
    assert list(direct.columns) == ["ai", "bi", "ci", "di", "yi", "vi"]
    assert df.attrs["measure"] == "RR"
    assert df.attrs["settings"]["add"] == 0.5 and df.attrs["settings"]["to"] == "only0"
    assert BCG.columns.tolist() == ["tpos", "tneg", "cpos", "cneg"]  # input untouched


def test_measure_is_case_insensitive_and_listed():
    a = effect_sizes("rr", ai=[1], bi=[2], ci=[3], di=[4])
    assert a.attrs["measure"] == "RR"
    assert set(MEASURES) >= {"RR", "OR", "RD", "MD", "SMD", "ROM", "MC", "SMCC", "SMCR"}
    assert set(MEASURES) >= {"PR", "PLO", "PAS", "PFT", "IR", "IRLN", "GEN"}


def test_unknown_measure_lists_the_choices():
    with pytest.raises(InputError) as ei:
        effect_sizes("XYZ", ai=[1])
    e = err(ei)
    assert e.column == "measure" and e.value == "XYZ" and "SMCR" in str(e)


def test_unknown_argument_raises_type_error():
    with pytest.raises(TypeError, match="n1"):
        effect_sizes("RR", ai=[1], bi=[2], ci=[3], di=[4], n1=[3])


@pytest.mark.parametrize(
    "measure, kwargs, column",
    [
        ("RR", dict(ai=[1], bi=[2], ci=[3]), "di"),
        ("MD", dict(m1i=[1], m2i=[2], sd1i=[1], sd2i=[1], n1i=[5]), "n2i"),
        ("PLO", dict(xi=[1]), "ni"),
        ("IR", dict(xi=[1]), "ti"),
    ],
)
def test_missing_column_is_named(measure, kwargs, column):
    with pytest.raises(InputError) as ei:
        effect_sizes(measure, **kwargs)
    assert err(ei).column == column


def test_column_name_not_in_data():
    with pytest.raises(InputError) as ei:
        effect_sizes("RR", data=BCG, ai="tpos", bi="tneg", ci="cpos", di="cneg_typo")
    e = err(ei)
    assert e.column == "cneg_typo" and "cneg" in str(e)


def test_non_numeric_value_names_row_column_value():
    data = BCG.astype(object).copy()
    data.loc[1, "cpos"] = "29a"
    with pytest.raises(InputError) as ei:
        effect_sizes("OR", data=data, ai="tpos", bi="tneg", ci="cpos", di="cneg", first_row=2)
    e = err(ei)
    assert (e.row, e.column, e.value) == (3, "cpos", "29a")
    assert str(e) == "row 3, column 'cpos': not a number (value: '29a')"


@pytest.mark.parametrize(
    "measure, kwargs, row, column, words",
    [
        ("RR", dict(ai=[1, -1], bi=[2, 2], ci=[3, 3], di=[4, 4]), 2, "ai", "negative"),
        ("RR", dict(ai=[1, 1], bi=[2, 2], ci=[3, 3], di=[4, -4]), 2, "di", "negative"),
        ("OR", dict(ai=[1, 9], n1i=[5, 8], ci=[3, 3], n2i=[4, 4]), 2, "ai", "exceed"),
        ("RD", dict(ai=[1], bi=[2], n1i=[4], ci=[3], di=[4]), 1, "n1i", "not equal"),
        ("PLO", dict(xi=[3, 12], ni=[10, 11]), 2, "xi", "exceed"),
        ("PR", dict(xi=[3, 1], ni=[10, 0]), 2, "ni", "positive"),
        (
            "MD",
            dict(m1i=[1], m2i=[2], sd1i=[-1], sd2i=[1], n1i=[5], n2i=[5]),
            1,
            "sd1i",
            "negative",
        ),
        ("SMD", dict(m1i=[1], m2i=[2], sd1i=[1], sd2i=[1], n1i=[0], n2i=[5]), 1, "n1i", "positive"),
        (
            "ROM",
            dict(m1i=[1], m2i=[-2], sd1i=[1], sd2i=[1], n1i=[5], n2i=[5]),
            1,
            "m2i",
            "positive",
        ),
        ("IR", dict(xi=[1, 2], ti=[10, 0]), 2, "ti", "positive"),
        ("MC", dict(CHANGE, ri=[0.5, 1.5, 0.5]), 2, "ri", "[-1, 1]"),
        ("MC", dict(CHANGE, ni=[26, -1, 35], ri=0.5), 2, "ni", "positive"),
        ("GEN", dict(yi=[0.1, 0.2], sei=[0.1, -0.1]), 2, "sei", "negative"),
        ("GEN", dict(yi=[0.1, 0.2], vi=[-0.1, 0.1]), 1, "vi", "negative"),
        ("GEN", dict(yi=[0.1], ci_lb=[0.3], ci_ub=[0.2]), 1, "ci_ub", "below"),
        ("GEN", dict(yi=[0.5], ci_lb=[0.0], ci_ub=[0.2]), 1, "yi", "outside"),
        ("OR", dict(yi=[0.0], ci_lb=[0.5], ci_ub=[2.0], ratio_scale=True), 1, "yi", "positive"),
    ],
)
def test_bad_values_name_row_and_column(measure, kwargs, row, column, words):
    with pytest.raises(InputError) as ei:
        effect_sizes(measure, **kwargs)
    e = err(ei)
    assert e.row == row and e.column == column and words in str(e)
    assert e.value is not None


def test_bad_options():
    base = dict(ai=[1], bi=[2], ci=[3], di=[4])
    with pytest.raises(InputError, match="'to'"):
        effect_sizes("RR", to="zero", **base)
    with pytest.raises(InputError, match="add"):
        effect_sizes("RR", add=-1, **base)
    with pytest.raises(InputError, match="vtype"):
        effect_sizes("RR", vtype="UB", **base)
    with pytest.raises(InputError, match="vtype for SMD"):
        effect_sizes("SMD", vtype="HO", m1i=[1], m2i=[2], sd1i=[1], sd2i=[1], n1i=[5], n2i=[5])
    with pytest.raises(InputError, match="level"):
        effect_sizes("GEN", yi=[1], ci_lb=[0], ci_ub=[2], level=150)
    pct = effect_sizes("GEN", yi=[0.0], ci_lb=[-1.0], ci_ub=[1.0], level=95)
    frac = effect_sizes("GEN", yi=[0.0], ci_lb=[-1.0], ci_ub=[1.0], level=0.95)
    assert pct["vi"][0] == frac["vi"][0]
    with pytest.raises(InputError, match="ri"):
        effect_sizes("RR", ri=0.5, **base)
    with pytest.raises(InputError, match="ratio_scale"):
        effect_sizes("RR", ratio_scale=True, **base)
    with pytest.raises(InputError, match="ratio measure"):
        effect_sizes("MD", yi=[1.0], sei=[0.1], ratio_scale=True)


def test_precomputed_needs_exactly_one_uncertainty():
    with pytest.raises(InputError, match="needs its sampling variance"):
        effect_sizes("GEN", yi=[0.1])
    with pytest.raises(InputError, match="only one"):
        effect_sizes("GEN", yi=[0.1], vi=[0.01], sei=[0.1])
    with pytest.raises(InputError, match="ci_ub"):
        effect_sizes("GEN", yi=[0.1], ci_lb=[0.0])
    with pytest.raises(InputError, match="GEN needs"):
        effect_sizes("GEN", ai=[1])


def test_precomputed_sei_and_ci():
    se = effect_sizes("GEN", yi=[0.2, -0.1], sei=[0.1, 0.2])
    np.testing.assert_allclose(se["vi"], [0.01, 0.04])
    ci = effect_sizes(
        "SMD",
        yi=[0.2],
        ci_lb=[0.2 - 1.959963984540054 * 0.1],
        ci_ub=[0.2 + 1.959963984540054 * 0.1],
    )
    np.testing.assert_allclose(ci["vi"], [0.01], rtol=1e-12)
    ci90 = effect_sizes(
        "GEN", yi=[0.0], ci_lb=[-1.6448536269514722], ci_ub=[1.6448536269514722], level=0.90
    )
    np.testing.assert_allclose(ci90["vi"], [1.0], rtol=1e-12)
    hr = effect_sizes("HR", yi=[0.8], ci_lb=[0.64], ci_ub=[1.0], ratio_scale=True)
    np.testing.assert_allclose(hr["yi"], [np.log(0.8)])
    np.testing.assert_allclose(
        hr["vi"], [((np.log(1.0) - np.log(0.64)) / (2 * 1.959963984540054)) ** 2]
    )


def test_missing_values_give_nan_and_a_warning_naming_rows():
    with pytest.warns(DataWarning, match=r"missing values.*: row 3 \(ci\), row 4 \(ai, di\)"):
        df = effect_sizes(
            "OR",
            ai=[1, 2, 3, None],
            bi=[5, 5, 5, 5],
            ci=[2, 2, "NA", 2],
            di=[5, 5, 5, np.nan],
        )
    assert df["yi"].isna().tolist() == [False, False, True, True]
    assert df["vi"].isna().tolist() == [False, False, True, True]


def test_uncomputable_rows_are_reported():
    with pytest.warns(DataWarning, match="row 2: effect size cannot be computed"):
        df = effect_sizes("RR", ai=[1, 0], bi=[5, 5], ci=[2, 2], di=[5, 5], to="none")
    assert np.isnan(df["yi"][1]) and np.isfinite(df["yi"][0])


def test_drop00_warns_and_drops_double_zero_only():
    with pytest.warns(DataWarning, match=r"row 2: no events.*drop00"):
        df = effect_sizes("OR", ai=[1, 0, 0], bi=[5, 5, 5], ci=[2, 0, 1], di=[5, 5, 5], drop00=True)
    assert df["yi"].isna().tolist() == [False, True, False]


def test_zero_cell_rule_only0_default():
    df = effect_sizes("OR", ai=[0, 2], bi=[10, 8], ci=[3, 4], di=[7, 6])
    np.testing.assert_allclose(df["yi"][0], np.log(0.5 * 7.5 / (10.5 * 3.5)))
    np.testing.assert_allclose(df["yi"][1], np.log(2 * 6 / (8 * 4)))
    with pytest.warns(DataWarning, match="row 1: effect size cannot be computed"):
        none = effect_sizes("OR", ai=[0, 2], bi=[10, 8], ci=[3, 4], di=[7, 6], add=0, to="all")
    assert np.isnan(none["yi"][0])


def test_pft_and_pas_default_to_add_zero():
    assert effect_sizes("PFT", xi=[0], ni=[10]).attrs["settings"]["add"] == 0.0
    assert effect_sizes("PAS", xi=[0], ni=[10])["yi"][0] == 0.0
    assert effect_sizes("PLO", xi=[0], ni=[10]).attrs["settings"]["add"] == 0.5
    assert effect_sizes("PFT", xi=[3, 4], ni=[10, 12]).attrs["ni"] == [10.0, 12.0]


def test_scalar_ri_is_recorded_as_an_assumption():
    with pytest.warns(DataWarning, match="assumed correlation ri = 0.5"):
        df = effect_sizes("MC", ri=0.5, **CHANGE)
    assert df["ri"].tolist() == [0.5, 0.5, 0.5]
    assert df["ri_assumed"].all()
    assert len(df.attrs["assumptions"]) == 1 and "all 3 studies" in df.attrs["assumptions"][0]
    explicit = effect_sizes("MC", ri=[0.5, 0.5, 0.5], **CHANGE)
    np.testing.assert_array_equal(df["vi"], explicit["vi"])
    assert explicit.attrs["assumptions"] == [] and not explicit["ri_assumed"].any()


def test_ri_default_fills_only_missing_correlations():
    with pytest.warns(DataWarning, match=r"ri = 0.6 for the 1 studies.*row 2\)"):
        df = effect_sizes("SMCC", ri=[0.7, None, 0.4], ri_default=0.6, **CHANGE)
    assert df["ri"].tolist() == [0.7, 0.6, 0.4]
    assert df["ri_assumed"].tolist() == [False, True, False]
    ref = effect_sizes("SMCC", ri=[0.7, 0.6, 0.4], **CHANGE)
    np.testing.assert_allclose(df["vi"], ref["vi"])


def test_change_measures_without_ri_explain_the_fix():
    with pytest.raises(InputError, match="correlation_sensitivity"):
        effect_sizes("SMCR", **CHANGE)
    with pytest.raises(InputError, match=r"\[-1, 1\]"):
        effect_sizes("MC", ri=1.2, **CHANGE)


@pytest.mark.filterwarnings("ignore:assumed correlation:sci_evidence.errors.DataWarning")
def test_smcr_uses_sd1_only():
    a = effect_sizes("SMCR", ri=0.5, **CHANGE)
    b = effect_sizes("SMCR", ri=0.5, **{**CHANGE, "sd2i": [1.0, 2.0, 3.0]})
    np.testing.assert_array_equal(a["yi"], b["yi"])
    no_sd2 = {k: v for k, v in CHANGE.items() if k != "sd2i"}
    c = effect_sizes("SMCR", ri=0.5, **no_sd2)
    np.testing.assert_array_equal(a["vi"], c["vi"])


def test_mismatched_lengths_and_scalars():
    with pytest.raises(InputError, match="has 2 values"):
        effect_sizes("RR", ai=[1, 2, 3], bi=[1, 2], ci=[1, 2, 3], di=[1, 2, 3])
    with pytest.raises(InputError, match="single value"):
        effect_sizes("RR", ai=1, bi=[1], ci=[1], di=[1])
    with pytest.raises(InputError, match="no data= frame"):
        effect_sizes("RR", ai="tpos", bi=[1], ci=[1], di=[1])


def test_no_warnings_on_clean_input():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        effect_sizes(
            "SMD", m1i=[1, 2], m2i=[0, 1], sd1i=[1, 1], sd2i=[1, 2], n1i=[10, 20], n2i=[12, 18]
        )


def test_k_equals_one_and_empty():
    one = effect_sizes("RD", ai=[3], n1i=[10], ci=[1], n2i=[10])
    assert one.shape[0] == 1 and np.isclose(one["yi"][0], 0.2)
    empty = effect_sizes("RD", ai=[], n1i=[], ci=[], n2i=[])
    assert empty.shape[0] == 0


def test_redundant_group_size_may_be_missing():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        df = effect_sizes("RR", ai=[1, 2], bi=[9, 8], ci=[3, 3], di=[7, 7], n1i=[10, None])
    assert df["yi"].notna().all()


def test_docstring_examples_run():
    import doctest

    from sci_evidence.meta import correlation, effects, transforms

    for module in (effects, transforms, correlation):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataWarning)
            result = doctest.testmod(module)
        assert result.attempted > 0 and result.failed == 0, module.__name__
