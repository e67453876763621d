"""Small valid evidence files for the tests, and a way to break one cell at a time."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sci_evidence.evidence.columns import coerce_frame
from sci_evidence.evidence.io import STACK_COLUMN, write_evidence_file

PROV = dict(source_key="K1", where_in_source="Table 2", verbatim="as printed", status="reported")


def small_frames(study_id: str = "smith2020") -> dict[str, pd.DataFrame]:
    """One controlled study: 2 arms, AIS transitions, responders, a motor score, an AE."""
    s, t, c = study_id, f"{study_id}:treated", f"{study_id}:control"
    studies = [
        dict(
            study_id=s,
            first_author="Smith",
            year=2020,
            journal="J Test 1:1",
            design="rct",
            phase="II",
            controlled=True,
            n_arms=2,
            n_total=22,
            **PROV,
        )
    ]
    arm = dict(
        study_id=s,
        n_safety=None,
        injury_phase="chronic",
        level="thoracic",
        level_group="paraplegia",
        **PROV,
    )
    arms = [
        dict(
            arm,
            arm_id=t,
            arm_label="treated",
            role="treated",
            n=12,
            cell_source="bone_marrow",
            product="culture_expanded_msc",
            is_culture_expanded_msc=True,
            auto_allo="autologous",
            auto_allo_status="reported",
            route="intrathecal",
            route_group="intrathecal",
            dose_cells=1e6,
            dose_unit="cells/kg",
            dose_status="reported",
            n_administrations=2,
            ais_a=12,
        ),
        dict(
            arm,
            arm_id=c,
            arm_label="control",
            role="control",
            control_type="rehabilitation",
            n=10,
            ais_a=10,
        ),
    ]
    o = dict(
        study_id=s,
        timepoint="12 months",
        timepoint_months=12.0,
        is_baseline=False,
        is_change=False,
        **PROV,
    )
    outcomes = [
        dict(
            o,
            outcome_id=f"{s}:1",
            arm_id=t,
            outcome="ais_transition",
            domain="ais",
            baseline_grade="A",
            n=12,
            from_grade="A",
            to_grade="A",
            count=7,
            unit="patients",
        ),
        dict(
            o,
            outcome_id=f"{s}:2",
            arm_id=t,
            outcome="ais_transition",
            domain="ais",
            baseline_grade="A",
            n=12,
            from_grade="A",
            to_grade="B",
            count=5,
            unit="patients",
        ),
        dict(
            o,
            outcome_id=f"{s}:3",
            arm_id=t,
            outcome="ais_improved",
            domain="ais",
            n=12,
            events=5,
            unit="patients",
        ),
        dict(
            o,
            outcome_id=f"{s}:4",
            arm_id=c,
            outcome="ais_improved",
            domain="ais",
            n=10,
            events=1,
            unit="patients",
        ),
        dict(
            o,
            outcome_id=f"{s}:5",
            arm_id=t,
            outcome="motor_total",
            domain="motor",
            n=12,
            mean=52.5,
            sd=4.25,
            unit="points",
        ),
    ]
    aes = [
        dict(
            ae_id=f"{s}:6",
            study_id=s,
            arm_id=t,
            ae_type="headache",
            n=12,
            patients=2,
            severity="mild",
            relation="procedure",
            timepoint="day 2",
            **PROV,
        )
    ]
    rob = [
        dict(
            study_id=s,
            tool="RoB2",
            domain="overall",
            judgement="some_concerns",
            support="open label",
            **PROV,
        )
    ]
    return {
        "studies": coerce_frame(pd.DataFrame(studies), "studies"),
        "arms": coerce_frame(pd.DataFrame(arms), "arms"),
        "outcomes": coerce_frame(pd.DataFrame(outcomes), "outcomes"),
        "adverse_events": coerce_frame(pd.DataFrame(aes), "adverse_events"),
        "risk_of_bias": coerce_frame(pd.DataFrame(rob), "risk_of_bias"),
    }


def write_stacked(frames: dict[str, pd.DataFrame], path: Path) -> Path:
    return write_evidence_file(frames, path)


def break_cells(path: Path, changes: list[tuple[str, int, str, str]]) -> dict[tuple, int]:
    """Set cells of a stacked CSV: (frame, index within frame, column, text).

    Returns the spreadsheet row (header = row 1) of each changed cell.
    """
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    rows = {}
    for frame, i, col, text in changes:
        idx = df.index[df[STACK_COLUMN] == frame][i]
        if col not in df.columns:
            df[col] = ""
        df.loc[idx, col] = text
        rows[(frame, i, col)] = int(idx) + 2
    df.to_csv(path, index=False)
    return rows
