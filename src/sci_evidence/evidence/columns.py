"""The columns of every evidence frame, their kinds and their controlled vocabularies.

One place that the curation script, the loader, the validator, the database schema and the
extraction template all read, so the frames cannot drift apart. ``docs/evidence_schema.md``
documents each column.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Column kinds: ``str`` (text, ``""`` when absent), ``int`` (pandas ``Int64``), ``float``,
#: ``bool`` (pandas ``boolean``, may be ``<NA>``).
PROVENANCE = [
    ("source_key", "str"),
    ("where_in_source", "str"),
    ("verbatim", "str"),
    ("status", "str"),
]

FRAMES: dict[str, list[tuple[str, str]]] = {
    "studies": [
        ("study_id", "str"),
        ("first_author", "str"),
        ("year", "int"),
        ("title", "str"),
        ("journal", "str"),
        ("doi", "str"),
        ("pmid", "str"),
        ("registry_id", "str"),
        ("country", "str"),
        ("design", "str"),
        ("design_verbatim", "str"),
        ("phase", "str"),
        ("controlled", "bool"),
        ("n_arms", "int"),
        ("n_total", "int"),
        ("included_montoto2023", "str"),
        ("flags", "str"),
        ("notes", "str"),
        *PROVENANCE,
        ("label", "str"),
        ("duplicate_of", "str"),
        ("overlap_note", "str"),
        ("source_tier", "str"),
    ],
    "arms": [
        ("study_id", "str"),
        ("arm_id", "str"),
        ("arm_label", "str"),
        ("role", "str"),
        ("control_type", "str"),
        ("n", "int"),
        ("n_safety", "int"),
        ("n_verbatim", "str"),
        ("cell_source", "str"),
        ("product", "str"),
        ("product_verbatim", "str"),
        ("is_culture_expanded_msc", "bool"),
        ("auto_allo", "str"),
        ("auto_allo_status", "str"),
        ("route", "str"),
        ("route_group", "str"),
        ("route_verbatim", "str"),
        ("dose_cells", "float"),
        ("dose_unit", "str"),
        ("dose_verbatim", "str"),
        ("dose_status", "str"),
        ("n_administrations", "int"),
        ("n_administrations_verbatim", "str"),
        ("co_interventions", "str"),
        ("injury_phase", "str"),
        ("phase_verbatim", "str"),
        ("time_since_injury_verbatim", "str"),
        ("time_since_injury_months", "float"),
        ("level", "str"),
        ("level_group", "str"),
        ("level_verbatim", "str"),
        ("n_cervical", "int"),
        ("n_thoracic", "int"),
        ("n_lumbar", "int"),
        ("ais_a", "int"),
        ("ais_b", "int"),
        ("ais_c", "int"),
        ("ais_d", "int"),
        ("baseline_ais_verbatim", "str"),
        ("age_verbatim", "str"),
        ("age_mean", "float"),
        ("age_sd", "float"),
        ("n_male", "int"),
        ("n_female", "int"),
        ("follow_up_verbatim", "str"),
        ("follow_up_months", "float"),
        ("flags", "str"),
        ("notes", "str"),
        *PROVENANCE,
    ],
    "outcomes": [
        ("outcome_id", "str"),
        ("study_id", "str"),
        ("arm_id", "str"),
        ("subgroup", "str"),
        ("baseline_grade", "str"),
        ("outcome", "str"),
        ("domain", "str"),
        ("outcome_verbatim", "str"),
        ("timepoint", "str"),
        ("timepoint_months", "float"),
        ("is_baseline", "bool"),
        ("is_change", "bool"),
        ("n", "int"),
        ("mean", "float"),
        ("sd", "float"),
        ("median", "float"),
        ("q1", "float"),
        ("q3", "float"),
        ("events", "int"),
        ("from_grade", "str"),
        ("to_grade", "str"),
        ("count", "int"),
        ("unit", "str"),
        ("flags", "str"),
        ("notes", "str"),
        *PROVENANCE,
        ("source_tier", "str"),
    ],
    "adverse_events": [
        ("ae_id", "str"),
        ("study_id", "str"),
        ("arm_id", "str"),
        ("ae_type", "str"),
        ("ae_verbatim", "str"),
        ("n", "int"),
        ("patients", "int"),
        ("events", "int"),
        ("percent", "float"),
        ("severity", "str"),
        ("relation", "str"),
        ("timepoint", "str"),
        ("flags", "str"),
        ("notes", "str"),
        *PROVENANCE,
        ("source_tier", "str"),
    ],
    "risk_of_bias": [
        ("study_id", "str"),
        ("tool", "str"),
        ("domain", "str"),
        ("judgement", "str"),
        ("support", "str"),
        *PROVENANCE,
        ("source_url", "str"),
    ],
    "screening": [
        ("review", "str"),
        ("stage", "str"),
        ("count", "int"),
        ("study_id", "str"),
        ("reason", "str"),
        *PROVENANCE,
    ],
    "natural_history_conversion": [
        ("nh_id", "str"),
        ("source", "str"),
        ("database", "str"),
        ("population", "str"),
        ("level_group", "str"),
        ("baseline_grade", "str"),
        ("phase", "str"),
        ("initial_exam", "str"),
        ("window", "str"),
        ("window_months", "float"),
        ("endpoint", "str"),
        ("to_grade", "str"),
        ("n", "int"),
        ("percent", "float"),
        ("count", "int"),
        *PROVENANCE,
    ],
    "natural_history_scores": [
        ("cohort", "str"),
        ("score", "str"),
        ("outcome", "str"),
        ("baseline_grade", "str"),
        ("level_group", "str"),
        ("week", "int"),
        ("n", "int"),
        ("mean", "float"),
        ("sd", "float"),
        ("source_key", "str"),
        ("status", "str"),
    ],
    "published_pooled": [
        ("pooled_id", "str"),
        ("review", "str"),
        ("citation", "str"),
        ("analysis", "str"),
        ("comparison", "str"),
        ("population", "str"),
        ("outcome", "str"),
        ("measure", "str"),
        ("estimate", "float"),
        ("ci_lb", "float"),
        ("ci_ub", "float"),
        ("sd", "float"),
        ("pval", "float"),
        ("p_text", "str"),
        ("k_studies", "int"),
        ("n_patients", "int"),
        ("I2", "float"),
        ("notes", "str"),
        *PROVENANCE,
    ],
    "provenance": [
        ("table", "str"),
        ("key", "str"),
        ("field", "str"),
        ("value", "str"),
        *PROVENANCE,
    ],
    "conflicts": [
        ("conflict_id", "str"),
        ("study_id", "str"),
        ("table", "str"),
        ("field", "str"),
        ("value_used", "str"),
        ("source_used", "str"),
        ("quote_used", "str"),
        ("value_other", "str"),
        ("source_other", "str"),
        ("quote_other", "str"),
        ("decision", "str"),
        ("audit_ref", "str"),
    ],
    "sources": [
        ("source_key", "str"),
        ("what", "str"),
        ("url", "str"),
        ("tier", "str"),
    ],
    "review_candidates": [
        ("review", "str"),
        ("candidate_id", "str"),
        ("label", "str"),
        ("publication", "str"),
        ("n_patients", "str"),
        ("cells", "str"),
        ("design", "str"),
        ("study_id", "str"),
        ("eligible", "str"),
        ("inclusion_status", "str"),
        ("evidence_url", "str"),
        ("evidence_quote", "str"),
        ("note", "str"),
    ],
}

#: The frames of ``EvidenceSet`` in order (CONTRACTS §4 plus ``provenance``).
FRAME_NAMES: tuple[str, ...] = tuple(FRAMES)

#: The primary key of each frame (None: rows are identified by position only).
KEYS: dict[str, tuple[str, ...]] = {
    "studies": ("study_id",),
    "arms": ("arm_id",),
    "outcomes": ("outcome_id",),
    "adverse_events": ("ae_id",),
    "risk_of_bias": ("study_id", "tool", "domain"),
    "screening": ("review", "stage", "study_id", "reason"),
    "natural_history_conversion": ("nh_id",),
    "natural_history_scores": ("cohort", "score", "baseline_grade", "level_group", "week"),
    "published_pooled": ("pooled_id",),
    "provenance": ("table", "key", "field", "source_key"),
    "conflicts": ("conflict_id",),
    "sources": ("source_key",),
    "review_candidates": ("review", "candidate_id"),
}

STATUS = ("reported", "derived", "interpreted", "unverified")

#: What a value rests on: a primary report (article, abstract, registry result), only a
#: secondary scholarly source (a review's table), or only a non-scholarly one (a clinic blog,
#: news). ``""`` for rows without numbers of their own.
SOURCE_TIERS = ("primary", "secondary", "non_scholarly", "")

#: PRISMA 2020 flow stages of the ``screening`` frame, in flow order. ``source`` rows name a
#: source searched (``reason``) and the records it gave (``count``); ``records_excluded`` are
#: removed at title/abstract screening, ``excluded`` are reports excluded after assessment (each
#: with its reason); ``included_by_design`` splits a review's included count by design.
SCREENING_STAGES = (
    "source",
    "identified",
    "duplicates_removed",
    "screened",
    "records_excluded",
    "sought",
    "not_retrieved",
    "assessed",
    "excluded",
    "included",
    "included_by_design",
)
AIS_GRADES = ("A", "B", "C", "D", "E")

#: Controlled vocabularies: (frame, column) → allowed values. ``""`` allowed where listed.
VOCAB: dict[tuple[str, str], tuple[str, ...]] = {
    ("studies", "design"): (
        "rct",
        "non_randomised_controlled",
        "controlled_unclear",
        "single_arm_trial",
        "case_series",
        "case_report",
        "unknown",
    ),
    ("studies", "phase"): ("I", "I/II", "II", "III", ""),
    ("arms", "role"): ("treated", "control"),
    ("arms", "control_type"): ("rehabilitation", "standard_care", "none", "placebo", ""),
    ("arms", "cell_source"): (
        "bone_marrow",
        "umbilical_cord",
        "whartons_jelly",
        "adipose",
        "other",
        "unknown",
        "",
    ),
    ("arms", "product"): (
        "culture_expanded_msc",
        "mononuclear_cells",
        "msc_subpopulation",
        "msc_plus_other_cells",
        "unclear",
        "",
    ),
    ("arms", "auto_allo"): ("autologous", "allogeneic", "unknown", ""),
    ("arms", "route_group"): (
        "intrathecal",
        "intralesional",
        "intravenous",
        "intra_arterial",
        "intramuscular",
        "combination",
        "unknown",
        "",
    ),
    ("arms", "dose_unit"): ("cells", "cells/kg", "cells/ml", ""),
    ("arms", "injury_phase"): ("acute", "subacute", "chronic", "mixed", "unknown"),
    ("arms", "level"): ("cervical", "thoracic", "lumbar", "thoracolumbar", "mixed", "unknown"),
    ("arms", "level_group"): ("tetraplegia", "paraplegia", "mixed", "unknown"),
    ("outcomes", "domain"): (
        "ais",
        "motor",
        "sensory",
        "neurophysiology",
        "urodynamics",
        "mri",
        "function",
        "other",
    ),
    ("outcomes", "baseline_grade"): (*AIS_GRADES, ""),
    ("outcomes", "from_grade"): (*AIS_GRADES, ""),
    ("adverse_events", "severity"): (
        "mild",
        "moderate",
        "mild_to_moderate",
        "severe",
        "serious",
        "",
    ),
    ("adverse_events", "relation"): ("procedure", "cells", "route", "unrelated", ""),
    ("studies", "source_tier"): SOURCE_TIERS,
    ("outcomes", "source_tier"): SOURCE_TIERS,
    ("adverse_events", "source_tier"): SOURCE_TIERS,
    ("sources", "tier"): SOURCE_TIERS,
    ("risk_of_bias", "tool"): ("RoB2", "ROBINS-I", "MINORS", "case_series_checklist"),
    ("screening", "stage"): SCREENING_STAGES,
    ("natural_history_conversion", "baseline_grade"): AIS_GRADES[:4],
    ("natural_history_conversion", "endpoint"): (
        "improved",
        "to_grade",
        "motor_incomplete",
        "unchanged",
        "worse",
    ),
    ("natural_history_scores", "baseline_grade"): AIS_GRADES[:4],
    ("natural_history_scores", "level_group"): ("tetraplegia", "paraplegia"),
}

SINGLE_ROUTES = ("intrathecal", "intralesional", "intravenous", "intra_arterial", "intramuscular")

RISK_OF_BIAS_JUDGEMENTS: dict[str, tuple[str, ...]] = {
    "RoB2": ("low", "some_concerns", "high"),
    "ROBINS-I": ("low", "moderate", "serious", "critical", "no_information"),
    "MINORS": ("0", "1", "2", "low", "moderate", "high"),
    "case_series_checklist": ("yes", "no", "unclear", "not_applicable", "low", "moderate", "high"),
}

#: The domains of each risk-of-bias tool in order (``overall`` is the tool's summary row).
RISK_OF_BIAS_DOMAINS: dict[str, tuple[str, ...]] = {
    "RoB2": (
        "D1 randomisation process",
        "D2 deviations from intended interventions",
        "D3 missing outcome data",
        "D4 measurement of the outcome",
        "D5 selection of the reported result",
        "overall",
    ),
    "ROBINS-I": (
        "D1 confounding",
        "D2 selection of participants",
        "D3 classification of interventions",
        "D4 deviations from intended interventions",
        "D5 missing data",
        "D6 measurement of outcomes",
        "D7 selection of the reported result",
        "overall",
    ),
    "MINORS": (
        "M1 clearly stated aim",
        "M2 inclusion of consecutive patients",
        "M3 prospective collection of data",
        "M4 endpoints appropriate to the aim",
        "M5 unbiased assessment of the endpoint",
        "M6 follow-up appropriate to the aim",
        "M7 loss to follow-up below 5%",
        "M8 prospective calculation of the study size",
        "overall",
    ),
}

#: The outcome vocabulary and the domain of each outcome.
OUTCOME_DOMAINS: dict[str, str] = {
    "ais_improved": "ais",
    "ais_transition": "ais",
    "motor_total": "motor",
    "uems": "motor",
    "lems": "motor",
    "asia_total": "other",
    "lt_total": "sensory",
    "pp_total": "sensory",
    "motor_any_improvement": "motor",
    "motor_any_improvement_upper_limb": "motor",
    "motor_any_improvement_lower_limb": "motor",
    "sensory_any_improvement": "sensory",
    "sensory_and_motor_any_improvement": "other",
    "sensory_deterioration": "sensory",
    "composite_improved": "function",
    "sustained_improvement": "function",
    "ssep_changed": "neurophysiology",
    "ssep_improved": "neurophysiology",
    "mep_improved": "neurophysiology",
    "emg_infralesional_reinnervation": "neurophysiology",
    "urodynamics_improved": "urodynamics",
    "urodynamics_bladder_compliance_improved": "urodynamics",
    "bladder_capacity": "urodynamics",
    "detrusor_pressure": "urodynamics",
    "bladder_compliance": "urodynamics",
    "residual_urine": "urodynamics",
    "mri_change": "mri",
    "mri_new_signal_or_ectopic_tissue": "mri",
    "mri_lesion_size": "mri",
    "mri_hyperintensity": "mri",
    "scim3_total": "function",
    "scim3_selfcare": "function",
    "barthel": "function",
    "fim": "function",
    "ianr_scifrs": "function",
    "walk_10m_time": "function",
    "neuropathic_pain_improved": "function",
    "neuropathic_pain_disappeared": "function",
    "neuropathic_pain_decreased": "function",
    "sexual_improved": "function",
    "spasms_improved": "function",
    "spasticity_decreased": "function",
    "vac_improved": "function",
    "attrition": "other",
    "sensory_total": "sensory",
    "adl_unspecified": "function",
}

#: Score ranges of the continuous outcomes (points), used to flag impossible values.
SCORE_RANGES: dict[str, tuple[float, float]] = {
    "motor_total": (0, 100),
    "uems": (0, 50),
    "lems": (0, 50),
    "lt_total": (0, 112),
    "pp_total": (0, 112),
    "asia_total": (0, 324),
    "scim3_total": (0, 100),
    "scim3_selfcare": (0, 20),
    "fim": (18, 126),
    "sensory_total": (0, 224),
}


def empty_frame(name: str) -> pd.DataFrame:
    """An empty frame with the columns and dtypes of ``name``."""
    return coerce_frame(pd.DataFrame({c: [] for c, _ in FRAMES[name]}), name)


def coerce_frame(df: pd.DataFrame, name: str) -> pd.DataFrame:
    """Return ``df`` with exactly the columns of ``name`` in order, each in its dtype.

    Text columns get ``""`` for missing values (never NaN) so that string filters work;
    integer columns become ``Int64``, booleans ``boolean``, floats ``float64``. Values
    are expected to be valid already (see :mod:`sci_evidence.evidence.validate`).
    """
    out = {}
    n = len(df)
    # Plain Python lists per column: far faster than pandas per-Series conversions for the
    # small, wide frames of the evidence base.
    for col, kind in FRAMES[name]:
        values = df[col].tolist() if col in df.columns else [None] * n
        if kind == "str":
            out[col] = pd.Series(["" if _missing(v) else _as_text(v) for v in values], dtype=object)
        elif kind == "int":
            out[col] = pd.array([None if _blank(v) else _as_int(v) for v in values], dtype="Int64")
        elif kind == "float":
            out[col] = np.array(
                [np.nan if _blank(v) else float(v) for v in values], dtype="float64"
            )
        else:
            out[col] = pd.array([_as_bool(v) for v in values], dtype="boolean")
    return pd.DataFrame(out, index=pd.RangeIndex(n))


def _missing(v: object) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and v != v)


def _blank(v: object) -> bool:
    return _missing(v) or (isinstance(v, str) and not v.strip())


def _as_int(v: object) -> int:
    if isinstance(v, str):
        v = float(v)
    if isinstance(v, float):
        if not v.is_integer():
            raise ValueError(f"not a whole number: {v!r}")
        return int(v)
    return int(v)


def _as_text(v: object) -> str:
    if isinstance(v, float) and v.is_integer():
        # Spreadsheets turn "2019" into 2019.0; text columns keep the integer form.
        return str(int(v))
    # Surrounding whitespace carries no meaning and spreadsheets add it freely.
    return str(v).strip()


def _as_bool(v: object) -> object:
    if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
        return pd.NA
    if isinstance(v, bool | np.bool_):
        return bool(v)
    text = str(v).strip().lower()
    if text in ("true", "1", "yes", "1.0"):
        return True
    if text in ("false", "0", "no", "0.0"):
        return False
    if text in ("", "na", "<na>", "nan", "none", "unclear"):
        return pd.NA
    raise ValueError(f"not a boolean: {v!r}")


def frame_from_text(df: pd.DataFrame, name: str) -> pd.DataFrame:
    """Coerce a frame read as text (CSV with ``dtype=str``) into the dtypes of ``name``.

    Empty strings in numeric and boolean columns become missing values.
    """
    df = df.copy()
    for col, kind in FRAMES[name]:
        if col in df.columns and kind != "str":
            df[col] = df[col].map(lambda v: None if v is None or str(v).strip() == "" else v)
    return coerce_frame(df, name)
