"""History keeps what it promises: every change to every table with old and new values and
who made it; removed rows keep their values; revert restores the state before a change; an
unchanged re-import records nothing (issue 12, item 9)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from sci_evidence.errors import InputError
from sci_evidence.evidence import FRAME_NAMES
from sci_evidence.evidence.columns import coerce_frame
from sci_evidence.evidence.store import EvidenceStore

from ._builders import small_frames


def _nh_frame(percent: float) -> dict[str, pd.DataFrame]:
    row = dict(
        nh_id="nh:test:1",
        source="EMSCI",
        baseline_grade="A",
        endpoint="conversion",
        to_grade="B+",
        n=120,
        percent=percent,
        status="reported",
    )
    return {
        "natural_history_conversion": coerce_frame(
            pd.DataFrame([row]), "natural_history_conversion"
        )
    }


def _state(store: EvidenceStore) -> dict[str, pd.DataFrame]:
    return store.read_frames()


def _assert_same_state(a, b) -> None:
    for name in FRAME_NAMES:
        pd.testing.assert_frame_equal(a[name], b[name], obj=name)


def test_edit_of_a_non_study_table_keeps_old_and_new_values(store):
    store.init(load_bundled=False)
    store.import_frames(_nh_frame(15.4), message="add", user="ann")
    summary = store.import_frames(_nh_frame(77.7), message="typo", user="ben")
    change = store.change(summary.change_id)
    assert change.user == "ben" and change.message == "typo"
    (row,) = change.rows
    assert (row.table, row.key, row.op) == ("natural_history_conversion", ("nh:test:1",), "update")
    assert (row.old, row.new) == ({"percent": 15.4}, {"percent": 77.7})
    assert store.changes()[0].id == summary.change_id  # newest first


def test_user_defaults_to_the_environment_and_can_be_given(store, monkeypatch):
    monkeypatch.setenv("SCI_EVIDENCE_USER", "from-env")
    store.init(load_bundled=False)
    a = store.import_frames(small_frames())
    b = store.import_frames(_nh_frame(1.0), user="web:carol")
    assert store.change(a.change_id).user == "from-env"
    assert store.change(b.change_id).user == "web:carol"
    assert set(store.history()["user"]) == {"from-env", "web:carol"}


def test_revert_restores_the_state_before_a_change(store):
    store.init(load_bundled=False)
    store.import_frames(small_frames(), user="ann")
    store.import_frames(_nh_frame(15.4), user="ann")
    before = _state(store)
    h_before = store.load().data_hash
    frames = small_frames()
    frames["arms"].loc[0, "n"] = 13
    frames["outcomes"] = frames["outcomes"].iloc[[0, 1, 2, 3]]  # removes outcome 5
    extra = small_frames("jones2022")
    for name in frames:
        frames[name] = pd.concat([frames[name], extra[name]], ignore_index=True)
    frames.update(_nh_frame(77.7))
    change = store.import_frames(frames, message="bad import", user="ben")
    assert change.added == ("jones2022",) and change.replaced == ("smith2020",)
    assert store.load().data_hash != h_before
    rev = store.revert(change.change_id, user="carol", message="wrong file")
    _assert_same_state(_state(store), before)
    assert store.load().data_hash == h_before
    last = store.changes(with_rows=True)[0]
    assert (last.id, last.action, last.user) == (rev.change_id, "revert", "carol")
    assert last.detail["reverts"] == change.change_id and last.message == "wrong file"
    assert {r.op for r in last.rows} == {"insert", "update", "delete"}
    # A revert is a change like any other: reverting it brings the import back.
    store.revert(rev.change_id, user="dan")
    assert int(store.load().arms.set_index("arm_id").loc["smith2020:treated", "n"]) == 13
    assert "jones2022" in set(store.load().studies["study_id"])


def test_revert_of_the_bundled_load_empties_the_base(store):
    summary = store.init()
    store.revert(summary.change_id, user="x")
    assert all(len(df) == 0 for df in store.read_frames().values())
    store.revert(store.changes()[0].id, user="x")
    from sci_evidence.evidence.bundled import load_bundled

    assert store.load().data_hash == load_bundled().data_hash


def test_revert_refuses_when_a_later_change_touched_the_same_rows(store):
    store.init(load_bundled=False)
    first = store.import_frames(_nh_frame(15.4))
    second = store.import_frames(_nh_frame(77.7))
    before = _state(store)
    n = len(store.history())
    with pytest.raises(
        InputError, match=rf"changed again later .* by change {second.change_id}; revert it first"
    ):
        store.revert(first.change_id)
    _assert_same_state(_state(store), before)
    assert len(store.history()) == n
    store.revert(second.change_id)
    store.revert(first.change_id)
    assert len(store.read_frames()["natural_history_conversion"]) == 0


def test_revert_refuses_to_cascade_over_rows_added_later(store):
    store.init(load_bundled=False)
    add = store.import_frames(small_frames())
    extra = small_frames()["outcomes"].iloc[[4]].copy()
    extra.loc[extra.index[0], "outcome_id"] = "smith2020:99"
    store.import_frames({"outcomes": extra})
    with pytest.raises(InputError, match="changed again later"):
        store.revert(add.change_id)
    assert len(store.load().outcomes) == 6


def test_revert_errors(store):
    store.init(load_bundled=False)
    with pytest.raises(InputError, match="no such change"):
        store.revert(999)
    init_id = store.changes()[0].id
    with pytest.raises(InputError, match="edited no rows"):
        store.revert(init_id)


def test_unchanged_reimport_records_nothing_and_keeps_the_hash(store, tmp_path):
    from sci_evidence.evidence.io import read_evidence_file, write_evidence_file
    from sci_evidence.evidence.validate import validate_tables

    store.init()
    h0 = store.load().data_hash
    n = len(store.history())
    path = write_evidence_file(store.read_frames(), tmp_path / "all.json")
    rep = validate_tables(read_evidence_file(path), store.read_frames())
    summary = store.import_frames(rep.frames, message="again")
    assert summary.change_id is None and summary.added == () and summary.replaced == ()
    assert len(summary.unchanged) == len(store.read_frames()["studies"])
    assert len(store.history()) == n and store.load().data_hash == h0


def test_hash_is_content_not_order(store):
    store.init(load_bundled=False)
    frames = small_frames()
    store.import_frames(frames)
    h = store.load().data_hash
    shuffled = {k: v.iloc[::-1].reset_index(drop=True) for k, v in frames.items()}
    from sci_evidence.evidence.model import data_hash

    full = store.read_frames()
    full_shuffled = dict(full)
    full_shuffled.update({k: v for k, v in shuffled.items()})
    assert data_hash(full_shuffled) == h
    assert store.import_frames(shuffled).change_id is None


def test_history_of_an_old_database_is_migrated_and_kept(tmp_path):
    """A database made by schema 0001 gets the row-history table on its next write."""
    from sqlalchemy import inspect, text

    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    s = EvidenceStore(url)
    with s.engine.begin() as conn:
        from alembic import command
        from alembic.config import Config

        from sci_evidence.evidence.store import MIGRATIONS_DIR

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        conn.execute(text("INSERT INTO evidence_meta VALUES ('schema_version', '0001')"))
        conn.execute(
            text(
                "INSERT INTO evidence_history (at, user, action, message, source, study_id, detail) "
                "VALUES ('2026-01-01 00:00:00', 'old', 'import', 'm', '', 'x', :d)"
            ),
            {"d": json.dumps({"change": "added"})},
        )
    assert not inspect(s.engine).has_table("evidence_row_changes")
    assert [c.user for c in s.changes()] == ["old"]
    s.import_frames(small_frames(), user="new")
    assert inspect(s.engine).has_table("evidence_row_changes")
    old = s.changes()[-1]
    with pytest.raises(InputError, match="before row-level history"):
        s.revert(old.id)
    s.dispose()


def test_cli_history_and_revert(capsys, tmp_path, isolated_env):
    from sci_evidence.cli import main

    def run(*args):
        try:
            main(["evidence", *args])
            code = 0
        except SystemExit as exc:
            code = exc.code
        out = capsys.readouterr()
        return code, out.out, out.err

    from ._builders import write_stacked

    db = f"sqlite:///{tmp_path / 'h.sqlite'}"
    run("init", "--db", db, "--empty", "--user", "ann")
    p = write_stacked(small_frames(), tmp_path / "a.csv")
    code, out, err = run("import", str(p), "--db", db, "-m", "add", "--user", "ben")
    assert code == 0, err
    frames = small_frames()
    frames["arms"].loc[0, "n"] = 13
    write_stacked(frames, p)
    code, out, err = run("import", str(p), "--db", db, "-m", "fix n")
    assert code == 0 and "change" in out, err
    code, out, err = run("import", str(p), "--db", db)
    assert code == 0 and "nothing changed, nothing recorded" in out, err
    code, out, _ = run("history", "--db", db, "--json")
    hist = json.loads(out)
    assert [h["user"] for h in hist] == ["ann", "ben", "tester"]
    fix = hist[-1]["id"]
    code, out, _ = run("history", str(fix), "--db", db)
    assert code == 0 and "n 12 → 13" in out
    code, out, _ = run("history", str(fix), "--db", db, "--json")
    rows = json.loads(out)["rows"]
    assert rows == [
        {
            "table": "arms",
            "key": ["smith2020:treated"],
            "op": "update",
            "old": {"n": 12},
            "new": {"n": 13},
        }
    ]
    code, out, err = run("revert", str(fix), "--db", db, "--user", "carol", "-m", "undo")
    assert code == 0, err
    assert int(EvidenceStore(db).load().arms["n"].iloc[0]) == 12
    code, out, err = run("revert", "9999", "--db", db)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "no such change" in err
    code, out, _ = run("history", "--db", db, "--study", "smith2020", "--json")
    assert [h["action"] for h in json.loads(out)] == ["import", "import", "revert"]


def test_study_filter_matches_whole_ids_only(store):
    store.init(load_bundled=False)
    store.import_frames(small_frames("a_b2020"))
    store.import_frames(small_frames("axb2020"))
    assert [c.study_ids for c in store.changes(study_id="a_b2020")] == [("a_b2020",)]
    assert len(store.changes(limit=1)) == 1 and len(store.changes()) == 3
