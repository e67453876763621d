"""Random ISNCSCI exams in the reference's flat layout, for tests and benchmarks (not part of the
installed package; benchmarks put ``tests/`` on ``sys.path`` to import it).

Two mixes:

- ``"realistic"``: each side has a lesion level; scores rostral to it are normal, scores
  caudal to it are impaired (complete or incomplete), then a few values are replaced by
  ``NT`` and a few abnormal values get a ``*``/``**`` tag. VAC/DAP follow completeness.
- ``"uniform"``: every value drawn uniformly from its valid vocabulary (adversarial: it
  reaches rules a real exam rarely touches).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sci_evidence.isncsci.levels import (
    DAP_COLUMN,
    KEY_MUSCLE_LEVELS,
    MOTOR_VALUES,
    NON_KEY_COLUMNS,
    SENSORY_LEVELS,
    SENSORY_VALUES,
    SIDES,
    VAC_COLUMN,
    motor_column,
    prick_column,
    touch_column,
)

_SENSORY_ALL = np.array(sorted(SENSORY_VALUES), dtype=object)
_MOTOR_ALL = np.array(sorted(MOTOR_VALUES), dtype=object)
_MOTOR_NT = np.array(["NT", "NT*", "NT**"], dtype=object)
_ANAL = np.array(["Yes", "No", "NT"], dtype=object)
_NON_KEY = np.array(["", *(lv.name for lv in KEY_MUSCLE_LEVELS)], dtype=object)


def random_exams(
    n: int,
    *,
    seed: int | np.random.Generator | None = 0,
    mix: str = "realistic",
    p_nt: float = 0.02,
    p_tag: float = 0.03,
    p_non_key: float = 0.1,
    ids: bool = True,
) -> pd.DataFrame:
    """Draw ``n`` random exams as a DataFrame of strings in the flat layout.

    Parameters
    ----------
    n : int
        Number of exams.
    seed : int, Generator or None, default 0
        Randomness; the same seed gives the same exams.
    mix : {"realistic", "uniform"}, default "realistic"
        See the module docstring.
    p_nt, p_tag : float, default 0.02 and 0.03
        Realistic mix: probability that a score is NT, and that an abnormal score is tagged
        (half ``*``, half ``**``).
    p_non_key : float, default 0.1
        Probability that a side names a lowest non-key muscle (one of the ten key levels).
    ids : bool, default True
        Add an ``id`` column ``r1``, ``r2``, ….
    """
    rng = np.random.default_rng(seed)
    cols: dict[str, np.ndarray] = {}
    if ids:
        cols["id"] = np.array([f"r{i + 1}" for i in range(n)], dtype=object)
    if mix == "uniform":
        cols[VAC_COLUMN] = rng.choice(_ANAL, n)
        cols[DAP_COLUMN] = rng.choice(_ANAL, n)
        for side in SIDES:
            for lv in SENSORY_LEVELS:
                cols[touch_column(lv, side)] = rng.choice(_SENSORY_ALL, n)
                cols[prick_column(lv, side)] = rng.choice(_SENSORY_ALL, n)
                if lv in KEY_MUSCLE_LEVELS:
                    cols[motor_column(lv, side)] = rng.choice(_MOTOR_ALL, n)
            cols[NON_KEY_COLUMNS[side]] = np.where(
                rng.random(n) < p_non_key, rng.choice(_NON_KEY[1:], n), ""
            )
        return pd.DataFrame(cols)
    if mix != "realistic":
        raise ValueError(f"mix must be 'realistic' or 'uniform', got {mix!r}")

    base_level = rng.integers(1, 31, n)  # 30 = intact throughout
    complete = rng.random(n) < 0.4
    vac = np.where(complete, "No", np.where(rng.random(n) < 0.6, "Yes", "No")).astype(object)
    dap = np.where(complete, "No", np.where(rng.random(n) < 0.7, "Yes", "No")).astype(object)
    vac[rng.random(n) < p_nt] = "NT"
    dap[rng.random(n) < p_nt] = "NT"
    cols[VAC_COLUMN] = vac
    cols[DAP_COLUMN] = dap
    tag = np.array(["*", "**"], dtype=object)
    for side in SIDES:
        level = np.clip(base_level + rng.integers(-1, 2, n), 1, 30)
        m_level = np.clip(level + rng.integers(-1, 3, n), 1, 30)
        for lv in SENSORY_LEVELS:
            below = int(lv) > level
            for column in (touch_column(lv, side), prick_column(lv, side)):
                impaired = np.where(
                    complete, rng.choice([0, 0, 0, 1], n), rng.choice([0, 1, 1, 2], n)
                )
                values = np.where(below, impaired, 2).astype(str).astype(object)
                abnormal = values != "2"
                tagged = abnormal & (rng.random(n) < p_tag)
                values[tagged] = values[tagged] + rng.choice(tag, int(tagged.sum()))
                nt = rng.random(n) < p_nt
                values[nt] = np.where(rng.random(int(nt.sum())) < 0.85, "NT", "NT*")
                cols[column] = values
            if lv in KEY_MUSCLE_LEVELS:
                below = int(lv) > m_level
                at = int(lv) == m_level
                grade = np.where(complete, rng.choice([0, 0, 0, 1], n), rng.integers(0, 6, n))
                grade = np.where(at, rng.integers(3, 6, n), grade)
                values = np.where(below | at, grade, 5).astype(str).astype(object)
                abnormal = values != "5"
                tagged = abnormal & (rng.random(n) < p_tag)
                values[tagged] = values[tagged] + rng.choice(tag, int(tagged.sum()))
                nt = rng.random(n) < p_nt
                values[nt] = rng.choice(
                    np.array(["NT", "NT*", "NT**"], dtype=object), int(nt.sum())
                )
                cols[motor_column(lv, side)] = values
        has_nk = rng.random(n) < p_non_key
        cols[NON_KEY_COLUMNS[side]] = np.where(has_nk, rng.choice(_NON_KEY[1:], n), "").astype(
            object
        )
    return pd.DataFrame(cols)
