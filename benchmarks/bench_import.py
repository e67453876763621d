"""Time a first import of a large evidence file against re-importing the same file, in one run.

The file is a stacked CSV (what ``evidence export x.csv`` writes) of generated studies, each
with 1 study row, 2 arms, 14 outcomes, 2 adverse events and 1 risk-of-bias row (20 rows), so
``--rows 100000`` means 5,000 studies. Each import does what ``sci-evidence evidence import``
does: read the stored frames (for references), read and validate the file, write it in one
transaction. The first import goes into an empty database; the re-import of the same file
must find nothing to change (and record nothing). A third import changes one value in 1 % of
the studies.

The anchor is the first import measured in the same run: goal re-import ≤ 1.5× first
import (issue 12). Printed: wall-clock time (what a user waits, database I/O included) and
this process's CPU time (robust to other load on a shared machine; on PostgreSQL it leaves out
the server's work), best of ``--repeats``, each as a ratio to the first import.

Run:  python benchmarks/bench_import.py [--rows 100000] [--repeats 1] [--pg]
``--pg`` also runs on PostgreSQL (``SCI_EVIDENCE_TEST_PG_URL``, default the local test
server) in a fresh schema that is dropped afterwards.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from pathlib import Path

import pandas as pd

from sci_evidence.evidence.columns import coerce_frame
from sci_evidence.evidence.io import read_evidence_file, write_evidence_file
from sci_evidence.evidence.store import EvidenceStore
from sci_evidence.evidence.validate import validate_tables

ROWS_PER_STUDY = 20
PG_URL = os.environ.get(
    "SCI_EVIDENCE_TEST_PG_URL", "postgresql+psycopg://sci:sci@127.0.0.1:5432/sci_evidence_test"
)
PROV = dict(source_key="K1", where_in_source="Table 2", verbatim="as printed", status="reported")


def make_frames(n_studies: int, bump: set[int] = frozenset()) -> dict[str, pd.DataFrame]:
    """``n_studies`` controlled studies; studies in ``bump`` get a different treated n."""
    studies, arms, outcomes, aes, rob = [], [], [], [], []
    for k in range(n_studies):
        s = f"s{k:06d}"
        t, c = f"{s}:treated", f"{s}:control"
        n_t = 12 + (1 if k in bump else 0)
        studies.append(
            dict(
                study_id=s,
                first_author=f"Author{k}",
                year=2000 + k % 25,
                journal="J",
                design="rct",
                phase="II",
                controlled=True,
                n_arms=2,
                n_total=n_t + 10,
                **PROV,
            )
        )
        for arm_id, role, n in ((t, "treated", n_t), (c, "control", 10)):
            arms.append(
                dict(
                    study_id=s,
                    arm_id=arm_id,
                    arm_label=role,
                    role=role,
                    n=n,
                    control_type="rehabilitation" if role == "control" else "",
                    injury_phase="chronic",
                    level="thoracic",
                    level_group="paraplegia",
                    ais_a=n,
                    **PROV,
                )
            )
        for j in range(14):
            arm = t if j % 2 == 0 else c
            n = n_t if arm == t else 10
            outcomes.append(
                dict(
                    outcome_id=f"{s}:o{j}",
                    study_id=s,
                    arm_id=arm,
                    outcome="motor_total",
                    domain="motor",
                    timepoint=f"{j + 1} months",
                    timepoint_months=float(j + 1),
                    is_baseline=False,
                    is_change=False,
                    n=n,
                    mean=50.0 + j / 7,
                    sd=4.25,
                    unit="points",
                    **PROV,
                )
            )
        for j, arm in enumerate((t, c)):
            aes.append(
                dict(
                    ae_id=f"{s}:ae{j}",
                    study_id=s,
                    arm_id=arm,
                    ae_type="headache",
                    n=n_t if arm == t else 10,
                    patients=1,
                    severity="mild",
                    relation="procedure",
                    timepoint="day 2",
                    **PROV,
                )
            )
        rob.append(
            dict(
                study_id=s,
                tool="RoB2",
                domain="overall",
                judgement="some_concerns",
                support="open label",
                **PROV,
            )
        )
    raw = {
        "studies": studies,
        "arms": arms,
        "outcomes": outcomes,
        "adverse_events": aes,
        "risk_of_bias": rob,
    }
    return {name: coerce_frame(pd.DataFrame(rows), name) for name, rows in raw.items()}


def import_file(store: EvidenceStore, path: Path) -> tuple[tuple[float, float, float], object]:
    """What `evidence import` does; returns ((wall s, CPU s, CPU s of the write), summary)."""
    t0, c0 = time.perf_counter(), time.process_time()
    report = validate_tables(read_evidence_file(path), store.read_frames())
    if not report.ok:
        raise SystemExit(report.summary()[:2000])
    c1 = time.process_time()
    summary = store.import_frames(report.frames, message="bench", source=str(path))
    c2 = time.process_time()
    return (time.perf_counter() - t0, c2 - c0, c2 - c1), summary


def bench(label: str, make_store, files: dict[str, Path], repeats: int) -> dict[str, tuple]:
    best: dict[str, tuple] = {}
    for _ in range(repeats):
        store, cleanup = make_store()
        try:
            store.init(load_bundled=False)
            first, s1 = import_file(store, files["data"])
            again, s2 = import_file(store, files["data"])
            assert s2.change_id is None and not s2.replaced, "re-import must change nothing"
            h = store.load().data_hash
            edit, s3 = import_file(store, files["edited"])
            assert len(s3.replaced) == len(files["bumped"]), s3.summary()
            assert store.load().data_hash != h
        finally:
            cleanup()
        for k, v in (("first", first), ("reimport", again), ("edit 1%", edit)):
            best[k] = tuple(
                min(a, b) for a, b in zip(best.get(k, (float("inf"),) * 3), v, strict=True)
            )
    f = best["first"]
    for k, title in (
        ("first", "first import"),
        ("reimport", "re-import, unchanged"),
        ("edit 1%", "re-import, 1% edited"),
    ):
        w, c, cw = best[k]
        print(
            f"{label:<11} {title:<22} wall {w:7.2f} s ({w / f[0]:4.2f}x)   CPU {c:7.2f} s "
            f"({c / f[1]:4.2f}x)   of which the write {cw:6.2f} s"
        )
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--pg", action="store_true", help="also run on PostgreSQL")
    args = ap.parse_args()
    n_studies = max(1, args.rows // ROWS_PER_STUDY)
    bumped = set(range(0, n_studies, 100))
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        files = {
            "data": write_evidence_file(make_frames(n_studies), tmp_path / "data.csv"),
            "edited": write_evidence_file(make_frames(n_studies, bumped), tmp_path / "ed.csv"),
            "bumped": bumped,
        }
        print(
            f"{n_studies * ROWS_PER_STUDY} rows ({n_studies} studies) per file; goal: "
            "re-import <= 1.5x first import"
        )

        def sqlite_store():
            path = tmp_path / f"{uuid.uuid4().hex}.sqlite"
            s = EvidenceStore(str(path))

            def cleanup():
                s.dispose()
                path.unlink(missing_ok=True)

            return s, cleanup

        bench("SQLite", sqlite_store, files, args.repeats)
        if args.pg:
            import psycopg

            dsn = PG_URL.replace("postgresql+psycopg://", "postgresql://")

            def pg_store():
                schema = f"bench_{uuid.uuid4().hex[:10]}"
                with psycopg.connect(dsn, autocommit=True) as conn:
                    conn.execute(f'CREATE SCHEMA "{schema}"')
                s = EvidenceStore(PG_URL, schema=schema)

                def cleanup():
                    s.dispose()
                    with psycopg.connect(dsn, autocommit=True) as conn:
                        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')

                return s, cleanup

            bench("PostgreSQL", pg_store, files, args.repeats)


if __name__ == "__main__":
    main()
