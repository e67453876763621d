"""issue 12: malformed trial tables give one InputError line (or a correct analysis), never a
traceback. Hypothesis mutates a valid synthetic trial CSV: cells, columns, rows, bytes."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sci_evidence.errors import SciEvidenceError
from sci_evidence.trials import analyze_trial, read_trial_table
from support.synthetic_trials import synthetic_trial

_BASE = synthetic_trial(3, seed=4, visits=(10, 200)).exams.to_csv(index=False)
_ROWS = list(csv.reader(io.StringIO(_BASE)))
_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)), min_size=0, max_size=8
) | st.sampled_from(["", "NT", "5*", "-1", "1e309", "nan", "=1+1", "Yes", "C5", "INT", "\x00"])


@st.composite
def mutated_csv(draw) -> bytes:
    rows = [list(r) for r in _ROWS]
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(
            st.sampled_from(["cell", "drop_col", "dup_header", "ragged", "drop_row", "blank"])
        )
        if not rows or not rows[0] or (kind in ("ragged", "drop_row") and len(rows) < 2):
            continue
        if kind == "cell":
            i = draw(st.integers(0, len(rows) - 1))
            if rows[i]:
                rows[i][draw(st.integers(0, len(rows[i]) - 1))] = draw(_TEXT)
        elif kind == "drop_col":
            j = draw(st.integers(0, len(rows[0]) - 1))
            rows = [r[:j] + r[j + 1 :] for r in rows]
        elif kind == "dup_header":
            j = draw(st.integers(0, len(rows[0]) - 1))
            k = draw(st.integers(0, len(rows[0]) - 1))
            rows[0][k] = rows[0][j]
        elif kind == "ragged":
            i = draw(st.integers(1, len(rows) - 1))
            rows[i] = rows[i][: draw(st.integers(0, len(rows[i])))] + draw(
                st.lists(_TEXT, max_size=2)
            )
        elif kind == "drop_row":
            del rows[draw(st.integers(1, len(rows) - 1))]
        elif kind == "blank":
            rows = rows[:1]
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    data = out.getvalue().encode("utf-8", "surrogatepass")
    if draw(st.booleans()):
        cut = draw(st.integers(0, len(data)))
        data = data[:cut] + draw(st.binary(max_size=4)) + data[cut:]
    return data


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=mutated_csv())
def test_malformed_tables_are_one_input_error_or_an_analysis(tmp_path, data):
    path = tmp_path / "trial.csv"
    path.write_bytes(data)
    try:
        table = read_trial_table(path)
        analysis = analyze_trial(table)
    except SciEvidenceError as exc:
        message = str(exc)
        assert message and "\n" not in message
        return
    assert len(analysis.patients) >= 1


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"\xff\xfe\x00garbage",
        b"patient_id,arm,visit\n",
        "\ufeff".encode() + _BASE.encode()[:200],
    ],
)
def test_degenerate_files_are_one_line(tmp_path, content):
    path = tmp_path / "t.csv"
    path.write_bytes(content)
    with pytest.raises(SciEvidenceError) as info:
        analyze_trial(read_trial_table(path))
    assert "\n" not in str(info.value)
