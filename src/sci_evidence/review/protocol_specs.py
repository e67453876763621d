"""The frozen specs of a review protocol: the analysis plan as typed values (the vocabularies a
protocol may use, the inclusion and GRADE rules, one spec per analysis, synthesis, comparison and
question). :mod:`sci_evidence.review.protocol` reads a protocol file into these.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

#: Effect measures a pooled analysis may use, by design.
SINGLE_ARM_MEASURES = ("PLO", "PFT", "PR", "PAS", "MC", "MN")
CONTROLLED_MEASURES = ("RR", "RD", "OR", "MD", "SMD")
MEASURES = SINGLE_ARM_MEASURES + CONTROLLED_MEASURES
METHODS = ("REML", "ML", "DL", "PM", "HE", "SJ", "HS", "EB", "FE", "EE")
TESTS = ("z", "t", "knha")
DESIGNS = ("single_arm", "controlled")
OUTCOME_KINDS = ("binary", "continuous")
#: Study characteristics that subgroups and moderators may name.
SUBGROUP_VARIABLES = (
    "baseline_group",
    "route",
    "cell_source",
    "injury_phase",
    "auto_allo",
    "controlled",
    "injury_level",
)
MODERATORS = ("log_dose", "year", "n_administrations")
SENSITIVITY_ANALYSES = (
    "controlled_only",
    "low_risk_of_bias",
    "exclude_flagged",
    "fixed_effect",
    "include_possible_duplicates",
    "primary_sources_only",
    "exclude_derived_counts",
    "change_correlation",
    # other models of the same rows (see sci_evidence.review.models)
    "iv_logit",
    "iv_freeman_tukey",
    "mantel_haenszel",
    "peto",
    "glmm_conditional",
)
#: The main model of an analysis: the binomial-normal GLMM (single-arm PLO only) or
#: inverse-variance pooling of yi/vi.
MODELS = ("glmm", "iv")
#: The design and measures a model-based sensitivity analysis applies to.
_SENSITIVITY_NEEDS = {
    "iv_logit": ("single_arm", ("PLO",)),
    "iv_freeman_tukey": ("single_arm", ("PLO",)),
    "mantel_haenszel": ("controlled", ("RR", "RD", "OR")),
    "peto": ("controlled", ("OR",)),
    "glmm_conditional": ("controlled", ("RR", "RD", "OR")),
}
NATURAL_HISTORY = ("none", "conversion", "scores")
#: How a question of the review is answered from its analyses (review/messages.py).
ANSWERS = ("effect", "natural_history", "subgroups", "dose", "route_safety")
SYNTHESIS_DOMAINS = ("neurophysiology", "urodynamics", "mri", "function", "other")


@dataclass(frozen=True)
class InclusionRules:
    """Which studies enter the analyses.

    Attributes
    ----------
    culture_expanded_msc_only : bool, default True
        Exclude studies whose product is not a culture-expanded MSC (for example bone-marrow
        mononuclear cells). Excluded studies are listed in the report.
    exclude_combination_products : bool, default True
        Exclude studies of MSC combined with another cell type or a scaffold.
    exclude_possible_duplicates : bool, default True
        Exclude a study the evidence base marks as a possible duplicate of another
        (``duplicate_of``: it may report the same patients); the other one stays. The
        sensitivity analysis ``include_possible_duplicates`` tries it back in.
    """

    culture_expanded_msc_only: bool = True
    exclude_combination_products: bool = True
    exclude_possible_duplicates: bool = True


@dataclass(frozen=True)
class GradeRules:
    """Thresholds of the GRADE rules (see :mod:`sci_evidence.review.grade`).

    Attributes
    ----------
    start_randomised, start_nonrandomised : {"high", "moderate", "low", "very low"}
        Certainty before downgrading; default "high" and "low".
    rob_serious_share : float, default 0.5
        Downgrade one level for risk of bias when more than this share of the weight comes
        from studies at high risk (or with "some concerns" counted as half).
    inconsistency_I2 : float, default 50
        Downgrade one level for inconsistency when I² (percent) exceeds this, or when the
        prediction interval crosses the null while the confidence interval does not.
    inconsistency_I2_very_serious : float, default 75
        Downgrade two levels when I² exceeds this.
    ois_patients : int, default 400
        Optimal information size: downgrade one level for imprecision when fewer patients
        than this contribute (a common rule of thumb for continuous outcomes; GRADE
        handbook 5.2).
    min_patients_very_serious : int, default 100
        Downgrade two levels for imprecision when fewer patients than this contribute.
    egger_min_k : int, default 10
        Egger's test is used for publication bias only when k is at least this.
    egger_alpha : float, default 0.10
        Downgrade one level for publication bias when Egger's p is below this.
    single_arm_indirect : bool, default True
        Downgrade one level for indirectness when the comparison is against natural history
        rather than a concurrent control (single-arm evidence).
    """

    start_randomised: str = "high"
    start_nonrandomised: str = "low"
    rob_serious_share: float = 0.5
    inconsistency_I2: float = 50.0
    inconsistency_I2_very_serious: float = 75.0
    ois_patients: int = 400
    min_patients_very_serious: int = 100
    egger_min_k: int = 10
    egger_alpha: float = 0.10
    single_arm_indirect: bool = True


@dataclass(frozen=True)
class AnalysisSpec:
    """One pooled analysis of the protocol.

    Attributes
    ----------
    id : str
        Unique identifier (letters, digits, ``_`` and ``-``); used in ``results.json`` and
        as the anchor of the analysis in the report.
    title : str
        Human-readable title.
    outcome : str
        Outcome key in the evidence base (for example ``ais_improved``, ``motor_total``,
        ``light_touch_total``, ``adverse_events``).
    design : {"single_arm", "controlled"}
        ``single_arm`` pools the treated arm of every study (measure ``PLO``, ``PFT``,
        ``PR``, ``PAS``, ``MC`` or ``MN``); ``controlled`` pools treated against control
        (``RR``, ``RD``, ``OR``, ``MD``, ``SMD``).
    measure : str
        Effect measure (metafor's names).
    method : str, default from ``[defaults]`` ("REML")
        tau² estimator.
    test : {"z", "t", "knha"}, default from ``[defaults]`` ("z")
    subgroups : tuple of str
        Study characteristics to split by (a test for subgroup differences each).
    moderators : tuple of str
        Meta-regression moderators, one model each (``log_dose`` is log10 of cells per
        administration).
    sensitivity : tuple of str
        Sensitivity analyses: ``controlled_only``, ``low_risk_of_bias``, ``exclude_flagged``
        (run the analysis with the flagged studies included, to show their effect),
        ``fixed_effect``, ``include_possible_duplicates``, ``primary_sources_only``; other
        models of the same rows: ``iv_logit`` and ``iv_freeman_tukey`` (inverse-variance
        pooling of a single-arm PLO analysis), ``mantel_haenszel``, ``peto`` (OR only) and
        ``glmm_conditional`` (conditional GLMM of the odds ratio) for controlled 2x2 data.
    robustness : bool, default True
        Funnel plot, Egger's test, trim-and-fill, leave-one-out, influence and cumulative
        meta-analysis by year.
    natural_history : {"none", "conversion", "scores"}
        Read single-arm results against spontaneous recovery: AIS conversion rates or
        score changes from the natural-history tables.
    baseline_ais : tuple of str
        Restrict to studies whose baseline AIS grades are all within this set (empty: all).
    ri : float, default 0.5
        Assumed pre-post correlation for ``MC`` when a study does not report it.
    model : {"glmm", "iv"}, default "glmm" for single-arm ``PLO``, else "iv"
        The main model: ``glmm`` is the binomial-normal GLMM fitted to the counts by ML
        (metafor's ``rma.glmm(measure="PLO")``; single-arm ``PLO`` only), ``iv`` the
        inverse-variance model on ``yi``/``vi`` with ``method``.
    bayes_tau_scale : float or None, default None
        Scale of the half-normal prior on τ of the Bayesian sensitivity analysis (run when
        k < 5); None takes :func:`sci_evidence.review.models.default_tau_scale` of the
        measure (0.5 on log and logit scales, 10 points for score differences).
    """

    id: str
    title: str
    outcome: str
    design: str
    measure: str
    method: str = "REML"
    test: str = "z"
    subgroups: tuple[str, ...] = ()
    moderators: tuple[str, ...] = ()
    sensitivity: tuple[str, ...] = ()
    robustness: bool = True
    natural_history: str = "none"
    baseline_ais: tuple[str, ...] = ()
    ri: float = 0.5
    model: str = "iv"
    bayes_tau_scale: float | None = None

    @property
    def outcome_kind(self) -> str:
        """``binary`` for proportion and 2x2 measures, ``continuous`` otherwise."""
        return "continuous" if self.measure in ("MC", "MN", "MD", "SMD") else "binary"


@dataclass(frozen=True)
class SynthesisSpec:
    """A structured synthesis without pooling (SWiM): direction of effect and a sign test.

    Attributes
    ----------
    id, title : str
    domain : str
        One of ``neurophysiology``, ``urodynamics``, ``mri``, ``function``, ``other``.
    outcomes : tuple of str
        Outcome keys of the evidence base that belong to this domain.
    """

    id: str
    title: str
    domain: str
    outcomes: tuple[str, ...]


@dataclass(frozen=True)
class ComparisonSpec:
    """Our pooled result set beside a published meta-analysis' pooled result.

    Attributes
    ----------
    analysis : str
        ``id`` of one of the protocol's analyses.
    published : str
        Key of the published result in the evidence base (``published_pooled``).
    note : str
        Why the two may differ (populations, study types, measures).
    """

    analysis: str
    published: str
    note: str = ""


@dataclass(frozen=True)
class QuestionSpec:
    """A question of the review, answered by a key message generated from the results.

    Attributes
    ----------
    id, question : str
    draws_on : tuple of str
        Ids of the analyses and syntheses the answer is built from.
    answer : str, default "effect"
        ``effect`` (the pooled effect of each, or the SWiM vote count), ``natural_history``
        (observed against spontaneous recovery), ``subgroups`` (groups of ``by``), ``dose``
        (meta-regression on the moderator ``by``) or ``route_safety`` (adverse events by
        route of administration).
    by : str
        Subgroup variable or moderator for ``subgroups`` and ``dose``.
    """

    id: str
    question: str
    draws_on: tuple[str, ...]
    answer: str = "effect"
    by: str = ""


@dataclass(frozen=True)
class Protocol:
    """The analysis plan of a review.

    Attributes
    ----------
    title : str
    seed : int
        Seed of every random step (recorded in the run record).
    level : float, default 0.95
        Confidence level of every interval.
    min_studies : int, default 2
        An analysis with fewer studies is reported as "not pooled".
    min_studies_subgroup : int, default 3
        A subgroup with fewer studies carries a caution.
    inclusion : InclusionRules
    grade : GradeRules
    analyses : tuple of AnalysisSpec
    syntheses : tuple of SynthesisSpec
    comparisons : tuple of ComparisonSpec
    source : str
        Where the protocol was read from (file path or ``"<bundled default>"``).
    questions : tuple of QuestionSpec
        The questions the report's key messages answer.
    """

    title: str
    seed: int
    analyses: tuple[AnalysisSpec, ...]
    level: float = 0.95
    min_studies: int = 2
    min_studies_subgroup: int = 3
    inclusion: InclusionRules = field(default_factory=InclusionRules)
    grade: GradeRules = field(default_factory=GradeRules)
    syntheses: tuple[SynthesisSpec, ...] = ()
    comparisons: tuple[ComparisonSpec, ...] = ()
    source: str = "<bundled default>"
    questions: tuple[QuestionSpec, ...] = ()

    def analysis(self, analysis_id: str) -> AnalysisSpec:
        """The analysis with this ``id``."""
        for spec in self.analyses:
            if spec.id == analysis_id:
                return spec
        raise KeyError(analysis_id)

    def to_dict(self) -> dict[str, Any]:
        """The protocol as JSON-safe dict (tuples become lists)."""
        return _jsonable(asdict(self))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value
