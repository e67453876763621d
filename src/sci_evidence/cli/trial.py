"""`sci-evidence trial`: patient-level trial analysis and trial design by simulation."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from sci_evidence.cli._common import console
from sci_evidence.errors import InputError

trial_app = typer.Typer(
    name="trial",
    help="Analyse a trial's patient-level ISNCSCI exams, or design a trial by simulation.",
    no_args_is_help=True,
)


def _natural_history():
    from sci_evidence.evidence import load_evidence

    return load_evidence()


@trial_app.command("analyze")
def analyze(
    file: Path = typer.Argument(..., help="Long exam table: CSV, Excel (.xlsx) or Parquet."),
    out: Path | None = typer.Option(
        None, "--out", help="Output directory (default: <file stem>_analysis next to FILE)."
    ),
    treated: str | None = typer.Option(None, "--treated", help="Name of the treated arm."),
    control: str | None = typer.Option(None, "--control", help="Name of the control arm."),
    baseline_by: float | None = typer.Option(
        None,
        "--baseline-by",
        help="Latest day since injury a baseline exam may have; later first exams are "
        "reported as 'no baseline' and excluded.",
    ),
    ci: str = typer.Option(
        "clopper-pearson", "--ci", help="Interval of the share converting: clopper-pearson|wilson."
    ),
) -> None:
    """Classify every exam, summarise each arm and write HTML, figures, CSVs and summary.json.

    Example: sci-evidence trial analyze exams.csv --out results/
    """
    from sci_evidence.report.trial import write_analysis
    from sci_evidence.trials import analyze_trial, read_trial_table

    if ci not in ("clopper-pearson", "wilson"):
        raise InputError("--ci must be clopper-pearson or wilson", value=ci)
    table = read_trial_table(file)
    evidence = _natural_history()
    try:
        result = analyze_trial(
            table,
            natural_history=evidence.natural_history_conversion,
            treated=treated,
            control=control,
            baseline_max_day=baseline_by,
            ci_method=ci,
        )
    except InputError as exc:
        raise exc.with_file(str(file)) from None
    out_dir = out if out is not None else file.with_name(f"{file.stem}_analysis")
    written = write_analysis(result, out_dir, title=file.name, study_id=file.stem)
    console.print(result.summary(), highlight=False, markup=False, soft_wrap=True)
    console.print(f"Wrote {len(written)} files to {out_dir}", highlight=False, markup=False)


@trial_app.command("design")
def design(
    endpoint: str | None = typer.Option(
        None, "--endpoint", help="conversion (AIS ≥ 1 grade) or motor (motor-score change)."
    ),
    n_per_arm: list[int] | None = typer.Option(
        None, "--n-per-arm", help="Patients per arm; repeat for a power curve."
    ),
    odds_ratio: float | None = typer.Option(
        None, "--odds-ratio", help="Treatment odds ratio on conversion (default 1: no effect)."
    ),
    motor_gain: float | None = typer.Option(
        None, "--motor-gain", help="Treatment gain in the motor score, points (default 0)."
    ),
    simulations: int = typer.Option(10_000, "--simulations", help="Simulated trials per size."),
    seed: int = typer.Option(1, "--seed", help="Random seed."),
    dropout: float = typer.Option(0.1, "--dropout", help="Share of patients lost to follow-up."),
    alpha: float = typer.Option(0.05, "--alpha", help="Two-sided significance level."),
    phase: str = typer.Option("acute", "--phase", help="acute or chronic benchmarks."),
    score: str = typer.Option("TMS", "--score", help="Motor score: TMS, UEMS or LEMS."),
    analysis: str | None = typer.Option(
        None,
        "--analysis",
        help="Planned analysis: cmh (default) or chi2 for conversion; ancova (default) or "
        "ttest for motor.",
    ),
    correlation: float = typer.Option(
        0.8, "--correlation", help="Assumed baseline/follow-up score correlation (motor)."
    ),
    mix: list[str] | None = typer.Option(
        None,
        "--mix",
        help="Baseline stratum and weight, GRADE:LEVEL=WEIGHT (e.g. A:tetraplegia=0.5); "
        "repeat for each stratum. Default (acute): A/B, tetraplegia/paraplegia "
        "0.4/0.3/0.2/0.1; chronic: A tetraplegia/paraplegia 0.6/0.4.",
    ),
    as_json: bool = typer.Option(False, "--json", help='Print JSON: {"designs": [...]}.'),
    plot: Path | None = typer.Option(None, "--plot", help="Write the power curve (PNG/SVG)."),
) -> None:
    """Power of a randomised two-arm trial by simulation, for each sample size.

    Example: sci-evidence trial design --odds-ratio 2.5 --n-per-arm 40 --n-per-arm 80 --json
    """
    from sci_evidence.trials.design import design_from_evidence, simulate_power

    if odds_ratio is not None and motor_gain is not None:
        raise InputError("give --odds-ratio or --motor-gain, not both")
    if endpoint is None:
        endpoint = "motor" if motor_gain is not None else "conversion"
    if endpoint not in ("conversion", "motor"):
        raise InputError("--endpoint must be conversion or motor", value=endpoint)
    if endpoint == "conversion" and motor_gain is not None:
        raise InputError("--motor-gain needs --endpoint motor")
    if endpoint == "motor" and odds_ratio is not None:
        raise InputError("--odds-ratio needs --endpoint conversion")
    sizes = list(n_per_arm) if n_per_arm else [20, 40, 60, 80, 100]
    bad = [n for n in sizes if n < 2]
    if bad:
        raise InputError("--n-per-arm must be at least 2", value=bad[0])
    if simulations < 1:
        raise InputError("--simulations must be at least 1", value=simulations)
    if odds_ratio is not None and not odds_ratio > 0:
        raise InputError("--odds-ratio must be > 0", value=odds_ratio)
    if not 0 <= dropout < 1:
        raise InputError("--dropout must lie in [0, 1)", value=dropout)
    if not 0 < alpha < 1:
        raise InputError("--alpha must lie in (0, 1)", value=alpha)
    if phase not in ("acute", "chronic"):
        raise InputError("--phase must be acute or chronic", value=phase)
    if score not in ("TMS", "UEMS", "LEMS"):
        raise InputError("--score must be TMS, UEMS or LEMS", value=score)
    allowed = {"conversion": ("cmh", "chi2"), "motor": ("ancova", "ttest")}[endpoint]
    if analysis is not None and analysis not in allowed:
        raise InputError(
            f"--analysis for the {endpoint} endpoint must be {' or '.join(allowed)}",
            value=analysis,
        )
    if not -1 < correlation < 1:
        raise InputError("--correlation must lie in (-1, 1)", value=correlation)
    strata = _parse_mix(mix) if mix else None
    ev = _natural_history()
    try:
        d = design_from_evidence(
            ev.natural_history_conversion,
            ev.natural_history_scores if endpoint == "motor" else None,
            endpoint=endpoint,
            mix=strata,
            phase=phase,
            score=score,
            odds_ratio=1.0 if odds_ratio is None else odds_ratio,
            motor_gain=0.0 if motor_gain is None else motor_gain,
            dropout=dropout,
            alpha=alpha,
            analysis=analysis,
            correlation=correlation,
        )
    except ValueError as exc:
        raise InputError(str(exc)) from None
    result = simulate_power(d, sizes, n_simulations=simulations, seed=seed)
    if plot is not None:
        result.plot().savefig(plot, dpi=120)
    if as_json:
        payload = {"designs": result.to_dict()["designs"]}
        typer.echo(json.dumps(payload))
    else:
        console.print(result.summary(), highlight=False, markup=False, soft_wrap=True)


def _parse_mix(items: list[str]) -> dict[tuple[str, str], float]:
    out: dict[tuple[str, str], float] = {}
    for item in items:
        try:
            stratum, weight = item.split("=")
            grade, level = stratum.split(":")
            w = float(weight)
        except ValueError:
            raise InputError(
                "--mix must look like GRADE:LEVEL=WEIGHT, e.g. A:tetraplegia=0.5", value=item
            ) from None
        grade, level = grade.strip().upper(), level.strip().lower()
        if grade not in ("A", "B", "C", "D") or level not in ("tetraplegia", "paraplegia"):
            raise InputError(
                "--mix grade must be A-D and level tetraplegia or paraplegia", value=item
            )
        if not w > 0:
            raise InputError("--mix weight must be > 0", value=item)
        out[(grade, level)] = w
    return out


def register(app: typer.Typer) -> None:
    """Add the ``trial`` command group to ``app``."""
    app.add_typer(trial_app, name="trial")
