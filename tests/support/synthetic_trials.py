"""Synthetic ISNCSCI exams and trials whose classification is known by construction.

An exam is built side by side from a target injury (neurological level, AIS grade, which side
carries the level) so that the clinical definitions of the International Standards fix the
result without running a classification engine:

* every dermatome rostral to and at the side's level is normal (2/2) and the next one is
  abnormal, so the sensory level is the side's level;
* every key muscle rostral to the level is 5 and a key muscle *at* the level is 3 or 4, so the
  motor walk stops there; at C4 (L1) the next key muscle C5 (L2) is below 3 — the motor level
  equals the sensory level on each side and the NLI is the more rostral of the two sides;
* AIS A: no sacral sparing (S4_5 0/0, DAP and VAC No); AIS B: sacral sensation, VAC No and
  no key muscle more than three levels below the motor level with any contraction; AIS C / D:
  VAC Yes (or VAC No with contraction more than three levels below the motor level), and
  fewer than half (C) or at least half (D) of the key muscles below the NLI graded 3 or more;
  AIS E: a normal exam.

Randomness sets only what the definitions leave free (grades below the level, how far
sensation is preserved), so the same ``texture`` seed with a higher ``recovery`` gives a
plausible later exam of the same patient.

Test data only (tests of trials/ and the CLI): not part of the installed package.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from support.exam_layout import (
    AIS_GRADES,
    EXAM_COLUMNS,
    INT_INDEX,
    KEY_MUSCLES,
    LAST_CERVICAL,
    LOWER_KEY_MUSCLES,
    SEGMENT_INDEX,
    SEGMENTS,
    SIDES,
    UPPER_KEY_MUSCLES,
    key,
)

_S3 = SEGMENT_INDEX["S3"]
_S45 = SEGMENT_INDEX["S4_5"]
_C4 = SEGMENT_INDEX["C4"]
_L1 = SEGMENT_INDEX["L1"]
_S1 = SEGMENT_INDEX["S1"]
_AMBIGUITIES = (None, "AB", "CD")


@dataclass(frozen=True)
class SyntheticExam:
    """One synthetic exam and its classification worked out by construction.

    Attributes
    ----------
    exam : dict of str to str
        The exam in the flat layout (every value a string, as the reference expects).
    ais : str
        Expected AIS, comma-joined when ambiguous by construction (``"A,B"``, ``"C,D"``).
    nli : str
        Expected neurological level of injury (``"INT"`` for AIS E).
    sensory, motor : dict
        Expected sensory / motor level per side (``{"Right": "C5", "Left": "C6"}``).
    totals : dict
        Expected ``UEMS``, ``LEMS``, ``LT``, ``PP`` (both sides); ``None`` where a column
        holds an NT (the reference reports ``ND``).
    """

    exam: dict[str, str]
    ais: str
    nli: str
    sensory: dict[str, str]
    motor: dict[str, str]
    totals: dict[str, int | None]
    injury: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary of the exam and its expected classification."""
        return {
            "exam": dict(self.exam),
            "ais": self.ais,
            "nli": self.nli,
            "sensory": dict(self.sensory),
            "motor": dict(self.motor),
            "totals": dict(self.totals),
            "injury": dict(self.injury),
        }


def _check_injury(nli: str, ais: str, side: str, offset: int, ambiguous: str | None) -> int:
    if ais not in AIS_GRADES:
        raise ValueError(f"ais must be one of {', '.join(AIS_GRADES)}; got {ais!r}")
    if side not in ("both", "right", "left"):
        raise ValueError(f"side must be 'both', 'right' or 'left'; got {side!r}")
    if ambiguous not in _AMBIGUITIES:
        raise ValueError(f"ambiguous must be None, 'AB' or 'CD'; got {ambiguous!r}")
    if ais == "E":
        return INT_INDEX
    name = nli.strip().upper()
    if name not in SEGMENT_INDEX or SEGMENT_INDEX[name] < 1:
        raise ValueError(f"nli must be a segment C2..S1; got {nli!r}")
    level = SEGMENT_INDEX[name]
    if level > _S1:
        raise ValueError(f"nli must be at or above S1 for a constructible exam; got {nli!r}")
    if offset < 0 or level + offset > _S1:
        raise ValueError(f"offset must keep the other side's level within C2..S1; got {offset}")
    if ais in ("C", "D") and level >= _S1:
        raise ValueError("AIS C/D need key muscles below the NLI (nli above S1)")
    if ambiguous == "AB" and ais != "A":
        raise ValueError("ambiguous='AB' is built from an AIS A injury")
    if ambiguous == "CD" and ais != "C":
        raise ValueError("ambiguous='CD' is built from an AIS C injury")
    return level


def _motor_window(level: int, first: int, last: int) -> list[int]:
    return [m for m in KEY_MUSCLES if first <= m <= last and m > level]


def synthetic_exam(
    nli: str,
    ais: str,
    *,
    side: str = "both",
    offset: int = 0,
    nt_rate: float = 0.0,
    ambiguous: str | None = None,
    recovery: float = 0.0,
    seed: int | np.random.Generator | None = None,
    texture: int | None = None,
) -> SyntheticExam:
    """Make one flat-layout exam of a given injury, with its expected classification.

    Parameters
    ----------
    nli : str
        Neurological level of injury, ``"C2"`` … ``"S1"`` (ignored for AIS E).
    ais : {"A", "B", "C", "D", "E"}
        AIS grade.
    side : {"both", "right", "left"}, default "both"
        Which side carries the NLI; the other side's level is ``offset`` segments lower.
    offset : int, default 0
        How many segments the other side's level lies below the NLI (0 with ``side="both"``).
    nt_rate : float, default 0.0
        Probability that a dermatome more than one segment below a side's level (S4_5
        excepted) is ``NT``: the level and AIS are unchanged, that side's LT/PP totals become
        ``ND`` (expected ``None``).
    ambiguous : {None, "AB", "CD"}, default None
        ``"AB"``: an AIS A exam with S4_5 light touch and DAP not testable, classified
        ``A,B``; ``"CD"``: an AIS C exam with K−1 of the 2K key muscles below the NLI ≥3 and
        one of the others NT, classified ``C,D``.
    recovery : float in [0, 1], default 0.0
        Moves the grades the definitions leave free upwards (later exams of a patient).
    seed : int or numpy Generator, optional
        Randomness for the free grades; ``texture`` overrides it for the per-muscle draws so
        that exams of one patient at several visits differ only through their targets.

    Returns
    -------
    SyntheticExam

    Raises
    ------
    ValueError
        If the target cannot be built (e.g. AIS D whose fixed muscles already break the
        rule, or a level outside C2..S1).
    """
    level = _check_injury(nli, ais, side, offset, ambiguous)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    tex = np.random.default_rng(texture) if texture is not None else rng
    recovery = float(np.clip(recovery, 0.0, 1.0))
    # Fixed-size draws (always the same number) keep a texture's meaning stable across targets.
    u_sens = tex.random((2, 2, len(SEGMENTS)))
    u_mot = tex.random((2, len(SEGMENTS)))
    u_grade = tex.random((2, len(SEGMENTS)))
    u_misc = tex.random(8)

    if ais == "E":
        exam = _normal_exam()
        return _finish(exam, "E", "INT", {s: "INT" for s in SIDES}, {s: "INT" for s in SIDES}, {})

    levels = {s: level for s in SIDES}
    if side in ("right", "left") and offset:
        other = "Left" if side == "right" else "Right"
        levels[other] = level + offset
    elif side == "both" and offset:
        raise ValueError("offset needs side='right' or 'left'")

    exam: dict[str, str] = {"analContraction": "No", "analSensation": "No"}
    grades: dict[str, dict[int, int]] = {}
    for si, s in enumerate(SIDES):
        lv = levels[s]
        # Sensation: normal through the level, abnormal at the next dermatome.
        for seg in range(1, len(SEGMENTS)):
            for ki, kind in enumerate(("Touch", "Prick")):
                u = u_sens[si, ki, seg]
                if seg <= lv:
                    val = 2
                elif seg == lv + 1:
                    val = 1 if u < 0.5 + 0.3 * recovery else 0
                elif ais == "A":
                    zpp = 1 + int(3 * u_misc[si] + 2 * recovery)
                    val = 1 if seg - lv <= zpp and u < 0.8 else 0
                else:
                    p2 = {"B": 0.1, "C": 0.25, "D": 0.5}[ais] + 0.3 * recovery
                    p1 = 0.35
                    val = 2 if u < p2 else (1 if u < p2 + p1 else 0)
                exam[key(seg, s, kind)] = str(val)
        # Motor: 5 rostral to the level, 3/4 at it, the rest set below.
        g: dict[int, int] = {}
        for m in KEY_MUSCLES:
            if m < lv:
                g[m] = 5
            elif m == lv:
                g[m] = 4 if u_mot[si, m] < 0.6 + 0.3 * recovery else 3
        grades[s] = g

    # Sacral segments and anal items.
    if ais == "A":
        for s in SIDES:
            exam[key(_S45, s, "Touch")] = "0"
            exam[key(_S45, s, "Prick")] = "0"
    else:
        spared = SIDES[0] if side != "left" else SIDES[1]
        exam[key(_S45, spared, "Touch")] = "1" if u_misc[2] < 0.7 else "2"
        if ais == "B":
            exam["analSensation"] = "Yes" if u_misc[3] < 0.5 else "No"
        else:
            exam["analSensation"] = "Yes" if u_misc[3] < 0.85 else "No"

    free = {s: [m for m in KEY_MUSCLES if m > levels[s]] for s in SIDES}
    forced_low: dict[str, int] = {}
    for s in SIDES:
        if levels[s] in (_C4, _L1):
            # The motor walk only stops at C4 (L1) when C5 (L2) is below 3.
            forced_low[s] = levels[s] + 1

    if ais in ("A", "B"):
        for si, s in enumerate(SIDES):
            lv = levels[s]
            for m in free[s]:
                if m - lv <= 3:
                    # Motor zone of partial preservation: some contraction, never 3+.
                    gr = int(3 * u_grade[si, m] * (0.5 + 0.5 * recovery) + 0.5 * u_mot[si, m])
                    g = min(2, gr)
                else:
                    g = 0
                grades[s][m] = g
        if ambiguous == "AB":
            # S4_5 LT not testable and DAP not testable: A and B both possible.
            spared = SIDES[0] if side != "left" else SIDES[1]
            exam[key(_S45, spared, "Touch")] = "NT"
            exam["analSensation"] = "NT"
        ais_text = "A,B" if ambiguous == "AB" else ais
    else:
        ais_text = _fill_motor_incomplete(
            exam,
            grades,
            levels,
            free,
            forced_low,
            ais,
            ambiguous,
            u_mot,
            u_grade,
            u_misc,
            recovery,
        )

    for s in SIDES:
        for m, g in grades[s].items():
            if key(m, s, "Motor") not in exam:
                exam[key(m, s, "Motor")] = str(g)
    # Sensory NT far below the level: totals become ND, levels and AIS do not move.
    if nt_rate > 0:
        for s in SIDES:
            for seg in range(levels[s] + 2, _S45):
                for kind in ("Touch", "Prick"):
                    if rng.random() < nt_rate:
                        exam[key(seg, s, kind)] = "NT"

    nli_name = SEGMENTS[min(levels.values())]
    named = {s: SEGMENTS[levels[s]] for s in SIDES}
    injury = {"nli": nli, "ais": ais, "side": side, "offset": offset, "ambiguous": ambiguous}
    return _finish(exam, ais_text, nli_name, named, dict(named), injury)


def _fill_motor_incomplete(
    exam: dict[str, str],
    grades: dict[str, dict[int, int]],
    levels: dict[str, int],
    free: dict[str, list[int]],
    forced_low: dict[str, int],
    ais: str,
    ambiguous: str | None,
    u_mot: np.ndarray,
    u_grade: np.ndarray,
    u_misc: np.ndarray,
    recovery: float,
) -> str:
    """Grade the muscles below the level for AIS C or D; returns the expected AIS text."""
    nli = min(levels.values())
    below = [m for m in KEY_MUSCLES if m > nli]
    k = len(below)  # key-muscle levels below the NLI, per side
    fixed_high = sum(1 for s in SIDES for m in grades[s] if m > nli)  # 5s and the 3/4 at a level
    candidates = [
        (s, m) for s in SIDES for m in free[s] if forced_low.get(s) != m
    ]  # muscles free to be >=3 or <3
    if ais == "C":
        hi_max = k - 1 - fixed_high
        if hi_max < 0:
            raise ValueError("AIS C impossible: the fixed muscles already make half of them >=3")
        if ambiguous == "CD":
            n_high = hi_max
        else:
            n_high = int(np.floor((hi_max + 1) * min(0.999, 0.4 * u_misc[4] + 0.5 * recovery)))
            n_high = min(n_high, hi_max)
    else:
        hi_min = max(0, k - fixed_high)
        if hi_min > len(candidates):
            raise ValueError("AIS D impossible: too few free muscles below the NLI")
        spread = len(candidates) - hi_min
        n_high = hi_min + int(np.floor((spread + 1) * min(0.999, 0.3 * u_misc[4] + 0.6 * recovery)))
    # Muscles nearer the level are stronger: rank by a draw minus distance from the level.
    strength = [u_mot[SIDES.index(s), m] - 0.04 * (m - levels[s]) for s, m in candidates]
    order = np.argsort(strength)[::-1]
    high = {candidates[i] for i in order[:n_high]}
    for s in SIDES:
        si = SIDES.index(s)
        for m in free[s]:
            u = u_grade[si, m]
            if (s, m) in high:
                grades[s][m] = 3 + min(2, int(3 * (0.4 * u + 0.6 * recovery * u + 0.3 * u)))
            else:
                grades[s][m] = min(2, int(3 * u))
    # VAC: Yes, or No when some muscle more than three levels below a side's motor level
    # can carry the motor incompleteness.
    far = [(s, m) for s in SIDES for m in free[s] if m >= levels[s] + 4 and forced_low.get(s) != m]
    use_vac_no = ambiguous is None and u_misc[5] < 0.25 and bool(far)
    if use_vac_no:
        s, m = far[int(u_misc[6] * len(far))]
        if grades[s][m] == 0:
            grades[s][m] = 1
        exam["analContraction"] = "No"
    else:
        exam["analContraction"] = "Yes"
    if ambiguous == "CD":
        lows = [(s, m) for s, m in candidates if (s, m) not in high]
        s, m = lows[int(u_misc[7] * len(lows))]
        exam[key(m, s, "Motor")] = "NT"
        return "C,D"
    return ais


def _normal_exam() -> dict[str, str]:
    exam = {"analContraction": "Yes", "analSensation": "Yes"}
    for seg in range(1, len(SEGMENTS)):
        for s in SIDES:
            exam[key(seg, s, "Touch")] = "2"
            exam[key(seg, s, "Prick")] = "2"
            if seg in KEY_MUSCLES:
                exam[key(seg, s, "Motor")] = "5"
    return exam


def _side_total(exam: dict[str, str], s: str, segments, kind: str) -> int | None:
    values = [exam[key(seg, s, kind)] for seg in segments]
    if any(v.startswith("NT") for v in values):
        return None
    return sum(int(v.rstrip("*")) for v in values)


def _both(a: int | None, b: int | None) -> int | None:
    return None if a is None or b is None else a + b


def _finish(exam, ais, nli, sensory, motor, injury) -> SyntheticExam:
    exam = {c: exam.get(c, "") for c in EXAM_COLUMNS}
    dermatomes = range(1, len(SEGMENTS))
    totals = {
        "UEMS": _both(*(_side_total(exam, s, UPPER_KEY_MUSCLES, "Motor") for s in SIDES)),
        "LEMS": _both(*(_side_total(exam, s, LOWER_KEY_MUSCLES, "Motor") for s in SIDES)),
        "LT": _both(*(_side_total(exam, s, dermatomes, "Touch") for s in SIDES)),
        "PP": _both(*(_side_total(exam, s, dermatomes, "Prick") for s in SIDES)),
    }
    return SyntheticExam(exam, ais, nli, dict(sensory), dict(motor), totals, dict(injury))


def level_group(nli: str) -> str:
    """``"tetraplegia"`` for an NLI at C1–C8, else ``"paraplegia"`` (INT → paraplegia)."""
    name = nli.strip().rstrip("*").upper()
    return (
        "tetraplegia"
        if name in SEGMENT_INDEX and SEGMENT_INDEX[name] <= LAST_CERVICAL
        else ("paraplegia")
    )


# --------------------------------------------------------------------------------------------
# Trials
# --------------------------------------------------------------------------------------------

#: Default follow-up schedule (days since injury) of a synthetic trial.
DEFAULT_VISITS: tuple[int, ...] = (14, 90, 180, 365)
_BASELINE_NLIS = {"tetraplegia": ("C4", "C5", "C6", "C7"), "paraplegia": ("T4", "T6", "T8", "T10")}


@dataclass(frozen=True)
class SyntheticTrial:
    """A synthetic trial: the long exam table and the truth it was built from.

    Attributes
    ----------
    exams : DataFrame
        ``patient_id, arm, visit`` + the flat exam layout (strings) + ``age, sex, centre``.
    truth : DataFrame
        One row per patient: ``patient_id, arm, level_group, baseline_nli, baseline_ais,
        last_ais, grades_gained, converted_lower, converted_upper`` and the expected
        ``UEMS/LEMS/LT/PP`` at baseline and last visit and their changes (``delta_*``; NaN
        where a total is ND).
    """

    exams: pd.DataFrame
    truth: pd.DataFrame
    expected: pd.DataFrame
    seed: int | None


def synthetic_trial(
    n_per_arm: int | dict[str, int] = 20,
    *,
    arms: tuple[str, ...] = ("control", "MSC"),
    baseline_mix: dict[str, float] | None = None,
    conversion: dict[str, float] | None = None,
    visits: tuple[int, ...] = DEFAULT_VISITS,
    nt_rate: float = 0.0,
    ambiguous_rate: float = 0.0,
    seed: int | None = 0,
) -> SyntheticTrial:
    """Make a randomised trial's exams: patients, arms, visits and recovery.

    Each patient gets a baseline injury (grade from ``baseline_mix``, a cervical or thoracic
    NLI), then converts by ``conversion[arm]`` probability by one grade (a few by two) over
    the visits; grades never go down, and the NLI may descend one segment with recovery.

    Parameters
    ----------
    n_per_arm : int or dict, default 20
        Patients per arm (a dict gives each arm its own size).
    arms : tuple of str, default ("control", "MSC")
    baseline_mix : dict, optional
        Weights of baseline grades ``{"A": .5, "B": .2, "C": .2, "D": .1}`` (the default).
    conversion : dict, optional
        Probability of gaining at least one grade per arm; default 0.2 for the first arm and
        0.4 for the others.
    visits : tuple of int, default (14, 90, 180, 365)
        Days since injury; the first one is the baseline.
    nt_rate : float, default 0.0
        Passed to :func:`synthetic_exam` (sensory NT below the level).
    ambiguous_rate : float, default 0.0
        Share of A (C) baseline exams made ``A,B`` (``C,D``) ambiguous.
    seed : int, optional
    """
    rng = np.random.default_rng(seed)
    sizes = n_per_arm if isinstance(n_per_arm, dict) else {a: int(n_per_arm) for a in arms}
    mix = baseline_mix or {"A": 0.5, "B": 0.2, "C": 0.2, "D": 0.1}
    grades = list(mix)
    weights = np.asarray([mix[g] for g in grades], float)
    weights = weights / weights.sum()
    conv = conversion or {a: (0.2 if i == 0 else 0.4) for i, a in enumerate(sizes)}
    rows: list[dict[str, Any]] = []
    truth: list[dict[str, Any]] = []
    expected: list[dict[str, str]] = []
    pid = 0
    for arm, n in sizes.items():
        for _ in range(n):
            pid += 1
            patient = f"P{pid:03d}"
            group = "tetraplegia" if rng.random() < 0.55 else "paraplegia"
            nli = _BASELINE_NLIS[group][rng.integers(4)]
            g0 = grades[rng.choice(len(grades), p=weights)]
            gi = AIS_GRADES.index(g0)
            gain = 0
            if gi < 4 and rng.random() < conv[arm]:
                gain = 2 if (gi <= 1 and rng.random() < 0.3) else 1
            if gi + gain > 3:
                gain = 3 - gi  # keep recovery at most to D: E needs a normal exam
            g_last = AIS_GRADES[gi + gain]
            amb = None
            if rng.random() < ambiguous_rate and g0 in ("A", "C"):
                amb = "AB" if g0 == "A" else "CD"
            texture = int(rng.integers(2**31))
            age = int(rng.integers(18, 70))
            sex = "F" if rng.random() < 0.2 else "M"
            centre = f"centre-{int(rng.integers(1, 4))}"
            nvis = len(visits)
            change_at = int(rng.integers(1, nvis)) if gain else nvis
            descend = gain > 0 and rng.random() < 0.3
            exams = []
            for vi, day in enumerate(visits):
                reached = vi >= change_at
                grade = g_last if reached else g0
                lvl = nli
                if descend and reached:
                    lvl = SEGMENTS[SEGMENT_INDEX[nli] + 1]
                ex = _patient_exam(
                    lvl,
                    grade,
                    amb if vi == 0 else None,
                    vi / max(1, nvis - 1),
                    nt_rate,
                    rng,
                    texture,
                )
                exams.append(ex)
                expected.append(expected_result(ex))
                row = {"patient_id": patient, "arm": arm, "visit": day}
                row.update(ex.exam)
                row.update({"age": age, "sex": sex, "centre": centre})
                rows.append(row)
            b, last = exams[0], exams[-1]
            gains = [
                AIS_GRADES.index(y) - AIS_GRADES.index(x)
                for x in b.ais.split(",")
                for y in last.ais.split(",")
            ]
            t = {
                "patient_id": patient,
                "arm": arm,
                "level_group": group,
                "baseline_nli": b.nli,
                "baseline_ais": b.ais,
                "last_nli": last.nli,
                "last_ais": last.ais,
                "grades_gained": gain,
                # With an ambiguous exam the truth is a range over the possible grades.
                "converted_lower": min(gains) >= 1,
                "converted_upper": max(gains) >= 1,
            }
            for score in ("UEMS", "LEMS", "LT", "PP"):
                t0, t1 = b.totals[score], last.totals[score]
                t[f"baseline_{score}"] = np.nan if t0 is None else t0
                t[f"last_{score}"] = np.nan if t1 is None else t1
                t[f"delta_{score}"] = np.nan if t0 is None or t1 is None else t1 - t0
            truth.append(t)
    return SyntheticTrial(pd.DataFrame(rows), pd.DataFrame(truth), pd.DataFrame(expected), seed)


def expected_result(ex: SyntheticExam) -> dict[str, str]:
    """The expected classification of a synthetic exam in the engine's string conventions."""

    def total(v: int | None) -> str:
        return "ND" if v is None else str(v)

    return {
        "asiaImpairmentScale": ex.ais,
        "neurologicalLevelOfInjury": ex.nli,
        "rightSensory": ex.sensory["Right"],
        "leftSensory": ex.sensory["Left"],
        "rightMotor": ex.motor["Right"],
        "leftMotor": ex.motor["Left"],
        "upperMotorTotal": total(ex.totals["UEMS"]),
        "lowerMotorTotal": total(ex.totals["LEMS"]),
        "touchTotal": total(ex.totals["LT"]),
        "prickTotal": total(ex.totals["PP"]),
    }


def _patient_exam(nli, grade, amb, recovery, nt_rate, rng, texture) -> SyntheticExam:
    return synthetic_exam(
        nli, grade, ambiguous=amb, recovery=recovery, nt_rate=nt_rate, seed=rng, texture=texture
    )
