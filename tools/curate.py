"""Build the bundled evidence base (``src/sci_evidence/evidence/data/*.csv``).

Run ``python tools/curate.py`` from the repository root. The installed package keeps only the
tables this script writes; everything it reads lives here, outside the package:

1. ``curate_raw.build()`` parses the raw extraction (``curation/raw/``, copies of
   ``shared/evidence/``) with the per-study decisions of ``curation/decisions/*.yaml``;
2. the ids become readable slugs and every study gets its label ("Surname Year", a letter for
   two of the same year) from ``decisions/study_ids.csv``;
3. each row with numbers gets the tier of its source (``decisions/source_tiers.csv``);
4. the audit's corrections (``decisions/edits.yaml``), new rows (``decisions/new_studies.yaml``)
   and source conflicts (``decisions/conflicts.yaml``) are applied, each with its URL, quote
   and audit finding, and every changed value leaves a ``provenance`` row;
5. the Montoto-Meijide 2023 candidates (``raw/audit/montoto_included.csv``), the risk of bias
   (``curate_rob``) and the PRISMA 2020 flow of the base (``curate_prisma``) are added.

The test ``tests/curation/test_curated_base.py`` rebuilds the tables and compares them byte for
byte with the bundled ones.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pandas as pd
import yaml

from sci_evidence.evidence.columns import FRAMES, OUTCOME_DOMAINS, coerce_frame

HERE = Path(__file__).resolve().parent
DATA_DIR = HERE.parent / "src" / "sci_evidence" / "evidence" / "data"
DECISIONS_DIR = HERE / "curation" / "decisions"
AUDIT_DIR = HERE / "curation" / "raw" / "audit"
TIER_RANK = {"primary": 0, "secondary": 1, "non_scholarly": 2}
_ID_COLUMNS = {
    "studies": ("study_id", "duplicate_of"),
    "arms": ("study_id", "arm_id"),
    "outcomes": ("outcome_id", "study_id", "arm_id"),
    "adverse_events": ("ae_id", "study_id", "arm_id"),
    "screening": ("study_id",),
    "provenance": ("key",),
}


def _sibling(name: str):
    """A module of this folder, imported by path (``tools/`` is not a package)."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def _yaml(name: str):
    with (DECISIONS_DIR / name).open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def _csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


# ----------------------------------------------------------------------------- ids and labels
def rename_ids(frames: dict[str, pd.DataFrame], ids: pd.DataFrame) -> None:
    """Replace the legacy ids (``dai2013``) by slugs (``dai-2013a``) in every id column.

    Compound ids (``dai2013:treated``, ``dai2013:1``) keep their suffix.
    """
    mapping = dict(zip(ids["legacy_id"], ids["study_id"], strict=True))

    def new(value: str) -> str:
        head, sep, tail = value.partition(":")
        return mapping.get(head, head) + sep + tail if value else value

    for name, cols in _ID_COLUMNS.items():
        df = frames[name]
        for col in cols:
            df[col] = [new(v) for v in df[col]]
    unknown = set(frames["studies"]["study_id"]) - set(mapping.values())
    if unknown:
        raise ValueError(f"studies without a slug in study_ids.csv: {sorted(unknown)}")


def apply_labels(studies: pd.DataFrame, ids: pd.DataFrame) -> None:
    """The study label (and a first author the decisions supply) for every study."""
    by_id = ids.set_index("study_id")
    studies["label"] = [by_id.at[s, "label"] for s in studies["study_id"]]
    for i, s in enumerate(studies["study_id"]):
        author = by_id.at[s, "first_author"]
        if author:
            studies.loc[i, "first_author"] = author


# ----------------------------------------------------------------------------- source tiers
def source_tier(source_key: str, tiers: dict[str, str]) -> str:
    """The best tier among a row's sources (``""`` when it names none).

    A value counts as primary when any of its sources is primary; it rests "only on a secondary
    or non-scholarly source" when none is.
    """
    keys = [k for k in str(source_key).split(";") if k]
    if not keys:
        return ""
    missing = [k for k in keys if k not in tiers and not k.startswith("http")]
    if missing:
        raise ValueError(f"source keys without a tier in source_tiers.csv: {missing}")
    ranked = [tiers.get(k, "primary") for k in keys]
    return min(ranked, key=TIER_RANK.__getitem__)


def apply_tiers(frames: dict[str, pd.DataFrame], tiers: dict[str, str]) -> None:
    for name in ("studies", "outcomes", "adverse_events"):
        df = frames[name]
        df["source_tier"] = [source_tier(k, tiers) for k in df["source_key"]]


# ----------------------------------------------------------------------------- new rows
def _prov(table: str, key: str, field: str, value: object, item: dict) -> dict:
    return dict(
        table=table,
        key=key,
        field=field,
        value="" if value is None else str(value),
        source_key=item["source_url"],
        where_in_source=f"audit {item.get('audit_ref', '')}".strip(),
        verbatim=item["quote"],
        status=item.get("status", "reported"),
    )


def add_new_rows(frames: dict[str, pd.DataFrame], new: dict, curate_raw) -> list[dict]:
    """Append the new studies, arms, outcomes and adverse events; return provenance rows."""
    prov: list[dict] = []
    rows = []
    for s in new["studies"]:
        rows.append(
            {
                **{k: v for k, v in s.items() if k in dict(FRAMES["studies"])},
                "source_key": s["source_url"],
                "where_in_source": f"audit {s['audit_ref']}",
                "verbatim": s["quote"],
                "status": s.get("status", "reported"),
                "source_tier": s["tier"],
            }
        )
        prov.append(_prov("studies", s["study_id"], "study_id", s["study_id"], s))
    frames["studies"] = _append(frames["studies"], rows, "studies")
    rows = []
    for a in new["arms"]:
        sid = a["arm_id"].split(":")[0]
        route = a.get("route", "")
        rows.append(
            {
                **{k: v for k, v in a.items() if k in dict(FRAMES["arms"])},
                "study_id": sid,
                "arm_label": a["arm_id"].split(":")[1],
                "route_group": curate_raw._route_group(route) if route else "unknown",
                "level": a.get("level", "unknown"),
                "level_group": a.get("level_group", "unknown"),
                "injury_phase": a.get("injury_phase", "unknown"),
                "source_key": a["source_url"],
                "where_in_source": "audit",
                "verbatim": a["quote"],
                "status": a.get("status", "reported"),
            }
        )
        prov.append(_prov("arms", a["arm_id"], "n", a.get("n"), a))
    frames["arms"] = _append(frames["arms"], rows, "arms")
    # Outcome and adverse-event rows of a study share one numbering (``tien-2019:8`` is the AE
    # after seven outcomes), as in the first stage.
    taken = set(frames["outcomes"]["outcome_id"]) | set(frames["adverse_events"]["ae_id"])
    frames["outcomes"] = _append(
        frames["outcomes"],
        [_outcome_row(o, curate_raw, taken) for o in new["outcomes"]],
        "outcomes",
    )
    frames["adverse_events"] = _append(
        frames["adverse_events"],
        [_ae_row(a, taken) for a in new["adverse_events"]],
        "adverse_events",
    )
    return prov


def _append(df: pd.DataFrame, rows: list[dict], name: str) -> pd.DataFrame:
    new = coerce_frame(pd.DataFrame(rows), name) if rows else df.iloc[:0]
    return coerce_frame(pd.concat([df, new], ignore_index=True), name)


def _next_id(study_id: str, taken: set[str]) -> str:
    """The next free ``<study_id>:<n>`` (``taken``: the ids in use, updated)."""
    used = [int(v.split(":")[1]) for v in taken if v.startswith(study_id + ":")]
    new = f"{study_id}:{max(used, default=0) + 1}"
    taken.add(new)
    return new


def _outcome_row(o: dict, curate_raw, taken: set[str]) -> dict:
    sid = o["arm_id"].split(":")[0]
    tp = str(o.get("timepoint", ""))
    months = curate_raw.parse_timepoint_months(tp) if tp else float("nan")
    return {
        **{k: v for k, v in o.items() if k in dict(FRAMES["outcomes"])},
        "outcome_id": _next_id(sid, taken),
        "study_id": sid,
        "domain": OUTCOME_DOMAINS[o["outcome"]],
        "timepoint": tp,
        "timepoint_months": months,
        "is_baseline": tp.startswith("baseline"),
        "is_change": False,
        "unit": "points" if "mean" in o else "",
        "source_key": o["source_url"],
        "where_in_source": f"audit {o['audit_ref']}",
        "verbatim": o["quote"],
        "status": o.get("status", "reported"),
        "source_tier": o["tier"],
    }


def _ae_row(a: dict, taken: set[str]) -> dict:
    sid = a["arm_id"].split(":")[0]
    return {
        **{k: v for k, v in a.items() if k in dict(FRAMES["adverse_events"])},
        "ae_id": _next_id(sid, taken),
        "study_id": sid,
        "source_key": a["source_url"],
        "where_in_source": f"audit {a['audit_ref']}",
        "verbatim": a["quote"],
        "status": a.get("status", "reported"),
        "source_tier": a["tier"],
    }


# ----------------------------------------------------------------------------- edits
_KEY_COLUMN = {
    "studies": "study_id",
    "arms": "arm_id",
    "outcomes": "outcome_id",
    "adverse_events": "ae_id",
}


def apply_edits(frames: dict[str, pd.DataFrame], edits: list[dict]) -> list[dict]:
    """Apply the corrections in order; return one provenance row per edit."""
    prov = []
    for e in edits:
        table, key, field, value = e["table"], e["key"], e["field"], e["value"]
        df = frames[table]
        op = e.get("op", "set")
        if op == "add_row":
            sid = key.split(":")[0]
            row = {"study_id": sid, "arm_id": key, "arm_label": key.split(":")[1], **e["fields"]}
            row.update(
                source_key=e["source_url"],
                where_in_source=f"audit {e['audit_ref']}",
                verbatim=e["quote"],
                status=e.get("status", "reported"),
                notes=e.get("note", ""),
            )
            frames[table] = _append(df, [row], table)
            prov.append(_prov(table, key, "n", e["fields"].get("n"), e))
            continue
        hit = df.index[df[_KEY_COLUMN[table]] == key]
        if len(hit) != 1:
            raise ValueError(f"edit {e['audit_ref']}: no single {table} row {key!r}")
        i = hit[0]
        if op == "set":
            df[field] = df[field].astype(object)
            df.loc[i, field] = value
        elif op in ("add_flag", "drop_flag"):
            flags = [f for f in str(df.at[i, field]).split(";") if f]
            if op == "add_flag" and value not in flags:
                flags.append(value)
            if op == "drop_flag":
                flags = [f for f in flags if f != value]
            df.loc[i, field] = ";".join(flags)
        else:
            raise ValueError(f"unknown edit op {op!r}")
        frames[table] = coerce_frame(df, table)
        row = _prov(table, key, field, frames[table].at[i, field], e)
        same = [
            j
            for j, r in enumerate(prov)
            if (r["table"], r["key"], r["field"], r["source_key"])
            == (table, key, field, row["source_key"])
        ]
        if same:  # a second edit of one value from one source: one row, both findings
            first = prov[same[0]]
            refs = f"{first['where_in_source']}; {e.get('audit_ref', '')}"
            prov[same[0]] = {**row, "where_in_source": refs}
        else:
            prov.append(row)
    return prov


# ----------------------------------------------------------------------------- candidates
def review_candidates(ids: pd.DataFrame) -> pd.DataFrame:
    """The Montoto-Meijide 2023 candidates of the audit, each "not confirmed" (its list, tables
    and references could not be read), with the package study each one corresponds to."""
    src = _csv(AUDIT_DIR / "montoto_included.csv")
    mapping = dict(zip(ids["legacy_id"], ids["study_id"], strict=True))
    extra = {"Dai 2013 (J Transl Med)": "dai-2013b", "Pal 2009 (identity inferred)": "pal-2009"}
    extra["Saito 2012 (identity inferred)"] = "saito-2012"
    extra["Al-Azhar 45-patient series"] = "ejhm-series"
    rows = []
    for i, r in enumerate(src.to_dict("records")):
        legacy = [s.strip() for s in r["package_study_id"].split(";") if s.strip()]
        known = ";".join(mapping[s] for s in legacy if s in mapping)
        study = known or extra.get(r["candidate"], "")
        rows.append(
            dict(
                review="montoto2023",
                candidate_id=f"montoto2023:{i}",
                label=r["candidate"],
                publication=f"{r['first_author']} {r['year']}, {r['publication']}".strip(", "),
                n_patients=r["n_patients"],
                cells=r["cells"],
                design=r["design"],
                study_id=study,
                eligible=r["eligible_by_stated_criteria"],
                inclusion_status=r["inclusion_status"],
                evidence_url=r["evidence_url"],
                evidence_quote=r["evidence_quote"],
                note=r["note"],
            )
        )
    return coerce_frame(pd.DataFrame(rows), "review_candidates")


def sources(frames: dict[str, pd.DataFrame], tiers: dict[str, str]) -> pd.DataFrame:
    """Every source the study data cite: key, what it is, its URL(s) and its tier.

    (Risk-of-bias rows carry their quote's URL in their own ``source_url`` column.)

    The raw source lists stay outside the package; this table keeps each key resolvable. Keys
    that are URLs (rows added from the audit) are their own URL; their tier is the one the rows
    citing them carry.
    """
    listed = {r["source_key"]: r for r in _sibling("curate_rob").source_table()}
    decided = _csv(DECISIONS_DIR / "source_tiers.csv").set_index("source_key")
    why, address = decided["why"].to_dict(), decided["url"].to_dict()
    used: dict[str, str] = {}
    for name in ("studies", "arms", "outcomes", "adverse_events", "provenance"):
        df = frames[name]
        row_tiers = df["source_tier"] if "source_tier" in df.columns else [""] * len(df)
        for keys, tier in zip(df["source_key"], row_tiers, strict=True):
            for key in (k.strip() for k in str(keys).split(";") if k.strip()):
                if not used.get(key):
                    used[key] = tier if key.startswith("http") else ""
    rows = []
    for key in sorted(set(listed) | set(used)):
        r = listed.get(key, {})
        # the lists give no address for a few keys: the decisions name the page read
        url = r.get("url") or address.get(key) or (key if key.startswith("http") else "")
        rows.append(
            dict(
                source_key=key,
                what=r.get("what", "") or why.get(key, ""),
                url=url,
                tier=tiers.get(key, used.get(key, "")),
            )
        )
    return coerce_frame(pd.DataFrame(rows), "sources")


def conflicts() -> pd.DataFrame:
    return coerce_frame(pd.DataFrame(_yaml("conflicts.yaml")), "conflicts")


# ----------------------------------------------------------------------------- entry points
def build() -> dict[str, pd.DataFrame]:
    """The frames of the bundled evidence base, built from the raw files and the decisions."""
    curate_raw = _sibling("curate_raw")
    frames = curate_raw.build()
    ids = _csv(DECISIONS_DIR / "study_ids.csv")
    tiers = dict(_csv(DECISIONS_DIR / "source_tiers.csv")[["source_key", "tier"]].values)
    rename_ids(frames, ids)
    apply_labels(frames["studies"], ids)
    apply_tiers(frames, tiers)
    prov = add_new_rows(frames, _yaml("new_studies.yaml"), curate_raw)
    prov += apply_edits(frames, _yaml("edits.yaml"))
    frames["provenance"] = _append(frames["provenance"], prov, "provenance")
    frames["conflicts"] = conflicts()
    frames["sources"] = sources(frames, tiers)
    frames["review_candidates"] = review_candidates(ids)
    frames["risk_of_bias"] = _sibling("curate_rob").build(frames)
    frames["screening"] = _sibling("curate_prisma").build(frames)
    return {name: coerce_frame(frames[name], name) for name in FRAMES}


def write(frames: dict[str, pd.DataFrame], out_dir: Path = DATA_DIR) -> None:
    """Write the frames as ``<name>.csv`` (UTF-8)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, df in frames.items():
        # pandas writes the shortest repr that round-trips each float exactly.
        df.to_csv(out_dir / f"{name}.csv", index=False)


def main() -> None:  # pragma: no cover - maintenance entry point
    """Rebuild the bundled tables in place."""
    frames = build()
    write(frames)
    for name, df in frames.items():
        print(f"{name}: {len(df)} rows")


if __name__ == "__main__":  # pragma: no cover
    main()
