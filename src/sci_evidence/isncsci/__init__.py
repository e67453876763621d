"""ISNCSCI classification: from a raw neurological exam to AIS grade, levels, scores and zones.

The 2019 International Standards (8th edition) as the Praxis reference algorithm (npm
``isncsci`` v2.0.6) applies them, with its interchange conventions.

- :func:`classify_exam` classifies one :class:`Exam` into a typed :class:`Classification`.
- :func:`classify_table` classifies a DataFrame in the reference's flat layout, vectorised.
- :func:`read_exams` reads flat CSV/JSON, nested JSON or Excel, and validates every value.
"""

from sci_evidence.isncsci.batch import classify_table
from sci_evidence.isncsci.classify import classify_exam
from sci_evidence.isncsci.exam import Exam
from sci_evidence.isncsci.formats import classify_file, read_exams
from sci_evidence.isncsci.levels import INPUT_COLUMNS, RESULT_COLUMNS, Level
from sci_evidence.isncsci.result import Classification, Possible

__all__ = [
    "INPUT_COLUMNS",
    "RESULT_COLUMNS",
    "Classification",
    "Exam",
    "Level",
    "Possible",
    "classify_exam",
    "classify_file",
    "classify_table",
    "read_exams",
]
