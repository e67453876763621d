"""Malformed evidence files against every evidence reader (issue 12, "How it is checked").

`evidence import` and `evidence validate` get (a) the fixed bad files of
``tests/data/bad/evidence/`` and (b) CSV, JSON and Excel files that hypothesis generates by
mutating a valid export. Each run must end in exit 0 with a correct result (the database then
holds exactly the file's rows) or in exit 2 with one line per problem and a last line
``Error: ...``; never a traceback; after any failed command the SQLite file is byte-identical.

Each test counts the distinct inputs that were refused (exit 2) and prints the count
(``pytest -s``); the total is reported in the issue's note.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sci_evidence.cli import main
from sci_evidence.evidence.io import read_evidence_file, write_evidence_file
from sci_evidence.evidence.store import EvidenceStore
from sci_evidence.evidence.validate import validate_tables

from ._builders import small_frames

BAD_DIR = Path(__file__).parents[1] / "data" / "bad" / "evidence"
BAD_FILES = sorted(p for p in BAD_DIR.iterdir() if p.suffix != ".py")
FUZZ = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Harness:
    """A pristine initialised SQLite database, copied fresh for every input."""

    def __init__(self, tmp: Path, capsys) -> None:
        self.tmp = tmp
        self.capsys = capsys
        self.pristine = tmp / "pristine.sqlite"
        store = EvidenceStore(str(self.pristine))
        store.init(load_bundled=False, user="fuzz")
        store.import_frames(small_frames(), user="fuzz")
        store.dispose()
        self.refused: set[str] = set()
        self.accepted: set[str] = set()

    def run(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        try:
            main(["evidence", *args])
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        out = self.capsys.readouterr()
        return code, out.out, out.err

    def check(self, path: Path, *, expect_refused: bool = False) -> None:
        db = self.tmp / "work.sqlite"
        shutil.copyfile(self.pristine, db)
        before = _digest(db)
        key = hashlib.sha256(path.suffix.encode() + path.read_bytes()).hexdigest()
        results = {}
        for command in ("validate", "import"):
            code, out, err = self.run(command, str(path), "--db", str(db))
            results[command] = code
            assert code in (0, 2), (command, path.name, code, err[-2000:])
            assert "Traceback" not in err + out, err[-2000:]
            if code == 2:
                lines = err.strip().splitlines()
                assert lines and lines[-1].startswith("Error: "), err[-2000:]
                for line in lines[:-1]:
                    assert line.startswith(("error: ", "warning: ")), line
                assert _digest(db) == before, f"{command} failed but changed the database"
        assert results["validate"] == results["import"] or (
            # a file with no data rows validates but is not imported
            results["validate"] == 0 and "holds no data rows" in err
        ), (results, err[-500:])
        if results["import"] == 0:
            self._assert_imported_exactly(path, db)
            self.accepted.add(key)
        else:
            self.refused.add(key)
        if expect_refused:
            assert results["import"] == 2, path.name

    def _assert_imported_exactly(self, path: Path, db: Path) -> None:
        """The correct result: every row of the file is in the database, value for value."""
        store = EvidenceStore(str(db))
        try:
            stored = store.read_frames()
            pristine = EvidenceStore(str(self.pristine))
            report = validate_tables(read_evidence_file(path), pristine.read_frames())
            pristine.dispose()
            assert report.ok
            from sci_evidence.evidence.columns import KEYS
            from sci_evidence.evidence.model import _records

            for name, df in report.frames.items():
                keys = KEYS[name]
                have = {tuple(r[k] for k in keys): r for r in _records(stored[name])}
                for rec in _records(df):
                    assert have.get(tuple(rec[k] for k in keys)) == rec, (name, rec)
        finally:
            store.dispose()


@pytest.fixture
def harness(tmp_path, capsys, isolated_env):
    return Harness(tmp_path, capsys)


@pytest.mark.parametrize("path", BAD_FILES, ids=[p.name for p in BAD_FILES])
def test_fixed_bad_files_are_refused_cleanly(harness, path):
    harness.check(path, expect_refused=True)


def test_the_bad_files_are_distinct():
    digests = {hashlib.sha256(p.read_bytes()).hexdigest() for p in BAD_FILES}
    assert len(digests) == len(BAD_FILES) >= 35


# ------------------------------------------------------------------ generated inputs
NASTY = st.sampled_from(
    [
        "",
        ",",
        '"',
        "\n",
        "\r\n",
        "\x00",
        "\x1b[2J",
        "[/]",
        "=1+2",
        "-1",
        "1e19",
        "1e400",
        "nan",
        "NA",
        "99999999999999999999",
        "true",
        "é",
        "\ufeff",
        "'",
        "A",
        "0",
        "-0.5",
        "reported",
        "smith2020",
    ]
)


def _valid_csv() -> str:
    return Path(write_evidence_file(small_frames(), _scratch() / "valid.csv")).read_text()


_SCRATCH: list[Path] = []


def _scratch() -> Path:
    if not _SCRATCH:
        import tempfile

        _SCRATCH.append(Path(tempfile.mkdtemp(prefix="fuzz-evidence-")))
    return _SCRATCH[0]


@st.composite
def csv_mutations(draw) -> bytes:
    """A valid stacked CSV export with 1-4 edits: cells, fields, lines or bytes."""
    lines = _valid_csv().split("\n")
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(
            st.sampled_from(["cell", "drop_field", "add_field", "line", "splice", "header"])
        )
        i = draw(st.integers(0, len(lines) - 1))
        fields = lines[i].split(",")
        j = draw(st.integers(0, max(0, len(fields) - 1)))
        if kind == "cell":
            fields[j] = draw(NASTY) + draw(st.text(max_size=4))
        elif kind == "drop_field" and len(fields) > 1:
            del fields[j]
        elif kind == "add_field":
            fields.insert(j, draw(NASTY))
        elif kind == "header":
            head = lines[0].split(",")
            head[draw(st.integers(1, len(head) - 1))] = draw(
                st.sampled_from(["study_id", "n", "", "bogus", "frame", "arm_id"])
            )
            lines[0] = ",".join(head)
        elif kind == "line":
            lines.insert(i, draw(NASTY) * draw(st.integers(0, 3)))
        lines[i] = ",".join(fields) if kind != "header" else lines[i]
        if kind == "splice":
            text = "\n".join(lines)
            k = draw(st.integers(0, len(text)))
            text = text[:k] + draw(st.text(max_size=8)) + text[k + draw(st.integers(0, 20)) :]
            lines = text.split("\n")
    data = "\n".join(lines).encode("utf-8", "surrogatepass")
    if draw(st.booleans()) and draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return data


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=6)
    | NASTY,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def json_mutations(draw) -> bytes:
    """A valid JSON export with values, keys or tables replaced, or its text cut/corrupted."""
    frames = small_frames()
    obj = json.loads(Path(write_evidence_file(frames, _scratch() / "valid.json")).read_text())
    tables = obj["frames"]
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["value", "key", "table", "record", "top"]))
        name = draw(st.sampled_from(sorted(tables)))
        if not tables[name] or not isinstance(tables[name], list):
            continue
        rec = tables[name][draw(st.integers(0, len(tables[name]) - 1))]
        if not isinstance(rec, dict):
            continue
        col = draw(st.sampled_from(sorted(rec)))
        if kind == "value":
            rec[col] = draw(JSON_VALUES)
        elif kind == "key":
            rec[draw(st.text(max_size=6) | NASTY)] = rec.pop(col)
        elif kind == "table":
            tables[name] = draw(JSON_VALUES)
        elif kind == "record":
            tables[name].append(draw(JSON_VALUES))
        else:
            obj = draw(st.sampled_from([tables, [obj], {"frames": draw(JSON_VALUES)}, obj]))
    text = json.dumps(obj, allow_nan=True)
    if draw(st.integers(0, 4)) == 0:
        k = draw(st.integers(0, len(text)))
        text = text[:k] + draw(st.sampled_from(["", "\\ud800", '"', "}", "\\u0000", "[" * 2000]))
    return text.encode()


CELLS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**64), 2**64)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=6)
    | st.sampled_from(["=1+2", "=A1", "=SUM(", "-1", "1e19", "NA", "rct", "reported", "smith2020"])
)


@st.composite
def excel_mutations(draw) -> bytes:
    """A valid export workbook with cells/headers/sheets changed, or its bytes damaged."""
    from openpyxl import load_workbook

    path = Path(write_evidence_file(small_frames(), _scratch() / "valid.xlsx"))
    wb = load_workbook(path)
    for _ in range(draw(st.integers(1, 4))):
        ws = wb[draw(st.sampled_from(wb.sheetnames))]
        kind = draw(st.sampled_from(["cell", "header", "rename", "row"]))
        if kind == "rename":
            ws.title = draw(st.sampled_from(["Sheet1", "studies2", "README", "arms"]))
            continue
        row = 1 if kind == "header" else draw(st.integers(2, max(2, ws.max_row + 1)))
        col = draw(st.integers(1, ws.max_column + 1))
        value = draw(CELLS)
        if kind == "header":
            value = draw(st.sampled_from(["study_id", "n", None, "bogus", "arm_id"]))
        if kind == "row":
            ws.append([draw(CELLS) for _ in range(draw(st.integers(0, 6)))])
            continue
        ws.cell(row=row, column=col, value=value)
    buf = io.BytesIO()
    wb.save(buf)
    data = buf.getvalue()
    if draw(st.integers(0, 5)) == 0:
        # A workbook's size varies (timestamps): draw where to damage it as a fraction.
        k = int(draw(st.floats(0, 1)) * (len(data) - 1))
        data = data[:k] + bytes([data[k] ^ 0xFF]) + data[k + 1 :]
    return data


def _fuzz(harness, tmp_path, strategy, suffix: str, capsys) -> None:
    @FUZZ
    @given(data=strategy)
    def one(data: bytes) -> None:
        path = tmp_path / f"input{suffix}"
        path.write_bytes(data)
        harness.check(path)

    one()
    with capsys.disabled():
        print(
            f"\n{suffix}: {len(harness.refused)} distinct bad inputs refused cleanly, "
            f"{len(harness.accepted)} accepted and imported exactly"
        )
    assert len(harness.refused) >= 10  # the generator does make bad inputs


def test_generated_csv(harness, tmp_path, capsys):
    _fuzz(harness, tmp_path, csv_mutations(), ".csv", capsys)


def test_generated_json(harness, tmp_path, capsys):
    _fuzz(harness, tmp_path, json_mutations(), ".json", capsys)


def test_generated_excel(harness, tmp_path, capsys):
    _fuzz(harness, tmp_path, excel_mutations(), ".xlsx", capsys)


def test_harness_detects_a_changed_database(harness, tmp_path):
    """The byte-identity check can fail: a successful import does change the file."""
    frames = small_frames("other2021")
    path = write_evidence_file(frames, tmp_path / "ok.csv")
    db = tmp_path / "work.sqlite"
    shutil.copyfile(harness.pristine, db)
    before = _digest(db)
    code, _, err = harness.run("import", str(path), "--db", str(db))
    assert code == 0, err
    assert _digest(db) != before
