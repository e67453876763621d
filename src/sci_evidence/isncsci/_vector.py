"""The classification rules vectorised over many exams (numpy).

Same rules as :mod:`sci_evidence.isncsci._rules` (RULES.md §3–§11), restated so that every
walk over levels is a set of boolean arrays ``(sides, positions, exams)``:

- each step of a walk is *local*: whether it continues, records its level, forces a ``*``
  on it, and sets the walk's "variable" flag v depend only on scores near that level;
- v only ever switches on, so "v before step i" is a cumulative OR, and "step i is
  reached" a cumulative AND of the earlier steps' "continue".

Sets of possible levels are kept as boolean arrays over C1…S4_5, INT (30 positions) and
packed into bitmasks for output: bit i = level i, bit 30 = ``NA``, bits 32+ = the ``*``s.
"""

from __future__ import annotations

import numpy as np

from sci_evidence.isncsci._codes import CODE, NO, NT, NT_DIGIT, YES, EncodedExams, lut

INT_POS = 29
NA_BIT = 30
N_POS = 30

C0, C2, C5, CNT, CNT1 = CODE["0"], CODE["2"], CODE["5"], CODE["NT"], CODE["NT*"]
C0TT = CODE["0**"]

ABNORMAL = lut({"0", "1", "0*", "1*"})
LOW_TT = lut({"0**", "1**", "2**"})
PLAIN_LOW = lut({"0", "1", "2"})
CAN_BE_LOW = lut({"0", "1", "2", "0*", "1*", "2*", "NT", "NT*"})
NORMALISH = lut({"5", "0**", "1**", "2**", "3**", "4**", "NT**"})
NORMALISH_TAGGED = lut({"0**", "1**", "2**", "3**", "4**", "NT**"})
PASSABLE = lut({"5", "0**", "1**", "2**", "3**", "4**", "NT", "NT**"})
STARRED_LOW = lut({"0*", "1*", "2*", "NT*"})
N_STARS_KEY = lut({"0*", "1*", "2*", "NT", "NT*"})
HIGH_TT = lut({"3**", "4**", "NT**"})
FIVE_OR_NT = lut({"5", "NT"})
NO_FUNCTION_B = lut({"0", "NT", "NT*", "0*"})
ZERO_TAGGED = lut({"0*", "0**"})
DEFINITE_LOW = lut({"0", "1", "2", "NT", "NT*"})
TAGGED_LOW_C = lut({"0*", "1*", "2*"})
TAGGED_LOW_D = lut({"0*", "1*", "2*", "0**", "1**", "2**"})
NO_SENSATION = lut({"0", "NT", "0*", "NT*"})
NT_ANY = lut({"NT", "NT*"})
ZERO_ANY = lut({"0", "0*", "0**"})
ZERO_OR_ZSTAR = lut({"0", "0*"})
ZERO_OR_ZTT = lut({"0", "0**"})
TAGGED_DIGIT = lut({"0*", "1*", "0**", "1**"})
HAS_STAR = np.array([("*" in t) for t in (*CODE, "")], dtype=bool)
MZPP_FUNCTION = lut(
    {f"{d}{t}" for d in "12345" for t in ("", "*", "**") if not (d == "5" and t)} | {"0**", "NT**"}
)
MZPP_POSSIBLE = lut({"NT", "NT*", "0*"})
STRIP = np.array([(c // 3) * 3 for c in range(len(CODE))] + [-1], dtype=np.int8)
DIGIT = np.array([c // 3 for c in range(len(CODE))] + [0], dtype=np.int16)

_KEY_SEGMENTS = np.array([4, 5, 6, 7, 8, 21, 22, 23, 24, 25])
_KEY_OF_SEGMENT = np.full(N_POS, -1)
_KEY_OF_SEGMENT[_KEY_SEGMENTS] = np.arange(10)


def _start_muscle(x: int) -> int:
    """First key muscle (0–9) examined from segment x downwards; 10 when there is none."""
    if 1 <= x <= 3:
        return 0
    if 4 <= x <= 8:
        return x - 4
    if 9 <= x <= 20:
        return 5
    if 21 <= x <= 25:
        return x - 16
    return 10


#: Motor-level candidate L → first muscle more than three levels below it (§9.2).
START_BELOW_MOTOR = np.array([_start_muscle(L + 4) for L in range(N_POS)])
START_BELOW_MOTOR[INT_POS] = 10
#: NLI candidate L → first muscle below it.
START_BELOW_NLI = np.array([_start_muscle(L + 1) for L in range(N_POS)])
START_BELOW_NLI[INT_POS] = 10
N_MUSCLES_BELOW = 10 - np.arange(11)


def _walk(cont, rec, force, setv):
    """Run a walk along axis 1: (recorded, starred, completed, v at the end)."""
    passed = np.logical_and.accumulate(cont, axis=1)
    reached = np.empty_like(passed)
    reached[:, 0] = True
    reached[:, 1:] = passed[:, :-1]
    v_after = np.logical_or.accumulate(setv, axis=1)
    v_before = np.empty_like(v_after)
    v_before[:, 0] = False
    v_before[:, 1:] = v_after[:, :-1]
    recorded = reached & rec
    starred = recorded & (force | v_before)
    return recorded, starred, passed[:, -1], v_after[:, -1]


def _sensory_steps(touch, prick):
    """§4 for every step L = C1…S3 (looking at L+1), per side: (cont, rec, force, setv)."""
    a, b = touch[:, 1:], prick[:, 1:]
    both2 = (a == C2) & (b == C2)
    abn = ABNORMAL[a] | ABNORMAL[b]
    nt_star = (a == CNT1) | (b == CNT1)
    a_nt, b_nt = a == CNT, b == CNT
    nt = a_nt | b_nt
    cont = ~abn & ~nt_star
    rec = abn | nt_star | nt
    force = nt_star & ~abn
    s4_setv = nt & ((a_nt & LOW_TT[b]) | (b_nt & LOW_TT[a]))
    s5 = ~(both2 | abn | nt_star | nt)
    setv = force | (cont & s4_setv) | s5
    return cont, rec, force, setv


def _key_steps(m, n):
    """§6.2 for arrays of (m, n) grades: (cont, rec, force, setv)."""
    n_plain_low = PLAIN_LOW[n]
    n_can_low = CAN_BE_LOW[n]
    m_starred = STARRED_LOW[m]
    cont = PASSABLE[m] & ~n_plain_low
    rec = ~(NORMALISH[m] & ~n_can_low)
    force = m_starred | (LOW_TT[m] & N_STARS_KEY[n])
    setv = m_starred | (NORMALISH_TAGGED[m] & ~n_plain_low) | ((m == C5) & LOW_TT[n])
    return cont, rec, force, setv


def _entry_steps(n):
    """§6.1 for the first key muscle n of a block: (cont, rec, force, setv)."""
    return ~PLAIN_LOW[n], CAN_BE_LOW[n], np.zeros(n.shape, dtype=bool), LOW_TT[n]


def _motor_level(enc: EncodedExams, sens):
    """§6: candidates and stars (2, 30, N)."""
    cont, rec, force, setv = (x.copy() for x in sens)
    mo = enc.motor
    for first, entry in ((0, 3), (5, 20)):
        for arr, val in zip((cont, rec, force, setv), _entry_steps(mo[:, first]), strict=True):
            arr[:, entry] = val
        key = _key_steps(mo[:, first : first + 4], mo[:, first + 1 : first + 5])
        for arr, val in zip((cont, rec, force, setv), key, strict=True):
            arr[:, entry + 1 : entry + 5] = val
        # §6.3 end of block (T1 / S1): six sensory steps with v = false
        end = entry + 5
        b_cont = sens[0][:, end - 5 : end + 1].all(axis=1)
        b_rec = sens[1][:, end - 5 : end + 1].any(axis=1)
        b_var = sens[3][:, end - 5 : end + 1].any(axis=1)
        m = mo[:, first + 4]
        normalish = NORMALISH[m]
        m_nt = m == CNT
        m_starred = STARRED_LOW[m]
        m_low_tt = LOW_TT[m]
        cont[:, end] = (normalish | m_nt) & b_cont
        rec[:, end] = m_nt | ~(normalish & b_cont & ~b_rec)
        force[:, end] = m_starred | (m_low_tt & (b_rec | ~b_cont))
        setv[:, end] = (
            m_starred | m_low_tt | (HIGH_TT[m] & b_cont) | (FIVE_OR_NT[m] & b_cont & b_var & ~b_rec)
        )
    recorded, starred, completed, v = _walk(cont, rec, force, setv)
    n = mo.shape[-1]
    cand = np.zeros((2, N_POS, n), dtype=bool)
    star = np.zeros((2, N_POS, n), dtype=bool)
    cand[:, :28] = recorded
    star[:, :28] = starred
    # §6.4 the VAC step
    vac = enc.vac[np.newaxis, :]
    add_s3 = completed & (vac != YES) & ~recorded[:, 27]
    cand[:, 27] |= add_s3
    star[:, 27] |= add_s3 & v
    add_int = completed & (vac != NO)
    cand[:, INT_POS] = add_int
    star[:, INT_POS] = add_int & v
    return cand, star


def _sensory_level(sens):
    """§5: candidates and stars (2, 30, N)."""
    recorded, starred, completed, v = _walk(*sens)
    n = recorded.shape[-1]
    cand = np.zeros((2, N_POS, n), dtype=bool)
    star = np.zeros((2, N_POS, n), dtype=bool)
    cand[:, :28] = recorded
    star[:, :28] = starred
    cand[:, INT_POS] = completed
    star[:, INT_POS] = completed & v
    return cand, star


def _neurological_level(touch, prick, motor):
    """§7: candidates and stars (30, N), both sides sharing one v."""
    sc, sr, sf, sv = _sensory_steps(touch, prick)
    cont = sc[0] & sc[1]
    rec = sr[0] | sr[1]
    force = sr[0] & sr[1] & sf[0] & sf[1]
    setv = sv[0] | sv[1]
    for first, entry in ((0, 3), (5, 20)):
        m = motor[:, first : first + 5]
        n = motor[:, [first + 1, first + 2, first + 3, first + 4, first + 4]]
        parts = [
            np.concatenate([e[:, None], k], axis=1)
            for e, k in zip(_entry_steps(motor[:, first]), _key_steps(m, n), strict=True)
        ]
        mc, mr, mf, ms = parts  # (2, 6, N): entry, then C5..T1 (L2..S1)
        sl = slice(entry, entry + 6)
        cont[sl] &= mc[0] & mc[1]
        both = mr[0] & mr[1]
        rec[sl] |= mr[0] | mr[1]
        force[sl] = both & (mf[0] | mf[1])
        setv[sl] |= ms[0] | ms[1]
    recorded, starred, completed, v = _walk(cont[None], rec[None], force[None], setv[None])
    n_exams = touch.shape[-1]
    cand = np.zeros((N_POS, n_exams), dtype=bool)
    star = np.zeros((N_POS, n_exams), dtype=bool)
    cand[:28] = recorded[0]
    star[:28] = starred[0]
    cand[INT_POS] = completed[0]
    star[INT_POS] = completed[0] & v[0]
    return cand, star


def _first_true(mask, axis):
    """Index of the first True along ``axis`` (0 when there is none)."""
    return np.argmax(mask, axis=axis)


def _gather(table, index):
    """table (..., J, N) indexed along J by index (K,) → (..., K, N)."""
    return np.take(table, index, axis=-2)


def _suffix_counts(flags):
    """flags (..., 10, N) → counts over muscles j..9 for j = 0..10: (..., 11, N)."""
    counts = np.zeros((*flags.shape[:-2], 11, flags.shape[-1]), dtype=np.int16)
    counts[..., :10, :] = np.cumsum(flags[..., ::-1, :], axis=-2, dtype=np.int16)[..., ::-1, :]
    return counts


def _c_possible(motor, nli_cand):
    """§9.6 count test over NLI candidates: (C possible, variable)."""
    definite = _suffix_counts(DEFINITE_LOW[motor]).sum(axis=0)
    tagged = _suffix_counts(TAGGED_LOW_C[motor]).sum(axis=0)
    k = N_MUSCLES_BELOW[:, None]
    c_any = _gather(definite + tagged > k, START_BELOW_NLI) & nli_cand
    c_fixed = _gather(definite > k, START_BELOW_NLI)
    c = c_any.any(axis=0)
    first = _first_true(c_any, 0)
    variable = ~np.take_along_axis(c_fixed, first[None], axis=0)[0]
    return c, variable


def classify_codes(enc: EncodedExams) -> dict[str, np.ndarray]:
    """Classify coded exams; returns packed results (bitmasks, grade codes, totals)."""
    touch, prick, motor = enc.touch, enc.prick, enc.motor
    vac, dap = enc.vac, enc.dap
    n = vac.shape[0]
    sens = _sensory_steps(touch, prick)
    sens_cand, sens_star = _sensory_level(sens)
    mot_cand, mot_star = _motor_level(enc, sens)
    nli_cand, nli_star = _neurological_level(touch, prick, motor)

    # §8 completeness: 0 "C", 1 "C*,I*", 2 "I*", 3 "C,I", 4 "I"
    s45 = np.stack([touch[0, 28], prick[0, 28], touch[1, 28], prick[1, 28]])
    both_no = (vac == NO) & (dap == NO)
    all0 = (s45 == C0).all(axis=0)
    complete = np.select(
        [
            both_no & all0,
            both_no & ZERO_OR_ZSTAR[s45].all(axis=0),
            both_no & ZERO_OR_ZTT[s45].all(axis=0),
            (vac != YES) & (dap != YES) & NO_SENSATION[s45].all(axis=0),
        ],
        [0, 1, 2, 3],
        4,
    ).astype(np.int8)

    # §9 AIS
    ssp = (dap != NO) | ~all0
    ssp_var = (dap == NO) & ZERO_ANY[s45].all(axis=0) & ~all0
    nk = enc.non_key[:, None, :]
    is_nk = _KEY_SEGMENTS[None, :, None] == nk  # (2, 10, N)
    # B: per side, some motor-level candidate without function > 3 levels below it
    func_b = ~NO_FUNCTION_B[motor] | is_nk
    no_func = np.ones((2, 11, n), dtype=bool)
    met_var = np.zeros((2, 11, n), dtype=bool)
    zero_tagged = ZERO_TAGGED[motor]
    for j in range(9, -1, -1):
        no_func[:, j] = no_func[:, j + 1] & ~func_b[:, j]
        met_var[:, j] = zero_tagged[:, j] | (~func_b[:, j] & met_var[:, j + 1])
    passes = (_gather(no_func, START_BELOW_MOTOR) & mot_cand).any(axis=1)
    side_var = (_gather(met_var, START_BELOW_MOTOR) & mot_cand).any(axis=1)
    b = ssp & (vac != YES) & passes[0] & passes[1]
    b_star = ssp_var | ((vac == NO) & (side_var[0] | side_var[1]))
    # motor-incomplete gate: per side, the first motor-level candidate decides
    func_g = (motor != C0) | is_nk
    found = np.zeros((2, 11, n), dtype=bool)
    found_tt = np.zeros((2, 11, n), dtype=bool)
    is_0tt = motor == C0TT
    for j in range(9, -1, -1):
        found[:, j] = func_g[:, j] | found[:, j + 1]
        found_tt[:, j] = np.where(func_g[:, j], is_0tt[:, j], found_tt[:, j + 1])
    first_start = START_BELOW_MOTOR[_first_true(mot_cand, 1)]  # (2, N)
    side_found = np.take_along_axis(found, first_start[:, None], axis=1)[:, 0]
    side_tt = np.take_along_axis(found_tt, first_start[:, None], axis=1)[:, 0]
    gate = (vac != NO) | (ssp & (side_found[0] | side_found[1]))
    gate_var = (vac == NO) & ssp & ((side_found & side_tt).any(axis=0))
    # C
    c, c_var = _c_possible(motor, nli_cand)
    c &= gate
    c_star = c_var | gate_var
    need = c & ~c_star
    if need.any():
        rows = np.flatnonzero(need)
        t0, p0, m0 = STRIP[touch[..., rows]], STRIP[prick[..., rows]], STRIP[motor[..., rows]]
        nli0, _ = _neurological_level(t0, p0, m0)
        c0, _ = _c_possible(m0, nli0)
        c_star[rows] |= ~c0
    # D
    poss = _suffix_counts(~PLAIN_LOW[motor]).sum(axis=0)
    tagd = _suffix_counts(TAGGED_LOW_D[motor]).sum(axis=0)
    k = N_MUSCLES_BELOW[:, None]
    d_cand = nli_cand.copy()
    d_cand[INT_POS] = False
    d_any = (_gather(poss >= k, START_BELOW_NLI) & d_cand).any(axis=0)
    d_fixed = (_gather(poss - tagd >= k, START_BELOW_NLI) & d_cand).any(axis=0)
    d = gate & d_any
    d_star = (d_any & ~d_fixed) | gate_var
    # A and E
    a = (complete == 0) | (complete == 1) | (complete == 3)
    a_star = complete == 1
    e = (vac != NO) & nli_cand[INT_POS]
    e_star = nli_star[INT_POS]
    only_int = nli_cand[INT_POS] & ~nli_cand[:28].any(axis=0) & (vac == YES)
    present = np.stack([a, b, c, d, e]) & ~only_int
    present[4] |= only_int
    stars = np.stack([a_star, b_star, c_star, d_star, e_star]) & present
    weights = (1 << np.arange(5))[:, None]
    ais = (present * weights).sum(axis=0) | ((stars * weights).sum(axis=0) << 5)
    has_c = c & ~only_int

    # §10 sensory ZPP, walking S3 → C2 (reversed arrays)
    sz_cand = np.zeros((2, N_POS + 1, n), dtype=bool)
    sz_star = np.zeros((2, N_POS + 1, n), dtype=bool)
    ta, pa_ = touch[:, 28], prick[:, 28]
    na_only = (dap == YES) | ~NO_SENSATION[ta] | ~NO_SENSATION[pa_]
    na_flag = na_only | (dap == NT) | ~((ta == C0) & (pa_ == C0))
    ra, rb = touch[:, 27:0:-1], prick[:, 27:0:-1]
    zero = (ra == C0) & (rb == C0)
    sensation = ~NO_SENSATION[ra] | ~NO_SENSATION[rb]
    ntish = NT_ANY[ra] | NT_ANY[rb]
    forced = ~zero & ~sensation & ~ntish
    rec, st, completed, _ = _walk(~sensation, ~zero, forced, forced)
    sz_cand[:, 27:0:-1] = rec
    sz_star[:, 27:0:-1] = st
    sz_cand[:, 0] = completed
    sz_cand[:, :N_POS] &= ~na_only[:, None]
    sz_star[:, :N_POS] &= ~na_only[:, None]
    sz_cand[:, NA_BIT] = na_flag

    # §11 motor ZPP, walking bottom → top
    top = _first_true(mot_cand, 1)  # (2, N)
    last = N_POS - 1 - _first_true(mot_cand[:, ::-1], 1)
    low = mot_cand[:, 26] | mot_cand[:, 27] | mot_cand[:, INT_POS]
    bottom = np.where(low, np.minimum(last, 27), 25)
    nk2 = enc.non_key.astype(np.int16)
    nk_active = has_c[None, :] & (nk2 >= 0) & (nk2 <= bottom)
    pos = np.arange(28)[:, None]
    key_pos = _KEY_OF_SEGMENT[:28] >= 0
    grade = np.full((2, 28, n), C0, dtype=motor.dtype)
    grade[:, _KEY_SEGMENTS] = motor
    m_func = MZPP_FUNCTION[grade] & key_pos[:, None]
    m_poss = MZPP_POSSIBLE[grade] & key_pos[:, None]
    hit = m_func | m_poss | (mot_cand[:, :28] & ~key_pos[:, None])
    in_range = (pos[None] >= top[:, None]) & (pos[None] <= bottom[:, None])
    hit &= in_range
    override = nk_active[:, None] & (nk2[:, None] - pos[None] > 3)
    cont = ~(m_func & in_range)
    rev = slice(None, None, -1)
    reached = np.empty((2, 28, n), dtype=bool)
    passed = np.logical_and.accumulate(cont[:, rev], axis=1)[:, rev]
    reached[:, 27] = True
    reached[:, :27] = passed[:, 1:]
    rec = reached & hit & ~override
    add_nk = (reached & hit & override).any(axis=1)
    star_seen = (
        HAS_STAR[touch[:, :28]] | HAS_STAR[prick[:, :28]] | (HAS_STAR[grade] & key_pos[:, None])
    )
    star_upto = np.logical_or.accumulate(star_seen, axis=1)
    # top is INT only when VAC = Yes, where the motor ZPP is NA anyway
    star_at_top = np.take_along_axis(star_upto, np.minimum(top, 27)[:, None], axis=1)[:, 0]
    tagged_digit = TAGGED_DIGIT[touch[:, :28]] | TAGGED_DIGIT[prick[:, :28]]
    at_top = pos[None] == top[:, None]
    mz_star_cond = np.where(
        key_pos[:, None], ZERO_TAGGED[grade], tagged_digit | (at_top & star_at_top[:, None])
    )
    mz_cand = np.zeros((2, N_POS + 1, n), dtype=bool)
    mz_star = np.zeros((2, N_POS + 1, n), dtype=bool)
    mz_cand[:, :28] = rec
    mz_star[:, :28] = rec & mz_star_cond
    sides, exams = np.nonzero(add_nk)
    mz_cand[sides, nk2[sides, exams], exams] = True
    vac_yes = vac == YES
    mz_cand[:, :N_POS] &= ~vac_yes
    mz_star[:, :N_POS] &= ~vac_yes
    mz_cand[:, NA_BIT] = (vac != NO)[None, :].repeat(2, axis=0)

    # §3 totals (-1 = ND)
    def total(codes, axis):
        digits = DIGIT[codes]
        nd = (digits == NT_DIGIT).any(axis=axis)
        return np.where(nd, -1, digits.sum(axis=axis))

    totals = {}
    for s, side in enumerate(("right", "left")):
        totals[f"{side}UpperMotorTotal"] = total(motor[s, :5], 0)
        totals[f"{side}LowerMotorTotal"] = total(motor[s, 5:], 0)
        totals[f"{side}TouchTotal"] = total(touch[s, 1:], 0)
        totals[f"{side}PrickTotal"] = total(prick[s, 1:], 0)
        totals[f"{side}MotorTotal"] = total(motor[s], 0)
    for both, key in (
        ("upperMotorTotal", "UpperMotorTotal"),
        ("lowerMotorTotal", "LowerMotorTotal"),
        ("touchTotal", "TouchTotal"),
        ("prickTotal", "PrickTotal"),
    ):
        r, lf = totals[f"right{key}"], totals[f"left{key}"]
        totals[both] = np.where((r < 0) | (lf < 0), -1, r + lf)

    return {
        "sensory": (sens_cand, sens_star),
        "motor": (mot_cand, mot_star),
        "nli": (nli_cand, nli_star),
        "complete": complete,
        "ais": ais,
        "sensory_zpp": (sz_cand, sz_star),
        "motor_zpp": (mz_cand, mz_star),
        "totals": totals,
    }
