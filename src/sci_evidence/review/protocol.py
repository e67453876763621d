"""The analysis plan of a review: a protocol file (TOML or YAML) turned into frozen specs.

The file format is documented in ``docs/protocol.md``; the bundled default is
``default_protocol.toml`` next to this module. Every key is checked when the file is read,
and a mistake raises :class:`~sci_evidence.errors.InputError` in one line naming the file,
the key (``analyses[2].measure``) and the value.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from sci_evidence.errors import InputError
from sci_evidence.review.protocol_specs import (  # noqa: F401 - re-exported: the protocol's names
    _SENSITIVITY_NEEDS,
    ANSWERS,
    CONTROLLED_MEASURES,
    DESIGNS,
    MEASURES,
    METHODS,
    MODELS,
    MODERATORS,
    NATURAL_HISTORY,
    OUTCOME_KINDS,
    SENSITIVITY_ANALYSES,
    SINGLE_ARM_MEASURES,
    SUBGROUP_VARIABLES,
    SYNTHESIS_DOMAINS,
    TESTS,
    AnalysisSpec,
    ComparisonSpec,
    GradeRules,
    InclusionRules,
    Protocol,
    QuestionSpec,
    SynthesisSpec,
    _jsonable,
)

# ----------------------------------------------------------------------------- reading


DEFAULT_PROTOCOL_NAME = "default_protocol.toml"


def default_protocol_text() -> str:
    """The text of the bundled default protocol."""
    return resources.files("sci_evidence.review").joinpath(DEFAULT_PROTOCOL_NAME).read_text("utf-8")


def load_protocol(path: str | Path | None = None) -> Protocol:
    """Read and validate a protocol file.

    Parameters
    ----------
    path : str or Path, optional
        A ``.toml``, ``.yaml`` or ``.yml`` file. ``None`` reads the bundled default protocol.

    Returns
    -------
    Protocol

    Raises
    ------
    InputError
        The file is missing or unreadable, or a key is unknown, missing or has a bad value;
        the message names the file and the key.
    """
    if path is None:
        return parse_protocol(default_protocol_text(), fmt="toml", source="<bundled default>")
    p = Path(path)
    if not p.is_file():
        raise InputError("protocol file not found", file=str(p))
    suffix = p.suffix.lower()
    if suffix == ".toml":
        fmt = "toml"
    elif suffix in (".yaml", ".yml"):
        fmt = "yaml"
    else:
        raise InputError(
            "protocol file must end in .toml, .yaml or .yml", file=str(p), value=p.suffix
        )
    try:
        text = p.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read protocol file: {exc}", file=str(p)) from None
    return parse_protocol(text, fmt=fmt, source=str(p))


def parse_protocol(text: str, *, fmt: str = "toml", source: str = "<string>") -> Protocol:
    """Parse and validate protocol text (``fmt`` is ``"toml"`` or ``"yaml"``)."""
    if fmt not in ("toml", "yaml"):
        raise ValueError(f"fmt must be 'toml' or 'yaml', got {fmt!r}")
    try:
        raw = _parse(text, fmt, source)
        if not isinstance(raw, dict):
            raise InputError("a protocol must be a table of keys", file=source)
        return _Reader(source).protocol(raw)
    except RecursionError:
        # the parsers recurse once per level of nesting: a hostile file must not crash
        raise InputError(
            f"the protocol is nested too deeply to be a protocol (not valid {fmt.upper()})",
            file=source,
        ) from None


def _parse(text: str, fmt: str, source: str) -> Any:
    if fmt == "toml":
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise InputError(f"not valid TOML: {exc}", file=source) from None
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        msg = " ".join(str(exc).split())
        raise InputError(f"not valid YAML: {msg}", file=source) from None


class _Reader:
    """Validates a raw protocol mapping; every error names the file and the key."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, message: str, value: Any = None) -> InputError:
        return InputError(f"key '{key}': {message}", file=self.source, value=value)

    def check_keys(self, table: dict, allowed: tuple[str, ...], where: str) -> None:
        for key in table:
            if key not in allowed:
                name = f"{where}.{key}" if where else key
                raise self.fail(name, f"unknown key; allowed: {', '.join(allowed)}")

    def table(self, raw: dict, key: str, where: str = "") -> dict:
        value = raw.get(key, {})
        name = f"{where}.{key}" if where else key
        if not isinstance(value, dict):
            raise self.fail(name, "must be a table", value)
        return value

    def string(self, table: dict, key: str, where: str, *, default: Any = ..., choices=None):
        name = f"{where}.{key}" if where else key
        if key not in table:
            if default is ...:
                raise self.fail(name, "is required")
            return default
        value = table[key]
        if not isinstance(value, str) or not value.strip():
            raise self.fail(name, "must be a non-empty string", value)
        if choices is not None and value not in choices:
            raise self.fail(name, f"must be one of {', '.join(choices)}", value)
        return value

    def number(
        self, table: dict, key: str, where: str, default: Any, *, lo=None, hi=None, integer=False
    ):
        name = f"{where}.{key}" if where else key
        if key not in table:
            return default
        value = table[key]
        ok_types = (int,) if integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, ok_types):
            kind = "an integer" if integer else "a number"
            raise self.fail(name, f"must be {kind}", value)
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise self.fail(name, f"must lie in [{lo}, {hi}]", value)
        return value

    def boolean(self, table: dict, key: str, where: str, default: bool) -> bool:
        name = f"{where}.{key}" if where else key
        if key not in table:
            return default
        value = table[key]
        if not isinstance(value, bool):
            raise self.fail(name, "must be true or false", value)
        return value

    def strings(self, table: dict, key: str, where: str, *, choices=None) -> tuple[str, ...]:
        name = f"{where}.{key}" if where else key
        value = table.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(name, "must be a list of strings", value)
        if choices is not None:
            for v in value:
                if v not in choices:
                    raise self.fail(name, f"must be among {', '.join(choices)}", v)
        if len(set(value)) != len(value):
            raise self.fail(name, "lists a value twice", value)
        return tuple(value)

    def protocol(self, raw: dict) -> Protocol:
        self.check_keys(
            raw,
            (
                "schema_version",
                "title",
                "seed",
                "level",
                "min_studies",
                "min_studies_subgroup",
                "inclusion",
                "defaults",
                "grade",
                "analyses",
                "syntheses",
                "comparisons",
                "questions",
            ),
            "",
        )
        version = raw.get("schema_version", 1)
        if version != 1:
            raise self.fail("schema_version", "this version of sci-evidence reads 1", version)
        title = self.string(raw, "title", "")
        seed = self.number(raw, "seed", "", 20240101, lo=0, hi=2**32 - 1, integer=True)
        level = self.number(raw, "level", "", 0.95, lo=0.5, hi=0.999)
        min_studies = self.number(raw, "min_studies", "", 2, lo=1, hi=1000, integer=True)
        min_sub = self.number(raw, "min_studies_subgroup", "", 3, lo=1, hi=1000, integer=True)

        inc = self.table(raw, "inclusion")
        self.check_keys(
            inc,
            (
                "culture_expanded_msc_only",
                "exclude_combination_products",
                "exclude_possible_duplicates",
            ),
            "inclusion",
        )
        inclusion = InclusionRules(
            culture_expanded_msc_only=self.boolean(
                inc, "culture_expanded_msc_only", "inclusion", True
            ),
            exclude_combination_products=self.boolean(
                inc, "exclude_combination_products", "inclusion", True
            ),
            exclude_possible_duplicates=self.boolean(
                inc, "exclude_possible_duplicates", "inclusion", True
            ),
        )

        defaults = self.table(raw, "defaults")
        self.check_keys(defaults, ("method", "test", "ri"), "defaults")
        d_method = self.string(defaults, "method", "defaults", default="REML", choices=METHODS)
        d_test = self.string(defaults, "test", "defaults", default="z", choices=TESTS)
        d_ri = self.number(defaults, "ri", "defaults", 0.5, lo=-1.0, hi=1.0)

        grade = self.grade(self.table(raw, "grade"))

        analyses_raw = raw.get("analyses")
        if not isinstance(analyses_raw, list) or not analyses_raw:
            raise self.fail("analyses", "must be a non-empty list of tables", analyses_raw)
        analyses = tuple(
            self.analysis(a, i, d_method, d_test, d_ri) for i, a in enumerate(analyses_raw, 1)
        )
        ids = [a.id for a in analyses]
        for i, a in enumerate(analyses, 1):
            if a.id in ids[: i - 1]:
                raise self.fail(f"analyses[{i}].id", "is used twice", a.id)

        syn_raw = raw.get("syntheses", [])
        if not isinstance(syn_raw, list):
            raise self.fail("syntheses", "must be a list of tables", syn_raw)
        syntheses = tuple(self.synthesis(s, i) for i, s in enumerate(syn_raw, 1))
        all_ids = ids + [s.id for s in syntheses]
        for i, s in enumerate(syntheses, 1):
            if s.id in all_ids[: len(ids) + i - 1]:
                raise self.fail(f"syntheses[{i}].id", "is used twice", s.id)

        cmp_raw = raw.get("comparisons", [])
        if not isinstance(cmp_raw, list):
            raise self.fail("comparisons", "must be a list of tables", cmp_raw)
        comparisons = []
        for i, c in enumerate(cmp_raw, 1):
            where = f"comparisons[{i}]"
            if not isinstance(c, dict):
                raise self.fail(where, "must be a table", c)
            self.check_keys(c, ("analysis", "published", "note"), where)
            analysis = self.string(c, "analysis", where)
            if analysis not in ids:
                raise self.fail(f"{where}.analysis", "names no analysis of this protocol", analysis)
            comparisons.append(
                ComparisonSpec(
                    analysis=analysis,
                    published=self.string(c, "published", where),
                    note=self.string(c, "note", where, default=""),
                )
            )
        return Protocol(
            title=title,
            seed=seed,
            level=float(level),
            min_studies=min_studies,
            min_studies_subgroup=min_sub,
            inclusion=inclusion,
            grade=grade,
            analyses=analyses,
            syntheses=syntheses,
            comparisons=tuple(comparisons),
            source=self.source,
            questions=self.questions(raw.get("questions", []), all_ids),
        )

    def questions(self, raw: Any, known: list[str]) -> tuple[QuestionSpec, ...]:
        if not isinstance(raw, list):
            raise self.fail("questions", "must be a list of tables", raw)
        out: list[QuestionSpec] = []
        for i, q in enumerate(raw, 1):
            where = f"questions[{i}]"
            if not isinstance(q, dict):
                raise self.fail(where, "must be a table", q)
            self.check_keys(q, tuple(QuestionSpec.__dataclass_fields__), where)
            qid = self.string(q, "id", where)
            if qid in [x.id for x in out]:
                raise self.fail(f"{where}.id", "is used twice", qid)
            draws_on = self.strings(q, "draws_on", where)
            if not draws_on:
                raise self.fail(f"{where}.draws_on", "must name at least one analysis or synthesis")
            for d in draws_on:
                if d not in known:
                    raise self.fail(
                        f"{where}.draws_on", "names no analysis or synthesis of this protocol", d
                    )
            answer = self.string(q, "answer", where, default="effect", choices=ANSWERS)
            by = self.string(q, "by", where, default="")
            if answer == "subgroups" and by not in SUBGROUP_VARIABLES:
                raise self.fail(f"{where}.by", f"must be among {', '.join(SUBGROUP_VARIABLES)}", by)
            if answer == "dose" and by not in MODERATORS:
                raise self.fail(f"{where}.by", f"must be among {', '.join(MODERATORS)}", by)
            out.append(
                QuestionSpec(
                    id=qid,
                    question=self.string(q, "question", where),
                    draws_on=draws_on,
                    answer=answer,
                    by=by,
                )
            )
        return tuple(out)

    def grade(self, g: dict) -> GradeRules:
        names = tuple(GradeRules.__dataclass_fields__)
        self.check_keys(g, names, "grade")
        levels = ("high", "moderate", "low", "very low")
        d = GradeRules()
        return GradeRules(
            start_randomised=self.string(
                g, "start_randomised", "grade", default=d.start_randomised, choices=levels
            ),
            start_nonrandomised=self.string(
                g, "start_nonrandomised", "grade", default=d.start_nonrandomised, choices=levels
            ),
            rob_serious_share=float(
                self.number(g, "rob_serious_share", "grade", d.rob_serious_share, lo=0, hi=1)
            ),
            inconsistency_I2=float(
                self.number(g, "inconsistency_I2", "grade", d.inconsistency_I2, lo=0, hi=100)
            ),
            inconsistency_I2_very_serious=float(
                self.number(
                    g,
                    "inconsistency_I2_very_serious",
                    "grade",
                    d.inconsistency_I2_very_serious,
                    lo=0,
                    hi=100,
                )
            ),
            ois_patients=self.number(
                g, "ois_patients", "grade", d.ois_patients, lo=1, hi=10**7, integer=True
            ),
            min_patients_very_serious=self.number(
                g,
                "min_patients_very_serious",
                "grade",
                d.min_patients_very_serious,
                lo=1,
                hi=10**7,
                integer=True,
            ),
            egger_min_k=self.number(
                g, "egger_min_k", "grade", d.egger_min_k, lo=3, hi=10**4, integer=True
            ),
            egger_alpha=float(self.number(g, "egger_alpha", "grade", d.egger_alpha, lo=0, hi=1)),
            single_arm_indirect=self.boolean(
                g, "single_arm_indirect", "grade", d.single_arm_indirect
            ),
        )

    def analysis(self, a: Any, i: int, d_method: str, d_test: str, d_ri: float) -> AnalysisSpec:
        where = f"analyses[{i}]"
        if not isinstance(a, dict):
            raise self.fail(where, "must be a table", a)
        self.check_keys(a, tuple(AnalysisSpec.__dataclass_fields__), where)
        aid = self.string(a, "id", where)
        if not all(ch.isalnum() or ch in "_-" for ch in aid):
            raise self.fail(f"{where}.id", "may hold only letters, digits, '_' and '-'", aid)
        design = self.string(a, "design", where, choices=DESIGNS)
        allowed = SINGLE_ARM_MEASURES if design == "single_arm" else CONTROLLED_MEASURES
        measure = self.string(a, "measure", where)
        if measure not in allowed:
            raise self.fail(
                f"{where}.measure",
                f"a {design} analysis takes one of {', '.join(allowed)}",
                measure,
            )
        nh = self.string(a, "natural_history", where, default="none", choices=NATURAL_HISTORY)
        if nh != "none" and design != "single_arm":
            raise self.fail(f"{where}.natural_history", "applies to single_arm analyses only", nh)
        glmm_ok = design == "single_arm" and measure == "PLO"
        model = self.string(a, "model", where, default="glmm" if glmm_ok else "iv", choices=MODELS)
        if model == "glmm" and not glmm_ok:
            raise self.fail(f"{where}.model", "glmm applies to single_arm PLO analyses only", model)
        sensitivity = self.strings(a, "sensitivity", where, choices=SENSITIVITY_ANALYSES)
        for name in sensitivity:
            needs = _SENSITIVITY_NEEDS.get(name)
            if needs and (design != needs[0] or measure not in needs[1]):
                raise self.fail(
                    f"{where}.sensitivity",
                    f"{name} applies to {needs[0]} analyses of {', '.join(needs[1])} only",
                    name,
                )
        tau_scale = a.get("bayes_tau_scale")
        if tau_scale is not None:
            tau_scale = float(self.number(a, "bayes_tau_scale", where, None, lo=1e-9, hi=1e9))
        return AnalysisSpec(
            id=aid,
            title=self.string(a, "title", where, default=aid),
            outcome=self.string(a, "outcome", where),
            design=design,
            measure=measure,
            method=self.string(a, "method", where, default=d_method, choices=METHODS),
            test=self.string(a, "test", where, default=d_test, choices=TESTS),
            subgroups=self.strings(a, "subgroups", where, choices=SUBGROUP_VARIABLES),
            moderators=self.strings(a, "moderators", where, choices=MODERATORS),
            sensitivity=sensitivity,
            robustness=self.boolean(a, "robustness", where, True),
            natural_history=nh,
            baseline_ais=self.strings(a, "baseline_ais", where, choices=("A", "B", "C", "D", "E")),
            ri=float(self.number(a, "ri", where, d_ri, lo=-1.0, hi=1.0)),
            model=model,
            bayes_tau_scale=tau_scale,
        )

    def synthesis(self, s: Any, i: int) -> SynthesisSpec:
        where = f"syntheses[{i}]"
        if not isinstance(s, dict):
            raise self.fail(where, "must be a table", s)
        self.check_keys(s, ("id", "title", "domain", "outcomes"), where)
        sid = self.string(s, "id", where)
        outcomes = self.strings(s, "outcomes", where)
        if not outcomes:
            raise self.fail(f"{where}.outcomes", "must name at least one outcome")
        return SynthesisSpec(
            id=sid,
            title=self.string(s, "title", where, default=sid),
            domain=self.string(s, "domain", where, choices=SYNTHESIS_DOMAINS),
            outcomes=outcomes,
        )
