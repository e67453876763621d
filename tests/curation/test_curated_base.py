"""The bundled evidence base is exactly what the curation script builds from its data files."""

from __future__ import annotations

from sci_evidence.evidence.bundled import DATA_DIR
from sci_evidence.evidence.columns import FRAME_NAMES


def test_rebuild_equals_bundled_byte_for_byte(curate, tmp_path):
    curate.write(curate.build(), tmp_path)
    for name in FRAME_NAMES:
        built = (tmp_path / f"{name}.csv").read_bytes()
        bundled = (DATA_DIR / f"{name}.csv").read_bytes()
        assert built == bundled, f"{name}.csv differs from the rebuild: run python tools/curate.py"


def test_curation_lives_outside_the_package():
    package = DATA_DIR.parent
    assert not (package / "curate.py").exists()
    assert not (DATA_DIR / "raw").exists()
    assert sorted(p.suffix for p in DATA_DIR.iterdir()) == [".csv"] * len(FRAME_NAMES) + [".md"]


# ----------------------------------------------------------------------------- corrected facts
import re  # noqa: E402

import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from sci_evidence.evidence import (  # noqa: E402
    load_evidence,
    possible_duplicates,
    primary_sources_only,
    prisma_counts,
    risk_of_bias,
    study_labels,
)
from sci_evidence.evidence.columns import RISK_OF_BIAS_DOMAINS, RISK_OF_BIAS_JUDGEMENTS  # noqa: E402
from sci_evidence.evidence.validate import validate_tables  # noqa: E402

AUDIT = DATA_DIR.parents[3] / "tools" / "curation" / "raw" / "audit"


@pytest.fixture(scope="module")
def ev():
    return load_evidence(None)


def _study(ev, sid):
    return ev.studies.set_index("study_id").loc[sid]


def test_tien_2019_is_controlled_with_its_real_arm_sizes(ev):
    s = _study(ev, "tien-2019")
    assert bool(s["controlled"]) and s["n_arms"] == 2 and s["n_total"] == 47
    assert s["design"] == "controlled_unclear" and s["label"] == "Tien 2019"
    arms = ev.arms[ev.arms["study_id"] == "tien-2019"].set_index("role")["n"]
    assert arms["treated"] + arms["control"] == 47 and arms["treated"] == 31
    # the route the review table gives is not supported by the primary abstract
    assert ev.arms.set_index("arm_id").at["tien-2019:treated", "route_group"] == "unknown"
    assert "tien-2019:route" in set(ev.conflicts["conflict_id"])


def test_kishk_2010_encephalomyelitis_is_a_serious_adverse_event(ev):
    ae = ev.adverse_events[ev.adverse_events["study_id"] == "kishk-2010"]
    adem = ae[ae["ae_type"] == "acute_disseminated_encephalomyelitis"]
    assert len(adem) == 1
    assert adem.iloc[0]["severity"] == "serious" and adem.iloc[0]["patients"] == 1
    assert adem.iloc[0]["n"] == 44 and _study(ev, "kishk-2010")["n_total"] == 64
    motor = ev.outcomes[(ev.outcomes["study_id"] == "kishk-2010")]
    assert motor["flags"].str.contains("population_unclear").all()


def test_dai_2013_jtm_is_present_beside_the_brain_res_trial(ev):
    b = _study(ev, "dai-2013b")
    assert b["journal"] == "J Transl Med 11:315" and b["pmid"] == "24355001"
    assert b["label"] == "Dai 2013b" and _study(ev, "dai-2013a")["label"] == "Dai 2013a"
    o = ev.outcomes[ev.outcomes["study_id"] == "dai-2013b"]
    tr = o[o["outcome"] == "ais_transition"].set_index(["from_grade", "to_grade"])["count"]
    assert (tr[("A", "B")], tr[("B", "C")]) == (7, 3)
    assert tr[("A", "A")] + tr[("B", "B")] + tr[("C", "C")] == 8  # "AIS=: 8"
    # the Brain Res counts rest on a clinic web summary and are marked so
    dai_a = ev.outcomes[ev.outcomes["study_id"] == "dai-2013a"]
    assert set(dai_a["source_tier"]) == {"non_scholarly"}


def test_the_duplicate_pair_is_flagged(ev):
    dup = possible_duplicates(ev)
    assert list(zip(dup["study_id"], dup["duplicate_of"], strict=True)) == [
        ("zhang-2015b", "guo-2014")
    ]
    assert "possible_duplicate" in _study(ev, "zhang-2015b")["flags"].split(";")
    assert "possible_duplicate" not in _study(ev, "guo-2014")["flags"].split(";")


def test_park_2012_primary_responders_six_of_ten(ev):
    o = ev.outcomes[
        (ev.outcomes["study_id"] == "park-2012")
        & (ev.outcomes["outcome"] == "motor_any_improvement_upper_limb")
    ]
    six = o[o["timepoint"] == "6 months"]
    assert len(six) == 1 and (six.iloc[0]["events"], six.iloc[0]["n"]) == (6, 10)
    assert six.iloc[0]["source_tier"] == "primary"
    assert "https://metajournal.com/articles/118556" in six.iloc[0]["source_key"]
    assert (o["events"] == 3).any()  # the long-term 3/10 is kept


def test_new_pooling_rows_carry_their_url_and_quote(ev):
    audit = pd.read_csv(AUDIT / "pooling_data.csv", dtype=str, keep_default_na=False)
    new_rows = set(audit.loc[audit["new_to_package"] == "yes", "row"].astype(int))
    assert len(new_rows) == 23
    cited: set[int] = set()
    for df in (ev.outcomes, ev.adverse_events):
        for where, url, quote in zip(
            df["where_in_source"], df["source_key"], df["verbatim"], strict=True
        ):
            m = re.search(r"pooling_data rows? (\d+)(?:-(\d+))?", where)
            if m:
                lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
                cited |= set(range(lo, hi + 1))
                assert url.startswith("http") and quote
    # all but the Lucknow 2019 RCT (mononuclear cells, between-arm differences only), which
    # is recorded as excluded in the PRISMA flow
    assert new_rows - cited == {59}
    excluded = ev.screening[(ev.screening["stage"] == "excluded")]
    assert "pubmed/31896919" in excluded.iloc[0]["source_key"]


def test_every_audit_finding_is_fixed_or_recorded_as_a_conflict(ev):
    findings = pd.read_csv(AUDIT / "mismatches.csv", dtype=str, keep_default_na=False)
    fixed = set()
    for where in ev.provenance["where_in_source"]:
        fixed |= set(re.findall(r"M\d\d", where))
    for name in ("studies", "arms", "outcomes", "adverse_events"):
        for where in getattr(ev, name)["where_in_source"]:
            fixed |= set(re.findall(r"M\d\d", where))
    conflicts = set(ev.conflicts["audit_ref"])
    open_ = set(findings["mm_id"]) - fixed - conflicts
    # M25 (first authors in no text that could be read) is recorded per study as a gap
    assert open_ == set()
    for _, c in ev.conflicts.iterrows():
        assert c["source_used"].startswith("http") and c["source_other"].startswith("http")
        assert c["quote_used"] and c["quote_other"] and c["decision"]


def test_labels_are_surname_year_and_ids_are_slugs(ev):
    labels = study_labels(ev)
    assert len(set(labels.values())) == len(labels)
    for sid, label in labels.items():
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", sid), sid
        assert label and not re.search(r"_|pmc\d|[a-z]+\d{4}", label), label
    years = zip(ev.studies["study_id"], ev.studies["year"], strict=True)
    named = {s for s, y in years if pd.notna(y)}
    surname_year = [labels[s] for s in named if re.fullmatch(r"\S.* \d{4}[a-z]?", labels[s])]
    assert len(surname_year) >= 33
    assert labels["zhang-2015a"] == "Zhang 2015a" and labels["zhang-2015b"] == "Zhang 2015b"


def test_every_included_study_has_risk_of_bias_per_domain_with_a_source(ev):
    rob = ev.risk_of_bias
    included = set(ev.screening.query("review == 'bundled' and stage == 'included'")["study_id"])
    included.discard("")
    assert included == set(ev.studies["study_id"])
    for sid in included:
        rows = rob[rob["study_id"] == sid]
        tool = rows["tool"].iloc[0]
        assert list(rows["domain"]) == list(RISK_OF_BIAS_DOMAINS[tool]), sid
        for _, r in rows.iterrows():
            assert r["judgement"] in RISK_OF_BIAS_JUDGEMENTS[tool], (sid, r["domain"])
            assert r["judgement"] != "not_assessed"
            assert r["source_url"].startswith("http") and r["verbatim"] and r["support"]
    design_tool = dict(zip(ev.studies["study_id"], ev.studies["design"], strict=True))
    overall = risk_of_bias(ev).set_index("study_id")
    assert all(overall["domains"] > 0)
    for sid, row in overall.iterrows():
        expected = {"rct": "RoB2", "non_randomised_controlled": "ROBINS-I"}.get(
            design_tool[sid], "ROBINS-I" if design_tool[sid] == "controlled_unclear" else "MINORS"
        )
        assert row["tool"] == expected, sid


@pytest.mark.parametrize(
    ("tool", "domains", "expected"),
    [
        ("RoB2", ["low"] * 5, "low"),
        ("RoB2", ["low", "some_concerns", "low", "low", "low"], "some_concerns"),
        ("RoB2", ["some_concerns", "high", "low", "low", "low"], "high"),
        ("ROBINS-I", ["low", "moderate", "low", "low", "low", "low", "low"], "moderate"),
        ("ROBINS-I", ["serious", "no_information", "low", "low", "low", "low", "low"], "serious"),
        (
            "ROBINS-I",
            ["moderate", "no_information", "low", "low", "low", "low", "low"],
            "no_information",
        ),
        ("ROBINS-I", ["critical", "serious", "low", "low", "low", "low", "low"], "critical"),
        ("MINORS", ["2"] * 6 + ["1", "0"], "low"),
        ("MINORS", ["2"] * 4 + ["1", "0", "0", "0"], "moderate"),
        ("MINORS", ["2"] * 4 + ["0"] * 4, "high"),
    ],
)
def test_overall_judgement_follows_the_tools_algorithm(curate, tool, domains, expected):
    rob = curate._sibling("curate_rob")
    assert rob.overall(tool, domains)[0] == expected


def test_prisma_counts_add_up(ev):
    flow = prisma_counts(ev)
    assert flow.inconsistencies() == []
    for stage in ("identified", "duplicates_removed", "screened", "records_excluded"):
        assert getattr(flow, stage) is not None, stage
    assert flow.identified - flow.duplicates_removed == flow.screened
    assert flow.screened - flow.records_excluded == flow.sought
    assert flow.sought - flow.not_retrieved == flow.assessed
    assert flow.assessed - flow.excluded == flow.included == len(ev.studies) == 40
    assert sum(flow.sources.values()) == flow.identified
    assert sum(flow.excluded_reasons.values()) == flow.excluded
    assert sum(flow.not_retrieved_reasons.values()) == flow.not_retrieved == 3


def test_prisma_inconsistencies_are_found():
    from sci_evidence.evidence.appraisal import PrismaFlow

    bad = PrismaFlow("x", identified=10, duplicates_removed=2, screened=7)
    assert bad.inconsistencies() == ["identified 10 − duplicates_removed 2 ≠ screened 7"]


def test_montoto_anchor_methods_flow_and_candidates(ev):
    flow = prisma_counts(ev, "montoto2023")
    assert (flow.identified, flow.included) == (53, 22)
    assert flow.included_by_design == {"clinical trial": 21, "case series": 1}
    assert set(flow.sources) == {
        "PubMed, searched until February 2023",
        "Cochrane, searched until February 2023",
    }
    cand = ev.review_candidates
    assert len(cand) == 33 and (cand["review"] == "montoto2023").all()
    # no candidate's inclusion is confirmed: its list could not be read
    assert not cand["inclusion_status"].str.contains("^confirmed", regex=True).any()
    eligible = cand[cand["eligible"].str.startswith("yes")]
    assert len(eligible) == 22
    assert (eligible["inclusion_status"].str.startswith("not confirmed")).all()
    assert set(cand["study_id"]) >= {"dai-2013b", "tien-2019", "pal-2009"}


def test_primary_sources_only_selects_primary_rows(ev):
    prim = primary_sources_only(ev.outcomes)
    assert (prim["source_tier"] == "primary").all() and 0 < len(prim) < len(ev.outcomes)
    liu = ev.outcomes[
        (ev.outcomes["study_id"] == "liu-2013") & (ev.outcomes["outcome"] == "motor_total")
    ]
    assert set(liu["source_tier"]) == {"secondary"}
    assert set(ev.outcomes["source_tier"]) <= {"primary", "secondary", "non_scholarly"}


def test_bundled_base_passes_validation(ev):
    from sci_evidence.evidence.io import RawTable, frame_as_text

    tables = [
        RawTable(name, frame_as_text(df, name), f"bundled[{name}]", tuple(range(2, len(df) + 2)))
        for name, df in ev.frames().items()
        if len(df)
    ]
    assert validate_tables(tables).errors == ()


def test_anchor_comparison_says_the_list_is_not_reconstructed(ev):
    from sci_evidence.evidence import anchor_comparison

    a = anchor_comparison(ev)
    assert (a.stated_identified, a.stated_included, a.confirmed) == (53, 22, 0)
    assert not a.reconstructed and a.to_dict()["reconstructed"] is False
    assert len(a.eligible) == 22 == len(a.eligible_in_base) + len(a.eligible_not_in_base)
    assert set(a.eligible_not_in_base) == {"Albu 2021", "Honmou 2021"}
    assert "zhang-2015b" in a.base_not_candidates and "tien-2019" not in a.base_not_candidates


def test_a_value_is_primary_when_any_source_is(curate):
    tiers = {"S_a": "secondary", "S_b": "primary", "S_c": "non_scholarly"}
    assert curate.source_tier("S_a;S_b", tiers) == "primary"
    assert curate.source_tier("S_a;S_c", tiers) == "secondary"
    assert curate.source_tier("S_c", tiers) == "non_scholarly"
    assert curate.source_tier("", tiers) == ""
    assert curate.source_tier("https://example.org/paper", tiers) == "primary"
    with pytest.raises(ValueError, match="without a tier"):
        curate.source_tier("S_unknown", tiers)


def test_an_edit_that_names_no_row_fails_loudly(curate):
    frames = {"studies": ev_frames()["studies"]}
    edit = dict(table="studies", key="nobody-1999", field="notes", value="x", audit_ref="M99")
    with pytest.raises(ValueError, match="M99: no single studies row 'nobody-1999'"):
        curate.apply_edits(frames, [edit])


def ev_frames():
    return load_evidence(None).frames()


def test_every_cited_source_resolves_to_an_address(ev):
    src = ev.sources.set_index("source_key")
    assert src.index.is_unique
    for name in ("studies", "arms", "outcomes", "adverse_events", "provenance"):
        for keys in getattr(ev, name)["source_key"]:
            for key in (k.strip() for k in keys.split(";") if k.strip()):
                assert key in src.index, (name, key)
                assert src.at[key, "url"].startswith("http"), key
                assert src.at[key, "tier"] in ("primary", "secondary", "non_scholarly"), key
