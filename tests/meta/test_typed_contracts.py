"""issue 13 item 8: the analyses take a typed PoolResult, checked once, not probed with hasattr."""

import ast
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import sci_evidence.meta as meta
from sci_evidence.errors import InputError
from sci_evidence.meta.results import require_pool_result

META = Path(meta.__file__).parent
TYPED = ("influence.py", "cumulative.py", "trimfill.py", "gosh.py", "bias_plots.py", "results.py")


def _duck():
    """Everything the old hasattr probes asked for, but not a fitted model."""
    k = 5
    return SimpleNamespace(
        yi=np.linspace(0, 1, k), vi=np.full(k, 0.1), X=np.ones((k, 1)), method="REML", k=k
    )


@pytest.mark.parametrize(
    "analysis",
    [meta.leave_one_out, meta.influence, meta.cumulative, meta.trim_and_fill, meta.gosh],
    ids=lambda f: f.__name__,
)
def test_look_alikes_are_refused_with_one_line(analysis):
    with pytest.raises(InputError, match="needs a fitted model"):
        analysis(_duck())


def test_funnel_plot_refuses_a_look_alike():
    with pytest.raises(InputError, match="funnel_plot needs a fitted model"):
        meta.funnel_plot(_duck())


def test_mantel_haenszel_fits_are_refused_where_inverse_variance_is_needed():
    mh = meta.pool_mh(ai=[5, 7, 3], bi=[20, 18, 22], ci=[9, 10, 8], di=[16, 15, 17], measure="OR")
    assert require_pool_result(mh, "x") is mh
    with pytest.raises(InputError, match="not MH/Peto"):
        meta.leave_one_out(mh)


@pytest.mark.parametrize("name", TYPED)
def test_no_untyped_result_parameters_or_hasattr_probes(name):
    tree = ast.parse((META / name).read_text(encoding="utf-8"))
    untyped = [
        f"{node.name}({a.arg})"
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef)
        for a in node.args.args + node.args.kwonlyargs
        if a.arg in ("res", "loo", "perm", "gosh_result", "cumulative_result", "influence_result")
        and (a.annotation is None or ast.unparse(a.annotation) == "Any")
    ]
    assert untyped == []
    probes = [
        ast.unparse(node)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in ("hasattr", "getattr")
        and node.args
        and isinstance(node.args[0], ast.Name)
        and node.args[0].id == "res"
    ]
    assert probes == []
