"""What changed since the last run: a review's ``results.json`` beside an earlier one.

``compare_results(new, previous)`` takes two ``results.json`` documents (the new one is
:meth:`~sci_evidence.review.results.ReviewResult.to_dict`) and returns a frozen
:class:`ReviewChanges`: studies added and removed, every pooled estimate and interval before
and after (on the scale people read: proportions, ratios, points), analyses that appeared,
disappeared or changed status, GRADE certainty changes, key messages whose wording changed, and
the data, protocol and software versions of both runs. ``load_previous(folder)`` reads the
earlier ``results.json`` (one-line :class:`~sci_evidence.errors.InputError` when it cannot).

Two numbers count as the same when they agree to ``REL_TOL`` (relative): a re-run on the same
evidence repeats the fits bit for bit on one machine, but another BLAS may differ in the last
digits, and such noise is not a change a reader should be told about.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from sci_evidence.errors import InputError

__all__ = ["EstimateChange", "ReviewChanges", "compare_results", "load_previous"]

#: Relative tolerance below which two pooled numbers are "unchanged" (floating-point noise).
REL_TOL = 1e-9


def load_previous(folder: str | Path) -> dict:
    """The ``results.json`` of an earlier review's output folder.

    Raises
    ------
    InputError
        When ``folder/results.json`` is missing, unreadable or not a review's results
        (one line naming the file).
    """
    path = Path(folder) / "results.json"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(
            "--compare: no results.json in this folder (name an earlier review's --out folder)",
            file=str(path),
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"--compare: cannot read results.json ({msg})", file=str(path)) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("analyses"), list):
        raise InputError(
            "--compare: not the results.json of a review (no 'analyses' list)", file=str(path)
        )
    return doc


@dataclass(frozen=True)
class EstimateChange:
    """One pooled estimate before and after (None: the fit did not exist then).

    ``before``/``after`` are ``(estimate, ci_lb, ci_ub)`` on the scale people read
    (``scale``: ``proportion``, ``ratio``, ``difference``, ...); ``text_before``/``text_after``
    say them in words (percentages for proportions, the ratio for RR/OR).
    """

    id: str
    title: str
    measure: str
    scale: str
    k_before: int | None
    k_after: int | None
    before: tuple[float | None, float | None, float | None] | None
    after: tuple[float | None, float | None, float | None] | None
    text_before: str
    text_after: str

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "title": self.title,
            "measure": self.measure,
            "scale": self.scale,
            "k_before": self.k_before,
            "k_after": self.k_after,
            "before": None if self.before is None else list(self.before),
            "after": None if self.after is None else list(self.after),
            "text_before": self.text_before,
            "text_after": self.text_after,
        }


@dataclass(frozen=True)
class ReviewChanges:
    """What differs between two runs of a review (``previous`` → this run).

    Attributes
    ----------
    previous : str
        The earlier output folder.
    data_hash, protocol_hash, software_version : (str or None, str or None)
        Before and after.
    studies_added, studies_removed : tuple of (study_id, label)
    estimates : tuple of EstimateChange
        Pooled estimates (main, sensitivity and subgroup fits) whose estimate, interval or
        number of studies changed; fits present in one run only are listed too.
    n_estimates_compared : int
        Fits present in both runs.
    analyses_appeared, analyses_disappeared : tuple of (id, title, status)
        Protocol analyses (pooled or not) present in one run only.
    status_changed : tuple of (id, title, before, after)
        E.g. ``single study`` → ``pooled``.
    certainty_changed : tuple of (id, title, before, after)
        GRADE certainty of a pooled analysis (None: not rated in that run).
    messages_changed : tuple of (id, question, before, after)
        Key messages whose wording changed (None: no such message in that run).
    """

    previous: str
    data_hash: tuple[str | None, str | None]
    protocol_hash: tuple[str | None, str | None]
    software_version: tuple[str | None, str | None]
    studies_added: tuple[tuple[str, str], ...] = ()
    studies_removed: tuple[tuple[str, str], ...] = ()
    estimates: tuple[EstimateChange, ...] = ()
    n_estimates_compared: int = 0
    analyses_appeared: tuple[tuple[str, str, str], ...] = ()
    analyses_disappeared: tuple[tuple[str, str, str], ...] = ()
    status_changed: tuple[tuple[str, str, str, str], ...] = ()
    certainty_changed: tuple[tuple[str, str, str | None, str | None], ...] = ()
    messages_changed: tuple[tuple[str, str, str | None, str | None], ...] = ()

    @property
    def data_changed(self) -> bool:
        return self.data_hash[0] != self.data_hash[1]

    @property
    def protocol_changed(self) -> bool:
        return self.protocol_hash[0] != self.protocol_hash[1]

    @property
    def no_changes(self) -> bool:
        """True when neither the evidence, the protocol nor any reported result changed."""
        return not (
            self.data_changed
            or self.protocol_changed
            or self.studies_added
            or self.studies_removed
            or self.estimates
            or self.analyses_appeared
            or self.analyses_disappeared
            or self.status_changed
            or self.certainty_changed
            or self.messages_changed
        )

    def summary(self) -> str:
        """The changes as plain text lines."""
        if self.no_changes:
            return f"No changes since {self.previous}: same evidence, protocol and results."
        lines = [f"Changes since {self.previous}:"]
        if self.data_changed:
            lines.append(f"  data hash {_short(self.data_hash[0])} → {_short(self.data_hash[1])}")
        if self.protocol_changed:
            b, a = self.protocol_hash
            lines.append(f"  protocol hash {_short(b)} → {_short(a)}")
        lines += [f"  study added: {label} ({sid})" for sid, label in self.studies_added]
        lines += [f"  study removed: {label} ({sid})" for sid, label in self.studies_removed]
        lines += [f"  analysis appeared: {t} ({s})" for _, t, s in self.analyses_appeared]
        lines += [f"  analysis disappeared: {t} ({s})" for _, t, s in self.analyses_disappeared]
        lines += [f"  status of {t}: {b} → {a}" for _, t, b, a in self.status_changed]
        lines += [
            f"  {e.title}: {e.text_before} → {e.text_after}" for e in self.estimates
        ]  # fmt: skip
        lines += [
            f"  certainty of {t}: {b or 'not rated'} → {a or 'not rated'}"
            for _, t, b, a in self.certainty_changed
        ]
        lines += [f"  key message changed: {q}" for _, q, _, _ in self.messages_changed]
        return "\n".join(lines)

    def to_frame(self) -> pd.DataFrame:
        """One row per change: ``change``, ``id``, ``title``, ``before``, ``after`` (texts)."""
        rows = [("data hash", "", "", *self.data_hash)] if self.data_changed else []
        if self.protocol_changed:
            rows.append(("protocol hash", "", "", *self.protocol_hash))
        rows += [("study added", s, lab, None, lab) for s, lab in self.studies_added]
        rows += [("study removed", s, lab, lab, None) for s, lab in self.studies_removed]
        rows += [("analysis appeared", i, t, None, st) for i, t, st in self.analyses_appeared]
        rows += [("analysis disappeared", i, t, st, None) for i, t, st in self.analyses_disappeared]
        rows += [("status", i, t, b, a) for i, t, b, a in self.status_changed]
        rows += [
            ("estimate", e.id, e.title, e.text_before, e.text_after) for e in self.estimates
        ]  # fmt: skip
        rows += [("certainty", i, t, b, a) for i, t, b, a in self.certainty_changed]
        rows += [("key message", i, q, b, a) for i, q, b, a in self.messages_changed]
        return pd.DataFrame(rows, columns=["change", "id", "title", "before", "after"])

    def to_dict(self) -> dict:
        """The ``changes`` block of ``results.json``."""
        return {
            "previous": self.previous,
            "no_changes": self.no_changes,
            "data_hash": {"before": self.data_hash[0], "after": self.data_hash[1]},
            "protocol_hash": {"before": self.protocol_hash[0], "after": self.protocol_hash[1]},
            "software_version": {
                "before": self.software_version[0],
                "after": self.software_version[1],
            },
            "studies_added": [{"study_id": s, "label": lab} for s, lab in self.studies_added],
            "studies_removed": [{"study_id": s, "label": lab} for s, lab in self.studies_removed],
            "estimates": [e.to_dict() for e in self.estimates],
            "n_estimates_compared": self.n_estimates_compared,
            "analyses_appeared": [
                {"id": i, "title": t, "status": s} for i, t, s in self.analyses_appeared
            ],
            "analyses_disappeared": [
                {"id": i, "title": t, "status": s} for i, t, s in self.analyses_disappeared
            ],
            "status_changed": [
                {"id": i, "title": t, "before": b, "after": a} for i, t, b, a in self.status_changed
            ],
            "certainty_changed": [
                {"id": i, "title": t, "before": b, "after": a}
                for i, t, b, a in self.certainty_changed
            ],
            "messages_changed": [
                {"id": i, "question": q, "before": b, "after": a}
                for i, q, b, a in self.messages_changed
            ],
        }


def _short(h: str | None) -> str:
    return "none" if not h else str(h)[:12]


# ------------------------------------------------------------------------------ comparing


def compare_results(new: dict, previous: dict, *, previous_dir: str = "") -> ReviewChanges:
    """Compare the ``results.json`` document ``new`` with the earlier one ``previous``.

    Both are the documents :meth:`~sci_evidence.review.results.ReviewResult.to_dict` writes;
    a document from an older version without ``studies`` or ``key_messages`` is compared on
    what it has (its studies are those named in its analyses, syntheses and exclusions).
    """
    new_studies, old_studies = _studies(new), _studies(previous)
    fits_new, fits_old = _fits(new), _fits(previous)
    estimates = []
    compared = 0
    for fid in [*fits_old, *(f for f in fits_new if f not in fits_old)]:
        o, n = fits_old.get(fid), fits_new.get(fid)
        if o is not None and n is not None:
            compared += 1
            if _same(o["values"], n["values"]) and o["k"] == n["k"]:
                continue
        ref = n or o
        estimates.append(
            EstimateChange(
                id=fid,
                title=ref["title"],
                measure=ref["measure"],
                scale=ref["scale"],
                k_before=None if o is None else o["k"],
                k_after=None if n is None else n["k"],
                before=None if o is None else o["values"],
                after=None if n is None else n["values"],
                text_before="not estimated" if o is None else o["text"],
                text_after="not estimated" if n is None else n["text"],
            )
        )
    st_new, st_old = _statuses(new), _statuses(previous)
    appeared = tuple((i, *st_new[i]) for i in st_new if i not in st_old)
    disappeared = tuple((i, *st_old[i]) for i in st_old if i not in st_new)
    status_changed = tuple(
        (i, st_new[i][0], st_old[i][1], st_new[i][1])
        for i in st_new
        if i in st_old and st_old[i][1] != st_new[i][1]
    )
    gr_new, gr_old = _certainty(new), _certainty(previous)
    certainty = tuple(
        (i, (st_new.get(i) or st_old.get(i) or (i,))[0], gr_old.get(i), gr_new.get(i))
        for i in [*gr_old, *(g for g in gr_new if g not in gr_old)]
        if gr_old.get(i) != gr_new.get(i)
    )
    msg_new, msg_old = _messages(new), _messages(previous)
    messages = tuple(
        (i, (msg_new.get(i) or msg_old.get(i))[0], _text(msg_old.get(i)), _text(msg_new.get(i)))
        for i in [*msg_old, *(m for m in msg_new if m not in msg_old)]
        if _text(msg_old.get(i)) != _text(msg_new.get(i))
    )
    return ReviewChanges(
        previous=previous_dir,
        data_hash=(previous.get("data_hash"), new.get("data_hash")),
        protocol_hash=(_protocol_hash(previous), _protocol_hash(new)),
        software_version=(previous.get("software_version"), new.get("software_version")),
        studies_added=tuple((s, new_studies[s]) for s in new_studies if s not in old_studies),
        studies_removed=tuple((s, old_studies[s]) for s in old_studies if s not in new_studies),
        estimates=tuple(estimates),
        n_estimates_compared=compared,
        analyses_appeared=appeared,
        analyses_disappeared=disappeared,
        status_changed=status_changed,
        certainty_changed=certainty,
        messages_changed=messages,
    )


def _protocol_hash(doc: dict) -> str | None:
    run = doc.get("run") or {}
    return run.get("protocol_hash")


def _studies(doc: dict) -> dict[str, str]:
    """study_id → label of every study the review knew: its ``studies`` block, or (older
    documents) the studies named in its analyses, syntheses and exclusions."""
    if isinstance(doc.get("studies"), list):
        return {s["study_id"]: s.get("label") or s["study_id"] for s in doc["studies"]}
    out: dict[str, str] = {}
    for e in doc.get("analyses", []):
        for s in e.get("studies", []):
            out.setdefault(s["study_id"], s.get("label") or s["study_id"])
    for syn in doc.get("syntheses", []):
        for s in syn.get("studies", []):
            out.setdefault(s["study_id"], s.get("label") or s["study_id"])
    for s in doc.get("excluded_studies") or []:
        out.setdefault(s["study_id"], s.get("label") or s["study_id"])
    return out


def _fits(doc: dict) -> dict[str, dict]:
    """fit id → title, measure, scale, k, (estimate, ci_lb, ci_ub) on the reader's scale."""
    out = {}
    level = (doc.get("protocol") or {}).get("level", 0.95)
    for e in doc.get("analyses", []):
        p = e.get("pooled") or {}
        bt = p.get("back_transformed")
        src = bt if isinstance(bt, dict) else p
        values = tuple(_num(src.get(f)) for f in ("estimate", "ci_lb", "ci_ub"))
        measure = e.get("measure") or p.get("measure") or ""
        scale = _scale(measure)
        out[e["id"]] = {
            "title": e.get("title", e["id"]),
            "measure": measure,
            "scale": scale,
            "k": p.get("k"),
            "values": values,
            "text": format_estimate(measure, *values, level=e.get("level") or level),
        }
    return out


def _scale(measure: str) -> str:
    from sci_evidence.meta.transforms import measure_scale

    try:
        return measure_scale(measure).scale
    except InputError:
        return "generic"


def format_estimate(
    measure: str, est: float | None, lo: float | None, hi: float | None, *, level: float = 0.95
) -> str:
    """An estimate with its interval in words, on the reader's scale: percentages for
    proportions, the ratio for RR/OR, percentage points for RD, the SMD in standard deviations
    (named by its measure), points otherwise (score changes and differences)."""
    if est is None:
        return "not estimated"
    pct = int(round(100 * level))
    scale = _scale(measure)

    def ci(fmt, unit: str = "", sep: str = " to ") -> str:
        if lo is None or hi is None:
            return f" ({pct}% CI not available)"
        return f" ({pct}% CI {fmt(lo)}{sep}{fmt(hi)}{unit})"

    if scale == "proportion":
        return f"{100 * est:.1f}%" + ci(lambda v: f"{100 * v:.1f}", "%", "–")
    if scale == "ratio":
        return f"{measure} {est:.2f}" + ci(lambda v: f"{v:.2f}", "", "–")
    if measure == "RD":
        return f"RD {100 * est:.1f} percentage points" + ci(lambda v: f"{100 * v:.1f}")
    if scale == "standardized":
        return f"{measure} {est:.2f}" + ci(lambda v: f"{v:.2f}")
    return f"{est:.2f} points" + ci(lambda v: f"{v:.2f}")


def _num(v: Any) -> float | None:
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _same(a: tuple, b: tuple) -> bool:
    for x, y in zip(a, b, strict=True):
        if (x is None) != (y is None):
            return False
        if x is not None and not math.isclose(x, y, rel_tol=REL_TOL, abs_tol=1e-12):
            return False
    return True


def _statuses(doc: dict) -> dict[str, tuple[str, str]]:
    """protocol analysis id → (title, status): pooled main analyses and the not pooled."""
    out = {}
    for e in doc.get("analyses", []):
        if e.get("kind") == "main":
            out[e["id"]] = (e.get("title", e["id"]), "pooled")
    for e in doc.get("not_pooled", []):
        out[e["id"]] = (e.get("title", e["id"]), e.get("status", "not pooled"))
    return out


def _certainty(doc: dict) -> dict[str, str]:
    return {g["analysis_id"]: g.get("certainty") for g in doc.get("grade") or []}


def _messages(doc: dict) -> dict[str, tuple[str, str]]:
    return {m["id"]: (m.get("question", m["id"]), m.get("message", "")) for m in _list(doc)}


def _list(doc: dict) -> list[dict]:
    km = doc.get("key_messages")
    return km if isinstance(km, list) else []


def _text(entry: tuple[str, str] | None) -> str | None:
    return None if entry is None else entry[1]
