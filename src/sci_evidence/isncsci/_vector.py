"""The classification rules vectorised over many exams (numpy bitmasks).

Same rules as :mod:`sci_evidence.isncsci._rules` (RULES.md §3–§11), restated so that a
whole walk over levels is a handful of integer operations per exam:

- the levels C1…S4_5 of one side are the bits of a ``uint32`` (bit i = segment i; bit 29 =
  INT; bit 30 = NA for the zones of partial preservation);
- each step of a walk is *local*: whether it continues, records its level, forces a ``*``,
  or sets the walk's "variable" flag v depends only on scores near that level, so each
  of these is one bitmask per exam;
- "the steps reached" are the bits up to the first step that stops (lowest set bit of
  ``~continue``), and "v before step i" are the bits above the first reached step that
  sets v — two's-complement tricks, no loop over levels.

Score predicates are boolean lookup tables over score codes (see ``_codes``), packed into
bitmasks with :func:`numpy.packbits`.
"""

from __future__ import annotations

import numpy as np

from sci_evidence.isncsci._codes import CODE, NO, NT, NT_DIGIT, YES, EncodedExams, lut

U32 = np.uint32
INT_POS = 29
NA_BIT = 30
INT_BIT = U32(1 << INT_POS)
NA_MASK = U32(1 << NA_BIT)
STEPS = U32((1 << 28) - 1)  # walk steps C1…S3 (bits 0..27)
S1_BIT, S2_BIT, S3_BIT = U32(1 << 25), U32(1 << 26), U32(1 << 27)
KEY_POS = U32(sum(1 << p for p in (4, 5, 6, 7, 8, 21, 22, 23, 24, 25)))

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
IS_TWO = lut({"2"})
IS_ZERO = lut({"0"})
IS_NT = lut({"NT"})
IS_NT_STAR = lut({"NT*"})
HAS_STAR = np.array([("*" in t) for t in (*CODE, "")], dtype=bool)
MZPP_FUNCTION = lut(
    {f"{d}{t}" for d in "12345" for t in ("", "*", "**") if not (d == "5" and t)}
    | {"0**", "NT**"}
)
MZPP_POSSIBLE = lut({"NT", "NT*", "0*"})
STRIP = np.array([(c // 3) * 3 for c in range(len(CODE))] + [-1], dtype=np.int8)
DIGIT = np.array([c // 3 for c in range(len(CODE))] + [0], dtype=np.int16)


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


def _groups(start_of) -> list[int]:
    """For each start muscle j (0..10), the bitmask of levels L whose start is j."""
    return [sum(1 << L for L in range(30) if start_of[L] == j) for j in range(11)]


#: Levels grouped by the first muscle more than three levels below them (§9.2), INT: none.
BELOW_MOTOR_GROUPS = _groups([10 if L == INT_POS else _start_muscle(L + 4) for L in range(30)])
#: Levels grouped by the first muscle below them (§9.6–9.7).
BELOW_NLI_GROUPS = _groups([10 if L == INT_POS else _start_muscle(L + 1) for L in range(30)])
N_MUSCLES_BELOW = 10 - np.arange(11)


# -- bit helpers ----------------------------------------------------------------------------
def _bits(flags: np.ndarray) -> np.ndarray:
    """Boolean (..., K), K ≤ 32 → uint32 (...) with bit k = flags[..., k]."""
    packed = np.packbits(flags, axis=-1, bitorder="little")
    width = packed.shape[-1]
    if width == 4:
        return packed.view("<u4")[..., 0]
    if width == 2:
        return packed.view("<u2")[..., 0].astype(U32)
    if width == 1:
        return packed[..., 0].astype(U32)
    out = packed[..., 0].astype(U32)
    for i in range(1, width):
        out |= packed[..., i].astype(U32) << U32(8 * i)
    return out


def _key_bits(flags: np.ndarray) -> np.ndarray:
    """Boolean (..., 10) over key muscles → bits at their segments (C5–T1, L2–S1)."""
    b = _bits(flags)
    return ((b & U32(0x1F)) << U32(4)) | ((b >> U32(5)) << U32(21))


def _low_bit(x: np.ndarray) -> np.ndarray:
    return x & (~x + U32(1))


def _smear_down(x: np.ndarray) -> np.ndarray:
    """Every bit at or below the highest set bit."""
    x = x | (x >> U32(1))
    x |= x >> U32(2)
    x |= x >> U32(4)
    x |= x >> U32(8)
    x |= x >> U32(16)
    return x


def _high_bit(x: np.ndarray) -> np.ndarray:
    s = _smear_down(x)
    return s ^ (s >> U32(1))


def _by_group(flags: np.ndarray, groups: list[int]) -> np.ndarray:
    """flags (..., 11) per start muscle j → mask of the levels whose start j is flagged."""
    out = np.zeros(flags.shape[:-1], dtype=U32)
    for j, group in enumerate(groups):
        if group:
            out |= np.where(flags[..., j], U32(group), U32(0))
    return out


def _walk(cont, rec, force, setv, full=STEPS):
    """A forward walk over bits: (recorded, starred, completed, v at the end)."""
    stop = ~cont & full
    reached = ((_low_bit(stop) << U32(1)) - U32(1)) & full
    sv = setv & reached
    v_before = ~((_low_bit(sv) << U32(1)) - U32(1)) & full
    recorded = rec & reached
    return recorded, recorded & (force | v_before), stop == 0, sv != 0


# -- §4 sensory step, §5 sensory level ------------------------------------------------------
def _sensory_steps(touch, prick):
    """§4 for steps L = C1…S3 (looking at segment L+1), per side, as bitmasks."""

    def seg(table, codes):
        return _bits(table[codes]) >> U32(1)  # segment L+1 → step L

    a2, b2 = seg(IS_TWO, touch), seg(IS_TWO, prick)
    abn = seg(ABNORMAL, touch) | seg(ABNORMAL, prick)
    nts = seg(IS_NT_STAR, touch) | seg(IS_NT_STAR, prick)
    a_nt, b_nt = seg(IS_NT, touch), seg(IS_NT, prick)
    a_lt, b_lt = seg(LOW_TT, touch), seg(LOW_TT, prick)
    nt = a_nt | b_nt
    cont = ~abn & ~nts & STEPS
    rec = (abn | nts | nt) & STEPS
    force = nts & ~abn & STEPS
    s4_setv = nt & ((a_nt & b_lt) | (b_nt & a_lt))
    s5 = ~(a2 & b2) & ~abn & ~nts & ~nt
    setv = (force | (cont & s4_setv) | s5) & STEPS
    return cont, rec, force, setv


def _sensory_level(sens):
    recorded, starred, completed, v = _walk(*sens)
    cand = recorded | np.where(completed, INT_BIT, U32(0))
    star = starred | np.where(completed & v, INT_BIT, U32(0))
    return cand, star


# -- §6 motor level -------------------------------------------------------------------------
def _key_steps(m, n):
    """§6.2 for arrays of (m, n) grades: (cont, rec, force, setv) booleans."""
    n_plain_low = PLAIN_LOW[n]
    m_starred = STARRED_LOW[m]
    cont = PASSABLE[m] & ~n_plain_low
    rec = ~(NORMALISH[m] & ~CAN_BE_LOW[n])
    force = m_starred | (LOW_TT[m] & N_STARS_KEY[n])
    setv = m_starred | (NORMALISH_TAGGED[m] & ~n_plain_low) | ((m == C5) & LOW_TT[n])
    return cont, rec, force, setv


def _entry_steps(n):
    """§6.1 for the first key muscle n of a block: (cont, rec, force, setv) booleans."""
    return ~PLAIN_LOW[n], CAN_BE_LOW[n], np.zeros(n.shape, dtype=bool), LOW_TT[n]


def _put(mask, flags, first):
    """Overwrite bits first.. of ``mask`` with the booleans ``flags`` (..., k)."""
    k = flags.shape[-1]
    keep = U32(~(((1 << k) - 1) << first) & 0xFFFFFFFF)
    return (mask & keep) | (_bits(flags) << U32(first))


def _motor_level(enc: EncodedExams, sens):
    """§6: candidate and star bitmasks per side (2, N)."""
    cont, rec, force, setv = sens
    mo = enc.motor
    for first, entry in ((0, 3), (5, 20)):
        steps = [
            np.concatenate([e[..., None], k], axis=-1)
            for e, k in zip(
                _entry_steps(mo[..., first]),
                _key_steps(mo[..., first : first + 4], mo[..., first + 1 : first + 5]),
                strict=True,
            )
        ]
        cont, rec, force, setv = (
            _put(mask, flags, entry) for mask, flags in zip((cont, rec, force, setv), steps, strict=True)
        )
        # §6.3 end of block (T1 / S1): the six sensory steps around it, with v = false
        end = entry + 5
        six = U32(0x3F << (end - 5))
        b_cont = (sens[0] & six) == six
        b_rec = (sens[1] & six) != 0
        b_var = (sens[3] & six) != 0
        m = mo[..., first + 4]
        normalish = NORMALISH[m]
        m_nt = m == CNT
        m_starred = STARRED_LOW[m]
        m_low_tt = LOW_TT[m]
        bit = U32(1 << end)
        vals = (
            (normalish | m_nt) & b_cont,
            m_nt | ~(normalish & b_cont & ~b_rec),
            m_starred | (m_low_tt & (b_rec | ~b_cont)),
            m_starred | m_low_tt | (HIGH_TT[m] & b_cont) | (FIVE_OR_NT[m] & b_cont & b_var & ~b_rec),
        )
        cont, rec, force, setv = (
            (mask & ~bit) | np.where(val, bit, U32(0))
            for mask, val in zip((cont, rec, force, setv), vals, strict=True)
        )
    recorded, starred, completed, v = _walk(cont, rec, force, setv)
    # §6.4 the VAC step
    vac = enc.vac
    add_s3 = completed & (vac != YES) & ((recorded & S3_BIT) == 0)
    add_int = completed & (vac != NO)
    cand = recorded | np.where(add_s3, S3_BIT, U32(0)) | np.where(add_int, INT_BIT, U32(0))
    star = starred | np.where(add_s3 & v, S3_BIT, U32(0)) | np.where(add_int & v, INT_BIT, U32(0))
    return cand, star


# -- §7 neurological level ------------------------------------------------------------------
def _neurological_level(touch, prick, motor):
    """§7: candidate and star bitmasks (N,), both sides sharing one v."""
    sc, sr, sf, sv = _sensory_steps(touch, prick)
    n = touch.shape[1]
    ones = np.full((2, n), STEPS, dtype=U32)
    zeros = np.zeros((2, n), dtype=U32)
    mc, mr, mf, ms = ones, zeros, zeros, zeros
    for first, entry in ((0, 3), (5, 20)):
        m = motor[..., first : first + 5]
        nxt = motor[..., [first + 1, first + 2, first + 3, first + 4, first + 4]]
        steps = [
            np.concatenate([e[..., None], k], axis=-1)
            for e, k in zip(_entry_steps(motor[..., first]), _key_steps(m, nxt), strict=True)
        ]
        mc, mr, mf, ms = (
            _put(mask, flags, entry) for mask, flags in zip((mc, mr, mf, ms), steps, strict=True)
        )
    motor_pos = U32((0x3F << 3) | (0x3F << 20))
    both = mr[0] & mr[1]
    cont = sc[0] & sc[1] & mc[0] & mc[1]
    rec = sr[0] | sr[1] | mr[0] | mr[1]
    force = (sr[0] & sr[1] & sf[0] & sf[1] & ~motor_pos) | (both & (mf[0] | mf[1]) & motor_pos)
    setv = sv[0] | sv[1] | ms[0] | ms[1]
    recorded, starred, completed, v = _walk(cont, rec, force, setv)
    cand = recorded | np.where(completed, INT_BIT, U32(0))
    star = starred | np.where(completed & v, INT_BIT, U32(0))
    return cand, star


# -- §9 AIS helpers -------------------------------------------------------------------------
def _suffix_counts(flags):
    """flags (..., 10) → counts over muscles j..9 for j = 0..10: (..., 11)."""
    counts = np.zeros((*flags.shape[:-1], 11), dtype=np.int16)
    counts[..., :10] = np.cumsum(flags[..., ::-1], axis=-1, dtype=np.int16)[..., ::-1]
    return counts


def _c_possible(motor, nli):
    """§9.6 count test over NLI candidates: (C possible, variable)."""
    definite = _suffix_counts(DEFINITE_LOW[motor]).sum(axis=0)
    tagged = _suffix_counts(TAGGED_LOW_C[motor]).sum(axis=0)
    k = N_MUSCLES_BELOW
    c_any = _by_group(definite + tagged > k, BELOW_NLI_GROUPS)
    c_fixed = _by_group(definite > k, BELOW_NLI_GROUPS)
    first = _low_bit(nli & c_any)
    return first != 0, (first & c_fixed) == 0


def _select(cond, bit):
    return np.where(cond, U32(bit), U32(0))


def classify_codes(enc: EncodedExams) -> dict[str, object]:
    """Classify coded exams; returns bitmasks (levels), grade codes and totals."""
    touch, prick, motor = enc.touch, enc.prick, enc.motor
    vac, dap = enc.vac, enc.dap
    n = vac.shape[0]
    sens = _sensory_steps(touch, prick)
    sens_cand, sens_star = _sensory_level(sens)
    mot_cand, mot_star = _motor_level(enc, sens)
    nli_cand, nli_star = _neurological_level(touch, prick, motor)

    # §8 completeness: 0 "C", 1 "C*,I*", 2 "I*", 3 "C,I", 4 "I"
    s45 = np.stack([touch[0, :, 28], prick[0, :, 28], touch[1, :, 28], prick[1, :, 28]])
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
    key_segments = np.array([4, 5, 6, 7, 8, 21, 22, 23, 24, 25])
    is_nk = key_segments == enc.non_key[:, :, None]  # (2, N, 10)
    # B: per side, some motor-level candidate without function > 3 levels below it
    func_b = ~NO_FUNCTION_B[motor] | is_nk
    zero_tagged = ZERO_TAGGED[motor]
    func_g = (motor != C0) | is_nk
    is_0tt = motor == C0TT
    no_func = np.ones((2, n, 11), dtype=bool)
    met_var = np.zeros((2, n, 11), dtype=bool)
    found = np.zeros((2, n, 11), dtype=bool)
    found_tt = np.zeros((2, n, 11), dtype=bool)
    for j in range(9, -1, -1):
        no_func[..., j] = no_func[..., j + 1] & ~func_b[..., j]
        met_var[..., j] = zero_tagged[..., j] | (~func_b[..., j] & met_var[..., j + 1])
        found[..., j] = func_g[..., j] | found[..., j + 1]
        found_tt[..., j] = np.where(func_g[..., j], is_0tt[..., j], found_tt[..., j + 1])
    passes = (mot_cand & _by_group(no_func, BELOW_MOTOR_GROUPS)) != 0
    side_var = (mot_cand & _by_group(met_var, BELOW_MOTOR_GROUPS)) != 0
    b = ssp & (vac != YES) & passes[0] & passes[1]
    b_star = ssp_var | ((vac == NO) & (side_var[0] | side_var[1]))
    # motor-incomplete gate: per side, the first motor-level candidate decides
    first_cand = _low_bit(mot_cand)
    side_found = (first_cand & _by_group(found, BELOW_MOTOR_GROUPS)) != 0
    side_tt = (first_cand & _by_group(found_tt, BELOW_MOTOR_GROUPS)) != 0
    gate = (vac != NO) | (ssp & (side_found[0] | side_found[1]))
    gate_var = (vac == NO) & ssp & (side_found & side_tt).any(axis=0)
    # C, with the star-free re-check of §9.6
    c, c_var = _c_possible(motor, nli_cand)
    c &= gate
    c_star = c_var | gate_var
    need = c & ~c_star
    if need.any():
        rows = np.flatnonzero(need)
        t0, p0, m0 = STRIP[touch[:, rows]], STRIP[prick[:, rows]], STRIP[motor[:, rows]]
        nli0, _ = _neurological_level(t0, p0, m0)
        c0, _ = _c_possible(m0, nli0)
        c_star[rows] |= ~c0
    # D
    poss = _suffix_counts(~PLAIN_LOW[motor]).sum(axis=0)
    tagd = _suffix_counts(TAGGED_LOW_D[motor]).sum(axis=0)
    k = N_MUSCLES_BELOW
    d_cand = nli_cand & ~INT_BIT
    d_any = (d_cand & _by_group(poss >= k, BELOW_NLI_GROUPS)) != 0
    d_fixed = (d_cand & _by_group(poss - tagd >= k, BELOW_NLI_GROUPS)) != 0
    d = gate & d_any
    d_star = (d_any & ~d_fixed) | gate_var
    # A and E
    a = (complete == 0) | (complete == 1) | (complete == 3)
    a_star = complete == 1
    has_int = (nli_cand & INT_BIT) != 0
    e = (vac != NO) & has_int
    e_star = (nli_star & INT_BIT) != 0
    only_int = (nli_cand == INT_BIT) & (vac == YES)
    not_only = ~only_int
    ais = (
        (a & not_only).astype(np.int16)
        | ((b & not_only) << 1)
        | ((c & not_only) << 2)
        | ((d & not_only) << 3)
        | ((e | only_int) << 4)
        | ((a & a_star & not_only) << 5)
        | ((b & b_star & not_only) << 6)
        | ((c & c_star & not_only) << 7)
        | ((d & d_star & not_only) << 8)
        | (((e | only_int) & e_star) << 9)
    )
    has_c = c & not_only

    # §10 sensory ZPP: walk S3 → C2 (bits 1..27), stopping at the most caudal sensation
    upper = U32(((1 << 28) - 1) & ~1)
    zero = _bits(IS_ZERO[touch]) & _bits(IS_ZERO[prick])
    sensation = ~(_bits(NO_SENSATION[touch]) & _bits(NO_SENSATION[prick]))
    ntish = _bits(NT_ANY[touch]) | _bits(NT_ANY[prick])
    forced = ~zero & ~sensation & ~ntish & upper
    stop = sensation & upper
    reached = ~(_smear_down(stop) >> U32(1)) & upper
    recorded = ~zero & reached
    v_before = _smear_down(forced & reached) >> U32(1)
    sz_star = recorded & (forced | v_before)
    sz_cand = recorded | _select(stop == 0, 1)
    ta, pa_ = touch[:, :, 28], prick[:, :, 28]
    na_only = (dap == YES) | ~NO_SENSATION[ta] | ~NO_SENSATION[pa_]
    na_flag = (dap == NT) | ~((ta == C0) & (pa_ == C0))
    sz_cand = np.where(na_only, NA_MASK, sz_cand | _select(na_flag, NA_MASK))
    sz_star = np.where(na_only, U32(0), sz_star)

    # §11 motor ZPP: walk from bottom up to top
    top_bit = _low_bit(mot_cand)
    int_as_s3 = (mot_cand & ~INT_BIT) | _select((mot_cand & INT_BIT) != 0, S3_BIT)
    low = (mot_cand & (S2_BIT | S3_BIT | INT_BIT)) != 0
    bottom_bit = np.where(low, _high_bit(int_as_s3), S1_BIT)
    in_range = ((bottom_bit << U32(1)) - U32(1)) & ~(top_bit - U32(1)) & STEPS
    m_func = _key_bits(MZPP_FUNCTION[motor])
    m_poss = _key_bits(MZPP_POSSIBLE[motor])
    hit = (m_func | m_poss | (mot_cand & ~KEY_POS)) & in_range
    reached = ~(_smear_down(m_func & in_range) >> U32(1))
    nk = enc.non_key.astype(np.int64)
    nk_bit = np.where(nk >= 0, U32(1) << np.maximum(nk, 0).astype(U32), U32(0))
    nk_active = has_c[None, :] & (nk >= 0) & (nk_bit <= bottom_bit)
    override = np.where(nk_active, (U32(1) << np.maximum(nk - 3, 0).astype(U32)) - U32(1), U32(0))
    rec = reached & hit & ~override
    add_nk = (reached & hit & override) != 0
    star_seen = (
        _bits(HAS_STAR[touch]) | _bits(HAS_STAR[prick]) | _key_bits(HAS_STAR[motor])
    ) & STEPS
    star_at_top = (star_seen & ((top_bit << U32(1)) - U32(1))) != 0
    tagged_digit = _bits(TAGGED_DIGIT[touch]) | _bits(TAGGED_DIGIT[prick])
    star_cond = (KEY_POS & _key_bits(ZERO_TAGGED[motor])) | (
        ~KEY_POS & (tagged_digit | np.where(star_at_top, top_bit, U32(0)))
    )
    mz_cand = rec | np.where(add_nk, nk_bit, U32(0))
    mz_star = rec & star_cond
    vac_yes = vac == YES
    mz_cand = np.where(vac_yes, NA_MASK, mz_cand | _select(vac == NT, NA_MASK))
    mz_star = np.where(vac_yes, U32(0), mz_star)

    # §3 totals (-1 = ND)
    def total(codes):
        digits = DIGIT[codes]
        nd = (digits == NT_DIGIT).any(axis=-1)
        return np.where(nd, -1, digits.sum(axis=-1))

    upper_m, lower_m = total(motor[..., :5]), total(motor[..., 5:])
    touch_t, prick_t = total(touch[..., 1:29]), total(prick[..., 1:29])
    totals = {}
    for s, side in enumerate(("right", "left")):
        totals[f"{side}UpperMotorTotal"] = upper_m[s]
        totals[f"{side}LowerMotorTotal"] = lower_m[s]
        totals[f"{side}TouchTotal"] = touch_t[s]
        totals[f"{side}PrickTotal"] = prick_t[s]
        totals[f"{side}MotorTotal"] = np.where(
            (upper_m[s] < 0) | (lower_m[s] < 0), -1, upper_m[s] + lower_m[s]
        )
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
