"""The evidence set: the frames of the evidence base as one frozen, hashable object."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field

import pandas as pd

from sci_evidence.errors import NotFoundError
from sci_evidence.evidence.columns import FRAME_NAMES, FRAMES, KEYS


def data_hash(frames: dict[str, pd.DataFrame]) -> str:
    """SHA-256 of the content: the canonical CSV of every frame, rows sorted by their key.

    Only the values count — not the storage, surrogate ids, timestamps or the order rows were
    written in — so two evidence sets with the same rows have the same hash (a database
    after re-importing unchanged data or reverting a change keeps it) and a review can record
    which evidence it used. Frames in ``FRAME_NAMES`` order; rows ordered by
    ``columns.KEYS`` and then by every other column.
    """
    h = hashlib.sha256()
    for name in FRAME_NAMES:
        df = frames[name]
        h.update(name.encode())
        h.update(b"\0")
        h.update(
            _canonical(df, KEYS.get(name, ())).to_csv(index=False, lineterminator="\n").encode()
        )
    return h.hexdigest()


def _canonical(df: pd.DataFrame, keys: tuple[str, ...]) -> pd.DataFrame:
    """``df`` with its rows in a canonical order (by key, then every column, as text)."""
    if len(df) < 2:
        return df
    cols = [*[k for k in keys if k in df.columns], *[c for c in df.columns if c not in keys]]
    text = [df[c].astype(str).tolist() for c in cols]
    order = sorted(range(len(df)), key=lambda i: tuple(t[i] for t in text))
    return df.iloc[order]


@dataclass(frozen=True)
class EvidenceSet:
    """The evidence base as pandas DataFrames (columns: ``docs/evidence_schema.md``).

    Attributes
    ----------
    studies, arms, outcomes, adverse_events, risk_of_bias, screening,
    natural_history_conversion, natural_history_scores, published_pooled, provenance,
    conflicts, sources, review_candidates : pandas.DataFrame
        One frame per table; each has exactly the documented columns and dtypes.
    data_hash : str
        SHA-256 over the canonical CSV of every frame (see :func:`data_hash`).
    origin : str
        ``"bundled"`` or the database URL (password masked) the frames were read from.
    """

    studies: pd.DataFrame
    arms: pd.DataFrame
    outcomes: pd.DataFrame
    adverse_events: pd.DataFrame
    risk_of_bias: pd.DataFrame
    screening: pd.DataFrame
    natural_history_conversion: pd.DataFrame
    natural_history_scores: pd.DataFrame
    published_pooled: pd.DataFrame
    provenance: pd.DataFrame
    conflicts: pd.DataFrame
    sources: pd.DataFrame
    review_candidates: pd.DataFrame
    data_hash: str = ""
    origin: str = field(default="bundled")

    @classmethod
    def from_frames(cls, frames: dict[str, pd.DataFrame], origin: str = "bundled") -> EvidenceSet:
        """Build an evidence set (and its hash) from a dict of frames."""
        return cls(
            **{n: frames[n] for n in FRAME_NAMES}, data_hash=data_hash(frames), origin=origin
        )

    def frames(self) -> dict[str, pd.DataFrame]:
        """The frames by name, in ``FRAME_NAMES`` order."""
        return {n: getattr(self, n) for n in FRAME_NAMES}

    def study(self, study_id: str) -> dict:
        """Everything about one study: its row and the rows of every frame that names it.

        Raises
        ------
        NotFoundError
            When no study has that id.
        """
        if study_id not in set(self.studies["study_id"]):
            raise NotFoundError(f"no study '{study_id}' in the evidence base")
        out: dict = {"study": _records(self.studies[self.studies["study_id"] == study_id])[0]}
        for name in ("arms", "outcomes", "adverse_events", "risk_of_bias", "conflicts"):
            df = getattr(self, name)
            out[name] = _records(df[df["study_id"] == study_id])
        arm_ids = set(self.arms.loc[self.arms["study_id"] == study_id, "arm_id"])
        prov = self.provenance
        out["provenance"] = _records(prov[(prov["key"] == study_id) | prov["key"].isin(arm_ids)])
        return out

    def to_frame(self) -> pd.DataFrame:
        """One row per arm with its study's citation and design (a wide overview)."""
        cols = ["study_id", "first_author", "year", "journal", "design", "controlled"]
        return self.arms.merge(self.studies[cols], on="study_id", how="left")

    def to_dict(self) -> dict:
        """JSON-safe: frame name → list of records (missing values as ``None``), plus the hash."""
        out: dict = {n: _records(df) for n, df in self.frames().items()}
        out["data_hash"] = self.data_hash
        return out

    def summary(self) -> str:
        """A short text overview: counts of studies, arms, patients and rows per frame."""
        arms = self.arms
        n_pat = int(arms["n"].sum(skipna=True))
        lines = [
            f"Evidence base ({self.origin}), data hash {self.data_hash[:12]}",
            f"  {len(self.studies)} studies, {len(arms)} arms "
            f"({int((arms['role'] == 'treated').sum())} treated, "
            f"{int((arms['role'] == 'control').sum())} control), {n_pat} patients with known n",
        ]
        for name in FRAME_NAMES[2:]:
            lines.append(f"  {name}: {len(getattr(self, name))} rows")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"EvidenceSet({len(self.studies)} studies, {len(self.arms)} arms, "
            f"{len(self.outcomes)} outcomes, hash={self.data_hash[:12]})"
        )


def records(df: pd.DataFrame) -> list[dict]:
    """Rows as JSON-safe dicts: numpy scalars to Python, NA/NaN to None."""
    kinds = dict(
        next(
            iter([FRAMES[n] for n in FRAMES if [c for c, _ in FRAMES[n]] == list(df.columns)]),
            [(c, "str") for c in df.columns],
        )
    )
    cols = list(df.columns)
    if not cols:
        return [{} for _ in range(len(df))]
    # Column by column (one tolist() each), then zipped: iterating rows of a wide frame
    # cell by cell was the slowest step of a large import.
    values = [_column_values(df.iloc[:, j], kinds.get(c, "str")) for j, c in enumerate(cols)]
    return [dict(zip(cols, row, strict=True)) for row in zip(*values, strict=True)]


def _column_values(s: pd.Series, kind: str) -> list:
    values = s.tolist()
    if kind == "float":
        return [None if v is None or v is pd.NA or v != v else float(v) for v in values]
    if kind == "str":
        return [
            v if type(v) is str else _json_value(v, kind)  # noqa: E721 - exact type: fast path
            for v in values
        ]
    return [_json_value(v, kind) for v in values]


def _json_value(v: object, kind: str) -> object:
    if v is None or v is pd.NA:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    if kind == "int":
        return int(v)
    if kind == "float":
        return float(v)
    if kind == "bool":
        return bool(v)
    if hasattr(v, "item"):
        return v.item()
    return v


def records_to_json(records: list[dict]) -> str:
    """Records as pretty JSON text."""
    return json.dumps(records, indent=2, ensure_ascii=False)


#: the evidence layer's own callers use the earlier private name
_records = records
