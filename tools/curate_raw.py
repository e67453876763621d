"""First stage of the curation: the raw extraction (``tools/curation/raw/``) into frames.

``build()`` parses the raw files with the decisions of ``tools/curation/decisions/`` (YAML/CSV)
and returns the frames under their original ids. ``tools/curate.py`` then applies the audit's
corrections, the new rows, risk of bias and the PRISMA counts, and writes the bundled tables.
Values are kept as the sources state them, each with the status it gets (``reported``,
``derived``, ``interpreted``, ``unverified``) and the source's wording beside it. No number is
imputed: a value that cannot be read is left missing.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd
import yaml

from sci_evidence.evidence.columns import FRAMES, OUTCOME_DOMAINS, coerce_frame, empty_frame

CURATION_DIR = Path(__file__).resolve().parent / "curation"
#: Copies of shared/evidence/ (see raw/README.md): the sources as extracted, worded as printed.
RAW_DIR = CURATION_DIR / "raw"
#: The curation decisions as data (YAML and CSV), each with its source and wording.
DECISIONS_DIR = CURATION_DIR / "decisions"
NA = None
MONTH_DAYS = 30.4375

# The curation decisions live as data in tools/curation/decisions/ (YAML and CSV). In the YAML
# files `!tuple [value, status, note]` marks a value whose status is not "reported"; fields not
# listed are missing (not read); "treated"/"controls" hold per-arm values.
I = "interpreted"  # noqa: E741 - short status tags, as written in the decision files
D = "derived"
U = "unverified"


class _Loader(yaml.SafeLoader):
    """YAML with a ``!tuple`` tag: the fixed-shape values of the decision files."""


_Loader.add_constructor(
    "!tuple", lambda loader, node: tuple(loader.construct_sequence(node, deep=True))
)


def _decisions(name: str):
    with (DECISIONS_DIR / name).open(encoding="utf-8") as fh:
        return yaml.load(fh, Loader=_Loader)  # noqa: S506 - SafeLoader subclass


STUDY_CURATION: dict[str, dict] = _decisions("study_curation.yaml")
# The seven Chen 2021 Table 1 rows share a layout: "C/T/L a/b/c vs d/e/f" and "age x±s vs y±t".
CHEN_ROWS: dict[str, dict] = _decisions("chen_rows.yaml")
# Studies that appear only in outcomes_raw.csv: their descriptive fields come from
# sources_outcomes.md and the outcome rows' notes (all marked interpreted).
EXTRA_STUDIES: dict[str, dict] = _decisions("extra_studies.yaml")
# Adverse-event statements of studies_raw.csv for studies whose AEs are not in outcomes_raw.csv.
RAW_AE_STATEMENTS: list[tuple] = [tuple(r.values()) for r in _decisions("raw_ae_statements.yaml")]
# Map of the raw outcome-row arm labels to (arm suffix, subgroup, baseline grade, flag).
ARM_LABELS: dict[str, tuple[str, str, str, str]] = {
    r["label"]: (r["suffix"], r["subgroup"], r["baseline_grade"], r["flag"])
    for r in _decisions("arm_labels.yaml")
}
OUTCOME_RENAMES: dict[str, str] = _decisions("outcome_renames.yaml")


# ----------------------------------------------------------------------------- helpers
def _txt(v: object) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return str(v).strip()


def _val(spec: object) -> tuple[object, str, str]:
    """Split a curation entry into (value, status, note)."""
    if isinstance(spec, tuple) and len(spec) == 3 and spec[1] in (I, D, U):
        return spec
    if isinstance(spec, tuple) and len(spec) == 2 and spec[1] in (I, D, U):
        return spec[0], spec[1], ""
    return spec, "reported", ""


class _Prov:
    """Collects one provenance row per parsed value."""

    def __init__(self) -> None:
        self.rows: list[dict] = []

    def add(
        self,
        table: str,
        key: str,
        field: str,
        value: object,
        source_key: str,
        verbatim: str,
        status: str,
        where: str = "studies_raw.csv",
    ) -> None:
        if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
            return
        if isinstance(value, str) and value == "":
            return
        self.rows.append(
            dict(
                table=table,
                key=key,
                field=field,
                value=_txt(value),
                source_key=source_key,
                where_in_source=where,
                verbatim=verbatim,
                status=status,
            )
        )


def _route_group(route: str) -> str:
    if not route:
        return "unknown"
    return "combination" if "+" in route else route


def _level_group(level: str) -> str:
    return {
        "cervical": "tetraplegia",
        "thoracic": "paraplegia",
        "lumbar": "paraplegia",
        "thoracolumbar": "paraplegia",
        "mixed": "mixed",
    }.get(level, "unknown")


def _parse_registry(text: str) -> list[str]:
    return re.findall(r"NCT\d{8}", text)


def _parse_pmid(text: str) -> str:
    m = re.search(r"PMID\s*(\d+)", text)
    return m.group(1) if m else ""


def _parse_doi(text: str) -> str:
    m = re.search(r"(10\.\d{4,9}/[^\s;,)]+)", text)
    return m.group(1) if m else ""


def _parse_months(text: str) -> float:
    """A single follow-up/time value in months, NaN for ranges or unparsable wording."""
    t = text.strip().lower()
    if not t:
        return math.nan
    if re.search(r"\d\s*-\s*\d|\bto\b|\bor\b|\band\b|,|>|<|~", t):
        return math.nan
    m = re.match(r"^(\d+(?:\.\d+)?)\s*(months?|weeks?|days?|years?|y|d)\b", t)
    if m:
        return _to_months(float(m.group(1)), m.group(2))
    return math.nan


def _to_months(x: float, unit: str) -> float:
    # Four decimals (about 0.1 day): exact enough, and Excel keeps only 15 significant digits.
    return round(_to_months_exact(x, unit), 4)


def _to_months_exact(x: float, unit: str) -> float:
    if unit.startswith("month"):
        return x
    if unit.startswith("week"):
        return x * 7 / MONTH_DAYS
    if unit.startswith("d"):
        return x / MONTH_DAYS
    if unit.startswith("y"):
        return 12 * x
    raise ValueError(unit)


def parse_timepoint_months(text: str) -> float:
    """Months of an outcome time point: 0 at baseline, NaN when not a single value.

    ``"12 months"`` → 12, ``"week 24"`` → 24 × 7/30.4375, ``"day 2"`` → 2/30.4375,
    ``"final follow-up (2 years)"`` → 24, ``"12-33 months"`` → NaN.
    """
    t = text.strip().lower()
    if t.startswith("baseline"):
        return 0.0
    if re.search(r"\bvs\b|\band\b|~|\+", t):
        return math.nan
    m = re.match(r"^(week|day|month|year)\s+(\d+(?:\.\d+)?)\b", t)
    if m:
        return _to_months(float(m.group(2)), m.group(1))
    m = re.match(r"^(\d+(?:\.\d+)?)\s*(months?|weeks?|days?|years?)\b(?!\s*-)", t)
    if m and not re.match(r"^\d+(?:\.\d+)?\s*(months?|weeks?|days?|years?)?\s*(-|and|to)\s*\d", t):
        return _to_months(float(m.group(1)), m.group(2))
    m = re.search(r"\((\d+(?:\.\d+)?)\s*(months?|years?)\)", t)
    if m:
        return _to_months(float(m.group(1)), m.group(2))
    return math.nan


def _parse_age(text: str) -> list[tuple[float, float]]:
    return [(float(a), float(b)) for a, b in re.findall(r"(\d+(?:\.\d+)?)±(\d+(?:\.\d+)?)", text)]


# ----------------------------------------------------------------------------- studies, arms
def _study_design_phase(design_text: str) -> str:
    m = re.search(r"phase\s*(I/II|1/2|III|II|I|1|2|3)\b", design_text, flags=re.I)
    if not m:
        return ""
    p = m.group(1).upper()
    return {"1": "I", "2": "II", "3": "III", "1/2": "I/II"}.get(p, p)


def _arm_row(
    study_id: str,
    suffix: str,
    role: str,
    spec: dict,
    raw: pd.Series | None,
    prov: _Prov,
    source_key: str,
    study_flags: list[str],
) -> dict:
    arm_id = f"{study_id}:{suffix}"
    r = {k: "" for k, _ in FRAMES["arms"]}
    r.update(
        study_id=study_id,
        arm_id=arm_id,
        role=role,
        source_key=source_key,
        where_in_source="studies_raw.csv" if raw is not None else "outcomes_raw.csv notes",
        status="reported",
    )
    statuses = []

    def put(field: str, spec_value: object, verbatim: str) -> object:
        value, status, note = _val(spec_value)
        r[field] = value
        statuses.append(status)
        prov.add(
            "arms",
            arm_id,
            field,
            value,
            source_key,
            verbatim + (f" [{note}]" if note else ""),
            status,
        )
        return value

    g = (lambda c: _txt(raw[c])) if raw is not None else (lambda c: "")
    is_treated = role == "treated"
    r["arm_label"] = "treated" if is_treated else f"control ({_val(spec.get('control_type'))[0]})"
    n_col = "n_treated" if is_treated else "n_control"
    r["n_verbatim"] = g(n_col)
    put("n", spec.get("n"), g(n_col))
    r["n_safety"] = spec.get("n_safety", _val(spec.get("n"))[0])
    if is_treated:
        put(
            "cell_source", spec.get("cell_source", _cell_source(g("cell_source"))), g("cell_source")
        )
        put("product", spec.get("product", ""), g("cell_product_as_reported"))
        r["product_verbatim"] = spec.get("product_verbatim", g("cell_product_as_reported"))
        is_ce, st, note = _val(spec.get("is_ce"))
        r["is_culture_expanded_msc"] = pd.NA if is_ce is None else is_ce
        prov.add(
            "arms",
            arm_id,
            "is_culture_expanded_msc",
            r["is_culture_expanded_msc"],
            source_key,
            g("is_culture_expanded_MSC"),
            st,
        )
        aa_spec = spec.get("auto_allo")
        raw_aa = g("auto_allo")
        if aa_spec is None:
            aa_value = (
                "autologous"
                if raw_aa.startswith("autologous")
                else ("allogeneic" if raw_aa.startswith("allogeneic") else "unknown")
            )
            aa_status = "interpreted" if "implied" in raw_aa else "reported"
        else:
            aa_value, aa_status, _ = _val(aa_spec)
        if "implied" in raw_aa:
            aa_status = "interpreted"
        r["auto_allo"], r["auto_allo_status"] = aa_value, aa_status
        prov.add("arms", arm_id, "auto_allo", aa_value, source_key, raw_aa, aa_status)
        route = put("route", spec.get("route", ""), g("route"))
        r["route_group"] = _route_group(route)
        r["route_verbatim"] = g("route")
        dose = spec.get("dose")
        r["dose_verbatim"] = g("dose_per_administration")
        if dose is not None:
            if len(dose) == 2:
                dose = (*dose, "reported", "")
            value, unit, status, note = dose
            r["dose_cells"], r["dose_unit"], r["dose_status"] = value, unit, status
            prov.add(
                "arms",
                arm_id,
                "dose_cells",
                value,
                source_key,
                r["dose_verbatim"] + (f" [{note}]" if note else ""),
                status,
            )
        else:
            r["dose_cells"], r["dose_unit"] = math.nan, ""
        r["n_administrations_verbatim"] = g("n_administrations")
        put("n_administrations", spec.get("n_admin"), g("n_administrations"))
    else:
        put("control_type", spec.get("control_type"), g("control_type"))
        r["is_culture_expanded_msc"] = pd.NA
        r["dose_cells"] = math.nan
    r["co_interventions"] = spec.get("co", "")
    put("injury_phase", spec.get("injury_phase", "unknown"), g("injury_phase"))
    r["phase_verbatim"] = g("injury_phase")
    r["time_since_injury_verbatim"] = g("time_since_injury")
    tsi = spec.get("tsi")
    put("time_since_injury_months", tsi if tsi is not None else math.nan, g("time_since_injury"))
    level = put("level", spec.get("level", "unknown"), g("injury_level"))
    r["level_group"] = spec.get("level_group", _level_group(level))
    r["level_verbatim"] = g("injury_level")
    lc = spec.get("level_counts")
    if lc is not None:
        for f, v in zip(("n_cervical", "n_thoracic", "n_lumbar"), lc, strict=True):
            put(f, v, g("injury_level"))
    ais = spec.get("ais", {})
    for grade in "abcd":
        put(f"ais_{grade}", ais.get(grade), g("baseline_AIS"))
    r["baseline_ais_verbatim"] = spec.get("baseline_ais_verbatim", g("baseline_AIS"))
    age = spec.get("age")
    r["age_verbatim"] = spec.get("age_verbatim", age[2] if age else "")
    if age:
        put("age_mean", age[0], age[2])
        put("age_sd", age[1], age[2])
    sex = spec.get("sex")
    if sex:
        put("n_male", sex[0], r["n_verbatim"])
        put("n_female", sex[1], r["n_verbatim"])
    r["follow_up_verbatim"] = g("follow_up")
    fu = spec.get("follow_up", _parse_months(g("follow_up")))
    put("follow_up_months", fu, g("follow_up"))
    flags = list(study_flags)
    if is_treated:
        if r["is_culture_expanded_msc"] is False or r["product"] == "mononuclear_cells":
            flags.append("not_culture_expanded_msc")
        elif r["is_culture_expanded_msc"] is pd.NA and r["product"] in ("unclear", ""):
            flags.append("msc_unclear")
        elif r["is_culture_expanded_msc"] is pd.NA:
            flags.append("msc_unclear")
    else:
        flags = [f for f in flags if f not in ("scaffold", "dose_as_printed")]
    r["flags"] = ";".join(dict.fromkeys(flags))
    r["status"] = _worst(statuses)
    r["verbatim"] = g("cell_product_as_reported") if is_treated else g("control_type")
    return r


def _worst(statuses: list[str]) -> str:
    for s in ("unverified", "interpreted", "derived"):
        if s in statuses:
            return s
    return "reported"


def _cell_source(text: str) -> str:
    t = text.lower()
    if "wharton" in t:
        return "whartons_jelly"
    for key, value in (
        ("bone marrow", "bone_marrow"),
        ("umbilical", "umbilical_cord"),
        ("adipose", "adipose"),
    ):
        if key in t:
            return value
    return "other" if t else "unknown"


def _chen_specs(study_id: str, raw: pd.Series) -> dict:
    c = CHEN_ROWS[study_id]
    lv = re.findall(r"(\d+)/(\d+)/(\d+)", _txt(raw["injury_level"]))
    ais = c.get("ais")
    ages = _parse_age(_txt(raw["other_outcomes"]))
    sexes = re.findall(r"M/F (\d+)/(\d+) vs (\d+)/(\d+)", _txt(raw["other_outcomes"]))
    tsi = c.get("tsi")
    specs = []
    for i, role in enumerate(("treated", "control")):
        s = dict(n=c["n"][i], injury_phase=c.get("injury_phase", "unknown"))
        if role == "treated":
            s.update(
                product=("culture_expanded_msc", I, "Chen 2021 includes MSC studies only"),
                is_ce=(True, I, "Chen 2021 includes MSC studies only"),
                route=c["route"],
                dose=c.get("dose"),
                n_admin=c.get("n_admin"),
                cell_source=c["source"],
                auto_allo="allogeneic" if c.get("allo") else "autologous",
            )
        else:
            s.update(
                control_type=c.get(
                    "control_type", ("rehabilitation", I, "Chen 2021 compares with rehabilitation")
                )
            )
        if lv:
            counts = tuple(int(x) for x in lv[i])
            s["level_counts"] = counts
            present = [
                k for k, x in zip(("cervical", "thoracic", "lumbar"), counts, strict=True) if x
            ]
            s["level"] = (
                present[0]
                if len(present) == 1
                else ("thoracolumbar" if present == ["thoracic", "lumbar"] else "mixed")
            )
            s["level_group"] = (
                "paraplegia"
                if "cervical" not in present
                else ("tetraplegia" if present == ["cervical"] else "mixed")
            )
        if ais and ais[i] is not None:
            s["ais"] = dict(zip("abcd", ais[i], strict=True))
        if len(ages) == 2:
            s["age"] = (*ages[i], _txt(raw["other_outcomes"]))
        if sexes:
            s["sex"] = (int(sexes[0][2 * i]), int(sexes[0][2 * i + 1]))
        if tsi is not None and tsi[i] is not None:
            s["tsi"] = (tsi[i], U, "Chen 2021 table")
        if "follow_up" in c:
            s["follow_up"] = (c["follow_up"], U, "Chen 2021 table")
        specs.append(s)
    return {"treated": specs[0], "controls": [dict(suffix="control", **specs[1])]}


def build_studies_arms(prov: _Prov) -> tuple[pd.DataFrame, pd.DataFrame]:
    raw = pd.read_csv(RAW_DIR / "studies_raw.csv", dtype=str, keep_default_na=False)
    studies, arms = [], []
    for _, row in raw.iterrows():
        sid = row["study_id"]
        cur = dict(STUDY_CURATION.get(sid, {}))
        if sid in CHEN_ROWS:
            cur.update(_chen_specs(sid, row))
            cur.setdefault("design", ("controlled_unclear", I, "randomisation not stated"))
            cur.setdefault("flags", ["secondary_source_only"])
            if CHEN_ROWS[sid].get("as_printed"):
                cur["flags"] = [*cur["flags"], "dose_as_printed"]
        if sid == "kakabadze2016":
            cur = dict(
                design="single_arm_trial",
                phase="I",
                treated=dict(
                    n=18,
                    product="mononuclear_cells",
                    is_ce=False,
                    route="intrathecal",
                    dose=(math.nan, "cells", I, "'>=750 million' is a bound"),
                    injury_phase="unknown",
                    level=("mixed", I, "thoracic and lumbar"),
                    level_group="paraplegia",
                ),
            )
        if not cur:
            raise KeyError(f"no curation for study {sid}")
        source_key = row["source_keys"]
        flags = list(cur.get("flags", []))
        jr = row["journal_ref"]
        secondary = sid.endswith(("_chen", "_wjt")) or jr.startswith("(")
        if secondary and "secondary_source_only" not in flags:
            flags.append("secondary_source_only")
        s = {k: "" for k, _ in FRAMES["studies"]}
        design, d_status, d_note = _val(cur["design"])
        registry, r_status, r_note = _val(cur.get("registry", ";".join(_parse_registry(jr))))
        s.update(
            study_id=sid,
            first_author=row["first_author"],
            year=int(row["year"]),
            journal=jr,
            doi=cur.get("doi", _parse_doi(jr)),
            pmid=cur.get("pmid", _parse_pmid(jr)),
            registry_id=registry,
            country=cur.get("country", row["country"]),
            design=design,
            design_verbatim=row["design"],
            phase=cur.get("phase", _study_design_phase(row["design"])),
            controlled=bool(cur.get("controls")),
            included_montoto2023="unverified",
            notes=row["notes"],
            source_key=source_key,
            where_in_source="studies_raw.csv",
            verbatim=f"{row['first_author']} {row['year']}, {jr}; design: {row['design']}",
            status="unverified" if secondary else "reported",
        )
        prov.add(
            "studies",
            sid,
            "design",
            design,
            source_key,
            row["design"] + (f" [{d_note}]" if d_note else ""),
            d_status,
        )
        prov.add(
            "studies",
            sid,
            "registry_id",
            registry,
            source_key,
            f"{jr}; notes: {row['notes']}" + (f" [{r_note}]" if r_note else ""),
            r_status,
        )
        study_arms = [
            _arm_row(sid, "treated", "treated", cur["treated"], row, prov, source_key, flags)
        ]
        for ctl in cur.get("controls", []):
            study_arms.append(
                _arm_row(sid, ctl["suffix"], "control", ctl, row, prov, source_key, flags)
            )
        if secondary:
            for a in study_arms:
                a["status"] = "unverified"
        s["n_arms"] = len(study_arms)
        ns = [a["n"] for a in study_arms]
        s["n_total"] = sum(ns) if all(x is not None for x in ns) else None
        s["flags"] = ";".join(
            dict.fromkeys(f for a in study_arms for f in a["flags"].split(";") if f)
        )
        studies.append(s)
        arms.extend(study_arms)
    for sid, cur in EXTRA_STUDIES.items():
        design, d_status, _ = _val(cur["design"])
        s = {k: "" for k, _ in FRAMES["studies"]}
        s.update(
            study_id=sid,
            first_author=cur["first_author"],
            year=cur["year"],
            title=cur.get("title", ""),
            journal=cur["journal"],
            doi=cur.get("doi", ""),
            design=design,
            controlled=False,
            included_montoto2023="unverified",
            source_key=cur["source_key"],
            where_in_source="sources_outcomes.md",
            verbatim=cur.get("title", "") or cur["journal"],
            status="interpreted",
            notes="study known only from outcomes_raw.csv; descriptive fields from "
            "sources_outcomes.md and the outcome rows' notes",
        )
        t = dict(cur["treated"])
        arm = _arm_row(
            sid, "treated", "treated", t, None, prov, cur["source_key"], cur.get("flags", [])
        )
        arm["product_verbatim"] = t.get("product_verbatim", "")
        arm["verbatim"] = t.get("product_verbatim", "")
        arm["status"] = "interpreted"
        s["n_arms"] = 1
        s["n_total"] = arm["n"]
        s["flags"] = arm["flags"]
        studies.append(s)
        arms.append(arm)
    return coerce_frame(pd.DataFrame(studies), "studies"), coerce_frame(pd.DataFrame(arms), "arms")


# ----------------------------------------------------------------------------- outcomes, AEs
def build_outcomes_aes(arms: pd.DataFrame, prov: _Prov) -> tuple[pd.DataFrame, pd.DataFrame]:
    raw = pd.read_csv(RAW_DIR / "outcomes_raw.csv", dtype=str, keep_default_na=False)
    arm_ids = set(arms["arm_id"])
    arm_flags = dict(zip(arms["arm_id"], arms["flags"], strict=True))
    outcomes, aes = [], []
    counter: dict[str, int] = {}

    def next_id(sid: str) -> str:
        counter[sid] = counter.get(sid, 0) + 1
        return f"{sid}:{counter[sid]}"

    for _, row in raw.iterrows():
        sid = row["study_id"]
        suffix, subgroup, bgrade, flag = ARM_LABELS[row["arm"]]
        arm_id = f"{sid}:{suffix}"
        if arm_id not in arm_ids:
            raise KeyError(f"outcome row for unknown arm {arm_id}")
        label = row["outcome"]
        notes = row["notes"]
        flags = [f for f in arm_flags[arm_id].split(";") if f]
        if flag:
            flags.append(flag)
        status = _outcome_status(row)
        prov_cols = dict(
            source_key=row["source_key"],
            where_in_source=row["where_in_source"],
            verbatim=row["verbatim"],
            status=status,
        )
        num = {
            c: (float(row[c]) if row[c] != "" else math.nan)
            for c in ("n", "mean", "sd", "median", "q1", "q3", "events", "count")
        }
        if label == "design_n":
            prov.add(
                "arms",
                arm_id,
                "n_alternative",
                num["n"],
                row["source_key"],
                row["verbatim"],
                "reported",
                row["where_in_source"],
            )
            continue
        if label.startswith("ae_"):
            aes.append(_ae_row(row, sid, arm_id, num, flags, prov_cols, next_id))
            continue
        name, is_change = _outcome_name(label)
        if name not in OUTCOME_DOMAINS:
            raise KeyError(f"outcome {label!r} not in the vocabulary")
        if name == "ais_improved" and row["from_grade"]:
            bgrade = row["from_grade"]
            subgroup = subgroup or f"baseline AIS {bgrade}"
        if name == "ais_transition":
            bgrade = row["from_grade"]
        if name == "composite_improved" or name == "sustained_improvement":
            flags.append("not_ais_grade")
        if "sum to 29 of 31" in notes:
            flags.append("counts_do_not_add_up")
        tp = row["timepoint"]
        o = dict(
            outcome_id=next_id(sid),
            study_id=sid,
            arm_id=arm_id,
            subgroup=subgroup,
            baseline_grade=bgrade,
            outcome=name,
            domain=OUTCOME_DOMAINS[name],
            outcome_verbatim=label,
            timepoint=tp,
            timepoint_months=parse_timepoint_months(tp),
            is_baseline=tp.lower().startswith("baseline"),
            is_change=is_change,
            n=num["n"],
            mean=num["mean"],
            sd=num["sd"],
            median=num["median"],
            q1=num["q1"],
            q3=num["q3"],
            events=num["events"],
            from_grade=row["from_grade"],
            to_grade=row["to_grade"],
            count=num["count"],
            unit=_unit(row["unit"]),
            flags=";".join(dict.fromkeys(flags)),
            notes=notes,
            **prov_cols,
        )
        outcomes.append(o)
    _flag_partial_transitions(outcomes)
    outcomes.extend(_raw_responder_outcomes(arms, outcomes, next_id))
    outcomes.extend(_raw_text_outcomes(arms, next_id))
    outcomes.extend(_derived_responders(outcomes, next_id))
    for sid, ae_type, patients, severity, relation, status, note in RAW_AE_STATEMENTS:
        arm_id = f"{sid}:treated"
        raw_studies = pd.read_csv(RAW_DIR / "studies_raw.csv", dtype=str, keep_default_na=False)
        text = raw_studies.loc[raw_studies["study_id"] == sid, "adverse_events"].iloc[0]
        srow = raw_studies.loc[raw_studies["study_id"] == sid].iloc[0]
        n_arm = arms.loc[arms["arm_id"] == arm_id, "n_safety"].iloc[0]
        aes.append(
            dict(
                ae_id=next_id(sid),
                study_id=sid,
                arm_id=arm_id,
                ae_type=ae_type,
                ae_verbatim=text,
                n=n_arm,
                patients=patients,
                events=None,
                percent=math.nan,
                severity=severity,
                relation=relation,
                timepoint="",
                flags=arm_flags[arm_id],
                notes=note,
                source_key=srow["source_keys"],
                where_in_source="studies_raw.csv adverse_events",
                verbatim=text,
                status=status,
            )
        )
    return coerce_frame(pd.DataFrame(outcomes), "outcomes"), coerce_frame(
        pd.DataFrame(aes), "adverse_events"
    )


def _outcome_name(label: str) -> tuple[str, bool]:
    """Our outcome name for a raw label, and whether the label is a change score."""

    def base(x: str) -> str:
        x = OUTCOME_RENAMES.get(x, x)
        return x[len("function_") :] if x.startswith("function_") else x

    if base(label) in OUTCOME_DOMAINS:
        return base(label), False
    if label.endswith("_change") and base(label[: -len("_change")]) in OUTCOME_DOMAINS:
        return base(label[: -len("_change")]), True
    return base(label), False


def _flag_partial_transitions(outcomes: list[dict]) -> None:
    """Flag transition rows that list only some patients of the arm (e.g. only improvers)."""
    groups: dict[tuple, list[dict]] = {}
    for o in outcomes:
        if o["outcome"] == "ais_transition":
            groups.setdefault((o["arm_id"], o["timepoint"], o["subgroup"]), []).append(o)
    for rows in groups.values():
        n = rows[0]["n"]
        total = sum(int(o["count"]) for o in rows)
        if math.isnan(n) or total >= n or "counts_do_not_add_up" in rows[0]["flags"]:
            continue
        for o in rows:
            o["flags"] = ";".join(f for f in (o["flags"], "transitions_partial") if f)


def _unit(raw_unit: str) -> str:
    u = raw_unit.strip()
    if u.startswith("points"):
        return "points"
    return u


def _outcome_status(row: pd.Series) -> str:
    notes = row["notes"].lower()
    to = row["to_grade"]
    if "interpret" in notes or "(per review wording" in to or "timepoint assumed" in notes:
        return "interpreted"
    if "secondary review" in notes or "secondary review" in row["where_in_source"].lower():
        return "unverified"
    if row["source_key"].startswith(
        ("E2_cellbiosci", "E2_wjt", "E2_ijms", "E2_jir", "E2_hindawi_sci2019_t6", "E2_stemedix")
    ):
        return "unverified"
    return "reported"


def _ae_row(row, sid, arm_id, num, flags, prov_cols, next_id) -> dict:
    label = row["outcome"]
    ae_type = label[len("ae_") :]
    severity, relation = "", ""
    unit = row["unit"]
    patients, events, percent = num["events"], math.nan, math.nan
    verb = row["verbatim"].lower()
    notes = row["notes"].lower()
    if ae_type == "serious":
        severity = "serious"
    if ae_type.endswith("_severe"):
        ae_type, severity = ae_type[: -len("_severe")], "severe"
    if ae_type == "any_patients":
        ae_type = "any"
        events = num["count"]
    if ae_type == "muscle_tension_increase_transient":
        ae_type = "muscle_tension_increase"
    if "mild to moderate" in verb:
        severity = "mild_to_moderate"
    elif "mild" in verb:
        severity = "mild"
    if unit.startswith("events") or unit.startswith("person-time"):
        patients, events = math.nan, num["events"]
    if unit.startswith("percent"):
        patients = math.nan
        m = re.search(re.escape(_first_word(ae_type)) + r"[^()]*\((\d+(?:\.\d+)?)%\)", verb)
        if m:
            percent = float(m.group(1))
    if "procedure-related" in notes or "intervention practices" in verb:
        relation = "procedure"
    if "related to msc" in verb or "associated with msc" in notes:
        relation = "cells"
    return dict(
        ae_id=next_id(sid),
        study_id=sid,
        arm_id=arm_id,
        ae_type=ae_type,
        ae_verbatim=label,
        n=num["n"],
        patients=patients,
        events=events,
        percent=percent,
        severity=severity,
        relation=relation,
        timepoint=row["timepoint"],
        flags=";".join(flags),
        notes=row["notes"],
        **prov_cols,
    )


def _first_word(ae_type: str) -> str:
    return {"muscle_tension_increase": "muscle tension"}.get(ae_type, ae_type.split("_")[0])


RESPONDER_RE = re.compile(r"^(\d+)/(\d+)")


# Numbers stated in the free-text columns of studies_raw.csv.
RAW_TEXT_OUTCOMES: list[tuple] = [tuple(r.values()) for r in _decisions("raw_text_outcomes.yaml")]


def _raw_text_outcomes(arms: pd.DataFrame, next_id) -> list[dict]:
    """Outcome rows for the numbers in studies_raw.csv free text (see RAW_TEXT_OUTCOMES)."""
    raw = pd.read_csv(RAW_DIR / "studies_raw.csv", dtype=str, keep_default_na=False)
    raw = raw.set_index("study_id")
    flags = dict(zip(arms["arm_id"], arms["flags"], strict=True))
    rows = []
    for sid, suffix, sub, out, tp, n, mean, sd, events, col, status, note in RAW_TEXT_OUTCOMES:
        text = raw.loc[sid, col]
        for value in (mean, sd):
            if value is not None and str(value) not in text:
                raise ValueError(f"{sid}: {value} not in the raw text {text!r}")
        arm_id = f"{sid}:{suffix}"
        rows.append(
            dict(
                outcome_id=next_id(sid),
                study_id=sid,
                arm_id=arm_id,
                subgroup=sub,
                baseline_grade="",
                outcome=out,
                domain=OUTCOME_DOMAINS[out],
                outcome_verbatim=col,
                timepoint=tp,
                timepoint_months=parse_timepoint_months(tp),
                is_baseline=tp.startswith("baseline"),
                is_change=False,
                n=n,
                mean=mean,
                sd=sd,
                events=events,
                unit="points" if mean is not None else "patients",
                flags=flags[arm_id],
                notes=note,
                source_key=raw.loc[sid, "source_keys"],
                where_in_source=f"studies_raw.csv {col}",
                verbatim=text,
                status=status,
            )
        )
    return rows


def _raw_responder_outcomes(arms: pd.DataFrame, outcomes: list[dict], next_id) -> list[dict]:
    """Responder counts in studies_raw (``AIS_improved_*``) not already in outcomes_raw."""
    raw = pd.read_csv(RAW_DIR / "studies_raw.csv", dtype=str, keep_default_na=False)
    have = {(o["arm_id"], o["outcome"]) for o in outcomes}
    have |= {(o["arm_id"], "ais_improved") for o in outcomes if o["outcome"] == "ais_transition"}
    have |= {
        (o["arm_id"], "ais_improved")
        for o in outcomes
        if o["outcome"] in ("composite_improved", "sustained_improvement")
    }
    rows = []
    for _, r in raw.iterrows():
        for col, suffix in (
            ("AIS_improved_treated", "treated"),
            ("AIS_improved_control", "control"),
        ):
            text = r[col]
            arm_id = f"{r['study_id']}:{suffix}"
            m = RESPONDER_RE.match(text)
            if not m or (arm_id, "ais_improved") in have:
                continue
            ev, n = int(m.group(1)), int(m.group(2))
            secondary = "secondary" in text
            rows.append(
                dict(
                    outcome_id=next_id(r["study_id"]),
                    study_id=r["study_id"],
                    arm_id=arm_id,
                    subgroup="",
                    baseline_grade="",
                    outcome="ais_improved",
                    domain="ais",
                    outcome_verbatim=col,
                    timepoint=r["follow_up"],
                    timepoint_months=_parse_months(r["follow_up"]),
                    is_baseline=False,
                    is_change=False,
                    n=n,
                    events=ev,
                    unit="patients",
                    flags=arms.loc[arms["arm_id"] == arm_id, "flags"].iloc[0],
                    notes="responders from studies_raw.csv; the timepoint is the study's follow-up",
                    source_key=r["source_keys"],
                    where_in_source="studies_raw.csv " + col,
                    verbatim=text,
                    status="unverified" if secondary else "interpreted",
                )
            )
    return rows


def _derived_responders(outcomes: list[dict], next_id) -> list[dict]:
    """``ais_improved`` from transitions that cover a whole arm (status ``derived``)."""
    by_arm: dict[tuple[str, str], list[dict]] = {}
    for o in outcomes:
        if o["outcome"] == "ais_transition":
            by_arm.setdefault((o["arm_id"], o["timepoint"]), []).append(o)
    have = {o["arm_id"] for o in outcomes if o["outcome"] == "ais_improved" and not o["subgroup"]}
    rows = []
    grades = "ABCDE"
    for (arm_id, tp), trs in by_arm.items():
        if arm_id in have:
            continue
        improved = 0
        ok = True
        for t in trs:
            to = t["to_grade"]
            to_grades = re.findall(r"\b[A-E]\b", to.split("(")[0])
            if not to_grades:
                ok = False
                break
            if all(grades.index(g) > grades.index(t["from_grade"]) for g in to_grades):
                improved += int(t["count"])
        n = trs[0]["n"]
        if not ok or n is None or (isinstance(n, float) and math.isnan(n)):
            continue
        first = trs[0]
        covered = sum(int(t["count"]) for t in trs)
        rows.append(
            dict(
                outcome_id=next_id(first["study_id"]),
                study_id=first["study_id"],
                arm_id=arm_id,
                subgroup="",
                baseline_grade=first["from_grade"]
                if len({t["from_grade"] for t in trs}) == 1
                else "",
                outcome="ais_improved",
                domain="ais",
                outcome_verbatim="(sum of ais_transition rows)",
                timepoint=tp,
                timepoint_months=first["timepoint_months"],
                is_baseline=False,
                is_change=False,
                n=n,
                events=improved,
                unit="patients",
                flags=first["flags"],
                notes=f"derived: sum of the improving transitions ({covered} of n={int(n)} "
                "patients listed)",
                source_key=first["source_key"],
                where_in_source=first["where_in_source"],
                verbatim=first["verbatim"],
                status="derived",
            )
        )
    return rows


# ----------------------------------------------------------------------------- natural history
def _md_tables(text: str) -> list[list[list[str]]]:
    tables, cur = [], []
    for line in text.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not all(re.fullmatch(r"-+", c) for c in cells):
                cur.append(cells)
        elif cur:
            tables.append(cur)
            cur = []
    if cur:
        tables.append(cur)
    return tables


def _count_from_percent(n: int | None, pct: float, decimals: int) -> int | None:
    """The one count that rounds to the printed percent, or None when several (or none) do."""
    if n is None or math.isnan(pct):
        return None
    fits = [c for c in range(n + 1) if round(100 * c / n, decimals) == round(pct, decimals)]
    return fits[0] if len(fits) == 1 else None


def _level_of(pop: str) -> str:
    p = pop.lower()
    if p == "all" or "+" in p:
        return "all"
    if "tetra" in p or "above t1" in p or "cervical" in p:
        return "tetraplegia" if "tetra" in p or "cervical" in p else "other"
    if "para" in p or p.startswith("t2"):
        return "paraplegia"
    return "other"


def _window_months(w: str) -> float:
    w = w.strip()
    m = re.fullmatch(r"(\d+)\s*(y|m)", w)
    if m:
        return 12.0 * int(m.group(1)) if m.group(2) == "y" else float(m.group(1))
    if re.fullmatch(r"6\s*m\s*-\s*1\s*y", w):
        return 12.0
    return math.nan


def build_natural_history() -> tuple[pd.DataFrame, pd.DataFrame]:
    text = (RAW_DIR / "natural_history.md").read_text()
    tables = _md_tables(text)
    rows: list[dict] = []
    key = "natural_history.md"

    def add(**kw) -> None:
        kw.setdefault("source_key", key)
        kw["nh_id"] = f"nh{len(rows) + 1:03d}"
        rows.append(kw)

    # Table A: conversion from AIS A (Kirshblum 2021 Table 2)
    head, *body = tables[0]
    full_names: dict[str, str] = {}
    for cells in body:
        if "(" in cells[0]:
            full_names[cells[0].split(" (")[0]] = cells[0]
    for cells in body:
        source, level, initial, fu, n_txt, anyc, ab, acd = cells
        n = int(n_txt) if n_txt.isdigit() else None
        database = re.search(r"\((.*?)\)", source)
        line = "| " + " | ".join(cells) + " |"
        for endpoint, to, pct in (
            ("improved", "", anyc),
            ("to_grade", "B", ab),
            ("motor_incomplete", "C/D", acd),
        ):
            p = float(pct)
            dec = len(pct.split(".")[1]) if "." in pct else 0
            count = _count_from_percent(n, p, dec)
            add(
                source=source,
                database=database.group(1) if database else "",
                population=level,
                level_group=_level_of(level),
                baseline_grade="A",
                phase="acute",
                initial_exam=initial,
                window=fu,
                window_months=_window_months(fu),
                endpoint=endpoint,
                to_grade=to,
                n=n,
                percent=p,
                count=count,
                where_in_source="A. Kirshblum 2021 Table 2",
                verbatim=line,
                status="derived" if count is not None else "reported",
            )
    # Table 6: motor-incomplete injuries, % at follow-up in each grade
    head, *body = tables[1]
    grades = ["A", "B", "C", "D", "E"]
    for cells in body:
        source, level, initial, fu, base, n_txt, *pcts = cells
        n = int(n_txt)
        src = source
        database = re.search(r"\((.*?)\)", source)
        if database:
            full_names[source.split(" (")[0]] = source
        else:
            # Continuation rows print "Marino 1999" for "Marino 1999 (SCIMS)": one name each.
            src = full_names.get(source, source)
            database = re.search(r"\((.*?)\)", src)
        line = "| " + " | ".join(cells) + " |"
        counts = []
        for g, pct in zip(grades, pcts, strict=True):
            p = float(pct)
            dec = len(pct.split(".")[1]) if "." in pct else 0
            count = _count_from_percent(n, p, dec)
            counts.append(count)
            add(
                source=src,
                database=database.group(1) if database else "",
                population=level,
                level_group=_level_of(level),
                baseline_grade=base,
                phase="acute",
                initial_exam=initial,
                window=fu,
                window_months=_window_months(fu),
                endpoint="to_grade",
                to_grade=g,
                n=n,
                percent=p,
                count=count,
                where_in_source="B. Kirshblum 2021 Table 6",
                verbatim=line,
                status="derived" if count is not None else "reported",
            )
        better = [i for i, g in enumerate(grades) if g > base]
        p_imp = round(sum(float(pcts[i]) for i in better), 1)
        c_imp = (
            sum(counts[i] for i in better) if all(counts[i] is not None for i in better) else None
        )
        add(
            source=src,
            database=database.group(1) if database else "",
            population=level,
            level_group=_level_of(level),
            baseline_grade=base,
            phase="acute",
            initial_exam=initial,
            window=fu,
            window_months=_window_months(fu),
            endpoint="improved",
            to_grade="",
            n=n,
            percent=p_imp,
            count=c_imp,
            where_in_source="B. Kirshblum 2021 Table 6",
            verbatim=line,
            status="derived",
        )
    # Figures stated in the bullet lists (percent as printed; counts only when printed).
    bullets = _natural_history_statements()
    for (
        source,
        database,
        pop,
        lg,
        base,
        phase,
        initial,
        window,
        wm,
        endpoint,
        to,
        n,
        pct,
        count,
        verbatim,
        status,
        note,
    ) in bullets:
        add(
            source=source,
            database=database,
            population=pop,
            level_group=lg,
            baseline_grade=base,
            phase=phase,
            initial_exam=initial,
            window=window,
            window_months=wm,
            endpoint=endpoint,
            to_grade=to,
            n=n,
            percent=pct,
            count=count,
            where_in_source="natural_history.md bullet list" + (f" ({note})" if note else ""),
            verbatim=verbatim,
            status=status,
        )
    conversion = coerce_frame(pd.DataFrame(rows), "natural_history_conversion")

    sc = pd.read_csv(RAW_DIR / "natural_history_scores.csv", dtype={"source": str})
    score_map = {
        "TMS": "motor_total",
        "UEMS": "uems",
        "LEMS": "lems",
        "LT": "lt_total",
        "PP": "pp_total",
    }
    scores = pd.DataFrame(
        dict(
            cohort=sc["cohort"],
            score=sc["score"],
            outcome=sc["score"].map(score_map),
            baseline_grade=sc["baseline_ais"],
            level_group=sc["level"],
            week=sc["week"],
            n=sc["n"],
            mean=sc["mean"],
            sd=sc["sd"],
            source_key=sc["source"],
            status="reported",
        )
    )
    return conversion, coerce_frame(scores, "natural_history_scores")


# ----------------------------------------------------------------------------- pooled, screening
_POOLED_KEY = "pooled_meta_analyses.md"


def build_published_pooled() -> pd.DataFrame:
    """Published pooled estimates (decisions/published_pooled.csv), quotes checked in the raw."""
    text = (RAW_DIR / "pooled_meta_analyses.md").read_text()
    src = _decision_csv("published_pooled.csv")
    rows = []
    for r in src.to_dict("records"):
        verbatim = r["verbatim"]
        if verbatim and verbatim not in text:
            raise ValueError(f"verbatim not in {_POOLED_KEY}: {verbatim!r}")
        p_text = r["p_text"]
        rows.append(
            dict(
                pooled_id=f"{r['review']}:{len(rows) + 1}",
                **{k: r[k] for k in ("review", "citation", "analysis", "comparison", "population")},
                outcome=r["outcome"],
                measure=r["measure"],
                estimate=_num(r["estimate"]),
                ci_lb=_num(r["ci_lb"]),
                ci_ub=_num(r["ci_ub"]),
                sd=_num(r["sd"]),
                pval=float(p_text[1:]) if p_text.startswith("=") else math.nan,
                p_text=p_text.lstrip("="),
                k_studies=_int(r["k_studies"]),
                n_patients=_int(r["n_patients"]),
                I2=math.nan,
                notes=r["notes"],
                source_key=_POOLED_KEY,
                where_in_source=f"section {r['review']}",
                verbatim=verbatim,
                status=r["status"],
            )
        )
    return coerce_frame(pd.DataFrame(rows), "published_pooled")


def _decision_csv(name: str) -> pd.DataFrame:
    return pd.read_csv(DECISIONS_DIR / name, dtype=str, keep_default_na=False)


def _num(text: str) -> float:
    return float(text) if text.strip() else math.nan


def _int(text: str) -> int | None:
    return int(float(text)) if text.strip() else None


def _natural_history_statements() -> list[tuple]:
    """Figures stated in the bullet lists of natural_history.md (decisions CSV, typed)."""
    out = []
    for r in _decision_csv("natural_history_statements.csv").to_dict("records"):
        out.append(
            (
                *(r[k] for k in ("source", "database", "population", "level_group")),
                *(r[k] for k in ("baseline_grade", "phase", "initial_exam", "window")),
                _num(r["window_months"]),
                r["endpoint"],
                r["to_grade"],
                _int(r["n"]),
                _num(r["percent"]),
                _int(r["count"]),
                r["verbatim"],
                r["status"],
                r["note"],
            )
        )
    return out


def build_screening(studies: pd.DataFrame) -> pd.DataFrame:
    text = (RAW_DIR / "pooled_meta_analyses.md").read_text()
    rows = []
    for review, stage, count, verbatim in _decision_csv("published_review_counts.csv").itertuples(
        index=False
    ):
        count = int(count)
        if verbatim not in text:
            raise ValueError(f"verbatim not in {_POOLED_KEY}: {verbatim!r}")
        rows.append(
            dict(
                review=review,
                stage=stage,
                count=count,
                study_id="",
                reason="",
                source_key=_POOLED_KEY,
                where_in_source=f"section {review}",
                verbatim=verbatim,
                status="reported",
            )
        )
    for _, s in studies.iterrows():
        rows.append(
            dict(
                review="bundled",
                stage="included",
                count=1,
                study_id=s["study_id"],
                reason="clinical study of MSC (or a flagged related product) in SCI "
                "read from the raw extraction",
                source_key=s["source_key"],
                where_in_source=s["where_in_source"],
                verbatim="",
                status="interpreted",
            )
        )
    return coerce_frame(pd.DataFrame(rows), "screening")


# ----------------------------------------------------------------------------- entry points
def build() -> dict[str, pd.DataFrame]:
    """The frames parsed from the raw files, under their original ids (first curation stage)."""
    prov = _Prov()
    studies, arms = build_studies_arms(prov)
    outcomes, aes = build_outcomes_aes(arms, prov)
    conversion, scores = build_natural_history()
    frames = {
        "studies": studies,
        "arms": arms,
        "outcomes": outcomes,
        "adverse_events": aes,
        "risk_of_bias": coerce_frame(
            pd.DataFrame(columns=[c for c, _ in FRAMES["risk_of_bias"]]), "risk_of_bias"
        ),
        "screening": build_screening(studies),
        "natural_history_conversion": conversion,
        "natural_history_scores": scores,
        "published_pooled": build_published_pooled(),
        "provenance": coerce_frame(pd.DataFrame(prov.rows), "provenance"),
    }
    for name in FRAMES:
        frames.setdefault(name, empty_frame(name))
    return frames
