"""SD of a change score and the back-solved correlation (Cochrane Handbook §6.5.2.8)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sci_evidence.errors import InputError
from sci_evidence.meta import correlation_from_change, sd_change


def test_handbook_worked_example():
    # Cochrane Handbook §6.5.2.8, experimental group of the worked example: baseline SD
    # 4.2, final SD 4.3, change SD 3.6 → Corr = (4.2² + 4.3² − 3.6²)/(2·4.2·4.3) = 0.64.
    r = correlation_from_change(4.2, 4.3, 3.6)
    assert r == pytest.approx((4.2**2 + 4.3**2 - 3.6**2) / (2 * 4.2 * 4.3), rel=1e-14)
    assert round(r, 2) == 0.64
    # ...and the imputation with that correlation gives the change SD back
    assert sd_change(4.2, 4.3, r) == pytest.approx(3.6, rel=1e-12)


def test_special_correlations():
    assert sd_change(3.0, 4.0, 0.0) == pytest.approx(5.0)  # independent: √(9 + 16)
    assert sd_change(3.0, 4.0, 1.0) == pytest.approx(1.0)  # |sd1 − sd2|
    assert sd_change(3.0, 4.0, -1.0) == pytest.approx(7.0)  # sd1 + sd2
    assert sd_change(2.5, 2.5, 1.0) == 0.0


def test_arrays_and_broadcast():
    out = sd_change([3.0, 10.0], [4.0, 10.0], 0.5)
    assert isinstance(out, np.ndarray)
    np.testing.assert_allclose(out, [math.sqrt(9 + 16 - 12), 10.0])
    r = correlation_from_change([3.0, 10.0], [4.0, 10.0], out)
    np.testing.assert_allclose(r, [0.5, 0.5], rtol=1e-12)
    assert isinstance(sd_change(1, 2, 0.3), float)


@pytest.mark.parametrize(
    "args, fragment",
    [
        ((1.0, 2.0, 1.2), "r must lie in [-1, 1]"),
        ((1.0, 2.0, -1.01), "r must lie in [-1, 1]"),
        ((-1.0, 2.0, 0.5), "sd1 must be >= 0"),
        ((1.0, float("nan"), 0.5), "sd2 must be finite"),
        (([1.0, 2.0], [1.0, 2.0, 3.0], 0.5), "one value per study"),
        ((1.0, "a", 0.5), "sd2 must be numeric"),
    ],
)
def test_sd_change_refuses(args, fragment):
    with pytest.raises(InputError) as exc:
        sd_change(*args)
    assert fragment in str(exc.value)


@pytest.mark.parametrize(
    "args, fragment",
    [
        ((3.0, 4.0, 7.5), "must lie in [1, 7]"),  # too large: r < −1
        ((3.0, 4.0, 0.5), "must lie in [1, 7]"),  # too small: r > 1
        ((0.0, 4.0, 4.0), "sd1 must be > 0"),
        ((3.0, 4.0, -1.0), "sd_change must be >= 0"),
    ],
)
def test_correlation_refuses(args, fragment):
    with pytest.raises(InputError) as exc:
        correlation_from_change(*args)
    assert fragment in str(exc.value)


def test_boundary_is_exact():
    assert correlation_from_change(3.0, 4.0, 1.0) == 1.0
    assert correlation_from_change(3.0, 4.0, 7.0) == -1.0
