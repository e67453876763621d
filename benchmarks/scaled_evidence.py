"""Make larger evidence bases from the bundled one, for scaling benchmarks of `review`.

``scaled_evidence(ev, factor)`` repeats every study ``factor`` times: copy ``r`` of a study
gets the ids ``<id>~r`` (study, arms, outcomes, adverse events, risk of bias, screening rows of
the study) and keeps its first author and year, so the copies also exercise the labels of
many same-author-year studies ("Tien 2019a" … "Tien 2019cv"). Natural-history tables and the
published meta-analyses are not study data and are kept once. Numbers are unchanged, so each
pooled analysis has ``factor`` times the studies with the same spread of effects.

Usage (writes the frames as CSV files for a look; the benchmark builds them in memory):
    python benchmarks/scaled_evidence.py 10 --out /tmp/evidence_10x
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import pandas as pd

#: Frames with rows that belong to one study, and their id columns renamed per copy.
STUDY_FRAMES = {
    "studies": ("study_id",),
    "arms": ("study_id", "arm_id"),
    "outcomes": ("study_id", "arm_id", "outcome_id"),
    "adverse_events": ("study_id", "arm_id", "ae_id"),
    "risk_of_bias": ("study_id",),
}


def _copy(df: pd.DataFrame, id_columns: tuple[str, ...], r: int) -> pd.DataFrame:
    if r == 0:
        return df
    out = df.copy()
    for c in id_columns:
        filled = out[c].notna() & (out[c].astype(str) != "")
        out[c] = out[c].astype(object)
        out.loc[filled, c] = out.loc[filled, c].astype(str) + f"~{r}"
    return out


def scaled_evidence(ev, factor: int):
    """The evidence set ``ev`` with every study repeated ``factor`` times (see module)."""
    if factor < 1:
        raise ValueError("factor must be >= 1")
    if factor == 1:
        return ev
    changed = {}
    for name, ids in STUDY_FRAMES.items():
        df = getattr(ev, name)
        changed[name] = pd.concat(
            [_copy(df, ids, r) for r in range(factor)], ignore_index=True
        ).astype(df.dtypes.to_dict())
    sc = ev.screening
    per_study = sc["study_id"].notna() & (sc["study_id"].astype(str) != "")
    copies = [sc[~per_study]] + [_copy(sc[per_study], ("study_id",), r) for r in range(factor)]
    changed["screening"] = pd.concat(copies, ignore_index=True).astype(sc.dtypes.to_dict())
    return replace(ev, **changed, data_hash=f"{ev.data_hash[:48]}-x{factor}", origin=f"x{factor}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("factor", type=int)
    ap.add_argument("--out", type=Path, required=True, help="folder for the CSV frames")
    args = ap.parse_args()
    from sci_evidence.evidence import load_evidence

    ev = scaled_evidence(load_evidence(), args.factor)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, df in ev.frames().items():
        df.to_csv(args.out / f"{name}.csv", index=False)
    print(f"{len(ev.studies)} studies, {len(ev.outcomes)} outcome rows -> {args.out}")


if __name__ == "__main__":
    main()
