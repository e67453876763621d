"""Data entry: a form or an uploaded file becomes text tables that the evidence validator
checks exactly as ``sci-evidence evidence import`` does; nothing is written unless every
check passes.

A form is one row of one frame (``studies``, ``arms``, ``outcomes``, ``adverse_events``):
its cells are handed to :func:`sci_evidence.evidence.validate.validate_tables` as a
:class:`~sci_evidence.evidence.io.RawTable` (location ``form``), with the stored frames as the
references. A saved edit replaces the whole study in the store (so the store's history shows
one change per study), built from the stored rows with the edited row in place.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from sci_evidence.evidence.columns import FRAMES, KEYS, VOCAB
from sci_evidence.web.history import snapshot_frames, study_snapshot

EDITABLE = ("studies", "arms", "outcomes", "adverse_events")
FRAME_TITLES = {
    "studies": "Study",
    "arms": "Arm",
    "outcomes": "Outcome",
    "adverse_events": "Adverse event",
}


@dataclass(frozen=True)
class Field:
    name: str
    kind: str  # str, int, float, bool
    choices: tuple[str, ...]  # controlled vocabulary ("" allowed when listed)
    key: bool


def form_fields(frame: str) -> list[Field]:
    from sci_evidence.evidence.columns import OUTCOME_DOMAINS, STATUS

    out = []
    for col, kind in FRAMES[frame]:
        choices = VOCAB.get((frame, col), ())
        if col == "status":
            choices = STATUS
        if (frame, col) == ("outcomes", "outcome"):
            choices = tuple(OUTCOME_DOMAINS)
        if (frame, col) == ("outcomes", "domain"):
            choices = ("", *sorted(set(OUTCOME_DOMAINS.values())))
        if kind == "bool":
            choices = ("", "true", "false")
        out.append(Field(col, kind, tuple(choices), col in KEYS[frame]))
    return out


def row_values(form, frame: str) -> dict[str, str]:  # noqa: ANN001 - a form Mapping
    """The frame's cells from a submitted form, as text (unknown fields ignored)."""
    return {col: str(form.get(col, "") or "").strip() for col, _ in FRAMES[frame]}


def record_values(record: dict, frame: str) -> dict[str, str]:
    """A stored record as form text (the reverse of parsing)."""
    out = {}
    for col, kind in FRAMES[frame]:
        v = record.get(col)
        if v is None:
            out[col] = ""
        elif kind == "bool":
            out[col] = "true" if v else "false"
        elif kind == "float":
            out[col] = (
                repr(float(v)) if float(v) != int(float(v)) or abs(v) >= 1e15 else str(int(v))
            )
        else:
            out[col] = str(v)
    return out


def validate_row(frame: str, values: dict[str, str], existing: dict[str, pd.DataFrame]):  # noqa: ANN201
    """Validate one form row with the evidence validator; return the ValidationReport."""
    from sci_evidence.evidence.io import RawTable
    from sci_evidence.evidence.validate import validate_tables

    df = pd.DataFrame([values], columns=[c for c, _ in FRAMES[frame]], dtype=object)
    table = RawTable(name=frame, df=df, location="form", rows=(1,))
    return validate_tables([table], existing)


def find_record(evidence, frame: str, key: str) -> dict | None:  # noqa: ANN001
    from sci_evidence.evidence.model import records

    df = getattr(evidence, frame)
    col = KEYS[frame][0]
    hit = df[df[col] == key]
    return records(hit)[0] if len(hit) else None


def frames_for_row(evidence, frame: str, typed_row: pd.DataFrame) -> tuple[str, dict]:  # noqa: ANN001
    """(study id, frames to import) for one validated row.

    The frames hold the whole study with the row added or replaced, so the store replaces
    the study in one transaction.
    """
    from sci_evidence.evidence.model import records

    rec = records(typed_row)[0]
    sid = rec["study_id"]
    before = study_snapshot(evidence, sid)
    after = (
        {k: list(v) for k, v in (before or {}).items()}
        if before
        else {
            n: []
            for n in (
                "studies",
                "arms",
                "outcomes",
                "adverse_events",
                "risk_of_bias",
                "provenance",
                "screening",
            )
        }
    )
    key = KEYS[frame]
    rows = [r for r in after[frame] if tuple(r[k] for k in key) != tuple(rec[k] for k in key)]
    old_pos = [
        i
        for i, r in enumerate(after[frame])
        if tuple(r[k] for k in key) == tuple(rec[k] for k in key)
    ]
    if old_pos:
        rows.insert(old_pos[0], rec)
    else:
        rows.append(rec)
    after[frame] = rows
    return sid, snapshot_frames(after)


# ------------------------------------------------------------------ upload
def read_upload(data: bytes, filename: str):  # noqa: ANN201 - list of RawTable
    """Read an uploaded evidence file (CSV, Excel or JSON) with the evidence reader."""
    from sci_evidence.errors import InputError
    from sci_evidence.evidence.io import file_format, read_evidence_file

    name = Path(filename or "upload.csv").name
    file_format(name)  # a clear error for an unsupported type
    if len(data) > 20 * 1024 * 1024:
        raise InputError("the file is larger than 20 MB", file=name)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        tables = read_evidence_file(path)
    # the messages should name the file the user chose, not the temporary copy
    from dataclasses import replace

    return [replace(t, location=t.location.replace(str(path), name)) for t in tables]


def preview(evidence, frames: dict[str, pd.DataFrame]) -> list[dict]:  # noqa: ANN001
    """What an import of ``frames`` would change, per study: added or replaced whole (with
    every row added, removed or changed) or rows upserted."""
    from sci_evidence.evidence.model import records
    from sci_evidence.web.history import diff

    out = []
    whole = list(dict.fromkeys(frames["studies"]["study_id"])) if "studies" in frames else []
    touched = list(whole)
    for name in ("arms", "outcomes", "adverse_events", "risk_of_bias"):
        if name in frames:
            touched += [s for s in frames[name]["study_id"] if s not in touched]
    for sid in touched:
        before = study_snapshot(evidence, sid)
        after = {k: list(v) for k, v in (before or {}).items()} if before else {}
        for name in ("studies", "arms", "outcomes", "adverse_events", "risk_of_bias"):
            if name not in frames:
                continue
            df = frames[name]
            recs = records(df[df["study_id"] == sid])
            if sid in whole:
                after[name] = recs
            else:
                key = KEYS[name]
                keys = {tuple(r[k] for k in key) for r in recs}
                after[name] = [
                    r for r in after.get(name, []) if tuple(r[k] for k in key) not in keys
                ] + recs
        if sid in whole:
            for name in ("arms", "outcomes", "adverse_events", "risk_of_bias"):
                if name not in frames:
                    after[name] = []
        changes = [
            d
            for d in diff(before, after)
            if d["table"] != "provenance" and d["table"] != "screening"
        ]
        kind = "add" if before is None else ("replace" if sid in whole else "update")
        out.append({"study_id": sid, "kind": kind, "changes": changes})
    return out
