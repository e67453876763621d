"""The evidence base: MSC clinical studies in traumatic SCI with the provenance of every number.

``load_evidence(db=None)`` returns an :class:`EvidenceSet` of pandas DataFrames whose columns
are documented in ``docs/evidence_schema.md``. Without a database URL (argument or
``SCI_EVIDENCE_DB``) it returns the bundled, curated data set.
"""

from __future__ import annotations

import os
import warnings

from sci_evidence.errors import DataWarning
from sci_evidence.evidence.columns import FRAME_NAMES, FRAMES
from sci_evidence.evidence.model import EvidenceSet


def load_evidence(db: str | None = None) -> EvidenceSet:
    """Load the evidence base.

    Parameters
    ----------
    db : str, optional
        A database URL (``sqlite:///path``, ``postgresql://user:pw@host/db``) or a path to an
        SQLite file. Default: ``SCI_EVIDENCE_DB`` from the environment; when neither is set,
        the bundled data set is returned (no database is needed or created).

    Returns
    -------
    EvidenceSet
        Frozen dataclass of DataFrames (``studies, arms, outcomes, adverse_events,
        risk_of_bias, screening, natural_history_conversion, natural_history_scores,
        published_pooled, provenance``) plus ``data_hash``.

    Warns
    -----
    DataWarning
        When the database exists but has not been initialised (``sci-evidence evidence
        init``): the bundled data set is returned instead, and ``origin`` says so.

    Raises
    ------
    InputError
        When the database cannot be opened (bad URL, server unreachable).
    """
    from sci_evidence.evidence.bundled import load_bundled

    url = db or os.environ.get("SCI_EVIDENCE_DB") or None
    if url is None:
        return load_bundled()
    from sci_evidence.evidence.store import EvidenceStore

    store = EvidenceStore(url)
    try:
        if store.is_initialised():
            return store.load()
    finally:
        store.dispose()
    warnings.warn(
        f"the evidence database {store.display_url} is not initialised "
        "(run 'sci-evidence evidence init'); using the bundled data set",
        DataWarning,
        stacklevel=2,
    )
    return load_bundled()


def __getattr__(name: str):
    # The appraisal helpers load on first use (pandas is already imported by the model).
    if name in _APPRAISAL:
        from sci_evidence.evidence import appraisal

        return getattr(appraisal, name)
    raise AttributeError(name)


_APPRAISAL = (
    "AnchorComparison",
    "PrismaFlow",
    "anchor_comparison",
    "possible_duplicates",
    "primary_sources_only",
    "prisma_counts",
    "risk_of_bias",
    "study_labels",
)

__all__ = ["EvidenceSet", "FRAMES", "FRAME_NAMES", "load_evidence", *_APPRAISAL]
