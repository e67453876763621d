"""Risk of bias of every study in the base, with the tool that fits its design.

- randomised trials (``rct``): RoB 2 (Sterne et al. 2019, BMJ 366:l4898), five domains;
- non-randomised controlled studies (``non_randomised_controlled``, ``controlled_unclear``):
  ROBINS-I (Sterne et al. 2016, BMJ 355:i4919), seven domains;
- non-comparative studies (single-arm trials, case series, case reports, designs unknown):
  MINORS (Slim et al. 2003, ANZ J Surg 73:712), the eight items for non-comparative studies,
  each scored 0 (not reported), 1 (reported but inadequate) or 2 (reported and adequate).

Each domain gets a judgement, the sentence that supports it, the quote and its URL. The text
available for most studies is an abstract or a review-table row, so many domains get the tool's
own answer for missing information: RoB 2 signalling answers "no information", which its
algorithm turns into "some concerns" (or "high" for the measurement domain when assessors'
awareness is not reported, 4.3-4.5 = NI); ROBINS-I's "no information"; MINORS's 0 ("not
reported"). Judgements that rest on more than the defaults are in
``decisions/risk_of_bias.yaml``, each with its quote.

Overall judgements follow each tool's algorithm:

- RoB 2: low if every domain is low; high if any domain is high; otherwise some concerns;
- ROBINS-I: the most severe domain judgement (critical > serious > moderate > low); "no
  information" when no domain is serious or critical and at least one has no information;
- MINORS: the total score out of 16, reported with the category ≤ 8 high, 9-12 moderate,
  ≥ 13 low risk (a common convention: MINORS itself gives only the score).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd
import yaml

from sci_evidence.evidence.columns import RISK_OF_BIAS_DOMAINS, coerce_frame

HERE = Path(__file__).resolve().parent
RAW_DIR = HERE / "curation" / "raw"
DECISIONS_DIR = HERE / "curation" / "decisions"

RANDOMISED = ("rct",)
NON_RANDOMISED = ("non_randomised_controlled", "controlled_unclear")
ROBINS_ORDER = ("low", "moderate", "serious", "critical")


def tool_for(design: str) -> str:
    """The risk-of-bias tool of a study design."""
    if design in RANDOMISED:
        return "RoB2"
    if design in NON_RANDOMISED:
        return "ROBINS-I"
    return "MINORS"


def source_table() -> list[dict]:
    """One record per source key of the raw source lists: key, what, URLs (``" ; "``-joined).

    A row may name several keys: ``E2_cellbiosci_t2 / _t3 / _t4`` (suffixes of one stem) or
    ``S_wjt_t2 / S_wjt_t4``; each gets the row.
    """
    out: dict[str, dict] = {}
    for name in ("sources.md", "sources_outcomes.md"):
        for line in (RAW_DIR / name).read_text(encoding="utf-8").splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) < 2 or not re.match(r"^[SE][0-9A-Za-z_]*_", cells[0]):
                continue
            # addresses printed with or without the scheme (github.com/owner/repo)
            urls = re.findall(r"https?://[^\s|;,]+", line) or [
                f"https://{u}" for u in re.findall(r"\bgithub\.com/[^\s|;,]+", line)
            ]
            first, *more = [k.strip() for k in cells[0].split("/")]
            stem = first.rsplit("_", 1)[0]
            for key in [first, *((stem + k) if k.startswith("_") else k for k in more)]:
                out.setdefault(key, dict(source_key=key, what=cells[1], url=" ; ".join(urls)))
    return list(out.values())


def source_urls() -> dict[str, str]:
    """Source key → its first URL."""
    return {r["source_key"]: r["url"].split(" ; ")[0] for r in source_table() if r["url"]}


def url_of(source_key: str, urls: dict[str, str]) -> str:
    """The URL of the first source of ``source_key`` (a URL itself, or a key of the lists)."""
    for key in str(source_key).split(";"):
        key = key.strip()
        if key.startswith("http"):
            return key
        if key in urls:
            return urls[key]
    return ""


def overall(tool: str, judgements: list[str]) -> tuple[str, str]:
    """The tool's overall judgement from its domain judgements, and the rule that gave it."""
    if tool == "RoB2":
        if all(j == "low" for j in judgements):
            return "low", "RoB 2: every domain at low risk"
        if "high" in judgements:
            return "high", "RoB 2: at least one domain at high risk"
        return "some_concerns", "RoB 2: some concerns in at least one domain, none high"
    if tool == "ROBINS-I":
        judged = [j for j in judgements if j in ROBINS_ORDER]
        worst = max(judged, key=ROBINS_ORDER.index) if judged else None
        if worst in ("serious", "critical"):
            return worst, f"ROBINS-I: the most severe domain judgement ({worst})"
        if "no_information" in judgements:
            return (
                "no_information",
                "ROBINS-I: no domain serious or critical, but no information in at least one",
            )
        return worst or "no_information", "ROBINS-I: the most severe domain judgement"
    total = sum(int(j) for j in judgements)
    category = "high" if total <= 8 else ("moderate" if total <= 12 else "low")
    return category, f"MINORS total {total}/16 (≤ 8 high, 9-12 moderate, ≥ 13 low risk)"


def _study_evidence(study: dict, audit: dict, outcomes: pd.DataFrame, urls: dict) -> tuple:
    """(URL, quote) of the text read for a study: the audit's quote, else its first row's."""
    a = audit.get(study["legacy_id"])
    if a and a["audit_url"] and a["audit_quote"]:
        return a["audit_url"], a["audit_quote"]
    if study["verbatim"]:
        return url_of(study["source_key"], urls), study["verbatim"]
    rows = outcomes[(outcomes["study_id"] == study["study_id"]) & (outcomes["verbatim"] != "")]
    if len(rows):
        r = rows.iloc[0]
        return url_of(r["source_key"], urls), r["verbatim"]
    raise ValueError(f"no text to support a risk-of-bias judgement for {study['study_id']}")


def _defaults(tool: str, study: dict, arms: pd.DataFrame, outcomes: pd.DataFrame, ev, urls):
    """domain → (judgement, support, url, quote) by the rules of the module docstring."""
    url, quote = ev
    read = "the text that could be read (abstract or review-table row)"
    if tool == "RoB2":
        return {
            "D1 randomisation process": (
                "some_concerns",
                f"Randomised, but {read} does not describe sequence generation or allocation "
                "concealment (1.1, 1.2 = no information): some concerns.",
            ),
            "D2 deviations from intended interventions": (
                "some_concerns",
                "Cell delivery against rehabilitation or no treatment: participants and carers "
                "aware (2.1, 2.2 = probably yes); deviations and analysis not reported (2.3, "
                "2.6 = no information): some concerns.",
            ),
            "D3 missing outcome data": (
                "some_concerns",
                f"Outcome data for all randomised patients not reported in {read} "
                "(3.1 = no information): some concerns.",
            ),
            "D4 measurement of the outcome": (
                "high",
                "AIS grade and ISNCSCI scores are examiner-rated; blinding of assessors not "
                "reported (4.3-4.5 = no information, which RoB 2 treats as yes): high.",
            ),
            "D5 selection of the reported result": (
                "some_concerns",
                "No protocol or analysis plan available (5.1 = no information): some concerns.",
            ),
        } | {"_ev": (url, quote)}
    if tool == "ROBINS-I":
        return {
            "D1 confounding": (
                "no_information",
                f"How patients came to each group and any adjustment are not described in {read}.",
            ),
            "D2 selection of participants": (
                "no_information",
                f"Selection into the study not described in {read}.",
            ),
            "D3 classification of interventions": (
                "low",
                "Cell transplantation versus none is a distinct procedure, classified at the "
                "time of the intervention.",
            ),
            "D4 deviations from intended interventions": (
                "no_information",
                f"Co-interventions and deviations not reported in {read}.",
            ),
            "D5 missing data": (
                "no_information",
                f"Numbers analysed per group against numbers allocated not reported in {read}.",
            ),
            "D6 measurement of outcomes": (
                "no_information",
                "Examiner-rated outcomes (AIS grade, scores); blinding of assessors not reported.",
            ),
            "D7 selection of the reported result": (
                "no_information",
                "No protocol or analysis plan available.",
            ),
        } | {"_ev": (url, quote)}
    return _minors_defaults(study, arms, outcomes, ev, urls)


def _minors_defaults(study, arms, outcomes, ev, urls) -> dict:
    url, quote = ev
    none = "not reported in the text that could be read"
    out = {
        "M1 clearly stated aim": ("0", f"Aim {none}."),
        "M2 inclusion of consecutive patients": ("0", f"Consecutive inclusion {none}."),
        "M3 prospective collection of data": ("0", f"Prospective data collection {none}."),
        "M4 endpoints appropriate to the aim": ("0", f"Endpoints {none}."),
        "M5 unbiased assessment of the endpoint": ("0", f"Blind assessment {none}."),
        "M6 follow-up appropriate to the aim": ("0", f"Follow-up period {none}."),
        "M7 loss to follow-up below 5%": ("0", f"Loss to follow-up {none}."),
        "M8 prospective calculation of the study size": ("0", f"Study size calculation {none}."),
    }
    treated = arms[(arms["study_id"] == study["study_id"]) & (arms["role"] == "treated")]
    if study["registry_id"] or study["phase"]:
        what = f"phase {study['phase']}" if study["phase"] else ""
        what = ", ".join(x for x in (what, study["registry_id"]) if x)
        out["M3 prospective collection of data"] = (
            "2",
            f"A prospective (registered or phased) clinical trial: {what}.",
            url_of(study["source_key"], urls),
            study["design_verbatim"] or quote,
        )
    rows = outcomes[outcomes["study_id"] == study["study_id"]]
    neuro = rows[rows["domain"].isin(["ais", "motor", "sensory"]) & (rows["verbatim"] != "")]
    if len(neuro):
        r = neuro.iloc[0]
        out["M4 endpoints appropriate to the aim"] = (
            "2",
            "Neurological endpoints (AIS grade or ISNCSCI scores) fit a trial of SCI repair.",
            url_of(r["source_key"], urls),
            r["verbatim"],
        )
    elif len(rows[rows["verbatim"] != ""]):
        r = rows[rows["verbatim"] != ""].iloc[0]
        out["M4 endpoints appropriate to the aim"] = (
            "1",
            "Endpoints reported, but not the AIS grade or ISNCSCI scores.",
            url_of(r["source_key"], urls),
            r["verbatim"],
        )
    if len(treated):
        a = treated.iloc[0]
        fu = a["follow_up_months"]
        if fu is not None and not (isinstance(fu, float) and math.isnan(fu)):
            score = "2" if fu >= 12 else "1"
            out["M6 follow-up appropriate to the aim"] = (
                score,
                f"Follow-up {fu:g} months ({'at least' if score == '2' else 'less than'} the "
                "12 months over which neurological recovery is judged).",
                url_of(a["source_key"], urls),
                a["follow_up_verbatim"] or f"{fu:g} months",
            )
        n, n_safety = a["n"], a["n_safety"]
        if pd.notna(n) and pd.notna(n_safety) and n_safety > n and n_safety > 0:
            lost = 100 * (n_safety - n) / n_safety
            out["M7 loss to follow-up below 5%"] = (
                "0",
                f"{int(n)} of {int(n_safety)} treated patients in the efficacy analysis "
                f"({lost:.0f}% not analysed).",
                url_of(a["source_key"], urls),
                a["n_verbatim"] or f"{int(n_safety)} (safety); {int(n)} (efficacy)",
            )
    out["_ev"] = (url, quote)
    return out


def build(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per study and domain, plus its ``overall`` row."""
    ids = pd.read_csv(DECISIONS_DIR / "study_ids.csv", dtype=str, keep_default_na=False)
    legacy = dict(zip(ids["study_id"], ids["legacy_id"], strict=True))
    audit_rows = pd.read_csv(
        RAW_DIR / "audit" / "studies_audit.csv", dtype=str, keep_default_na=False
    )
    audit = {r["study_id"]: r for r in audit_rows.to_dict("records")}
    with (DECISIONS_DIR / "risk_of_bias.yaml").open(encoding="utf-8") as fh:
        overrides = yaml.safe_load(fh) or {}
    unknown = set(overrides) - set(frames["studies"]["study_id"])
    if unknown:
        raise ValueError(f"risk_of_bias.yaml names unknown studies: {sorted(unknown)}")
    urls = source_urls()
    arms, outcomes = frames["arms"], frames["outcomes"]
    rows = []
    for study in frames["studies"].to_dict("records"):
        study["legacy_id"] = legacy.get(study["study_id"], "")
        tool = tool_for(study["design"])
        ev = _study_evidence(study, audit, outcomes, urls)
        judged = _defaults(tool, study, arms, outcomes, ev, urls)
        default_url, default_quote = judged.pop("_ev")
        specific = set()
        for domain, o in (overrides.get(study["study_id"]) or {}).items():
            if domain not in RISK_OF_BIAS_DOMAINS[tool]:
                raise ValueError(f"{study['study_id']}: {domain!r} is not a {tool} domain")
            judged[domain] = (str(o["judgement"]), o["support"], o["source_url"], o["quote"])
            specific.add(domain)
        values = []
        for domain in RISK_OF_BIAS_DOMAINS[tool][:-1]:
            j = judged[domain]
            url, quote = (j[2], j[3]) if len(j) == 4 else (default_url, default_quote)
            if not url:  # a source listed without its address: the study's own page
                url = default_url
            values.append(j[0])
            rows.append(_row(study, tool, domain, j[0], j[1], url, quote, domain in specific))
        verdict, rule = overall(tool, values)
        rows.append(_row(study, tool, "overall", verdict, rule, default_url, default_quote, False))
    return coerce_frame(pd.DataFrame(rows), "risk_of_bias")


def _row(study, tool, domain, judgement, support, url, quote, specific) -> dict:
    return dict(
        study_id=study["study_id"],
        tool=tool,
        domain=domain,
        judgement=judgement,
        support=support,
        source_key=url,
        where_in_source="risk_of_bias.yaml" if specific else "rule (tools/curate_rob.py)",
        verbatim=quote,
        status="interpreted",
        source_url=url,
    )
