"""Classify one exam: the public front door of the per-exam engine."""

from __future__ import annotations

from sci_evidence.isncsci._rules import classify_strings
from sci_evidence.isncsci.exam import Exam
from sci_evidence.isncsci.result import Classification


def classify_exam(exam: Exam) -> Classification:
    """Classify one ISNCSCI exam (2019 rules, as the Praxis reference algorithm applies them).

    Parameters
    ----------
    exam : Exam
        A validated exam (see :meth:`Exam.from_flat`, :meth:`Exam.from_nested`).

    Returns
    -------
    Classification
        Levels, NLI, completeness, AIS, zones of partial preservation and the 14 totals.

    Notes
    -----
    The rules are those of Praxis ``isncsci`` v2.0.6 (see ``RULES.md`` of the shared
    reference): the sensory level is the most caudal segment with LT and PP both 2 at every
    point rostral to it; the motor level is the most caudal key muscle graded ≥ 3 with all
    key muscles above it 5 (following sensation where there is no key muscle); the NLI is
    walked on both sides at once; AIS A–E follow the 2019 definitions; motor ZPPs apply when
    VAC is absent, sensory ZPPs when DAP and S4-5 sensation on that side are absent.
    ``NT`` makes a result ambiguous (all possible values are listed), ``*`` marks a value
    that depends on a score tagged as not due to SCI (``*``: consider not normal, ``**``:
    consider normal). Totals sum the numeric part of each score and are ``None`` when any
    score of the column is NT.

    Examples
    --------
    >>> from sci_evidence.isncsci import Exam, classify_exam
    >>> normal = Exam(("2",) * 28, ("2",) * 28, ("2",) * 28, ("2",) * 28,
    ...               ("5",) * 10, ("5",) * 10, vac="Yes", dap="Yes")
    >>> c = classify_exam(normal)
    >>> str(c.asia_impairment_scale[0]), str(c.neurological_level[0]), c.upper_motor_total
    ('E', 'INT', 50)
    """
    return Classification.from_reference(classify_strings(exam), exam_id=exam.exam_id)
