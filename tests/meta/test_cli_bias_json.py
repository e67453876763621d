"""`sci-evidence meta --json --bias` (in process, on the bundled dat.bcg example): stdout is
one JSON document holding the bias and influence results, equal to the library's."""

from __future__ import annotations

import json

import pytest

from sci_evidence.meta.bias import egger_test, fail_safe_n, rank_test
from sci_evidence.meta.influence import influence_result, leave_one_out_result
from sci_evidence.meta.trimfill import trim_and_fill
from support.cli_run import run


@pytest.fixture(scope="module")
def bcg():
    from sci_evidence.cli.meta import run_meta

    res, _, _, _, _ = run_meta(
        None,
        columns={},
        measure=None,
        method="REML",
        test="z",
        level=0.95,
        mods=None,
        subgroup=None,
        tau2_common=False,
        label=None,
        ri=None,
    )
    return res


def test_bias_results_are_inside_the_json_document(capsys, bcg):
    code, out, err = run(["meta", "--example", "--json", "--bias"], capsys)
    assert code == 0, err
    doc = json.loads(out)  # stdout is the JSON document and nothing else
    b = doc["bias"]
    assert set(b) == {
        "egger_rma",
        "egger_lm",
        "rank_test",
        "pet_peese",
        "trim_and_fill",
        "fail_safe_n",
        "leave_one_out",
        "influence",
    }
    # the pooled model is the library's, and so is every analysis
    assert doc["estimate"] == pytest.approx(bcg.estimate, rel=1e-12)
    assert b["egger_rma"] == json.loads(json.dumps(egger_test(bcg, "rma").to_dict()))
    assert b["egger_lm"]["z"] == pytest.approx(egger_test(bcg, "lm").z, rel=1e-12)
    assert b["rank_test"]["tau"] == pytest.approx(rank_test(bcg).tau, rel=1e-12)
    assert b["trim_and_fill"]["k0"] == trim_and_fill(bcg).k0
    assert b["trim_and_fill"]["estimate"] == pytest.approx(trim_and_fill(bcg).estimate, rel=1e-12)
    assert b["fail_safe_n"]["Rosenthal"] == json.loads(
        json.dumps(fail_safe_n(bcg, "Rosenthal").to_dict())
    )
    loo = leave_one_out_result(bcg).to_dict()
    assert b["leave_one_out"]["estimate"] == pytest.approx(loo["estimate"], rel=1e-12)
    inf = influence_result(bcg).to_dict()
    assert b["influence"]["cooks_distance"] == pytest.approx(inf["cooks_distance"], rel=1e-12)
    # metafor 3.8-1 on dat.bcg (RR, REML): regtest z = -0.8033, ranktest tau = 0.0256, fsn 598
    assert b["egger_rma"]["z"] == pytest.approx(-0.803329193090804, rel=1e-6)
    assert b["rank_test"]["tau"] == pytest.approx(0.0256410256410256, rel=1e-9)
    assert b["fail_safe_n"]["Rosenthal"]["fsnum"] == 598


def test_moderator_model_marks_what_cannot_run(capsys):
    code, out, err = run(["meta", "--example", "--mods", "ablat", "--json", "--bias"], capsys)
    assert code == 0, err
    b = json.loads(out)["bias"]
    assert "not_available" in b["trim_and_fill"] and "not_available" in b["leave_one_out"]
    assert b["egger_rma"]["k"] == 13


def test_permutations_and_gosh_go_inside_the_json_too(capsys, tmp_path):
    path = tmp_path / "gosh.png"
    argv = ["meta", "--example", "--method", "DL", "--json", "--permutations", "50"]
    code, out, err = run([*argv, "--gosh", str(path)], capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["permutation_test"]["iterations"] == 50
    assert doc["gosh"]["n_subsets"] == 8191 and doc["gosh"]["plot"] == str(path)
    assert path.exists()
    assert "bias" not in doc


def test_bad_option_with_json_prints_nothing_to_stdout(capsys):
    code, out, err = run(["meta", "--example", "--json", "--permutations", "1"], capsys)
    assert code == 2 and out == ""
    assert err.startswith("Error:")
