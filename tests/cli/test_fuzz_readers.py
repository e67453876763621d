"""Property/fuzz suite for the readers of `classify` and `meta` (issue 12, "How it is
checked"): generated malformed CSV, JSON and Excel input either gives exit 2 with one
``Error:`` line, or a correct result (exit 0); never a traceback, never a file left behind.

Each distinct input that ended in a clean one-line error is counted; run with ``-s`` to see
the counts (``teardown_module`` prints them).
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import math
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sci_evidence.isncsci.levels import RESULT_COLUMNS
from support.random_exams import random_exams

BAD = Path(__file__).parents[1] / "data" / "bad"
# "Exception ignored in ..." is printed on stderr by the interpreter: it counts as a traceback
pytestmark = pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")
SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
COVERED: dict[str, set[str]] = {}


def teardown_module() -> None:
    total = sum(len(v) for v in COVERED.values())
    detail = ", ".join(f"{k}: {len(v)}" for k, v in sorted(COVERED.items()))
    print(f"\nfuzz: {total} distinct bad inputs gave one-line errors ({detail})")


def _run(args: list[str]) -> tuple[int, str, str]:
    """The CLI in-process; any exception other than SystemExit fails the test (traceback)."""
    from sci_evidence.cli import main

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with (
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore")
        try:
            main(args)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 0
    return code, out.getvalue(), err.getvalue()


def _check(kind: str, data: bytes, code: int, out: str, err: str) -> None:
    errors = [ln for ln in err.splitlines() if ln.startswith("Error:")]
    assert "Traceback" not in err
    assert code in (0, 2), (code, err[-1000:])
    if code == 2:
        assert len(errors) == 1, err[-1000:]
        assert len([ln for ln in err.splitlines() if ln.strip()]) == 1, err[-1000:]
        COVERED.setdefault(kind, set()).add(hashlib.sha1(data).hexdigest())
    else:
        assert not errors


# -- classify: mutated CSV ----------------------------------------------------------------
GOOD = random_exams(3, seed=1)
GOOD["id"] = ["e1", "e2", "e3"]
GOOD_CSV = GOOD.to_csv(index=False).encode()

MUTATION = st.one_of(
    st.tuples(st.just("insert"), st.integers(0, 10**6), st.binary(min_size=1, max_size=4)),
    st.tuples(
        st.just("insert"),
        st.integers(0, 10**6),
        st.sampled_from([b",", b'"', b"\n", b"\r", b"\x00", b"\xff", b"=", b",,", b'"\n"']),
    ),
    st.tuples(st.just("delete"), st.integers(0, 10**6), st.integers(1, 40)),
    st.tuples(st.just("truncate"), st.integers(0, 10**6), st.just(0)),
    st.tuples(
        st.just("swap_field"),
        st.integers(0, 10**6),
        st.sampled_from(
            [b"", b"NT", b"9", b"5*", b"-1", b"nan", b"inf", b"1e400", b"=1+1", b"\xe9", b"0**"]
        ),
    ),
)


def _mutate(data: bytes, mutations) -> bytes:
    for kind, pos, arg in mutations:
        pos = pos % (len(data) + 1)
        if kind == "insert":
            data = data[:pos] + arg + data[pos:]
        elif kind == "delete":
            data = data[:pos] + data[pos + arg :]
        elif kind == "truncate":
            data = data[:pos]
        else:  # replace the field around pos
            start = data.rfind(b",", 0, pos) + 1
            end = data.find(b",", pos)
            end = len(data) if end < 0 else end
            data = data[:start] + arg + data[end:]
    return data


def _classify_ok(out_path: Path, out: str) -> None:
    """A result is well formed: header and one row of 26 fields per exam."""
    text = out_path.read_text(encoding="utf-8") if out_path.exists() else out
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["id", *RESULT_COLUMNS]
    assert all(len(r) == 26 for r in rows[1:])


@SETTINGS
@given(st.lists(MUTATION, min_size=1, max_size=4))
def test_classify_mutated_csv(tmp_path_factory, mutations):
    d = tmp_path_factory.mktemp("csv")
    data = _mutate(GOOD_CSV, mutations)
    path = d / "exams.csv"
    path.write_bytes(data)
    out = d / "out.csv"
    code, stdout, err = _run(["classify", str(path), "-o", str(out)])
    _check("classify csv", data, code, stdout, err)
    if code == 0:
        _classify_ok(out, stdout)
    else:
        assert not out.exists()
    assert sorted(p.name for p in d.iterdir()) == (
        ["exams.csv", "out.csv"] if code == 0 else ["exams.csv"]
    )


# -- classify: generated JSON ---------------------------------------------------------------
JSON_SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    st.sampled_from(["NT", "5", "2", "0*", "Yes", "No", "C5", ""]),
)
JSON_ANY = st.recursive(
    JSON_SCALAR,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.sampled_from(["right", "left", "motor", "lightTouch", "id", "C5", "x"]),
            inner,
            max_size=4,
        ),
    ),
    max_leaves=12,
)
GOOD_RECORD = GOOD.iloc[0].to_dict()


@st.composite
def json_documents(draw) -> bytes:
    kind = draw(st.sampled_from(["any", "record", "raw"]))
    if kind == "any":
        return json.dumps(draw(JSON_ANY)).encode()
    if kind == "record":  # a valid exam with some fields replaced or removed
        rec = dict(GOOD_RECORD)
        for key in draw(st.lists(st.sampled_from(sorted(rec)), max_size=3)):
            if draw(st.booleans()):
                rec[key] = draw(JSON_ANY)
            else:
                rec.pop(key, None)
        return json.dumps([rec]).encode()
    raw = json.dumps([GOOD_RECORD]).encode()
    return _mutate(raw, draw(st.lists(MUTATION, min_size=1, max_size=3)))


@SETTINGS
@given(json_documents(), st.sampled_from([".json", ".jsonl"]))
def test_classify_generated_json(tmp_path_factory, data, suffix):
    d = tmp_path_factory.mktemp("json")
    path = d / f"exams{suffix}"
    path.write_bytes(data)
    out = d / "out.csv"
    code, stdout, err = _run(["classify", str(path), "-o", str(out)])
    _check("classify json", data, code, stdout, err)
    if code == 0:
        _classify_ok(out, stdout)


# -- classify: generated Excel --------------------------------------------------------------
EXCEL_VALUE = st.one_of(
    st.none(),
    st.integers(-5, 10),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.sampled_from(["NT", "5", "2", "1*", "Yes", "No", "C5", "", "=1+1", "=A1", "x"]),
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    st.lists(st.tuples(st.integers(1, 4), st.integers(1, 140), EXCEL_VALUE), min_size=1, max_size=6)
)
def test_classify_generated_excel(tmp_path_factory, edits):
    openpyxl = pytest.importorskip("openpyxl")
    d = tmp_path_factory.mktemp("xlsx")
    path = d / "exams.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(list(GOOD.columns))
    for row in GOOD.itertuples(index=False):
        sheet.append(list(row))
    for r, c, value in edits:
        sheet.cell(row=r, column=c).value = value
    book.save(path)
    code, stdout, err = _run(["classify", str(path)])
    _check("classify excel", repr(edits).encode(), code, stdout, err)
    if code == 0:
        _classify_ok(d / "none", stdout)


# -- meta: generated CSV --------------------------------------------------------------------
META_CELL = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=1e-3, max_value=10),
    st.sampled_from(["", "nan", "inf", "-inf", "1e400", "1e200", "1e-300", "abc", "0", "-1"]),
    st.text(alphabet=",\"'\n=+- abc\t", max_size=4),
)


@st.composite
def meta_csvs(draw) -> bytes:
    header = draw(st.lists(st.sampled_from(["study", "yi", "vi", "x"]), min_size=1, max_size=5))
    rows = []
    for _ in range(draw(st.integers(0, 6))):
        width = len(header) + draw(st.sampled_from([0, 0, 0, -1, 1]))
        rows.append([draw(META_CELL) for _ in range(max(width, 0))])
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([repr(v) if isinstance(v, float) else v for v in row])
    return buf.getvalue().encode()


@SETTINGS
@given(meta_csvs(), st.booleans(), st.booleans())
def test_meta_generated_csv(tmp_path_factory, data, with_plot, as_json):
    d = tmp_path_factory.mktemp("meta")
    path = d / "data.csv"
    path.write_bytes(data)
    args = ["meta", str(path), "--yi", "yi", "--vi", "vi"]
    plot = d / "forest.png"
    if with_plot:
        args += ["--plot", str(plot)]
    if as_json:
        args += ["--json"]
    code, stdout, err = _run(args)
    _check("meta csv", data, code, stdout, err)
    if code == 0:
        # a correct result: the studies left after dropping missing values, finite numbers
        if as_json:
            doc = json.loads(stdout)
            assert doc["k"] >= 1 and math.isfinite(doc["estimate"])
        else:
            assert "k = " in stdout
            assert " NA " not in stdout and "nan" not in stdout.lower().replace("nan)", "")
        if with_plot:
            assert plot.exists()
    else:
        assert sorted(p.name for p in d.iterdir()) == ["data.csv"]


@pytest.mark.parametrize(
    "name", sorted(p.name for p in BAD.iterdir() if p.name.startswith("meta_"))
)
def test_meta_bad_files_never_trace(name):
    data = (BAD / name).read_bytes()
    code, stdout, err = _run(["meta", str(BAD / name), "--yi", "yi", "--vi", "vi"])
    _check("meta files", data, code, stdout, err)


@pytest.mark.parametrize(
    "name", sorted(p.name for p in BAD.iterdir() if p.name.startswith("exams_"))
)
def test_exam_bad_files_never_trace(name):
    data = (BAD / name).read_bytes()
    code, stdout, err = _run(["classify", str(BAD / name)])
    _check("classify files", data, code, stdout, err)
