"""The database store on SQLite and PostgreSQL: init, round trip, transactions, history."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from sci_evidence.errors import InputError
from sci_evidence.evidence import FRAME_NAMES, load_evidence
from sci_evidence.evidence.io import read_evidence_file, write_evidence_file
from sci_evidence.evidence.store import EvidenceStore, mask_url, resolve_url
from sci_evidence.evidence.validate import validate_tables

from ._builders import small_frames


def _counts(store: EvidenceStore) -> dict[str, int]:
    frames = store.read_frames()
    out = {n: len(df) for n, df in frames.items()}
    out["history"] = len(store.history())
    return out


def test_init_loads_bundled_and_is_idempotent(store, monkeypatch):
    monkeypatch.setenv("SCI_EVIDENCE_USER", "alice")
    assert not store.is_initialised()
    summary = store.init()
    assert len(summary.added) == 40
    ev = store.load()
    from sci_evidence.evidence.bundled import load_bundled

    b = load_bundled()
    assert ev.data_hash == b.data_hash
    for name in FRAME_NAMES:
        pd.testing.assert_frame_equal(getattr(ev, name), getattr(b, name))
    again = store.init()
    assert again.added == () and store.load().data_hash == b.data_hash
    hist = store.history()
    assert set(hist["user"]) == {"alice"}
    assert (hist["action"] == "init").all()


def _round_trip(store, path_dir, ext):
    """Bundled → export → import into an empty database → identical frames and hash."""
    from sci_evidence.evidence.bundled import load_bundled

    b = load_bundled()
    path = write_evidence_file(b.frames(), path_dir / f"all.{ext}", data_hash=b.data_hash)
    store.init(load_bundled=False)
    assert len(store.load().studies) == 0
    rep = validate_tables(read_evidence_file(path), store.read_frames())
    assert rep.ok, rep.summary()
    store.import_frames(rep.frames, message="round trip", source=str(path))
    ev = store.load()
    for name in FRAME_NAMES:
        pd.testing.assert_frame_equal(getattr(ev, name), getattr(b, name))
    assert ev.data_hash == b.data_hash


@pytest.mark.parametrize("ext", ["csv", "xlsx", "json"])
def test_export_imports_back_unchanged(sqlite_store, tmp_path, ext):
    _round_trip(sqlite_store, tmp_path, ext)


@pytest.mark.postgres
def test_export_imports_back_unchanged_postgresql(pg_store, tmp_path):
    # The file formats do not depend on the database: PostgreSQL runs one (JSON) round trip.
    _round_trip(pg_store, tmp_path, "json")


def test_import_fails_half_way_and_writes_nothing(store):
    store.init()
    before = _counts(store)
    h0 = store.load().data_hash
    frames = small_frames("new2021")
    # An outcome pointing at an arm that does not exist passes no validation, so the database
    # itself refuses it (foreign key) after the studies and arms were inserted.
    frames["outcomes"].loc[0, "arm_id"] = "new2021:ghost"
    with pytest.raises(Exception) as info:
        store.import_frames(frames, message="should fail")
    assert "foreign key" in str(info.value).lower() or "FOREIGN KEY" in str(info.value)
    assert _counts(store) == before
    assert store.load().data_hash == h0


def test_import_aborted_by_error_after_first_table(store, monkeypatch):
    store.init(load_bundled=False)
    before = _counts(store)
    import sci_evidence.evidence.store as st

    calls = {"n": 0}
    real = st._records

    def exploding(df):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("disk full (simulated)")
        return real(df)

    monkeypatch.setattr(st, "_records", exploding)
    with pytest.raises(RuntimeError, match="simulated"):
        store.import_frames(small_frames())
    monkeypatch.setattr(st, "_records", real)
    assert _counts(store) == before


def test_reimport_replaces_a_study_and_records_what_changed(store, monkeypatch):
    store.init(load_bundled=False)
    monkeypatch.setenv("SCI_EVIDENCE_USER", "bob")
    first = store.import_frames(small_frames(), message="add Smith", source="a.csv")
    assert first.added == ("smith2020",) and first.change_id is not None
    frames = small_frames()
    frames["arms"].loc[0, "n"] = 13
    frames["outcomes"] = frames["outcomes"].iloc[:4]
    second = store.import_frames(frames, message="fix n after re-reading Table 1", source="b.csv")
    assert second.replaced == ("smith2020",)
    ev = store.load()
    assert int(ev.arms.set_index("arm_id").loc["smith2020:treated", "n"]) == 13
    assert len(ev.outcomes) == 4
    hist = store.history()
    last = hist.iloc[-1]
    assert (last["user"], last["action"], last["study_id"]) == ("bob", "import", "smith2020")
    assert last["message"] == "fix n after re-reading Table 1" and last["source"] == "b.csv"
    detail = json.loads(last["detail"])
    assert detail["studies"]["replaced"] == ["smith2020"]
    assert detail["rows"] == {"arms": {"updated": 1}, "outcomes": {"deleted": 1}}
    change = store.change(second.change_id)
    assert change.user == "bob" and change.id == int(last["id"])
    by_op = {r.op: r for r in change.rows}
    assert by_op["update"].key == ("smith2020:treated",)
    assert (by_op["update"].old, by_op["update"].new) == ({"n": 12}, {"n": 13})
    assert "arms[smith2020:treated] update: n 12 → 13" in by_op["update"].describe()
    removed = by_op["delete"]
    assert removed.key == ("smith2020:5",) and removed.new is None
    # The removed row keeps every old value, not only its id.
    assert removed.old["mean"] == 52.5 and removed.old["sd"] == 4.25
    assert removed.old["outcome"] == "motor_total" and removed.old["unit"] == "points"
    n_hist = len(store.history())
    h = store.load().data_hash
    third = store.import_frames(frames, message="same again")
    assert third.unchanged == ("smith2020",) and third.replaced == ()
    assert third.change_id is None and len(store.history()) == n_hist
    assert store.load().data_hash == h


def test_outcomes_only_file_adds_rows_to_a_stored_study(store):
    store.init(load_bundled=False)
    store.import_frames(small_frames())
    extra = small_frames()["outcomes"].iloc[[4]].copy()
    extra.loc[extra.index[0], "outcome_id"] = "smith2020:99"
    extra.loc[extra.index[0], "timepoint"] = "6 months"
    store.import_frames({"outcomes": extra})
    ev = store.load()
    assert len(ev.outcomes) == 6 and len(ev.arms) == 2


def test_load_evidence_reads_the_database(store, monkeypatch):
    store.init(load_bundled=False)
    store.import_frames(small_frames())
    if store.is_sqlite:
        monkeypatch.setenv("SCI_EVIDENCE_DB", store.url)
        ev = load_evidence()
        assert list(ev.studies["study_id"]) == ["smith2020"]
        assert ev.origin == store.display_url
    ev2 = store.load()
    assert ev2.outcomes["mean"].iloc[4] == 52.5


def test_uninitialised_database_is_a_clear_error(tmp_path):
    s = EvidenceStore(f"sqlite:///{tmp_path / 'x.sqlite'}")
    with pytest.raises(InputError, match="not initialised; run 'sci-evidence evidence init'"):
        s.load()
    from sci_evidence.errors import DataWarning

    with pytest.warns(DataWarning, match="not initialised.*using the bundled data set"):
        ev = load_evidence(str(tmp_path / "y.sqlite"))
    assert ev.origin == "bundled" and len(ev.studies) == 40


def test_load_evidence_with_unreachable_database_is_an_error(monkeypatch):
    monkeypatch.setenv("SCI_EVIDENCE_DB", "postgresql://nobody:pw@127.0.0.1:1/none")
    with pytest.raises(InputError, match="cannot open the evidence database"):
        load_evidence()


def test_unreachable_postgres_is_one_line(tmp_path):
    s = EvidenceStore("postgresql://nobody:pw@127.0.0.1:1/none")
    with pytest.raises(InputError) as info:
        s.is_initialised()
    msg = str(info.value)
    assert "\n" not in msg and "pw" not in msg and "cannot open the evidence database" in msg


def test_resolve_url(monkeypatch, tmp_path):
    monkeypatch.delenv("SCI_EVIDENCE_DB", raising=False)
    assert resolve_url("postgresql://u:p@h/db") == "postgresql+psycopg://u:p@h/db"
    assert resolve_url("postgres://u:p@h/db") == "postgresql+psycopg://u:p@h/db"
    assert resolve_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"
    assert resolve_url(str(tmp_path / "a.sqlite")) == f"sqlite:///{tmp_path / 'a.sqlite'}"
    assert resolve_url("sqlite:///x.db") == "sqlite:///x.db"
    monkeypatch.setenv("SCI_EVIDENCE_DB", "sqlite:////tmp/env.sqlite")
    assert resolve_url(None) == "sqlite:////tmp/env.sqlite"
    monkeypatch.delenv("SCI_EVIDENCE_DB")
    default = resolve_url(None)
    assert default.startswith("sqlite:///") and default.endswith("sci-evidence/evidence.sqlite")
    assert "secret" not in mask_url("postgresql+psycopg://u:secret@h/db")


def test_reading_a_missing_sqlite_file_does_not_create_it(tmp_path):
    from sci_evidence.errors import DataWarning

    target = tmp_path / "nothing_here.sqlite"
    with pytest.warns(DataWarning):
        load_evidence(str(target))
    assert not target.exists()
    with pytest.raises(InputError, match="not initialised"):
        EvidenceStore(str(target)).load()
    assert not target.exists()


def test_migrations_match_the_current_schema(sqlite_store):
    """The frozen migrations (0001, 0003) create exactly the tables and columns the code expects."""
    from sqlalchemy import inspect

    from sci_evidence.evidence.schema import metadata

    sqlite_store.init(load_bundled=False)
    insp = inspect(sqlite_store.engine)
    for table in metadata.sorted_tables:
        got = [c["name"] for c in insp.get_columns(table.name)]
        assert got == [c.name for c in table.columns], table.name
    with sqlite_store.engine.connect() as conn:
        from alembic.script import ScriptDirectory
        from sqlalchemy import text

        from sci_evidence.evidence.store import MIGRATIONS_DIR

        head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()  # "0001" + later ones
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == head
