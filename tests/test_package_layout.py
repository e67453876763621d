"""Test-only code stays out of the installed package, and layout facts have one home."""

import importlib

import pytest


@pytest.mark.parametrize(
    "module",
    [
        "sci_evidence.trials.synthetic",  # moved to tests/support/synthetic_trials.py
        "sci_evidence.isncsci.simulate",  # moved to tests/support/random_exams.py
        "sci_evidence.trials._levels",  # restated isncsci/levels.py
    ],
)
def test_test_only_modules_are_not_installed(module):
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module(module)


def test_trials_use_the_isncsci_layout():
    from sci_evidence.isncsci import levels
    from sci_evidence.trials import io, outcomes

    assert set(io.REQUIRED_EXAM_COLUMNS) | set(io.NON_KEY_COLUMNS) == set(levels.INPUT_COLUMNS)
    assert outcomes.parse_levels("C5, T1*, INT") == (4, 8, 29)
    assert (
        outcomes.level_group_of(7) == "tetraplegia" and outcomes.level_group_of(8) == "paraplegia"
    )
