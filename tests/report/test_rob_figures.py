"""Risk-of-bias figures per tool as robvis draws them (issue 17): a traffic-light plot and a
weighted summary bar chart for each of RoB 2, ROBINS-I and MINORS."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from sci_evidence.evidence import load_evidence  # noqa: E402
from sci_evidence.evidence.appraisal import study_labels  # noqa: E402
from sci_evidence.report.figures.rob import (  # noqa: E402
    JUDGEMENTS,
    rob_summary_tool,
    rob_tools,
    rob_traffic_light_tool,
    tool_matrix,
)


@pytest.fixture(scope="module")
def evidence():
    return load_evidence()


def _texts(fig) -> str:
    return "\n".join(t.get_text() for t in fig.findobj(matplotlib.text.Text))


def test_one_matrix_per_tool_with_its_own_domains(evidence):
    rob = evidence.risk_of_bias
    assert rob_tools(rob) == list(dict.fromkeys(rob["tool"]))
    assert set(rob_tools(rob)) == {"RoB2", "ROBINS-I", "MINORS"}
    for tool, n_domains in (("RoB2", 5), ("ROBINS-I", 7), ("MINORS", 8)):
        mat, key = tool_matrix(rob, tool)
        assert len(key) == n_domains and list(mat.columns)[-1] == "Overall"
        assert set(mat.index) == set(rob.loc[rob["tool"] == tool, "study_id"])
        assert not (mat.to_numpy() == "not_assessed").any()  # every domain judged
    # ROBINS-I's words: serious is drawn red, moderate yellow, no information grey
    mat, _ = tool_matrix(rob, "ROBINS-I")
    assert mat.loc["kishk-2010", "Overall"] == "high"
    assert mat.loc["tien-2019", "Overall"] == "no_information"
    # MINORS items 0/1/2 map to not reported / inadequate / adequate
    mat, key = tool_matrix(rob, "MINORS")
    m = rob[(rob["tool"] == "MINORS") & (rob["study_id"] == "oh-2016")]
    for code, name in key:
        score = m.loc[m["domain"] == f"{code} {name}", "judgement"].iloc[0]
        assert mat.loc["oh-2016", code] == {"2": "low", "1": "some_concerns", "0": "high"}[score]
    assert mat.loc["oh-2016", "Overall"] == "some_concerns"  # MINORS overall "moderate"


def test_traffic_light_draws_each_study_and_the_domain_key(evidence):
    labels = study_labels(evidence)
    fig = rob_traffic_light_tool(evidence.risk_of_bias, "RoB2", labels)
    text = _texts(fig)
    for sid in ("dai-2013a", "el-kheir-2014", "cheng-2014"):
        assert labels[sid] in text
    assert "D1: randomisation process" in text and "Overall" in text
    assert "RoB 2: risk of bias per study (3)" in text
    colours = fig.axes[0].collections[0].get_facecolors()
    assert len(colours) == 3 * 6  # 3 studies × (5 domains + overall)


def test_summary_is_weighted_by_participants(evidence):
    rob = evidence.risk_of_bias
    n = dict(zip(evidence.studies["study_id"], evidence.studies["n_total"], strict=True))
    mat, key = tool_matrix(rob, "RoB2")
    w = np.array([float(n[s]) for s in mat.index])
    high = w[(mat["Overall"] == "high").to_numpy()].sum() / w.sum()
    fig = rob_summary_tool(rob, "RoB2", n)
    text = _texts(fig)
    assert f"{100 * high:.0f}%" in text
    assert "Overall risk of bias" in text and "Share of participants (%)" in text
    # the "Overall" bar: segments add up to 100% and the red one is the weighted share
    ax = fig.axes[0]
    overall = [p for p in ax.patches if abs(p.get_y() + p.get_height() / 2 - len(key)) < 1e-9]
    assert sum(p.get_width() for p in overall) == pytest.approx(100.0)
    red = matplotlib.colors.to_rgba(JUDGEMENTS["high"][0])
    assert [p.get_width() for p in overall if p.get_facecolor() == red] == [
        pytest.approx(100 * high)
    ]
