"""Classifying exam files and writing results (CSV, JSON, JSON lines).

This is the I/O edge of the ISNCSCI part: the classification core never touches files.
The readers live in :mod:`sci_evidence.isncsci.readers`.

Large files stream: a CSV is read in blocks of about
:data:`~sci_evidence.isncsci.readers.BLOCK_ROWS` exams (pyarrow's streaming reader), each
block is validated, classified and written before the next is read, so memory stays bounded
whatever the number of exams (:func:`classify_blocks`, :func:`classify_to`,
:func:`write_result_blocks`). CSV text cells are neutralised against formula injection.
"""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from sci_evidence.errors import DataWarning, InputError
from sci_evidence.isncsci._codes import EncodedExams, encode_table
from sci_evidence.isncsci.batch import (
    OutsideNonKey,
    cell_error,
    exam_ids,
    frame_from_codes,
    result_codes,
    warn_outside_non_key,
)
from sci_evidence.isncsci.levels import INPUT_COLUMNS, RESULT_COLUMNS
from sci_evidence.isncsci.readers import EXAM_SUFFIXES, iter_tables, load_table
from sci_evidence.outputs import atomic_write, csv_safe_cell

__all__ = [
    "EXAM_SUFFIXES",
    "RESULT_SUFFIXES",
    "ResultBlock",
    "classify_blocks",
    "classify_file",
    "classify_to",
    "read_exams",
    "results_csv",
    "write_result_blocks",
    "write_results",
]

RESULT_SUFFIXES = (".csv", ".json", ".jsonl")


def _encode_block(
    frame: pd.DataFrame, first_row: int, file: str, *, skip_invalid: bool
) -> tuple[pd.DataFrame, EncodedExams, list[str]]:
    """Code and validate one block; ``first_row`` numbers its first exam in messages."""
    has_id = "id" in frame.columns
    ids = exam_ids(frame) if has_id else [f"row {i + first_row}" for i in range(len(frame))]
    try:
        enc = encode_table(frame, ids)
    except InputError as exc:
        raise exc.with_file(file) from None
    if enc.errors:
        if not skip_invalid:
            err = enc.errors[0]
            raise cell_error(err, file=file, row=err.position + first_row)
        for err in enc.errors:
            warnings.warn(
                f"skipped: {cell_error(err, file=file, row=err.position + first_row)}",
                DataWarning,
                stacklevel=4,
            )
        keep = np.ones(len(frame), dtype=bool)
        keep[[e.position for e in enc.errors]] = False
        rows = np.flatnonzero(keep)
        frame = frame.iloc[rows].reset_index(drop=True)
        ids = [ids[i] for i in rows]
        enc = enc.take(rows)
    return frame, enc, ids


def _encode(
    path: str | Path, *, skip_invalid: bool
) -> tuple[pd.DataFrame, EncodedExams, list[str], bool]:
    frame, first_row = load_table(path)
    has_id = "id" in frame.columns
    frame, enc, ids = _encode_block(frame, first_row, str(path), skip_invalid=skip_invalid)
    warn_outside_non_key(enc, ids)
    return frame, enc, ids, has_id


class ResultBlock:
    """The results of one block: exam ids and, per result column, (codes, texts)."""

    __slots__ = ("ids", "codes")

    def __init__(self, ids: list[str], codes: dict[str, tuple[np.ndarray, np.ndarray]]):
        self.ids, self.codes = ids, codes

    def __len__(self) -> int:
        return len(self.ids)

    def frame(self) -> pd.DataFrame:
        return frame_from_codes(self.codes, self.ids)

    def csv(self, *, header: bool) -> str:
        """CSV text of the block; each distinct result text is quoted once."""
        columns = [_csv_text_column(np.asarray(self.ids, dtype=object))]
        for name in RESULT_COLUMNS:
            codes, texts = self.codes[name]
            quoted = np.array([_csv_cell(t) for t in texts.tolist()], dtype=object)
            columns.append(quoted[codes].tolist())
        head = ",".join(["id", *RESULT_COLUMNS]) + "\n" if header else ""
        body = "\n".join(map(",".join, zip(*columns, strict=True)))
        return head + (body + "\n" if len(self) else "")


def _result_blocks(path: str | Path, *, skip_invalid: bool) -> Iterator[ResultBlock]:
    file = str(path)
    outside = OutsideNonKey()
    blocks = 0
    for frame, first_row in iter_tables(path):
        blocks += 1
        _, enc, ids = _encode_block(frame, first_row, file, skip_invalid=skip_invalid)
        del frame
        outside.add(enc, ids)
        yield ResultBlock(ids, result_codes(enc))
    if not blocks:
        raise InputError("no exams in file", file=file)
    outside.warn(stacklevel=4)


def classify_blocks(path: str | Path, *, skip_invalid: bool = False) -> Iterator[pd.DataFrame]:
    """Read, validate and classify the exams of a file block by block (bounded memory).

    Yields the results of each block (``id`` and the 25 result columns), in file order. The
    non-key-muscle warning is given once, at the end, for the whole file.

    Raises
    ------
    InputError
        As :func:`read_exams`; an error in a later block is raised when that block is
        reached (write through :func:`write_result_blocks`, which then leaves no file).
    """
    for block in _result_blocks(path, skip_invalid=skip_invalid):
        yield block.frame()


def classify_to(path: str | Path, output: str | Path | None, *, skip_invalid: bool = False) -> int:
    """Classify the exams of ``path`` and stream the results to ``output`` (CSV, JSON or
    JSON lines; ``None``: CSV on standard output). Returns the number of exams written.

    Memory stays bounded by the block size whatever the number of exams; the output file
    is written atomically (see :func:`write_result_blocks`).
    """
    return write_result_blocks(_result_blocks(path, skip_invalid=skip_invalid), output)


def read_exams(path: str | Path, *, skip_invalid: bool = False) -> pd.DataFrame:
    """Read and validate exams from a file, into the reference's flat layout.

    Parameters
    ----------
    path : str or Path
        ``.csv`` (flat columns plus optional ``id``), ``.json`` (a list of flat objects, one
        nested exam as in the reference's demo, or a list of nested exams), ``.jsonl``
        (one flat or nested object per line) or ``.xlsx`` (first sheet, flat columns).
    skip_invalid : bool, default False
        Drop exams with an invalid value (each reported as a
        :class:`~sci_evidence.errors.DataWarning`) instead of raising.

    Returns
    -------
    DataFrame
        ``id`` and the :data:`INPUT_COLUMNS`, as strings (empty for no non-key muscle).

    Raises
    ------
    InputError
        Unreadable file, missing column, or (without ``skip_invalid``) the first invalid
        value, naming the file, row, exam id, field and value.
    """
    frame, _, ids, _ = _encode(path, skip_invalid=skip_invalid)
    out = pd.DataFrame({"id": pd.Series(ids, dtype=object)})
    for column in INPUT_COLUMNS:
        if column in frame.columns:
            out[column] = frame[column].astype(object).to_numpy()
        else:
            out[column] = ""
    return out


def classify_file(path: str | Path, *, skip_invalid: bool = False) -> pd.DataFrame:
    """Read, validate and classify the exams of a file: ``id`` and the 25 result columns."""
    blocks = list(classify_blocks(path, skip_invalid=skip_invalid))
    if len(blocks) == 1:
        return blocks[0]
    return pd.concat(blocks, ignore_index=True)


def _csv_field(text: str) -> str:
    if any(ch in text for ch in ',"\n\r'):
        return '"' + text.replace('"', '""') + '"'
    return text


def _csv_cell(value: Any) -> str:
    """One CSV field: text a spreadsheet would run as a formula is neutralised (OWASP)."""
    return _csv_field(csv_safe_cell("" if value is None else str(value)))


def _csv_text_column(values: np.ndarray) -> list[str]:
    """CSV fields of a column of (mostly distinct) texts such as exam ids, vectorised: only
    the cells that need quoting or formula neutralising go through Python."""
    import pyarrow as pa
    import pyarrow.compute as pc

    texts = ["" if v is None else str(v) for v in values.tolist()]
    needs = pc.match_substring_regex(pa.array(texts, type=pa.string()), r'^[=+\-@\t\r]|[,"\n\r]')
    for i in np.flatnonzero(needs.to_numpy(zero_copy_only=False)):
        texts[i] = _csv_cell(texts[i])
    return texts


def results_csv(results: pd.DataFrame, *, header: bool = True) -> str:
    """CSV text of a results table (as ``DataFrame.to_csv(index=False)`` writes it).

    Text cells starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return (possible
    only in a user's exam ``id``) get a leading ``'`` so a spreadsheet shows them instead of
    running them; numbers such as ``-5`` stay numbers. Result columns take few distinct
    values, so each distinct value is quoted once and the rows are joined in one pass:
    several times faster than ``to_csv`` on 100,000 exams.
    """
    columns = []
    for name in results.columns:
        values = results[name].to_numpy(dtype=object)
        if name == "id":
            columns.append(_csv_text_column(values))
            continue
        codes, uniques = pd.factorize(values, use_na_sentinel=False)
        quoted = np.array([_csv_cell(u) for u in uniques], dtype=object)
        columns.append(quoted[codes].tolist())
    head = ",".join(_csv_cell(c) for c in results.columns) + "\n" if header else ""
    body = "\n".join(map(",".join, zip(*columns, strict=True)))
    return head + (body + "\n" if len(results) else "")


def _json_records(results: pd.DataFrame) -> list[str]:
    return [json.dumps(rec, ensure_ascii=False) for rec in results.to_dict("records")]


def _write_blocks(blocks: Iterable[pd.DataFrame | ResultBlock], kind: str, out: IO[str]) -> int:
    """Write each block as it comes: CSV (one header), a JSON list, or JSON lines."""
    n = 0
    started = False
    for block in blocks:
        if kind == ".csv":
            if isinstance(block, ResultBlock):
                out.write(block.csv(header=not started))
            else:
                out.write(results_csv(block, header=not started))
        else:
            frame = block.frame() if isinstance(block, ResultBlock) else block
            records = _json_records(frame)
            if kind == ".jsonl":
                out.write("".join(r + "\n" for r in records))
            elif records:
                out.write(("[\n " if n == 0 else ",\n ") + ",\n ".join(records))
        started = True
        n += len(block)
    if kind == ".json":
        out.write("\n]\n" if n else "[]\n")
    return n


def write_result_blocks(
    blocks: Iterable[pd.DataFrame | ResultBlock],
    path: str | Path | None,
    *,
    stdout: IO[str] | None = None,
) -> int:
    """Write results block by block; return the number of exams written.

    ``path`` ending in ``.csv``, ``.json`` (a list of objects) or ``.jsonl`` is written
    atomically: to a temporary file beside it, renamed into place only when every block is
    written (an error in a later block, Ctrl-C or a full disk leave any existing file as it
    was). ``None`` writes CSV to ``stdout`` (default ``sys.stdout``) as the blocks come.
    """
    if path is None:
        return _write_blocks(blocks, ".csv", stdout or sys.stdout)
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in RESULT_SUFFIXES:
        raise InputError(
            f"unknown output type {suffix!r}; use one of {', '.join(RESULT_SUFFIXES)}", file=str(p)
        )
    with atomic_write(p, "w", encoding="utf-8", newline="") as fh:
        return _write_blocks(blocks, suffix, fh)


def write_results(results: pd.DataFrame, path: str | Path | None) -> str | None:
    """Write results as CSV, JSON (a list of objects) or JSON lines; return CSV text for None."""
    if path is None:
        return results_csv(results)
    write_result_blocks([results], path)
    return None
