"""`sci-evidence review --compare PREVIOUS_DIR`: what changed since an earlier run
(review/compare.py), checked on evidence changed by hand: a study removed, a count changed."""

from __future__ import annotations

import copy
import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))

from support.cli_run import run  # noqa: E402

REMOVED = "tien-2019"  # a single-arm study in the AIS analysis
CHANGED = "dai-2013b"  # its AIS improvement count goes 10/18 -> 14/18


def _changed_evidence():
    """The bundled evidence with one study removed and one AIS count changed."""
    from sci_evidence.evidence import load_evidence
    from sci_evidence.evidence.model import EvidenceSet

    ev = load_evidence()
    frames = {}
    for name, df in ev.frames().items():
        if "study_id" in df.columns:
            df = df[df["study_id"] != REMOVED].reset_index(drop=True)
        frames[name] = df
    o = frames["outcomes"].copy()
    m = (o["study_id"] == CHANGED) & (o["outcome"] == "ais_improved")
    assert m.sum() == 1 and int(o.loc[m, "events"].iloc[0]) == 10
    o.loc[m, "events"] = 14
    frames["outcomes"] = o
    return EvidenceSet.from_frames(frames)


@pytest.fixture(scope="module")
def previous(bundled_run):
    from sci_evidence.review.compare import load_previous

    _, out = bundled_run
    return load_previous(out)


@pytest.fixture(scope="module")
def changed_review():
    from sci_evidence.review.pipeline import run_review
    from sci_evidence.review.protocol import load_protocol

    return run_review(_changed_evidence(), load_protocol())


def test_the_same_evidence_twice_reports_no_changes(bundled_run, previous):
    from sci_evidence.evidence import load_evidence
    from sci_evidence.review.compare import compare_results
    from sci_evidence.review.pipeline import run_review

    again = run_review(load_evidence(), bundled_run[0].protocol)
    c = compare_results(again.to_dict(), previous, previous_dir="prev")
    assert c.no_changes, c.summary()
    assert c.n_estimates_compared == len(previous["analyses"]) > 10
    assert c.summary().startswith("No changes since prev")
    d = c.to_dict()
    assert d["no_changes"] is True and d["estimates"] == [] and d["messages_changed"] == []
    assert d["data_hash"]["before"] == d["data_hash"]["after"] == again.record.data_hash


def test_data_hash_changes_only_with_the_content():
    from sci_evidence.evidence import load_evidence
    from sci_evidence.evidence.model import EvidenceSet

    a, b = load_evidence(), load_evidence()
    assert a.data_hash == b.data_hash
    # the same rows in another order (as a database may return them) keep the hash
    shuffled = {n: df.iloc[::-1].reset_index(drop=True) for n, df in a.frames().items()}
    assert EvidenceSet.from_frames(shuffled).data_hash == a.data_hash
    assert EvidenceSet.from_frames(a.frames()).data_hash == a.data_hash
    # one count changed changes it
    assert _changed_evidence().data_hash != a.data_hash


def test_every_kind_of_change_is_reported(bundled_run, previous, changed_review):
    from sci_evidence.review.compare import compare_results

    new = changed_review.to_dict()
    c = compare_results(new, previous, previous_dir="prev")
    assert not c.no_changes
    assert c.data_hash == (previous["data_hash"], changed_review.record.data_hash)
    assert c.data_changed and not c.protocol_changed
    # the study removed, by id with its label
    labels = bundled_run[0].study_labels
    assert c.studies_removed == ((REMOVED, labels[REMOVED]),) and c.studies_added == ()
    # the main AIS estimate before and after, on the reader's scale (proportions)
    by_id = {e.id: e for e in c.estimates}
    e = by_id["ais_improved_prop"]
    old = next(x for x in previous["analyses"] if x["id"] == "ais_improved_prop")["pooled"]
    now = next(x for x in new["analyses"] if x["id"] == "ais_improved_prop")["pooled"]
    for i, f in enumerate(("estimate", "ci_lb", "ci_ub")):
        assert e.before[i] == old["back_transformed"][f]
        assert e.after[i] == now["back_transformed"][f]
    assert e.scale == "proportion" and e.k_before == old["k"] and e.k_after == old["k"] - 1
    assert e.text_before.endswith("%)") and f"{100 * e.after[0]:.1f}%" in e.text_after
    # an unchanged analysis is not listed (the controlled RR does not involve either study)
    rr_old = next(x for x in previous["analyses"] if x["id"] == "ais_improved_rr")["studies"]
    assert {REMOVED, CHANGED}.isdisjoint(s["study_id"] for s in rr_old)
    assert "ais_improved_rr" not in by_id
    # the key messages drawing on the AIS analysis changed wording
    changed = {m[0] for m in c.messages_changed}
    assert {"ais_treated", "ais_vs_natural_history"} <= changed
    assert "ais_vs_control" not in changed
    msg = next(m for m in c.messages_changed if m[0] == "ais_treated")
    assert msg[2] != msg[3] and f"{100 * e.after[0]:.1f}%" in msg[3]
    # the other way round the study is added
    back = compare_results(previous, new)
    assert back.studies_added == ((REMOVED, labels[REMOVED]),)


def test_status_certainty_and_analyses_appearing(previous):
    """Changes the bundled data cannot make in one step, made in a copy of the document."""
    from sci_evidence.review.compare import compare_results

    old = copy.deepcopy(previous)
    new = copy.deepcopy(previous)
    g = next(x for x in old["grade"] if x["analysis_id"] == "ais_improved_prop")
    g["certainty"] = "moderate"
    np_ = {x["id"]: x for x in old["not_pooled"]}
    np_["motor_change"]["status"] = "no data"
    old["not_pooled"] = [x for x in old["not_pooled"] if x["id"] != "pp_md"]
    old["not_pooled"].append({"id": "gone", "title": "A gone analysis", "status": "no data"})
    old["protocol"]["level"] = 0.95
    old["run"]["protocol_hash"] = "0" * 64
    c = compare_results(new, old)
    assert ("ais_improved_prop", g["outcome"], "moderate", "very low") in c.certainty_changed
    assert c.status_changed == (
        ("motor_change", np_["motor_change"]["title"], "no data", "single study"),
    )
    assert [a[0] for a in c.analyses_appeared] == ["pp_md"]
    assert c.analyses_disappeared == (("gone", "A gone analysis", "no data"),)
    assert c.protocol_changed and not c.data_changed
    frame = c.to_frame()
    assert list(frame["change"]) == [
        "protocol hash", "analysis appeared", "analysis disappeared", "status", "certainty",
    ]  # fmt: skip
    assert frame.iloc[-1].tolist()[3:] == ["moderate", "very low"]
    text = c.summary()
    assert "certainty of" in text and "moderate → very low" in text and "pp_md" not in text


def test_a_document_of_an_older_version_is_compared_on_what_it_has(previous):
    from sci_evidence.review.compare import compare_results

    old = {k: v for k, v in previous.items() if k not in ("studies", "key_messages", "changes")}
    c = compare_results(previous, old)
    # studies named in the analyses, syntheses and exclusions are known; the rest "added"
    known = {s for s, _ in c.studies_added}
    assert known and known <= {s["study_id"] for s in previous["studies"]}
    assert not c.estimates and not c.certainty_changed
    assert len(c.messages_changed) == len(previous["key_messages"])
    assert all(m[2] is None for m in c.messages_changed)


def test_cli_compare_same_evidence_and_report_section(bundled_run, tmp_path, capsys):
    _, prev = bundled_run
    out = tmp_path / "again"
    code, stdout, err = run(["review", "--out", str(out), "-q", "--compare", str(prev)], capsys)
    assert code == 0, err
    assert f"No changes since {prev}" in stdout.replace("\n", "")
    d = json.loads((out / "results.json").read_text())
    assert d["changes"]["no_changes"] is True and d["changes"]["previous"] == str(prev)
    html = (out / "report.html").read_text()
    assert 'id="changes"' in html and 'id="no-changes"' in html
    # the report opens with the key messages, then the changes
    assert html.index('id="key-messages"') < html.index('id="changes"') < html.index('id="summary"')
    nav = html[html.index("<nav>") : html.index("</nav>")]
    assert nav.index('href="#key-messages"') < nav.index('href="#changes"') < nav.index("#summary")
    # without --compare the block is null and the section absent
    d0 = json.loads((prev / "results.json").read_text())
    html0 = (prev / "report.html").read_text()
    assert d0["changes"] is None and 'id="changes"' not in html0 and 'href="#changes"' not in html0


def test_cli_compare_lists_changed_estimates(bundled_run, tmp_path, capsys):
    """A previous folder whose results.json differs by hand: the report lists the changes."""
    _, prev = bundled_run
    old = json.loads((prev / "results.json").read_text())
    e = next(x for x in old["analyses"] if x["id"] == "ais_improved_prop")
    e["pooled"]["back_transformed"]["estimate"] = 0.5
    e["pooled"]["k"] = 11
    old["studies"].append({"study_id": "ghost-2001", "label": "Ghost 2001"})
    m = next(x for x in old["key_messages"] if x["id"] == "motor")
    m["message"] = "An older wording."
    folder = tmp_path / "prev"
    folder.mkdir()
    (folder / "results.json").write_text(json.dumps(old))
    out = tmp_path / "new"
    code, stdout, err = run(["review", "--out", str(out), "-q", "--compare", str(folder)], capsys)
    assert code == 0, err
    line = stdout.replace("\n", "")
    assert "1 study removed" in line and "1 pooled estimate changed" in line
    assert "1 key message reworded" in line
    c = json.loads((out / "results.json").read_text())["changes"]
    assert c["studies_removed"] == [{"study_id": "ghost-2001", "label": "Ghost 2001"}]
    assert [x["id"] for x in c["estimates"]] == ["ais_improved_prop"]
    assert c["estimates"][0]["before"][0] == 0.5 and c["estimates"][0]["k_before"] == 11
    assert c["estimates"][0]["text_before"].startswith("50.0% (95% CI ")
    assert [x["id"] for x in c["messages_changed"]] == ["motor"]
    html = (out / "report.html").read_text()
    assert "Study removed: Ghost 2001" in html and 'id="tbl-changes"' in html
    assert "An older wording." in html


@pytest.mark.parametrize("content", [None, "{not json", '{"analyses": 3}', "[]"])
def test_bad_previous_dir_is_one_line_exit_2(tmp_path, capsys, content):
    folder = tmp_path / "prev"
    folder.mkdir()
    if content is not None:
        (folder / "results.json").write_text(content)
    out = tmp_path / "o"
    code, _, err = run(["review", "--out", str(out), "--compare", str(folder)], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "--compare" in lines[0]
    assert str(folder / "results.json") in lines[0]
    assert not out.exists()


def test_changes_default_to_none_in_results(handmade_review):
    assert handmade_review.changes is None
    assert handmade_review.to_dict()["changes"] is None
    assert replace(handmade_review, changes=None).to_dict()["studies"]


def test_export_import_round_trip_keeps_the_hash_and_reports_no_changes(
    bundled_run, previous, tmp_path
):
    """The bundled base exported to a file and imported into an empty database is the same
    content: the same data hash, and a review of it against the earlier one: no changes."""
    from sci_evidence.evidence.bundled import load_bundled
    from sci_evidence.evidence.io import read_evidence_file, write_evidence_file
    from sci_evidence.evidence.store import EvidenceStore
    from sci_evidence.evidence.validate import validate_tables
    from sci_evidence.review.compare import compare_results
    from sci_evidence.review.pipeline import run_review

    b = load_bundled()
    path = write_evidence_file(b.frames(), tmp_path / "all.json", data_hash=b.data_hash)
    store = EvidenceStore(f"sqlite:///{tmp_path / 'ev.db'}")
    store.init(load_bundled=False)
    rep = validate_tables(read_evidence_file(path), store.read_frames())
    assert rep.ok, rep.summary()
    store.import_frames(rep.frames, message="round trip", source=str(path))
    ev = store.load()
    assert ev.data_hash == b.data_hash == previous["data_hash"]
    c = compare_results(run_review(ev, bundled_run[0].protocol).to_dict(), previous)
    assert c.no_changes, c.summary()


def test_cli_compare_after_a_count_changed_in_the_database(tmp_path, capsys):
    """The living-review case end to end: review a database, change one count in it, review
    again with --compare: the data hash, the estimate and the key message changed."""
    import sqlite3

    db_file = tmp_path / "ev.db"
    db = f"sqlite:///{db_file}"
    code, _, err = run(["evidence", "init", "--db", db, "-m", "start"], capsys)
    assert code == 0, err
    proto = tmp_path / "p.toml"
    proto.write_text(
        'title = "AIS"\nseed = 1\n[[analyses]]\nid = "ais"\ntitle = "AIS improvement"\n'
        'outcome = "ais_improved"\ndesign = "single_arm"\nmeasure = "PLO"\nrobustness = false\n'
        '[[questions]]\nid = "q"\nquestion = "Do patients improve?"\ndraws_on = ["ais"]\n'
    )
    first, second = tmp_path / "first", tmp_path / "second"
    code, _, err = run(["review", "--db", db, "--protocol", str(proto), "--out", str(first),
                        "-q"], capsys)  # fmt: skip
    assert code == 0, err
    with sqlite3.connect(db_file) as con:
        n = con.execute(
            "UPDATE evidence_outcomes SET events = 14 WHERE study_id = ? AND outcome = ?",
            (CHANGED, "ais_improved"),
        ).rowcount
    assert n == 1
    code, stdout, err = run(["review", "--db", db, "--protocol", str(proto), "--out",
                             str(second), "-q", "--compare", str(first)], capsys)  # fmt: skip
    assert code == 0, err
    assert "1 pooled estimate changed" in stdout.replace("\n", "")
    assert "data hash changed" in stdout.replace("\n", "")
    before = json.loads((first / "results.json").read_text())
    c = json.loads((second / "results.json").read_text())["changes"]
    assert c["data_hash"]["before"] == before["data_hash"] != c["data_hash"]["after"]
    assert c["protocol_hash"]["before"] == c["protocol_hash"]["after"]
    assert [e["id"] for e in c["estimates"]] == ["ais"]
    e = c["estimates"][0]
    assert e["k_before"] == e["k_after"] and e["after"][0] > e["before"][0]
    assert [m["id"] for m in c["messages_changed"]] == ["q"]
    assert c["studies_added"] == c["studies_removed"] == []


@pytest.mark.parametrize(
    ("measure", "values", "level", "text"),
    [
        ("PLO", (0.4617, 0.3665, 0.5599), 0.95, "46.2% (95% CI 36.6–56.0%)"),
        ("RR", (5.7926, 1.5694, 21.38), 0.95, "RR 5.79 (95% CI 1.57–21.38)"),
        ("RD", (0.346, 0.1, -0.02), 0.9, "RD 34.6 percentage points (90% CI 10.0 to -2.0)"),
        ("MC", (3.2, -0.5, 6.9), 0.95, "3.20 points (95% CI -0.50 to 6.90)"),
        ("SMD", (0.41, 0.02, 0.8), 0.95, "SMD 0.41 (95% CI 0.02 to 0.80)"),
        ("PFT", (0.5, None, None), 0.95, "50.0% (95% CI not available)"),
        ("RR", (None, None, None), 0.95, "not estimated"),
    ],
)
def test_estimates_in_words_on_the_readers_scale(measure, values, level, text):
    from sci_evidence.review.compare import format_estimate

    assert format_estimate(measure, *values, level=level) == text


def test_compare_with_the_folder_being_replaced(bundled_run, tmp_path, capsys):
    """`--out review --compare review`: the earlier results are read before the folder is
    replaced, so a living review can be updated in place."""
    import shutil

    _, prev = bundled_run
    folder = tmp_path / "review"
    shutil.copytree(prev, folder)
    code, stdout, err = run(
        ["review", "--out", str(folder), "-q", "--compare", str(folder)], capsys
    )
    assert code == 0, err
    c = json.loads((folder / "results.json").read_text())["changes"]
    assert c["no_changes"] is True and c["previous"] == str(folder)
