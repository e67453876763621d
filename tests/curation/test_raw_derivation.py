"""The first curation stage (``tools/curate_raw.py``): values re-derived from the raw extraction
files (``tools/curation/raw/``) under their original ids, before the audit's corrections."""

from __future__ import annotations

import math
import re

import pandas as pd
import pytest

from sci_evidence.evidence import FRAME_NAMES, FRAMES, load_evidence
from sci_evidence.evidence.bundled import DATA_DIR
from sci_evidence.evidence.io import RawTable, frame_as_text
from sci_evidence.evidence.model import EvidenceSet
from sci_evidence.evidence.validate import validate_tables

from .conftest import load_curate

curate = load_curate().__dict__["_sibling"]("curate_raw")
RAW = curate.RAW_DIR


@pytest.fixture(scope="module")
def ev():
    """The frames of the first stage (original ids; no corrections yet)."""
    return EvidenceSet.from_frames(curate.build(), origin="curate_raw")


@pytest.fixture(scope="module")
def bundled():
    return load_evidence(None)


@pytest.fixture(scope="module")
def raw_studies():
    return pd.read_csv(RAW / "studies_raw.csv", dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def raw_outcomes():
    return pd.read_csv(RAW / "outcomes_raw.csv", dtype=str, keep_default_na=False)


def test_frames_have_documented_columns_and_dtypes(bundled):
    ev = bundled
    for name in FRAME_NAMES:
        df = getattr(ev, name)
        assert list(df.columns) == [c for c, _ in FRAMES[name]], name
        for col, kind in FRAMES[name]:
            dtype = str(df[col].dtype)
            expected = {"str": "object", "int": "Int64", "float": "float64", "bool": "boolean"}
            assert dtype == expected[kind], (name, col, dtype)
            if kind == "str":
                assert not df[col].isna().any(), (name, col)
    assert re.fullmatch(r"[0-9a-f]{64}", ev.data_hash)


def test_schema_doc_lists_every_column():
    doc = (DATA_DIR.parents[3] / "docs" / "evidence_schema.md").read_text()
    for name, cols in FRAMES.items():
        assert f"`{name}`" in doc, name
        for col, _ in cols:
            if col in ("source_key", "where_in_source", "verbatim", "status"):
                continue
            assert col in doc, (name, col)


def test_every_study_of_the_raw_files_is_there(ev, raw_studies, raw_outcomes):
    ids = set(ev.studies["study_id"])
    assert set(raw_studies["study_id"]) <= ids
    assert set(raw_outcomes["study_id"]) <= ids
    assert len(ids) == 35 == len(ev.studies)  # 31 + 4 known only from outcomes_raw
    assert ev.studies["study_id"].is_unique and ev.arms["arm_id"].is_unique


def test_arm_sizes_are_the_raw_leading_numbers(ev, raw_studies):
    arms = ev.arms.set_index("arm_id")
    for _, r in raw_studies.iterrows():
        m = re.match(r"\d+", r["n_treated"])
        a = arms.loc[f"{r['study_id']}:treated"]
        if "efficacy" in r["n_treated"]:
            # "11 (safety); 9 (efficacy)": n is the efficacy set, n_safety the first number
            assert a["n_safety"] == int(m.group()) and a["n"] == int(
                re.search(r"(\d+) \(efficacy\)", r["n_treated"]).group(1)
            )
        else:
            assert a["n"] == int(m.group()), r["study_id"]
        assert a["n_verbatim"] == r["n_treated"]
        if r["n_control"]:
            controls = ev.arms[
                (ev.arms["study_id"] == r["study_id"]) & (ev.arms["role"] == "control")
            ]
            nums = [int(x) for x in re.findall(r"(\d+) (?:rehabilitation|blank)", r["n_control"])]
            expected = sum(nums) if nums else int(re.match(r"\d+", r["n_control"]).group())
            assert int(controls["n"].sum()) == expected, r["study_id"]


def test_outcome_rows_match_raw_numbers(ev, raw_outcomes):
    """Every raw outcome row (not AE, not design) is in `outcomes` with the same numbers."""
    o = ev.outcomes
    raw = raw_outcomes[~raw_outcomes["outcome"].str.startswith(("ae_", "design_"))]
    assert (o["outcome_verbatim"] != "(sum of ais_transition rows)").sum() >= len(raw)
    for _, r in raw.iterrows():
        cand = o[
            (o["study_id"] == r["study_id"])
            & (o["outcome_verbatim"] == r["outcome"])
            & (o["timepoint"] == r["timepoint"])
            & (o["verbatim"] == r["verbatim"])
        ]
        assert len(cand) >= 1, (r["study_id"], r["outcome"])
        row = (
            cand.iloc[0]
            if len(cand) == 1
            else cand[cand["count"].astype("float").fillna(-1) == float(r["count"] or -1)].iloc[0]
        )
        for col in ("n", "mean", "sd", "events", "count"):
            want = float(r[col]) if r[col] else math.nan
            got = row[col]
            got = math.nan if pd.isna(got) else float(got)
            assert (math.isnan(want) and math.isnan(got)) or want == got, (r["study_id"], col)


def test_adverse_event_rows_match_raw(ev, raw_outcomes):
    raw = raw_outcomes[raw_outcomes["outcome"].str.startswith("ae_")]
    ae = ev.adverse_events
    from_raw = ae[ae["ae_verbatim"].str.startswith("ae_")]
    assert len(from_raw) == len(raw) == 27
    yang = ae[(ae["study_id"] == "yang2021")].set_index("ae_type")
    # percentages only: never converted to counts (denominator not stated)
    assert yang.loc["fever", "percent"] == 14.1 and pd.isna(yang.loc["fever", "patients"])
    assert yang.loc["muscle_tension_increase", "percent"] == 1.6
    assert (yang["severity"] == "mild").all()
    hur = ae[(ae["study_id"] == "hur2016") & (ae["ae_type"] == "any")].iloc[0]
    assert (hur["patients"], hur["events"]) == (3, 4)
    csf = ae[(ae["study_id"] == "mendonca2014") & (ae["ae_type"] == "csf_leak")].iloc[0]
    assert csf["relation"] == "procedure"


def test_tien_transitions_and_derived_responders(ev, raw_studies):
    o = ev.outcomes[ev.outcomes["study_id"] == "tien2019"]
    tr = o[o["outcome"] == "ais_transition"].set_index("to_grade")["count"].to_dict()
    assert tr == {"B": 10, "C": 1, "D": 2, "A": 16}
    assert sum(tr.values()) == 29  # as printed: 2 of 31 unaccounted
    assert "counts_do_not_add_up" in o["flags"].iloc[0]
    resp = o[o["outcome"] == "ais_improved"].iloc[0]
    assert (resp["events"], resp["n"], resp["status"]) == (13, 31, "derived")
    raw = raw_studies.set_index("study_id").loc["tien2019", "AIS_improved_treated"]
    assert raw.startswith("13/31")


def test_responders_from_studies_raw_and_by_grade(ev):
    o = ev.outcomes
    imp = o[(o["outcome"] == "ais_improved") & (o["subgroup"] == "")].set_index("arm_id")
    assert (imp.loc["dai2013:treated", "events"], imp.loc["dai2013:treated", "n"]) == (9, 20)
    assert imp.loc["dai2013:treated", "status"] == "unverified"  # secondary summary
    assert (imp.loc["elkheir2014:treated", "events"], imp.loc["elkheir2014:control", "events"]) == (
        17,
        0,
    )
    assert (imp.loc["jiang2013:treated", "events"], imp.loc["jiang2013:treated", "n"]) == (15, 20)
    by_grade = o[(o["study_id"] == "jiang2013") & (o["baseline_grade"] != "")]
    got = {r.baseline_grade: (r.events, r.n) for r in by_grade.itertuples()}
    assert got == {"A": (4, 8), "B": (3, 4), "C": (8, 8)}
    # non-AIS "improvement" is kept apart and flagged
    comp = o[o["outcome"] == "composite_improved"]
    assert comp["flags"].str.contains("not_ais_grade").all()
    assert set(comp["study_id"]) == {"cheng2014", "liu2013"}


def test_flags_and_corrections(ev):
    s = ev.studies.set_index("study_id")
    a = ev.arms.set_index("arm_id")
    assert "not_culture_expanded_msc" in a.loc["kakabadze2016:treated", "flags"]
    assert (
        a.loc["kakabadze2016:treated", "is_culture_expanded_msc"] is False
        or not a.loc["kakabadze2016:treated", "is_culture_expanded_msc"]
    )
    assert "combination_product" in s.loc["scrt2021_schwann_bmmsc", "flags"]
    assert "msc_subpopulation" in s.loc["muse_cl2020_2024", "flags"]
    # the known Vaquero registry correction (raw README)
    assert s.loc["vaquero2017", "registry_id"].startswith("NCT02165904")
    assert "NCT02570932" not in s.loc["vaquero2017", "registry_id"]
    assert s.loc["vaquero2018", "registry_id"] == "NCT02570932"
    prov = ev.provenance
    p = prov[(prov["key"] == "vaquero2017") & (prov["field"] == "registry_id")].iloc[0]
    assert p["status"] == "interpreted" and "corrected" in p["verbatim"]
    # secondary-only rows are marked unverified
    assert (s.loc[s.index.str.endswith("_chen"), "status"] == "unverified").all()
    # the "as printed" implausible doses are not turned into numbers
    assert pd.isna(a.loc["zhang2015bm_chen:treated", "dose_cells"])
    assert "dose_as_printed" in a.loc["zhang2015bm_chen:treated", "flags"]


def test_doses_routes_phases(ev):
    a = ev.arms.set_index("arm_id")
    assert a.loc["oh2016:treated", "dose_cells"] == 4.8e7  # 1.6e7 + 3.2e7, derived
    assert a.loc["oh2016:treated", "dose_status"] == "derived"
    assert (a.loc["satti2016:treated", "dose_cells"], a.loc["satti2016:treated", "dose_unit"]) == (
        1.2e6,
        "cells/kg",
    )
    assert a.loc["park2012:treated", "route"] == "intralesional+intrathecal"
    assert a.loc["park2012:treated", "route_group"] == "combination"
    assert a.loc["kabatas2021:treated", "route"] == "intramuscular+intrathecal+intravenous"
    assert a.loc["satti2016:treated", "injury_phase"] == "mixed"
    assert a.loc["tien2019:treated", "injury_phase"] == "acute"
    assert a.loc["hur2016:treated", ["ais_a", "ais_b", "ais_d"]].tolist() == [12, 1, 1]
    z = a.loc["zhang2019_chen:treated"]
    assert [z.ais_a, z.ais_b, z.ais_c, z.ais_d] == [0, 16, 20, 14]
    assert [z.n_cervical, z.n_thoracic, z.n_lumbar] == [0, 42, 8]
    assert (z.n_male, z.n_female, z.age_mean, z.age_sd) == (30, 20, 41.26, 9.74)
    # every dose has a unit, every route is in the vocabulary
    treated = ev.arms[ev.arms["role"] == "treated"]
    assert (treated["dose_cells"].isna() | (treated["dose_unit"] != "")).all()


def test_natural_history_scores_equal_raw():
    ev = load_evidence(None)
    raw = pd.read_csv(RAW / "natural_history_scores.csv")
    s = ev.natural_history_scores
    assert len(s) == len(raw) == 236
    assert (s["mean"].to_numpy() == raw["mean"].to_numpy()).all()
    assert (s["n"].astype(int).to_numpy() == raw["n"].to_numpy()).all()
    assert set(s["outcome"]) == {"motor_total", "uems", "lems", "lt_total", "pp_total"}


def test_natural_history_conversion_values(ev):
    c = ev.natural_history_conversion
    marino = c[(c["source"] == "Marino 1999 (SCIMS)") & (c["baseline_grade"] == "A")]
    anyc = marino[marino["endpoint"] == "improved"].iloc[0]
    assert (anyc["n"], anyc["percent"]) == (482, 15.4)
    # count derived only because exactly one integer rounds to the printed percent
    assert anyc["count"] == 74 and anyc["status"] == "derived"
    assert round(100 * 74 / 482, 1) == 15.4
    fawcett = c[c["source"].str.startswith("Fawcett")]
    assert fawcett["n"].isna().all() and fawcett["count"].isna().all()  # n.r.
    k16 = c[
        (c["source"] == "Kirshblum 2016 (SCIMS)")
        & (c["baseline_grade"] == "C")
        & (c["population"] == "all")
    ]
    d = k16[(k16["endpoint"] == "to_grade") & (k16["to_grade"] == "D")].iloc[0]
    assert (d["n"], d["percent"]) == (109, 72.5)
    imp = k16[k16["endpoint"] == "improved"].iloc[0]
    assert imp["percent"] == 72.5 and imp["status"] == "derived"
    ariji = c[c["source"].str.startswith("Ariji")].iloc[0]
    assert (ariji["n"], ariji["count"], ariji["percent"]) == (80, 15, 18.8)
    assert set(c["level_group"]) <= {"tetraplegia", "paraplegia", "all", "other"}


def test_published_pooled_and_screening(ev):
    p = ev.published_pooled
    shang = p[(p["review"] == "shang2022") & (p["outcome"] == "ais_improved")].iloc[0]
    assert (shang["estimate"], shang["ci_lb"], shang["ci_ub"], shang["k_studies"]) == (
        0.489,
        0.408,
        0.569,
        62,
    )
    chen = p[
        (p["review"] == "chen2021")
        & (p["comparison"].str.startswith("autologous"))
        & (p["outcome"] == "motor_total")
    ].iloc[0]
    assert (chen["estimate"], chen["ci_lb"], chen["ci_ub"]) == (8.01, 4.27, 11.76)
    xu = p[(p["review"] == "xu2019") & (p["measure"] == "RR") & (p["outcome"] == "ais_improved")]
    assert sorted(xu["estimate"]) == [3.57, 3.70]
    assert p["I2"].isna().all()  # none in any excerpt: not invented
    sc = ev.screening
    m = sc[sc["review"] == "montoto2023"].set_index("stage")["count"]
    assert (m["identified"], m["included"]) == (53, 22)
    assert len(sc[sc["review"] == "bundled"]) == len(ev.studies)


def test_risk_of_bias_is_empty_not_invented(ev):
    assert len(ev.risk_of_bias) == 0
    assert list(ev.risk_of_bias.columns) == [c for c, _ in FRAMES["risk_of_bias"]]


def test_bundled_data_passes_validation(bundled):
    ev = bundled
    tables = [
        RawTable(
            name,
            frame_as_text(getattr(ev, name), name),
            f"bundled[{name}]",
            tuple(range(2, len(getattr(ev, name)) + 2)),
        )
        for name in FRAME_NAMES
        if len(getattr(ev, name))
    ]
    rep = validate_tables(tables)
    assert rep.errors == (), rep.summary()
    # the known soft problems are reported as warnings (partial/odd transitions, missing n)
    assert any("29 of n=31" in w.message for w in rep.warnings)


def test_evidence_set_api(bundled):
    ev = bundled
    d = ev.to_dict()
    import json

    json.dumps(d)  # JSON-safe
    assert d["data_hash"] == ev.data_hash
    assert "40 studies" in ev.summary()
    wide = ev.to_frame()
    assert len(wide) == len(ev.arms) and "first_author" in wide.columns
    st = ev.study("tien-2019")
    assert st["study"]["label"] == "Tien 2019" and len(st["arms"]) == 2
    from sci_evidence.errors import NotFoundError

    with pytest.raises(NotFoundError):
        ev.study("nope")
    from dataclasses import FrozenInstanceError

    with pytest.raises(FrozenInstanceError):
        ev.studies = None  # frozen


def test_timepoint_parsing():
    f = curate.parse_timepoint_months
    assert f("12 months") == 12 and f("baseline (before injection)") == 0
    assert f("week 24") == round(24 * 7 / 30.4375, 4)
    assert f("final follow-up (2 years)") == 24
    for text in ("12-33 months", "3 and 6 months", "4 weeks vs later", "follow-up", "~1 year+"):
        assert math.isnan(f(text)), text


def test_numbers_from_free_text_columns(ev, raw_studies):
    o = ev.outcomes
    satti = o[(o["study_id"] == "satti2016") & (o["outcome"] == "ais_improved")].iloc[0]
    assert (satti["events"], satti["n"], satti["subgroup"]) == (0, 4, "chronic")
    assert "none of 4 chronic pts" in satti["verbatim"]
    kishk = o[(o["study_id"] == "kishk2010") & (o["outcome"] == "motor_total")]
    raw = raw_studies.set_index("study_id").loc["kishk2010"]
    assert (
        raw["motor_score_pre"].startswith("48.7 (9.1)") and raw["motor_score_post"] == "49.3 (9.2)"
    )
    assert kishk[["mean", "sd"]].values.tolist() == [[48.7, 9.1], [49.3, 9.2]]
    assert (kishk["status"] == "interpreted").all() and kishk["n"].isna().all()
