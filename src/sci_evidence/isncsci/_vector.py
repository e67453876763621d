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

from sci_evidence.isncsci._codes import CODE, NO, NT, YES, EncodedExams
from sci_evidence.isncsci._codes import lut as _table
from sci_evidence.isncsci.levels import MOTOR_VALUES, SENSORY_VALUES


def lut(values) -> int:
    """A set of score strings as a bitmask over their codes."""
    return sum(1 << CODE[v] for v in values)


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
B0, B2, B5, B_NT, B0TT = (U32(1 << c) for c in (C0, C2, C5, CNT, C0TT))

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
HAS_STAR = lut({t for t in CODE if "*" in t})
MZPP_FUNCTION = lut(
    {f"{d}{t}" for d in "12345" for t in ("", "*", "**") if not (d == "5" and t)} | {"0**", "NT**"}
)
MZPP_POSSIBLE = lut({"NT", "NT*", "0*"})
STRIP = np.array([(c // 3) * 3 for c in range(len(CODE))] + [-1], dtype=np.int8)


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


# Tables over codes, for the few per-exam (not per-level) lookups.
T_ZERO_OR_ZSTAR = _table({"0", "0*"})
T_ZERO_OR_ZTT = _table({"0", "0**"})
T_NO_SENSATION = _table({"0", "NT", "0*", "NT*"})
T_ZERO_ANY = _table({"0", "0*", "0**"})
IS_FIVE = lut({"5"})
IS_ZERO_TT = lut({"0**"})
NT_ANY_TAG = lut({"NT", "NT*", "NT**"})
DIGIT_SETS = {d: lut({str(d), f"{d}*", f"{d}**"} & set(CODE)) for d in range(6)}
SENSORY_CODES = lut(SENSORY_VALUES)
MOTOR_CODES = lut(MOTOR_VALUES)
N_CODES = len(CODE)
MUSCLE_OF_SEGMENT = np.zeros(30, dtype=U32)
MUSCLE_OF_SEGMENT[[4, 5, 6, 7, 8, 21, 22, 23, 24, 25]] = np.arange(10, dtype=U32)


# -- scores as per-code bitmasks ------------------------------------------------------------
class _Masks:
    """Bitmasks of one score array: ``has(S)`` has bit p set where the score at p is in S.

    The codes (< 32) are split into 5 bit-planes, each packed once with ``packbits``; the
    mask of one code is an AND of planes, the mask of a set an OR of codes — so every rule's
    predicate costs a few integer operations per exam instead of a pass over all scores.
    """

    def __init__(self, codes: np.ndarray, valid: int) -> None:
        planes = [_bits((codes & np.int8(1 << k)) != 0) for k in range(5)]
        positions = U32((1 << codes.shape[-1]) - 1)
        inverse = [~p & positions for p in planes]
        self._code: dict[int, np.ndarray] = {}
        for c in range(N_CODES):
            if valid >> c & 1:
                m = planes[0] if c & 1 else inverse[0]
                for k in range(1, 5):
                    m = m & (planes[k] if c >> k & 1 else inverse[k])
                self._code[c] = m
        self._cache: dict[int, np.ndarray] = {}
        self._zero = np.zeros(codes.shape[:-1], dtype=U32)

    def has(self, codeset: int) -> np.ndarray:
        out = self._cache.get(codeset)
        if out is None:
            out = self._zero
            for c, m in self._code.items():
                if codeset >> c & 1:
                    out = out | m
            self._cache[codeset] = out
        return out


def _sensory_masks(codes: np.ndarray) -> _Masks:
    return _Masks(codes, SENSORY_CODES)


def _motor_masks(codes: np.ndarray) -> _Masks:
    return _Masks(codes, MOTOR_CODES)


def _place_key4(x):
    """Muscle bits 0–3 and 5–8 → segments C5–C8 and L2–L5."""
    return ((x & U32(0xF)) << U32(4)) | (((x >> U32(5)) & U32(0xF)) << U32(21))


def _place_key5(x):
    """Muscle bits 0–9 → segments C5–T1 and L2–S1."""
    return ((x & U32(0x1F)) << U32(4)) | (((x >> U32(5)) & U32(0x1F)) << U32(21))


def _place_entry(x):
    """Muscle bits 0 and 5 (C5, L2) → the entry steps at C4 and L1."""
    return ((x & U32(1)) << U32(3)) | (((x >> U32(5)) & U32(1)) << U32(20))


def _next_muscle(x):
    """Each muscle's bit replaced by the next muscle's (within C5–T1 and L2–S1)."""
    return x >> U32(1)


def _next_or_self(x):
    """As :func:`_next_muscle`, but T1 and S1 look at themselves (the NLI's rule, §7)."""
    return ((x >> U32(1)) & U32(0x1EF)) | (x & U32(0x210))


# -- §4 sensory step, §5 sensory level ------------------------------------------------------
def _sensory_steps(t: _Masks, p: _Masks):
    """§4 for steps L = C1…S3 (looking at segment L+1), per side, as bitmasks."""

    def seg(m: _Masks, codeset: int):
        return m.has(codeset) >> U32(1)  # segment L+1 → step L

    a2, b2 = seg(t, IS_TWO), seg(p, IS_TWO)
    abn = seg(t, ABNORMAL) | seg(p, ABNORMAL)
    nts = seg(t, IS_NT_STAR) | seg(p, IS_NT_STAR)
    a_nt, b_nt = seg(t, IS_NT), seg(p, IS_NT)
    a_lt, b_lt = seg(t, LOW_TT), seg(p, LOW_TT)
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
def _key_steps(m: _Masks, next_of):
    """§6.2 for every muscle m with n = next_of(muscle): (cont, rec, force, setv) bits."""
    n_plain_low = next_of(m.has(PLAIN_LOW))
    m_starred = m.has(STARRED_LOW)
    cont = m.has(PASSABLE) & ~n_plain_low
    rec = ~(m.has(NORMALISH) & ~next_of(m.has(CAN_BE_LOW)))
    force = m_starred | (m.has(LOW_TT) & next_of(m.has(N_STARS_KEY)))
    setv = (
        m_starred
        | (m.has(NORMALISH_TAGGED) & ~n_plain_low)
        | (m.has(IS_FIVE) & next_of(m.has(LOW_TT)))
    )
    return cont, rec, force, setv


def _entry_steps(m: _Masks):
    """§6.1 with n = the block's first muscle: (cont, rec, force, setv) at C4 and L1."""
    return (
        _place_entry(~m.has(PLAIN_LOW)),
        _place_entry(m.has(CAN_BE_LOW)),
        U32(0),
        _place_entry(m.has(LOW_TT)),
    )


MOTOR_LEVEL_KEY_POS = U32((0x1F << 3) | (0x1F << 20))  # C4–C8, L1–L5


def _motor_level(m: _Masks, vac, sens):
    """§6: candidate and star bitmasks per side (2, N)."""
    entry = _entry_steps(m)
    key = _key_steps(m, _next_muscle)
    cont, rec, force, setv = (
        (s & ~MOTOR_LEVEL_KEY_POS) | e | _place_key4(k)
        for s, e, k in zip(sens, entry, key, strict=True)
    )
    for muscle, end in ((4, 8), (9, 25)):
        # §6.3 end of block (T1 / S1): the six sensory steps around it, with v = false
        six = U32(0x3F << (end - 5))
        b_cont = (sens[0] & six) == six
        b_rec = (sens[1] & six) != 0
        b_var = (sens[3] & six) != 0

        def at(codeset: int, muscle: int = muscle):
            return (m.has(codeset) >> U32(muscle)) & U32(1) != 0

        normalish = at(NORMALISH)
        m_nt = at(IS_NT)
        m_starred = at(STARRED_LOW)
        m_low_tt = at(LOW_TT)
        bit = U32(1 << end)
        vals = (
            (normalish | m_nt) & b_cont,
            m_nt | ~(normalish & b_cont & ~b_rec),
            m_starred | (m_low_tt & (b_rec | ~b_cont)),
            m_starred
            | m_low_tt
            | (at(HIGH_TT) & b_cont)
            | (at(FIVE_OR_NT) & b_cont & b_var & ~b_rec),
        )
        cont, rec, force, setv = (
            (mask & ~bit) | np.where(val, bit, U32(0))
            for mask, val in zip((cont, rec, force, setv), vals, strict=True)
        )
    recorded, starred, completed, v = _walk(cont, rec, force, setv)
    # §6.4 the VAC step
    add_s3 = completed & (vac != YES) & ((recorded & S3_BIT) == 0)
    add_int = completed & (vac != NO)
    cand = recorded | np.where(add_s3, S3_BIT, U32(0)) | np.where(add_int, INT_BIT, U32(0))
    star = starred | np.where(add_s3 & v, S3_BIT, U32(0)) | np.where(add_int & v, INT_BIT, U32(0))
    return cand, star


# -- §7 neurological level ------------------------------------------------------------------
NLI_MOTOR_POS = U32((0x3F << 3) | (0x3F << 20))  # C4–T1, L1–S1


def _neurological_level(sens, m: _Masks):
    """§7: candidate and star bitmasks (N,), both sides sharing one v."""
    sc, sr, sf, sv = sens
    e_cont, e_rec, _, e_setv = _entry_steps(m)
    k_cont, k_rec, k_force, k_setv = _key_steps(m, _next_or_self)
    mc = (STEPS & ~NLI_MOTOR_POS) | e_cont | _place_key5(k_cont)
    mr = e_rec | _place_key5(k_rec)
    mf = _place_key5(k_force)
    ms = e_setv | _place_key5(k_setv)
    both = mr[0] & mr[1]
    cont = sc[0] & sc[1] & mc[0] & mc[1]
    rec = sr[0] | sr[1] | mr[0] | mr[1]
    force = (sr[0] & sr[1] & sf[0] & sf[1] & ~NLI_MOTOR_POS) | (
        both & (mf[0] | mf[1]) & NLI_MOTOR_POS
    )
    setv = sv[0] | sv[1] | ms[0] | ms[1]
    recorded, starred, completed, v = _walk(cont, rec, force, setv)
    cand = recorded | np.where(completed, INT_BIT, U32(0))
    star = starred | np.where(completed & v, INT_BIT, U32(0))
    return cand, star


# -- §9 AIS helpers -------------------------------------------------------------------------
def _count_from(mask, j):
    """Muscles flagged in ``mask`` (2, N) at positions j..9, summed over both sides."""
    return np.bitwise_count(mask >> U32(j)).sum(axis=0, dtype=np.int16)


def _c_possible(m: _Masks, nli):
    """§9.6 count test over NLI candidates: (C possible, variable)."""
    definite_mask, tagged_mask = m.has(DEFINITE_LOW), m.has(TAGGED_LOW_C)
    c_any = np.zeros(nli.shape, dtype=U32)
    c_fixed = np.zeros(nli.shape, dtype=U32)
    for j in range(10):
        definite = _count_from(definite_mask, j)
        tagged = _count_from(tagged_mask, j)
        group = U32(BELOW_NLI_GROUPS[j])
        c_any |= np.where(definite + tagged > 10 - j, group, U32(0))
        c_fixed |= np.where(definite > 10 - j, group, U32(0))
    first = _low_bit(nli & c_any)
    return first != 0, (first & c_fixed) == 0


def _select(cond, bit):
    return np.where(cond, U32(bit), U32(0))


ALL_MUSCLES = U32(0x3FF)
TOUCH_POINTS = U32(((1 << 29) - 1) & ~1)  # C2…S4_5


def classify_codes(enc: EncodedExams) -> dict[str, object]:
    """Classify coded exams; returns bitmasks (levels), grade codes and totals."""
    t, p, m = _sensory_masks(enc.touch), _sensory_masks(enc.prick), _motor_masks(enc.motor)
    vac, dap = enc.vac, enc.dap
    sens = _sensory_steps(t, p)
    sens_cand, sens_star = _sensory_level(sens)
    mot_cand, mot_star = _motor_level(m, vac, sens)
    nli_cand, nli_star = _neurological_level(sens, m)

    # §8 completeness: 0 "C", 1 "C*,I*", 2 "I*", 3 "C,I", 4 "I"
    s45 = np.stack(
        [enc.touch[0, :, 28], enc.prick[0, :, 28], enc.touch[1, :, 28], enc.prick[1, :, 28]]
    )
    both_no = (vac == NO) & (dap == NO)
    all0 = (s45 == C0).all(axis=0)
    complete = np.select(
        [
            both_no & all0,
            both_no & T_ZERO_OR_ZSTAR[s45].all(axis=0),
            both_no & T_ZERO_OR_ZTT[s45].all(axis=0),
            (vac != YES) & (dap != YES) & T_NO_SENSATION[s45].all(axis=0),
        ],
        [0, 1, 2, 3],
        4,
    ).astype(np.int8)

    # §9 AIS
    ssp = (dap != NO) | ~all0
    ssp_var = (dap == NO) & T_ZERO_ANY[s45].all(axis=0) & ~all0
    nk = enc.non_key.astype(np.int64)
    nk_muscle = np.where(nk >= 0, U32(1) << MUSCLE_OF_SEGMENT[np.maximum(nk, 0)], U32(0))
    func_b = (~m.has(NO_FUNCTION_B) & ALL_MUSCLES) | nk_muscle
    zero_tagged = m.has(ZERO_TAGGED)
    func_g = (~m.has(IS_ZERO) & ALL_MUSCLES) | nk_muscle
    is_0tt = m.has(IS_ZERO_TT)
    shape = func_b.shape
    no_func_pos = np.full(shape, U32(BELOW_MOTOR_GROUPS[10]))  # no muscles: no function
    met_var_pos = np.zeros(shape, dtype=U32)
    found_pos = np.zeros(shape, dtype=U32)
    found_tt_pos = np.zeros(shape, dtype=U32)
    for j in range(10):
        group = U32(BELOW_MOTOR_GROUPS[j])
        if not group:
            continue
        fb = func_b >> U32(j)
        fg = func_g >> U32(j)
        no_func_pos |= np.where(fb == 0, group, U32(0))
        up_to_function = (_low_bit(fb) << U32(1)) - U32(1)
        met_var_pos |= np.where(((zero_tagged >> U32(j)) & up_to_function) != 0, group, U32(0))
        found_pos |= np.where(fg != 0, group, U32(0))
        found_tt_pos |= np.where((_low_bit(fg) & (is_0tt >> U32(j))) != 0, group, U32(0))
    # B: per side, some motor-level candidate without function > 3 levels below it
    passes = (mot_cand & no_func_pos) != 0
    side_var = (mot_cand & met_var_pos) != 0
    b = ssp & (vac != YES) & passes[0] & passes[1]
    b_star = ssp_var | ((vac == NO) & (side_var[0] | side_var[1]))
    # motor-incomplete gate: per side, the first motor-level candidate decides
    first_cand = _low_bit(mot_cand)
    side_found = (first_cand & found_pos) != 0
    side_tt = (first_cand & found_tt_pos) != 0
    gate = (vac != NO) | (ssp & (side_found[0] | side_found[1]))
    gate_var = (vac == NO) & ssp & (side_found & side_tt).any(axis=0)
    # C, with the star-free re-check of §9.6
    c, c_var = _c_possible(m, nli_cand)
    c &= gate
    c_star = c_var | gate_var
    need = c & ~c_star
    if need.any():
        rows = np.flatnonzero(need)
        t0, p0 = (_sensory_masks(STRIP[x[:, rows]]) for x in (enc.touch, enc.prick))
        m0 = _motor_masks(STRIP[enc.motor[:, rows]])
        nli0, _ = _neurological_level(_sensory_steps(t0, p0), m0)
        c0, _ = _c_possible(m0, nli0)
        c_star[rows] |= ~c0
    # D
    poss_mask = ~m.has(PLAIN_LOW) & ALL_MUSCLES
    tagd_mask = m.has(TAGGED_LOW_D)
    d_any_pos = np.full(nli_cand.shape, U32(BELOW_NLI_GROUPS[10]))  # K = 0: D
    d_fixed_pos = np.full(nli_cand.shape, U32(BELOW_NLI_GROUPS[10]))
    for j in range(10):
        poss = _count_from(poss_mask, j)
        tagd = _count_from(tagd_mask, j)
        group = U32(BELOW_NLI_GROUPS[j])
        d_any_pos |= np.where(poss >= 10 - j, group, U32(0))
        d_fixed_pos |= np.where(poss - tagd >= 10 - j, group, U32(0))
    d_cand = nli_cand & ~INT_BIT
    d_any = (d_cand & d_any_pos) != 0
    d_fixed = (d_cand & d_fixed_pos) != 0
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
    zero = t.has(IS_ZERO) & p.has(IS_ZERO)
    sensation = ~(t.has(NO_SENSATION) & p.has(NO_SENSATION))
    ntish = t.has(NT_ANY) | p.has(NT_ANY)
    forced = ~zero & ~sensation & ~ntish & upper
    stop = sensation & upper
    reached = ~(_smear_down(stop) >> U32(1)) & upper
    recorded = ~zero & reached
    v_before = _smear_down(forced & reached) >> U32(1)
    sz_star = recorded & (forced | v_before)
    sz_cand = recorded | _select(stop == 0, 1)
    ta, pa_ = enc.touch[:, :, 28], enc.prick[:, :, 28]
    na_only = (dap == YES) | ~T_NO_SENSATION[ta] | ~T_NO_SENSATION[pa_]
    na_flag = (dap == NT) | ~((ta == C0) & (pa_ == C0))
    sz_cand = np.where(na_only, NA_MASK, sz_cand | _select(na_flag, NA_MASK))
    sz_star = np.where(na_only, U32(0), sz_star)

    # §11 motor ZPP: walk from bottom up to top
    top_bit = _low_bit(mot_cand)
    int_as_s3 = (mot_cand & ~INT_BIT) | _select((mot_cand & INT_BIT) != 0, S3_BIT)
    low = (mot_cand & (S2_BIT | S3_BIT | INT_BIT)) != 0
    bottom_bit = np.where(low, _high_bit(int_as_s3), S1_BIT)
    in_range = ((bottom_bit << U32(1)) - U32(1)) & ~(top_bit - U32(1)) & STEPS
    m_func = _place_key5(m.has(MZPP_FUNCTION))
    m_poss = _place_key5(m.has(MZPP_POSSIBLE))
    hit = (m_func | m_poss | (mot_cand & ~KEY_POS)) & in_range
    reached = ~(_smear_down(m_func & in_range) >> U32(1))
    nk_bit = np.where(nk >= 0, U32(1) << np.maximum(nk, 0).astype(U32), U32(0))
    nk_active = has_c[None, :] & (nk >= 0) & (nk_bit <= bottom_bit)
    override = np.where(nk_active, (U32(1) << np.maximum(nk - 3, 0).astype(U32)) - U32(1), U32(0))
    rec = reached & hit & ~override
    add_nk = (reached & hit & override) != 0
    star_seen = (t.has(HAS_STAR) | p.has(HAS_STAR) | _place_key5(m.has(HAS_STAR))) & STEPS
    star_at_top = (star_seen & ((top_bit << U32(1)) - U32(1))) != 0
    tagged_digit = t.has(TAGGED_DIGIT) | p.has(TAGGED_DIGIT)
    star_cond = (KEY_POS & _place_key5(zero_tagged)) | (
        ~KEY_POS & (tagged_digit | np.where(star_at_top, top_bit, U32(0)))
    )
    mz_cand = rec | np.where(add_nk, nk_bit, U32(0))
    mz_star = rec & star_cond
    vac_yes = vac == YES
    mz_cand = np.where(vac_yes, NA_MASK, mz_cand | _select(vac == NT, NA_MASK))
    mz_star = np.where(vac_yes, U32(0), mz_star)

    # §3 totals (-1 = ND): counts of each digit among the column's scores
    def total(masks: _Masks, points):
        nd = (masks.has(NT_ANY_TAG) & points) != 0
        value = np.zeros(nd.shape, dtype=np.int16)
        for digit in range(1, 6):
            value += digit * np.bitwise_count(masks.has(DIGIT_SETS[digit]) & points).astype(
                np.int16
            )
        return np.where(nd, np.int16(-1), value)

    upper_m, lower_m = total(m, U32(0x1F)), total(m, U32(0x3E0))
    touch_t, prick_t = total(t, TOUCH_POINTS), total(p, TOUCH_POINTS)
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
