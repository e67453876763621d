"""The classification rules, one exam at a time, in the reference's string vocabulary.

This is the readable statement of the algorithm (RULES.md §3–§11, the behaviour of Praxis
``isncsci`` v2.0.6); :mod:`sci_evidence.isncsci.batch` is the vectorised twin and is tested
against it. Every function returns the reference's output strings: a list of possible
values, ``*`` marking a value that depends on a score tagged as not due to SCI.
"""

from __future__ import annotations

from dataclasses import dataclass

from sci_evidence.isncsci.exam import Exam
from sci_evidence.isncsci.levels import KEY_MUSCLE_INDEX, SEGMENT_NAMES

C4, T1, T2, L1, S1, S2, S3, S45 = 3, 8, 9, 20, 25, 26, 27, 28

ABNORMAL = frozenset({"0", "1", "0*", "1*"})  # clearly abnormal sensory scores
PLAIN_LOW = frozenset({"0", "1", "2"})  # motor grades below 3, untagged
CAN_BE_LOW = frozenset({"0", "1", "2", "0*", "1*", "2*", "NT", "NT*"})
NORMALISH = frozenset({"5", "0**", "1**", "2**", "3**", "4**", "NT**"})
PASSABLE = NORMALISH | {"NT"}  # a key muscle the motor walk may pass
STARRED_LOW = frozenset({"0*", "1*", "2*", "NT*"})
CONSIDER_NORMAL_LOW = frozenset({"0**", "1**", "2**"})


@dataclass
class Side:
    """One side's scores indexed by segment (0 = C1 … 28 = S4_5); C1 is always normal."""

    touch: list[str]
    prick: list[str]
    motor: dict[int, str]  # segment index → grade, for the ten key muscles
    non_key: int | None


def _sides(exam: Exam) -> tuple[Side, Side]:
    def side(s: str) -> Side:
        motor = {
            seg: grade
            for seg, grade in zip(
                (i for i in range(29) if KEY_MUSCLE_INDEX[i] >= 0),
                getattr(exam, f"{s}_motor"),
                strict=True,
            )
        }
        nk = getattr(exam, f"{s}_non_key")
        return Side(
            ["2", *getattr(exam, f"{s}_touch")],
            ["2", *getattr(exam, f"{s}_prick")],
            motor,
            # The reference ignores a non-key level outside C5-T1/L2-S1 everywhere.
            None if nk is None or not nk.is_key_muscle else int(nk),
        )

    return side("right"), side("left")


def name(level: int, star: bool) -> str:
    return SEGMENT_NAMES[level] + ("*" if star else "")


# -- §4 the sensory step --------------------------------------------------------------------
def sensory_step(side: Side, level: int, v: bool) -> tuple[bool, str | None, bool]:
    """Look at segment ``level + 1``: (continue, recorded level or None, new v)."""
    a, b = side.touch[level + 1], side.prick[level + 1]
    if a == "2" and b == "2":
        return True, None, v
    if a in ABNORMAL or b in ABNORMAL:
        return False, name(level, v), v
    if a == "NT*" or b == "NT*":
        return False, name(level, True), True
    if a == "NT" or b == "NT":
        other = b if a == "NT" else a
        return True, name(level, v), v or other in ("0**", "1**")
    return True, None, True


# -- §5 sensory level ------------------------------------------------------------------------
def sensory_level(side: Side) -> list[str]:
    out: list[str] = []
    v = False
    for level in range(0, S45):
        cont, rec, v2 = sensory_step(side, level, v)
        if rec is not None:
            out.append(rec)
        v = v2
        if not cont:
            return out
    out.append("INT*" if v else "INT")
    return out


# -- §6 motor level --------------------------------------------------------------------------
def entry_step(n: str, level: int, v: bool) -> tuple[bool, str | None, bool]:
    cont = n not in PLAIN_LOW
    rec = name(level, v) if n in CAN_BE_LOW else None
    return cont, rec, v or n in CONSIDER_NORMAL_LOW


def key_muscle_step(m: str, n: str, level: int, v: bool) -> tuple[bool, str | None, bool]:
    cont = m in PASSABLE and n not in PLAIN_LOW
    rec = None
    if not (m in NORMALISH and n not in CAN_BE_LOW):
        star = (
            m in STARRED_LOW
            or (m in CONSIDER_NORMAL_LOW and n in {"0*", "1*", "2*", "NT", "NT*"})
            or v
        )
        rec = name(level, star)
    setv = (
        m in STARRED_LOW
        or (m in NORMALISH and m != "5" and n not in PLAIN_LOW)
        or (m == "5" and n in CONSIDER_NORMAL_LOW)
    )
    return cont, rec, v or setv


def end_of_block_step(side: Side, level: int, v: bool) -> tuple[bool, str | None, bool]:
    m = side.motor[level]
    block_cont, block_rec, block_var = True, False, False
    for lv in range(level - 5, level + 1):
        c, r, bv = sensory_step(side, lv, False)
        block_cont &= c
        block_rec |= r is not None
        block_var |= bv
    passable = m in NORMALISH
    cont = (passable or m == "NT") and block_cont
    rec = None
    if m == "NT" or not (passable and block_cont and not block_rec):
        star = m in STARRED_LOW or (m in CONSIDER_NORMAL_LOW and (block_rec or not block_cont)) or v
        rec = name(level, star)
    setv = (
        m in STARRED_LOW
        or m in CONSIDER_NORMAL_LOW
        or (m in ("3**", "4**", "NT**") and block_cont)
        or (m in ("5", "NT") and block_cont and block_var and not block_rec)
    )
    return cont, rec, v or setv


def motor_level(side: Side, vac: str) -> list[str]:
    out: list[str] = []
    v = False
    for level in range(0, S45 + 1):
        if level == S45:
            s3 = name(S3, v)
            if vac in ("No", "NT") and SEGMENT_NAMES[S3] not in (x.rstrip("*") for x in out):
                out.append(s3)
            if vac in ("Yes", "NT"):
                out.append("INT*" if v else "INT")
            return out
        if level in (C4, L1):
            step = entry_step(side.motor[level + 1], level, v)
        elif level in side.motor and level not in (T1, S1):
            step = key_muscle_step(side.motor[level], side.motor[level + 1], level, v)
        elif level in (T1, S1):
            step = end_of_block_step(side, level, v)
        else:
            step = sensory_step(side, level, v)
        cont, rec, v = step
        if rec is not None:
            out.append(rec)
        if not cont:
            return out
    return out


# -- §7 neurological level of injury ----------------------------------------------------------
def _motor_part(side: Side, level: int, v: bool) -> tuple[bool, str | None, bool]:
    if level in (C4, L1):
        return entry_step(side.motor[level + 1], level, v)
    m = side.motor[level]
    n = m if level in (T1, S1) else side.motor[level + 1]
    return key_muscle_step(m, n, level, v)


def neurological_level(right: Side, left: Side) -> list[str]:
    out: list[str] = []
    v = False
    for level in range(0, S45 + 1):
        if level == S45:
            out.append("INT*" if v else "INT")
            return out
        rc, rr, rv = sensory_step(right, level, v)
        lc, lr, lv = sensory_step(left, level, v)
        s_cont = rc and lc
        s_var = v or rv or lv
        s_star = (rr is not None and lr is not None and rr[-1] == "*" and lr[-1] == "*") or v
        if C4 <= level <= T1 or L1 <= level <= S1:
            mrc, mrr, mrv = _motor_part(right, level, v)
            mlc, mlr, mlv = _motor_part(left, level, v)
            if rr is not None or lr is not None or mrr is not None or mlr is not None:
                both = mrr is not None and mlr is not None
                star = (both and (mrr[-1] == "*" or mlr[-1] == "*")) or v
                out.append(name(level, star))
            if not s_cont:
                return out
            v = s_var or mrv or mlv
            if not (mrc and mlc):
                return out
        else:
            if rr is not None or lr is not None:
                out.append(name(level, s_star))
            v = s_var
            if not s_cont:
                return out
    return out


# -- §8 completeness -----------------------------------------------------------------------
def s45_values(right: Side, left: Side) -> tuple[str, str, str, str]:
    return right.touch[S45], right.prick[S45], left.touch[S45], left.prick[S45]


def injury_complete(right: Side, left: Side, vac: str, dap: str) -> str:
    s = s45_values(right, left)
    if vac == "No" and dap == "No":
        if all(x == "0" for x in s):
            return "C"
        if all(x in ("0", "0*") for x in s):
            return "C*,I*"
        if all(x in ("0", "0**") for x in s):
            return "I*"
    if vac != "Yes" and dap != "Yes" and all(x in ("0", "NT", "0*", "NT*") for x in s):
        return "C,I"
    return "I"


# -- §9 AIS -----------------------------------------------------------------------------------
def start_muscle(x: int) -> int | None:
    """Index (0-9) of the first key muscle at or below segment ``x``; None below S1."""
    if 1 <= x <= C4:
        return 0
    if x <= T1:
        return x - 4
    if x <= L1:
        return 5
    if x <= S1:
        return x - 21 + 5
    return None


def _level_index(text: str) -> int:
    text = text.rstrip("*")
    return 29 if text == "INT" else SEGMENT_NAMES.index(text)


def _muscles(side: Side) -> list[tuple[int, str]]:
    return sorted(side.motor.items())


def _no_function_below(side: Side, motor_levels: list[str]) -> tuple[bool, bool]:
    """§9.4 per side: (some candidate has no function > 3 below it, a 0*/0** was met)."""
    passes = False
    var = False
    muscles = _muscles(side)
    for m_level in motor_levels:
        start = start_muscle(_level_index(m_level) + 4)
        found = False
        if start is not None:
            for seg, grade in muscles[start:]:
                if grade in ("0*", "0**"):
                    var = True
                if grade not in ("0", "NT", "NT*", "0*") or seg == side.non_key:
                    found = True
                    break
        if not found:
            passes = True
    return passes, var


def _motor_incomplete_gate(
    sides: tuple[Side, Side], motor_levels: tuple[list[str], list[str]], vac: str, ssp: bool
) -> tuple[bool, bool]:
    """§9.5: (motor incomplete possible, variable)."""
    if vac != "No":
        return True, False
    if not ssp:
        return False, False
    # Per side, the first motor-level candidate whose scan meets possible function decides
    # whether that side's finding is variable (a 0**); the gate is variable if either is.
    gate, var = False, False
    for side, levels in zip(sides, motor_levels, strict=True):
        muscles = _muscles(side)
        side_found = False
        for m_level in levels:
            start = start_muscle(_level_index(m_level) + 4)
            if start is None:
                continue
            for seg, grade in muscles[start:]:
                if grade != "0" or seg == side.non_key:
                    side_found = True
                    var |= grade == "0**"
                    break
            if side_found:
                break
        gate |= side_found
    return gate, var


def _c_test(sides: tuple[Side, Side], nli: list[str]) -> tuple[bool, bool]:
    """§9.6 count test: (C possible, variable) for the first NLI candidate giving C."""
    for n in nli:
        idx = _level_index(n)
        if idx >= S45:
            continue
        start = start_muscle(idx + 1)
        if start is None:
            continue
        k = 10 - start
        definite = tagged = 0
        for side in sides:
            for _, grade in _muscles(side)[start:]:
                if grade in ("0", "1", "2", "NT", "NT*"):
                    definite += 1
                elif grade in ("0*", "1*", "2*"):
                    tagged += 1
        if definite > k:
            return True, False
        if definite + tagged > k:
            return True, True
    return False, False


def _strip_stars(side: Side) -> Side:
    return Side(
        [x.replace("*", "") for x in side.touch],
        [x.replace("*", "") for x in side.prick],
        {k: x.replace("*", "") for k, x in side.motor.items()},
        side.non_key,
    )


def asia_impairment_scale(
    right: Side,
    left: Side,
    vac: str,
    dap: str,
    nli: list[str],
    complete: str,
    motor_levels: tuple[list[str], list[str]],
) -> str:
    if vac == "Yes" and nli == ["INT"]:
        return "E"
    if vac == "Yes" and nli == ["INT*"]:
        return "E*"
    sides = (right, left)
    grades: list[str] = []
    if "C" in complete.split(",") or "C*" in complete.split(","):
        grades.append("A*" if "*" in complete else "A")
    s = s45_values(right, left)
    ssp = dap != "No" or any(x != "0" for x in s)
    ssp_var = (
        dap == "No" and all(x in ("0", "0*", "0**") for x in s) and not all(x == "0" for x in s)
    )
    # B
    r_pass, r_var = _no_function_below(right, motor_levels[0])
    l_pass, l_var = _no_function_below(left, motor_levels[1])
    if ssp and vac != "Yes" and r_pass and l_pass:
        grades.append("B*" if ssp_var or (vac == "No" and (r_var or l_var)) else "B")
    gate, gate_var = _motor_incomplete_gate(sides, motor_levels, vac, ssp)
    if gate:
        # C
        c, c_var = _c_test(sides, [x.rstrip("*") for x in nli])
        if c:
            r0, l0 = _strip_stars(right), _strip_stars(left)
            c0, _ = _c_test((r0, l0), [x.rstrip("*") for x in neurological_level(r0, l0)])
            grades.append("C*" if c_var or gate_var or not c0 else "C")
        # D
        d, d_var = False, False
        for n in (x.rstrip("*") for x in nli):
            if n == "INT":
                break
            start = start_muscle(_level_index(n) + 1)
            if start is None:
                d, d_var = True, False
                break
            k = 10 - start
            possible = tagged = 0
            for side in sides:
                for _, grade in _muscles(side)[start:]:
                    if grade not in ("0", "1", "2"):
                        possible += 1
                    if grade in ("0*", "1*", "2*", "0**", "1**", "2**"):
                        tagged += 1
            if possible - tagged >= k:
                d, d_var = True, False
                break
            if possible >= k:
                d, d_var = True, True
        if d:
            grades.append("D*" if d_var or gate_var else "D")
    if vac != "No":
        if "INT*" in nli:
            grades.append("E*")
        elif "INT" in nli:
            grades.append("E")
    return ",".join(grades)


# -- §10 sensory ZPP ------------------------------------------------------------------------
NO_SENSATION = frozenset({"0", "NT", "0*", "NT*"})
TAGGED_DIGITS = frozenset({"0*", "1*", "0**", "1**"})


def sensory_zpp(side: Side, dap: str) -> str:
    if dap == "Yes":
        return "NA"
    a, b = side.touch[S45], side.prick[S45]
    if a not in NO_SENSATION or b not in NO_SENSATION:
        return "NA"
    na = dap == "NT" or not (a == "0" and b == "0")
    levels: list[str] = []
    v = False
    stopped = False
    for level in range(S3, 0, -1):
        a, b = side.touch[level], side.prick[level]
        if a == "0" and b == "0":
            continue
        if a not in NO_SENSATION or b not in NO_SENSATION:
            levels.append(name(level, v))
            stopped = True
            break
        if a in ("NT", "NT*") or b in ("NT", "NT*"):
            levels.append(name(level, v))
            continue
        levels.append(name(level, True))
        v = True
    if not stopped:
        levels.append("C1")
    levels.reverse()
    return ",".join((["NA"] if na else []) + levels)


# -- §11 motor ZPP --------------------------------------------------------------------------
def _has_star(side: Side, level: int) -> bool:
    return (
        "*" in side.touch[level]
        or "*" in side.prick[level]
        or ("*" in side.motor[level] if level in side.motor else False)
    )


def motor_zpp(side: Side, vac: str, ais: str, motor_levels: list[str]) -> str:
    if vac == "Yes":
        return "NA"
    na = vac == "NT"
    stripped = [x.rstrip("*") for x in motor_levels]
    stripped_text = ",".join(stripped)
    top = _level_index(stripped[0])
    if any(x in ("S2", "S3", "INT") for x in stripped):
        bottom = min(_level_index(stripped[-1]), S3)
    else:
        bottom = S1
    non_key = side.non_key if ("C" in ais and side.non_key is not None) else None
    if non_key is not None and non_key > bottom:
        non_key = None
    recorded: list[int] = []
    add_non_key = False
    for level in range(bottom, top - 1, -1):
        override = non_key is not None and non_key - level > 3
        if level in side.motor:
            m = side.motor[level]
            if (m[0] in "12345") or m in ("0**", "NT**"):
                if override:
                    add_non_key = True
                else:
                    recorded.append(level)
                break
            if m in ("NT", "NT*", "0*"):
                if override:
                    add_non_key = True
                else:
                    recorded.append(level)
        elif SEGMENT_NAMES[level] in stripped_text:
            if override:
                add_non_key = True
            else:
                recorded.append(level)
    starred: set[int] = set()
    first_star = next((lv for lv in range(0, bottom + 1) if _has_star(side, lv)), None)
    if first_star is not None:
        for lv in recorded:
            if lv in side.motor:
                if side.motor[lv] in ("0*", "0**"):
                    starred.add(lv)
            elif (
                side.touch[lv] in TAGGED_DIGITS
                or side.prick[lv] in TAGGED_DIGITS
                or (lv == top and first_star <= top)
            ):
                starred.add(lv)
    names = [name(lv, lv in starred) for lv in recorded]
    if add_non_key and non_key not in recorded:
        names.append(SEGMENT_NAMES[non_key])
        recorded.append(non_key)
    order = sorted(range(len(recorded)), key=lambda i: recorded[i])
    return ",".join((["NA"] if na else []) + [names[i] for i in order])


# -- §3 totals ------------------------------------------------------------------------------
def _total(values: list[str]) -> int | None:
    if any(x.startswith("NT") for x in values):
        return None
    return sum(int(x.rstrip("*")) for x in values)


def _fmt_total(t: int | None) -> str:
    return "ND" if t is None else str(t)


def classify_strings(exam: Exam) -> dict[str, str]:
    """The 25 results of one exam, in the reference's string conventions."""
    right, left = _sides(exam)
    vac, dap = exam.vac, exam.dap
    out: dict[str, str] = {}
    r_sens, l_sens = sensory_level(right), sensory_level(left)
    r_mot, l_mot = motor_level(right, vac), motor_level(left, vac)
    nli = neurological_level(right, left)
    complete = injury_complete(right, left, vac, dap)
    ais = asia_impairment_scale(right, left, vac, dap, nli, complete, (r_mot, l_mot))
    out["rightSensory"] = ",".join(r_sens)
    out["leftSensory"] = ",".join(l_sens)
    out["rightMotor"] = ",".join(r_mot)
    out["leftMotor"] = ",".join(l_mot)
    out["neurologicalLevelOfInjury"] = ",".join(nli)
    out["injuryComplete"] = complete
    out["asiaImpairmentScale"] = ais
    out["rightSensoryZpp"] = sensory_zpp(right, dap)
    out["leftSensoryZpp"] = sensory_zpp(left, dap)
    out["rightMotorZpp"] = motor_zpp(right, vac, ais, r_mot)
    out["leftMotorZpp"] = motor_zpp(left, vac, ais, l_mot)
    totals: dict[str, int | None] = {}
    for s, side in (("right", right), ("left", left)):
        cap = s.capitalize()
        motor = [g for _, g in sorted(side.motor.items())]
        totals[f"{s}UpperMotorTotal"] = _total(motor[:5])
        totals[f"{s}LowerMotorTotal"] = _total(motor[5:])
        totals[f"{s}TouchTotal"] = _total(side.touch[1:])
        totals[f"{s}PrickTotal"] = _total(side.prick[1:])
        totals[f"{s}MotorTotal"] = _total(motor)
        del cap
    for both, key in (
        ("upperMotorTotal", "UpperMotorTotal"),
        ("lowerMotorTotal", "LowerMotorTotal"),
        ("touchTotal", "TouchTotal"),
        ("prickTotal", "PrickTotal"),
    ):
        r, lf = totals[f"right{key}"], totals[f"left{key}"]
        totals[both] = None if r is None or lf is None else r + lf
    out.update({k: _fmt_total(v) for k, v in totals.items()})
    return out
