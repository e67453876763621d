"""Bad input to fit_design()/pool() after the validation took its one-reduction shortcuts
(a finite sum or a positive minimum first, the element-wise search only when it fails; the
design's finiteness read off the diagonal of X'X): each still names the bad element."""

from __future__ import annotations

import numpy as np
import pytest

from sci_evidence.errors import InputError
from sci_evidence.meta import fit_design, pool

K = 6
YI = np.array([0.1, 0.3, -0.2, 0.5, 0.0, 0.25])
VI = np.array([0.04, 0.05, 0.03, 0.06, 0.02, 0.05])
X1 = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 7.0])


def _X():
    return np.column_stack([np.ones(K), X1])


@pytest.mark.parametrize(
    "yi, vi, match",
    [
        (np.r_[YI[:2], np.nan, YI[3:]], VI, r"yi must be finite; element 3 is nan"),
        (np.r_[YI[:4], np.inf, YI[5:]], VI, r"yi must be finite; element 5 is inf"),
        (YI, np.r_[VI[:1], -np.inf, VI[2:]], r"vi must be finite; element 2 is -inf"),
        (YI, np.r_[VI[:3], 0.0, VI[4:]], r"vi must be > 0; element 4 is 0.0"),
        (YI, np.r_[VI[:5], -0.1], r"vi must be > 0; element 6 is -0.1"),
        (YI[:5], VI, r"yi has 5 element\(s\) but vi has 6"),
    ],
)
def test_bad_effects_are_named(yi, vi, match):
    with pytest.raises(InputError, match=match):
        fit_design(yi, vi, _X())


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_non_finite_design_entry_is_named(bad):
    X = _X()
    X[3, 1] = bad
    with pytest.raises(InputError, match=rf"row 4, column 'X1' is {bad!r}"):
        fit_design(YI, VI, X)


def test_design_shape_errors():
    with pytest.raises(InputError, match="no columns"):
        fit_design(YI, VI, np.empty((K, 0)))
    with pytest.raises(InputError, match=r"one row per study: shape is \(5, 2\)"):
        fit_design(YI, VI, _X()[:5])


def test_huge_but_finite_design_is_named_as_too_large():
    """x² overflows the Gram diagonal to inf although every entry is finite (the fit used to
    fail with ZeroDivisionError): a clear error naming the column instead."""
    X = _X()
    X[:, 1] = X1 * 1e160
    with pytest.raises(InputError, match="column 'X1' is too large to fit"):
        fit_design(YI, VI, X, method="DL")


def test_collinear_moderator_is_named_after_the_unrolled_rank_test():
    with pytest.raises(InputError, match="moderator 'x2' is a linear combination"):
        pool(YI, VI, mods={"x1": X1, "x2": 2.0 * X1 + 1.0})
    with pytest.raises(InputError, match="moderator 'x2' is constant"):
        pool(YI, VI, mods={"x1": X1, "x2": np.full(K, 3.0)})


def test_effects_shapes_and_plain_lists():
    with pytest.raises(InputError, match=r"yi must be 1-D \(got shape \(2, 3\)\)"):
        fit_design(YI.reshape(2, 3), VI, _X())
    with pytest.raises(InputError, match="vi must be numeric; element 2 is not a number"):
        fit_design(YI, [0.1, "a", 0.1, 0.1, 0.1, 0.1], _X())
    as_lists = fit_design(YI.tolist(), VI.tolist(), _X().tolist(), method="DL")
    assert as_lists.beta.tolist() == fit_design(YI, VI, _X(), method="DL").beta.tolist()
