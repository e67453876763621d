"""Every number on its stated scale (issue 18): ratios as ratios, proportions in percent,
leave-one-out and cumulative on the reader's scale with the scale named, counts as integers,
studies by their labels — checked in the tables and in report.html of the bundled review."""

from __future__ import annotations

import json
import re
from html import unescape
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from sci_evidence.meta.transforms import back_transform
from sci_evidence.report.scales import COUNT_COLUMNS, integer_counts, reader_scale
from tolerances import READER_SCALE_RTOL


@pytest.fixture(scope="module")
def run(bundled_run):
    result, out = bundled_run
    results = json.loads((out / "results.json").read_text())
    return result, out, results, {e["id"]: e for e in results["analyses"]}


def _csv(out, name):
    return pd.read_csv(out / "tables" / f"{name}.csv")


def test_reader_scales():
    assert reader_scale("RR").name == "RR" and reader_scale("RR").factor == 1
    assert reader_scale("PLO").name == "%" and reader_scale("PFT").factor == 100
    assert reader_scale("RD").name == "percentage points"
    assert reader_scale("MD").name == "points"
    assert reader_scale("RR").model == "log risk ratio"


def test_pooled_table_is_on_the_reader_scale(run):
    _, out, _, by_id = run
    t = _csv(out, "pooled_results").set_index("analysis_id")
    rr = t.loc["ais_improved_rr"]
    assert rr["scale"] == "RR" and rr["model_scale"] == "log risk ratio"
    # the example: log RR 1.7566 is RR 5.79
    assert rr["estimate"] == pytest.approx(np.exp(rr["estimate_model"]), rel=READER_SCALE_RTOL)
    assert rr["estimate"] == pytest.approx(5.7926, abs=1e-4)
    prop = t.loc["ais_improved_prop"]
    assert prop["scale"] == "%"
    expit = 100 / (1 + np.exp(-prop["estimate_model"]))
    assert prop["estimate"] == pytest.approx(expit, rel=READER_SCALE_RTOL)
    for aid, row in t.iterrows():
        if aid in by_id:
            assert row["estimate_model"] == pytest.approx(by_id[aid]["pooled"]["estimate"])


def test_leave_one_out_and_cumulative_on_the_reader_scale(run):
    result, out, _, by_id = run
    for name in ("leave_one_out", "cumulative"):
        t = _csv(out, name)
        assert {"scale", "model_scale", "estimate", "ci_lb", "ci_ub"} <= set(t.columns)
        for aid, g in t.groupby("analysis_id", sort=False):
            block = by_id[aid]["robustness"][name]
            measure = by_id[aid]["measure"]
            model = np.asarray(block["estimate"], float)
            if measure == "RR":
                expected = np.exp(model)
            elif measure == "PLO":
                expected = 100 / (1 + np.exp(-model))
            elif measure == "PFT":
                # inverted at the harmonic mean of the studies in each fit
                rows = result.analysis(aid).main.rows
                labels = list(rows["label"])
                expected = []
                for i, study in enumerate(block["study"]):
                    keep = (
                        set(block["study"][: i + 1])
                        if name == "cumulative"
                        else set(labels) - {study}
                    )
                    ni = rows["ni"][[x in keep for x in labels]].to_numpy(float)
                    expected.append(100 * back_transform("PFT", [model[i]], ni=ni)[0])
                expected = np.asarray(expected)
            else:
                expected = reader_scale(measure).factor * model
            np.testing.assert_allclose(g["estimate"], expected, rtol=1e-9, err_msg=aid)
            assert set(g["scale"]) == {reader_scale(measure).name}
            assert list(g["study"]) == list(block["study"])


def test_rr_leave_one_out_reads_as_ratios(run):
    _, out, _, by_id = run
    t = _csv(out, "leave_one_out")
    rr = t[t["analysis_id"] == "ais_improved_rr"]
    assert len(rr) == 3 and (rr["estimate"] > 1).all()
    assert (rr["ci_lb"] <= rr["estimate"]).all() and (rr["estimate"] <= rr["ci_ub"]).all()


def test_results_json_leave_one_out_and_cumulative_carry_the_reader_scale(run):
    """results.json's leave-one-out and cumulative blocks (model scale) name that scale and
    carry the estimates back-transformed (RR, proportions): closed forms exp and expit, and
    the same numbers as the CSV tables."""
    _, out, _, by_id = run
    seen = set()
    for name in ("leave_one_out", "cumulative"):
        t = _csv(out, name)
        for aid, g in t.groupby("analysis_id", sort=False):
            block = by_id[aid]["robustness"][name]
            measure = by_id[aid]["measure"]
            bt = block["back_transformed"]
            assert block["model_scale"] == reader_scale(measure).model
            for f in ("estimate", "ci_lb", "ci_ub"):
                model = np.asarray(block[f], float)
                if measure == "RR":
                    np.testing.assert_allclose(bt[f], np.exp(model), rtol=1e-12)
                    assert bt["scale"] == "risk ratio"
                elif measure == "PLO":
                    np.testing.assert_allclose(bt[f], 1 / (1 + np.exp(-model)), rtol=1e-12)
                    assert bt["scale"] == "proportion"
                shown = np.asarray(bt[f], float) * reader_scale(measure).factor
                np.testing.assert_allclose(g[f], shown, rtol=1e-12, err_msg=aid)
            seen.add(measure)
    assert {"RR", "PLO"} <= seen


def test_counts_are_integers_in_every_table(run):
    _, out, _, _ = run
    for csv in sorted((out / "tables").glob("*.csv")):
        t = pd.read_csv(csv, dtype=str, keep_default_na=False)
        for c in t.columns:
            # degrees of freedom are counts too (route_test_df printed "1.0")
            if c in COUNT_COLUMNS or c == "df" or c.endswith("_df"):
                bad = [v for v in t[c] if v and not re.fullmatch(r"\d+", v)]
                assert not bad, (csv.name, c, bad[:3])


def test_integer_counts_leaves_non_counts_alone():
    df = pd.DataFrame({"n": [14.0, None], "k": [1.5, 2.0], "mean": [14.0, 2.0]})
    out = integer_counts(df)
    assert str(out["n"].dtype) == "Int64" and out["n"].iloc[0] == 14
    assert out["k"].tolist() == [1.5, 2.0]  # not integral: left as it is
    assert out["mean"].dtype == float


class _Cells(HTMLParser):
    """Every table of a page: headers and the text of each row's cells."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[dict] = []
        self._cell: str | None = None
        self._span = 1
        self._head = False

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append({"headers": [], "rows": []})
        elif tag == "thead":
            self._head = True
        elif tag == "tr" and self.tables and not self._head:
            self.tables[-1]["rows"].append([])
        elif tag in ("th", "td") and self.tables:
            self._cell = ""
            self._span = int(dict(attrs).get("colspan") or 1)

    def handle_endtag(self, tag):
        if tag == "thead":
            self._head = False
        elif tag in ("th", "td") and self._cell is not None and self.tables:
            t = self.tables[-1]
            if self._head:
                t["headers"].append(self._cell.strip())
            elif t["rows"]:
                # a cell spanning columns (a note) belongs to none of them
                cells = [self._cell.strip()] if self._span == 1 else [None] * self._span
                t["rows"][-1].extend(cells)
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data


def _page_tables(out):
    html = (out / "report.html").read_text("utf-8")
    html = re.sub(r"<svg.*?</svg>", "", html, flags=re.S)
    p = _Cells()
    p.feed(html)
    return p.tables


def _numbers(cell: str) -> list[float]:
    return [float(x) for x in re.findall(r"-?\d+(?:\.\d+)?", cell.replace("−", "-"))]


def test_page_shows_no_log_ratio_as_a_ratio(run):
    _, out, _, by_id = run
    rr = by_id["ais_improved_rr"]["pooled"]
    logs = [rr[f] for f in ("estimate", "ci_lb", "ci_ub")]
    ratios = [rr["back_transformed"][f] for f in ("estimate", "ci_lb", "ci_ub")]
    shown = []
    for t in _page_tables(out):
        cols = [i for i, h in enumerate(t["headers"]) if re.search(r"\((RR|OR)\)", h)]
        for row in t["rows"]:
            for i in cols:
                if i < len(row) and row[i] is not None:
                    shown += _numbers(row[i])
    assert shown, "no column on the ratio scale in the page"
    assert all(v > 0 for v in shown)
    for log, ratio in zip(logs, ratios, strict=True):
        assert any(abs(v - ratio) < 0.006 for v in shown), ratio
        assert not any(abs(v - log) < 0.006 for v in shown), log
    # and no header offers a model-scale estimate as "estimate (RR)" without saying so
    headers = [h for t in _page_tables(out) for h in t["headers"]]
    assert "estimate (RR)" in headers
    assert not any(re.fullmatch(r"estimate \((log|logit).*", h) for h in headers)


COUNT_HEADERS = {"k", "Patients", "Patients measured", "Studies", "n_treated", "n_control"}
COUNT_HEADERS |= {"xi", "ni", "ai", "n1i", "ci", "n2i", "patients", "n", "k (ours)"}


def test_page_prints_counts_as_integers(run):
    _, out, _, _ = run
    checked = 0
    for t in _page_tables(out):
        cols = [i for i, h in enumerate(t["headers"]) if h in COUNT_HEADERS]
        for row in t["rows"]:
            for i in cols:
                # "n.r.": a study that does not report its number of patients
                if i < len(row) and row[i] not in (None, "", "–", "n.r."):
                    # "35 vs 29": a controlled study's treated and control patients
                    assert re.fullmatch(r"\d+( vs \d+)?", row[i]), (t["headers"][i], row[i])
                    checked += 1
    assert checked > 100


def test_page_names_studies_by_label(run):
    result, out, _, _ = run
    labels = result.study_labels
    html = (out / "report.html").read_text("utf-8")
    html = re.sub(r"<svg.*?</svg>|<script.*?</script>", "", html, flags=re.S)
    text = re.sub(r"<[^>]+>", " ", html)
    # evidence row references ("kishk-2010:4") name rows, not studies
    text = re.sub(r"\b[\w.-]+:\d+\b", " ", text)
    ids = [s for s, lab in labels.items() if s != lab and re.search(r"[-_]", s)]
    shown = [s for s in ids if re.search(rf"(?<![\w-]){re.escape(s)}(?![\w-])", text)]
    assert not shown, shown[:5]


def test_published_comparison_in_percent_for_proportions(run):
    _, out, _, by_id = run
    t = _csv(out, "published_comparison")
    prop = t[t["measure_theirs"] == "proportion"]
    assert len(prop) and set(prop["scale"]) == {"%"}
    for _, r in prop.iterrows():
        bt = by_id[r["analysis_id"]]["pooled"]["back_transformed"]
        assert r["ours"] == pytest.approx(100 * bt["estimate"], rel=READER_SCALE_RTOL)
        assert 1 < r["theirs"] <= 100  # the published share, in percent too
    rr = t[t["measure_theirs"] == "RR"]
    assert set(rr["scale"]) == {"RR"} and (rr["ours"] > 1).all()


def test_egger_limit_estimate_is_also_given_on_the_reader_scale(run):
    """Egger's limit estimate (the effect as the standard error goes to 0) is an effect on
    the model scale (log RR -0.24): the page adds it as a ratio, exp() of the numbers in
    results.json, and as a percentage for proportions (expit)."""
    _, out, _, by_id = run
    html = unescape((out / "report.html").read_text())
    eg = by_id["ais_improved_rr"]["robustness"]["egger"]
    rr = np.exp([eg["limit_estimate"], eg["limit_ci_lb"], eg["limit_ci_ub"]])
    assert (
        f"Limit estimate (as sei → 0) on the reader's scale (RR): {rr[0]:.2f} "
        f"({rr[1]:.2f} to {rr[2]:.2f})" in html
    )
    eg = by_id["ais_improved_prop"]["robustness"]["egger"]
    p = 100 / (1 + np.exp(-np.array([eg["limit_estimate"], eg["limit_ci_lb"], eg["limit_ci_ub"]])))
    assert (
        f"Limit estimate (as sei → 0) on the reader's scale (%): {p[0]:.1f} "
        f"({p[1]:.1f} to {p[2]:.1f})" in html
    )


def test_meta_regression_slope_also_reads_as_an_odds_ratio(run):
    """The dose slope on the logit scale (1.32) is also shown as an odds ratio per unit of
    log10 dose, exp() of the results.json coefficient and CI, the same numbers as the key
    message's odds ratio per tenfold higher dose."""
    _, out, results, by_id = run
    reg = by_id["ais_improved_prop"]["meta_regression"]["log_dose"]
    c = next(x for x in reg["coefficients"] if x["term"] == "log_dose")
    o = np.exp([c["estimate"], c["ci_lb"], c["ci_ub"]])
    html = unescape((out / "report.html").read_text())
    assert "<th>odds ratio per unit (CI)</th>" in html
    assert f'<td class="num">{o[0]:.2f} ({o[1]:.2f} to {o[2]:.2f})</td>' in html
    km = next(m for m in results["key_messages"] if m["id"] == "dose")["message"]
    assert f"odds ratio {o[0]:.2f} per tenfold higher dose (95% CI {o[1]:.2f}–{o[2]:.2f})" in km


def test_published_comparison_names_analyses_by_title_and_missing_cis(run):
    """The comparison with published meta-analyses names each analysis by its title (not
    its id) and says "not reported" where the publication gives no CI (Xu 2019's RR)."""
    result, out, results, _ = run
    html = unescape((out / "report.html").read_text())
    part = html[html.index("Our pooled numbers beside") :]
    part = part[: part.index("</table>")]
    rows = re.findall(r"<tr><td><a href=\"#a-([^\"]+)\">([^<]+)</a></td>(.*?)</tr>", part)
    assert len(rows) == len(results["comparisons"])
    for (aid, shown, rest), c in zip(rows, results["comparisons"], strict=True):
        assert aid == c["analysis_id"] and shown == result.analysis(aid).spec.title
        if c["theirs_ci_lb"] is None and c["theirs_ci_ub"] is None:
            assert '<td class="num">not reported</td>' in rest
    assert any(c["theirs_ci_lb"] is None for c in results["comparisons"])


def test_i2_prints_in_percent_with_one_decimal(run):
    """I² is a percentage: the pooled and subgroup tables print it with one decimal (82.1,
    not 82.0837), equal to results.json rounded."""
    _, out, _, by_id = run
    html = (out / "report.html").read_text()
    cells = re.findall(r'data-analysis="([^"]+)" data-field="I2">([^<]*)<', html)
    assert len(cells) >= 10
    for aid, text in cells:
        assert re.fullmatch(r"\d+\.\d", text), (aid, text)
        assert float(text) == pytest.approx(by_id[aid]["pooled"]["I2"], abs=0.05 + 1e-9)


def test_a_glmm_the_counts_cannot_identify_is_flagged_in_the_sensitivity_table(run):
    """A GLMM fit with events in one study only (0.0%, CI 0.0 to 100.0 without the derived
    counts; the serious-event main analysis) carries the warning in its table row, not only
    in the list of warnings further down; fits with events in several studies do not."""
    result, out, _, _ = run
    html = (out / "report.html").read_text()
    flagged = re.findall(
        r'<td>(?:<strong>)?([^<]+)(?:</strong>)?<br><span class="note caveat">events in (\d+) '
        r"of (\d+) studies only: the GLMM cannot separate",
        html,
    )
    rows = {
        "Reported counts only (derived lower bounds left out)": result.analysis("ae_any_prop")
        .sensitivity["exclude_derived_counts"]
        .rows,
        "Main analysis": result.analysis("ae_serious_prop").main.rows,
    }
    assert {t for t, _, _ in flagged} == set(rows)
    for title, events, k in flagged:
        r = rows[title]
        assert int(events) == int((r["xi"] > 0).sum()) == 1 and int(k) == len(r)


def test_natural_history_table_names_its_interval(run):
    """The per-study CI beside spontaneous recovery is the Wilson score interval (Bydon 2024,
    7/10: 39.7 to 89.2), not the forest plot's Clopper–Pearson (34.8 to 93.3): the header
    says which."""
    from scipy import stats

    _, out, _, _ = run
    html = unescape((out / "report.html").read_text())
    assert "<th>CI (%, Wilson score)</th>" in html
    # Wilson score interval of 7/10 at 95%: closed form
    z, n, p = stats.norm.ppf(0.975), 10, 0.7
    mid = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    t = _csv(out, "natural_history_comparison")
    row = t[(t["label"] == "Bydon 2024") & (t["analysis_id"] == "ais_improved_prop")].iloc[0]
    assert (row["xi"], row["ni"]) == (7, 10)
    assert row["ci_lb"] == pytest.approx(100 * (mid - half), rel=1e-9)
    assert row["ci_ub"] == pytest.approx(100 * (mid + half), rel=1e-9)


def test_inverse_variance_rows_say_when_they_disagree_with_the_glmm(run):
    """An inverse-variance sensitivity row of a GLMM analysis says in the row that it
    disagrees with the GLMM exactly when, from results.json, its estimate lies outside the
    GLMM's CI or a CI end differs by more than 5 percentage points."""
    result, out, _, by_id = run
    html = unescape((out / "report.html").read_text())
    seen = {True: 0, False: 0}
    for a in result.analyses:
        if a.main is None or a.spec.model != "glmm":
            continue
        g = by_id[a.spec.id]["pooled"]["back_transformed"]
        sec = html[html.index(f'id="a-{a.spec.id}"') :]
        sec = sec[sec.index("<h4>Sensitivity analyses</h4>") :]
        sec = sec[: sec.index("</table>")]
        for name, fit in a.sensitivity.items():
            if not name.startswith("iv_") or isinstance(fit, str):
                continue
            v = by_id[fit.id]["pooled"]["back_transformed"]
            outside = not (g["ci_lb"] <= v["estimate"] <= g["ci_ub"])
            gap = 100 * max(abs(g["ci_lb"] - v["ci_lb"]), abs(g["ci_ub"] - v["ci_ub"]))
            disagree = outside or gap > 5
            row = sec[sec.index(f"<td>{fit.title}") :]
            row = row[: row.index("</tr>")]
            assert ("disagrees with the GLMM" in row) == disagree, (fit.id, gap, outside)
            if gap > 5:
                assert f"a CI end differs by {gap:.1f} percentage points" in row
            seen[disagree] += 1
    assert seen[True] >= 2 and seen[False] >= 1
