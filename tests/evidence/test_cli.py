"""The `sci-evidence evidence` commands, run through the real entry point (exit codes, one-line
errors, database unchanged on bad input)."""

from __future__ import annotations

import json

import pytest

from sci_evidence.cli import main
from sci_evidence.evidence.store import EvidenceStore

from ._builders import break_cells, small_frames, write_stacked


def run(capsys, *args: str) -> tuple[int, str, str]:
    try:
        main(["evidence", *args])
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def db(tmp_path, isolated_env):
    return f"sqlite:///{tmp_path / 'cli.sqlite'}"


def test_init_list_show(capsys, db):
    code, out, err = run(capsys, "init", "--db", db)
    assert code == 0, err
    assert "40 studies added" in out
    code, out, _ = run(capsys, "list", "--db", db, "--json")
    assert code == 0
    rows = json.loads(out)
    assert len(rows) == 40 and {"study_id", "design", "flags"} <= set(rows[0])
    code, out, _ = run(capsys, "show", "tien-2019", "--db", db, "--json")
    data = json.loads(out)
    assert data["study"]["study_id"] == "tien-2019" and len(data["outcomes"]) == 7
    code, out, _ = run(capsys, "show", "tien-2019", "--db", db)
    assert code == 0 and "tien-2019" in out and "arms" in out
    code, out, err = run(capsys, "show", "nobody1999", "--db", db)
    assert code == 2 and err.strip().startswith("Error:") and len(err.strip().splitlines()) == 1


def test_read_commands_fall_back_to_bundled(capsys, isolated_env):
    code, out, _ = run(capsys, "list", "--json")
    assert code == 0 and len(json.loads(out)) == 40
    assert not (isolated_env / "userdata" / "evidence.sqlite").exists()


def test_import_garbage_leaves_database_unchanged(capsys, db, tmp_path):
    run(capsys, "init", "--db", db)
    h0 = EvidenceStore(db).load().data_hash
    n_hist = len(EvidenceStore(db).history())
    garbage = {
        "empty.csv": b"",
        "binary.csv": bytes(range(256)),
        "headers.csv": b"foo,bar\n1,2\n",
        "broken.json": b"{not json",
        "fake.xlsx": b"PK not really",
        "header_only.csv": b"study_id,first_author,year,design,status\n",
    }
    for name, content in garbage.items():
        p = tmp_path / name
        p.write_bytes(content)
        code, out, err = run(capsys, "import", str(p), "--db", db)
        assert code == 2, name
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error:") and "Traceback" not in err, err
    store = EvidenceStore(db)
    assert store.load().data_hash == h0 and len(store.history()) == n_hist


def test_import_with_errors_writes_nothing_and_lists_every_problem(capsys, db, tmp_path):
    run(capsys, "init", "--db", db, "--empty")
    p = write_stacked(small_frames(), tmp_path / "x.csv")
    rows = break_cells(p, [("outcomes", 4, "sd", "-1"), ("arms", 0, "route", "nasal")])
    code, out, err = run(capsys, "import", str(p), "--db", db, "-m", "try")
    assert code == 2
    assert f"row {rows[('outcomes', 4, 'sd')]}, column 'sd'" in err
    assert f"row {rows[('arms', 0, 'route')]}, column 'route'" in err
    assert "nothing was written" in err.strip().splitlines()[-1]
    assert len(EvidenceStore(db).load().studies) == 0


def test_import_export_round_trip_and_history(capsys, db, tmp_path, monkeypatch):
    run(capsys, "init", "--db", db, "--empty")
    p = write_stacked(small_frames(), tmp_path / "x.csv")
    code, out, err = run(capsys, "import", str(p), "--db", db, "-m", "add Smith 2020")
    assert code == 0, err and "1 studies added" in out
    for ext in ("xlsx",):  # every format's round trip: test_store.py
        out_file = tmp_path / f"export.{ext}"
        code, out, err = run(capsys, "export", str(out_file), "--db", db)
        assert code == 0 and out_file.exists(), err
        db2 = f"sqlite:///{tmp_path / f'second_{ext}.sqlite'}"
        run(capsys, "init", "--db", db2, "--empty")
        code, out, err = run(capsys, "import", str(out_file), "--db", db2)
        assert code == 0, err
        assert EvidenceStore(db2).load().data_hash == EvidenceStore(db).load().data_hash
    code, out, _ = run(capsys, "history", "--db", db, "--json")
    hist = json.loads(out)
    add = [h for h in hist if h["study_id"] == "smith2020"][0]
    assert (add["user"], add["message"], add["detail"]["studies"]["added"]) == (
        "tester",
        "add Smith 2020",
        ["smith2020"],
    )
    code, out, _ = run(capsys, "history", "--db", db)
    assert code == 0 and "smith2020" in out


def test_validate_command(capsys, tmp_path, isolated_env):
    p = write_stacked(small_frames(), tmp_path / "ok.csv")
    code, out, err = run(capsys, "validate", str(p))
    assert code == 0 and "valid" in out
    break_cells(p, [("outcomes", 1, "to_grade", "F")])
    code, out, err = run(capsys, "validate", str(p))
    assert code == 2 and "AIS grade outside A-E" in err
    code, out, err = run(capsys, "validate", str(p), "--json")
    rep = json.loads(out)
    assert rep["ok"] is False and rep["errors"] >= 1


def test_template_is_fillable_and_importable(capsys, tmp_path, db):
    from openpyxl import load_workbook

    tpl = tmp_path / "template.xlsx"
    code, out, err = run(capsys, "template", str(tpl))
    assert code == 0, err
    wb = load_workbook(tpl)
    assert {"README", "vocabulary", "studies", "arms", "outcomes"} <= set(wb.sheetnames)
    voc = wb["vocabulary"]
    heads = [c.value for c in voc[1]]
    col = heads.index("arms.route_group") + 1
    allowed = [voc.cell(row=r, column=col).value for r in range(2, 10)]
    assert "intrathecal" in allowed and "combination" in allowed
    assert wb["arms"].data_validations.dataValidation  # drop-downs on coded columns
    # fill the template with the small study, then import it
    frames = small_frames()
    for name, df in frames.items():
        ws = wb[name]
        header = [c.value for c in ws[1]]
        for i, rec in enumerate(df.astype(object).to_dict("records"), start=2):
            for j, h in enumerate(header, start=1):
                v = rec[h]
                ws.cell(
                    row=i,
                    column=j,
                    value=None if v is None or v != v or v is __import__("pandas").NA else v,
                )
    wb.save(tpl)
    run(capsys, "init", "--db", db, "--empty")
    code, out, err = run(capsys, "import", str(tpl), "--db", db)
    assert code == 0, err
    assert list(EvidenceStore(db).load().studies["study_id"]) == ["smith2020"]
    code, out, err = run(capsys, "template", str(tmp_path / "t.csv"))
    assert code == 2 and ".xlsx" in err


def test_every_command_has_help_with_an_example():
    from sci_evidence.cli.evidence import evidence_app

    names = set()
    for cmd in evidence_app.registered_commands:
        names.add(cmd.name)
        assert "Example:" in (cmd.callback.__doc__ or ""), cmd.name
    assert names == {
        "init",
        "import",
        "export",
        "validate",
        "list",
        "show",
        "history",
        "revert",
        "template",
    }


@pytest.mark.postgres
def test_cli_on_postgresql(capsys, pg_store, tmp_path, isolated_env):
    """The CLI with a plain postgresql:// URL (mapped to psycopg 3), on a fresh schema."""
    from .conftest import PG_URL

    url = PG_URL.replace("postgresql+psycopg://", "postgresql://")
    url += f"?options=-csearch_path%3D{pg_store.schema}"
    code, out, err = run(capsys, "init", "--db", url, "--empty")
    assert code == 0, err
    assert "sci:***@" in out  # the password is never printed
    p = write_stacked(small_frames(), tmp_path / "x.csv")
    code, out, err = run(capsys, "import", str(p), "--db", url, "-m", "pg import")
    assert code == 0, err
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"\x00\x01\x02garbage")
    code, out, err = run(capsys, "import", str(bad), "--db", url)
    assert code == 2 and len(err.strip().splitlines()) == 1
    code, out, _ = run(capsys, "list", "--db", url, "--json")
    assert [r["study_id"] for r in json.loads(out)] == ["smith2020"]
    assert len(pg_store.load().outcomes) == 5
