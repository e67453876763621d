"""Faults of the machine and hostile values: one line, exit 2, the data intact (issue 12, item 5)."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time

import pandas as pd
import pytest

from sci_evidence.cli import main
from sci_evidence.errors import InputError
from sci_evidence.evidence.store import EvidenceStore

from ._builders import small_frames, write_stacked


def run(capsys, *args: str) -> tuple[int, str, str]:
    try:
        main(["evidence", *args])
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out = capsys.readouterr()
    return code, out.out, out.err


def _one_line(code: int, err: str) -> str:
    lines = err.strip().splitlines()
    assert code == 2 and "Traceback" not in err, err
    assert len(lines) == 1 and lines[0].startswith("Error:"), err
    return lines[0]


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def db_path(tmp_path, isolated_env, capsys):
    path = tmp_path / "f.sqlite"
    code, _, err = run(capsys, "init", "--db", str(path), "--empty")
    assert code == 0, err
    return path


def test_locked_database_waits_then_one_line(capsys, db_path, tmp_path, monkeypatch):
    monkeypatch.setenv("SCI_EVIDENCE_BUSY_TIMEOUT", "0.3")
    p = write_stacked(small_frames(), tmp_path / "x.csv")
    other = sqlite3.connect(db_path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another program is writing
    try:
        before = _digest(db_path)
        t0 = time.perf_counter()
        code, _, err = run(capsys, "import", str(p), "--db", str(db_path))
        assert "is busy" in _one_line(code, err) and "nothing was written" in err
        assert time.perf_counter() - t0 >= 0.25  # it waited for the busy timeout
        assert _digest(db_path) == before
    finally:
        other.execute("ROLLBACK")
        other.close()
    code, _, err = run(capsys, "import", str(p), "--db", str(db_path))
    assert code == 0, err


def test_two_concurrent_imports_both_land(db_path, tmp_path):
    """Writers queue (BEGIN IMMEDIATE + busy timeout) instead of failing 'database is locked'."""
    errors: list[BaseException] = []

    def work(sid: str) -> None:
        store = EvidenceStore(str(db_path))
        try:
            for _ in range(3):
                store.import_frames(small_frames(sid), message=sid)
                frames = small_frames(sid)
                frames["arms"].loc[0, "n"] = 14
                store.import_frames(frames, message=sid)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            store.dispose()

    threads = [threading.Thread(target=work, args=(s,)) for s in ("aa2020", "bb2021")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    store = EvidenceStore(str(db_path))
    assert sorted(store.load().studies["study_id"]) == ["aa2020", "bb2021"]
    # Each import compared against the state it changed: 1 add + 5 alternating edits each.
    assert len([c for c in store.changes() if c.action == "import"]) == 12


def test_read_only_database_is_one_line(capsys, db_path, tmp_path):
    p = write_stacked(small_frames(), tmp_path / "x.csv")
    before = _digest(db_path)
    url = f"sqlite:///file:{db_path}?mode=ro&uri=true"
    code, _, err = run(capsys, "import", str(p), "--db", url)
    assert "read-only" in _one_line(code, err)
    assert _digest(db_path) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes read-only files and folders")
def test_read_only_file_and_folder_are_one_line(capsys, db_path, tmp_path):
    p = write_stacked(small_frames(), tmp_path / "x.csv")
    before = _digest(db_path)
    db_path.chmod(0o444)
    try:
        code, _, err = run(capsys, "import", str(p), "--db", str(db_path))
        assert "read-only" in _one_line(code, err)
    finally:
        db_path.chmod(0o644)
    db_path.parent.chmod(0o555)
    try:
        code, _, err = run(capsys, "import", str(p), "--db", str(db_path))
        _one_line(code, err)
    finally:
        db_path.parent.chmod(0o755)
    assert _digest(db_path) == before


def test_full_disk_is_one_line_and_nothing_written(db_path):
    from sqlalchemy import event

    from sci_evidence.evidence.bundled import read_bundled_frames

    store = EvidenceStore(str(db_path))
    pages = sqlite3.connect(db_path).execute("PRAGMA page_count").fetchone()[0]

    @event.listens_for(store.engine, "connect")
    def _small_disk(dbapi_conn, _record):  # the file may not grow past 3 more pages
        dbapi_conn.execute(f"PRAGMA max_page_count={pages + 3}")

    before = _digest(db_path)
    with pytest.raises(InputError, match="full; nothing was written") as info:
        store.import_frames(read_bundled_frames())
    assert "\n" not in str(info.value)
    store.dispose()
    assert _digest(db_path) == before


def test_init_on_a_file_that_is_not_a_database(capsys, tmp_path, isolated_env):
    precious = tmp_path / "thesis.docx"
    precious.write_bytes(b"PK\x03\x04 my thesis " * 100)
    before = _digest(precious)
    for args in (["init", "--db", str(precious)], ["list", "--db", str(precious)]):
        code, _, err = run(capsys, *args)
        assert "not an SQLite database" in _one_line(code, err)
    assert _digest(precious) == before
    code, _, err = run(capsys, "init", "--db", str(tmp_path))
    assert "folder" in _one_line(code, err)


def test_integer_too_large_for_the_column(capsys, db_path, tmp_path, store):
    frames = small_frames()
    p = write_stacked(frames, tmp_path / "x.csv")
    df = pd.read_csv(p, dtype=str, keep_default_na=False)
    df.loc[df["frame"] == "arms", "n"] = ["1e19", "10000000000000000000"]
    df.to_csv(p, index=False)
    before = _digest(db_path)
    code, _, err = run(capsys, "import", str(p), "--db", str(db_path))
    assert code == 2 and "too large for a whole-number column" in err and "column 'n'" in err
    assert _digest(db_path) == before
    # The store refuses it too when called without validation, on SQLite and PostgreSQL.
    store.init(load_bundled=False)
    frames["arms"]["n"] = frames["arms"]["n"].astype(object)
    frames["arms"].loc[0, "n"] = 10**19
    with pytest.raises(InputError, match="too large") as info:
        store.import_frames(frames)
    assert "\n" not in str(info.value)
    assert len(store.load().studies) == 0


def test_nul_and_lone_surrogate_are_cell_errors(capsys, db_path, tmp_path):
    p = tmp_path / "x.json"
    frames = small_frames()
    from sci_evidence.evidence.io import write_evidence_file

    write_evidence_file(frames, p)
    obj = json.loads(p.read_text())
    obj["frames"]["studies"][0]["notes"] = "a\x00b"
    obj["frames"]["studies"][0]["title"] = "x\ud800y"
    p.write_text(json.dumps(obj))  # ASCII-escaped: \u0000 and \ud800 in the file
    before = _digest(db_path)
    code, _, err = run(capsys, "import", str(p), "--db", str(db_path))
    assert (
        code == 2 and "NUL character" in err and "lone surrogate" in err and "Traceback" not in err
    )
    assert "column 'notes'" in err and "column 'title'" in err
    code, out, err = run(capsys, "validate", str(p), "--json")
    assert code == 2 and json.loads(out)["errors"] == 2
    assert _digest(db_path) == before


@pytest.mark.postgres
def test_nul_refused_by_postgresql_is_one_line(pg_store):
    pg_store.init(load_bundled=False)
    frames = small_frames()
    frames["studies"].loc[0, "notes"] = "a\x00b"
    with pytest.raises(InputError) as info:
        pg_store.import_frames(frames)
    assert "\n" not in str(info.value) and "nothing was written" in str(info.value)
    assert len(pg_store.load().studies) == 0


@pytest.mark.postgres
def test_postgresql_concurrent_imports(pg_store):
    """Two imports at once: serialised by the advisory lock, both land."""
    pg_store.init(load_bundled=False)
    errors: list[BaseException] = []

    def work(sid: str) -> None:
        s = EvidenceStore(pg_store.url, schema=pg_store.schema)
        try:
            s.import_frames(small_frames("same2020"), message=sid)
            s.import_frames(small_frames(sid), message=sid)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            s.dispose()

    threads = [threading.Thread(target=work, args=(s,)) for s in ("aa2020", "bb2021")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(pg_store.load().studies["study_id"]) == ["aa2020", "bb2021", "same2020"]
    # The second writer of same2020 saw the first one's rows: nothing to record.
    assert sum(1 for c in pg_store.changes() if "same2020" in c.study_ids) == 1


@pytest.mark.postgres
def test_postgresql_unique_violation_is_one_line(pg_store):
    """Another program inserts the same study uncommitted; our import loses the race."""
    import psycopg

    from .conftest import PG_URL

    pg_store.init(load_bundled=False)
    dsn = PG_URL.replace("postgresql+psycopg://", "postgresql://")
    other = psycopg.connect(dsn, options=f"-csearch_path={pg_store.schema}")
    other.execute(
        "INSERT INTO evidence_studies (position, study_id, design, status) "
        "VALUES (1, 'smith2020', 'rct', 'reported')"
    )
    result: list[BaseException | None] = []

    def work() -> None:
        try:
            pg_store.import_frames(small_frames())
            result.append(None)
        except BaseException as exc:  # noqa: BLE001
            result.append(exc)

    t = threading.Thread(target=work)
    t.start()
    time.sleep(1.0)  # the import now waits on the unique index
    other.commit()
    other.close()
    t.join(30)
    (exc,) = result
    assert isinstance(exc, InputError) and "\n" not in str(exc)
    assert "at the same time" in str(exc) and "nothing was written" in str(exc)
    assert len(pg_store.load().arms) == 0


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux /proc")
def test_database_in_a_folder_nobody_can_write(capsys, isolated_env, tmp_path):
    """/proc refuses new files even to root: the read-only folder case on any account."""
    code, _, err = run(capsys, "init", "--db", "/proc/evidence.sqlite")
    assert "its folder is missing or not writable" in _one_line(code, err)
    blocker = tmp_path / "plain.txt"
    blocker.write_text("keep")
    code, _, err = run(capsys, "init", "--db", str(blocker / "x.sqlite"))
    assert "cannot create the folder" in _one_line(code, err)
    assert blocker.read_text() == "keep"
