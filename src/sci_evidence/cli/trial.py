"""`sci-evidence trial`: patient-level trial analysis and trial design by simulation."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

from sci_evidence.cli._common import console, err_console
from sci_evidence.errors import InputError

trial_app = typer.Typer(
    name="trial",
    help="Analyse a trial's patient-level ISNCSCI exams, or design a trial by simulation.",
    no_args_is_help=True,
)


def _natural_history():
    from sci_evidence.evidence import load_evidence

    return load_evidence()


def _stops_on_ctrl_c(command: Callable[..., None]) -> Callable[..., None]:
    """Ctrl-C ends the command with one line and exit code 130. Outputs are written
    atomically, so nothing half-written is left. SystemExit, not typer.Exit: click
    (standalone_mode=False) turns Exit and Abort into a return value, and the process would
    end with 0."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> None:
        try:
            command(*args, **kwargs)
        except KeyboardInterrupt:
            err_console.print("Interrupted: stopped cleanly.", highlight=False, markup=False)
            raise SystemExit(130) from None

    return run


@trial_app.command("analyze")
@_stops_on_ctrl_c
def analyze(
    file: Path = typer.Argument(..., help="Long exam table: CSV, Excel (.xlsx) or Parquet."),
    out: Path | None = typer.Option(
        None,
        "--out",
        help="Output folder (default: <file stem>_analysis next to FILE); built beside and "
        "swapped in whole, so it must be new, empty or an earlier analysis.",
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
    from sci_evidence.outputs import atomic_directory
    from sci_evidence.report.trial import write_analysis
    from sci_evidence.trials import analyze_trial, read_trial_table

    out_dir = out if out is not None else file.with_name(f"{file.stem}_analysis")
    _check_analysis_folder(out_dir)
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
        # errors about the table's rows or columns name the file; option errors do not
        if exc.file is None and (exc.row is not None or exc.column is not None):
            raise exc.with_file(str(file)) from None
        raise
    # built beside the target and swapped in whole: a failed run leaves the old folder as it was
    with atomic_directory(out_dir) as work:
        written = write_analysis(result, work, title=file.name, study_id=file.stem)
    console.print(result.summary(), highlight=False, markup=False, soft_wrap=True)
    console.print(f"Wrote {len(written)} files to {out_dir}", highlight=False, markup=False)


def _check_analysis_folder(out_dir: Path) -> None:
    """Refuse an output folder that cannot be written, or one that holds other files: the
    analysis replaces the whole folder, so only a new, empty or earlier analysis folder
    may be given."""
    from sci_evidence.outputs import check_output_path

    check_output_path(out_dir, directory=True, what="output folder")
    if out_dir.is_dir() and any(out_dir.iterdir()):
        if not ((out_dir / "summary.json").is_file() and (out_dir / "index.html").is_file()):
            raise InputError(
                "the output folder holds files that are not a trial analysis; give a new or "
                "empty folder (an earlier analysis folder is replaced)",
                file=str(out_dir),
            )


@trial_app.command("design")
@_stops_on_ctrl_c
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
    simulations: int = typer.Option(
        10_000,
        "--simulations",
        help="Simulated trials per size (run in bounded-memory chunks; progress and time "
        "left on stderr; Ctrl-C stops, exit 130).",
    ),
    seed: int = typer.Option(1, "--seed", help="Random seed (an integer >= 0)."),
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
    plot: Path | None = typer.Option(
        None, "--plot", help="Write the power curve (.png, .svg or .pdf)."
    ),
    scheduler: str | None = typer.Option(
        None,
        "--scheduler",
        help="Simulate on the Dask cluster at this scheduler address (tcp://HOST:8786; "
        "needs the \\[dask] extra; the same power as a local run for the same seed).",
    ),
) -> None:
    """Power of a randomised two-arm trial by simulation, for each sample size.

    Example: sci-evidence trial design --odds-ratio 2.5 --n-per-arm 40 --n-per-arm 80 --json
    """
    from sci_evidence.trials.design import design_from_evidence, simulate_power

    # Only how the options combine is checked here; every value is checked once, where it is
    # used (TrialDesign, design_from_evidence, simulate_power), and raises InputError.
    if odds_ratio is not None and motor_gain is not None:
        raise InputError("give --odds-ratio or --motor-gain, not both")
    if endpoint is None:
        endpoint = "motor" if motor_gain is not None else "conversion"
    if endpoint == "conversion" and motor_gain is not None:
        raise InputError("--motor-gain needs --endpoint motor")
    if endpoint == "motor" and odds_ratio is not None:
        raise InputError("--odds-ratio needs --endpoint conversion")
    if plot is not None:
        from sci_evidence.outputs import check_output_path

        check_output_path(plot, suffixes=_PLOT_SUFFIXES, what="plot")
    sizes = list(n_per_arm) if n_per_arm else [20, 40, 60, 80, 100]
    strata = _parse_mix(mix) if mix else None
    ev = _natural_history()
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
    with _progress(f"simulating {len(sizes)} sample size(s)") as progress:
        if scheduler is None:
            result = simulate_power(
                d, sizes, n_simulations=simulations, seed=seed, progress=progress
            )
        else:
            from sci_evidence.cluster import connect

            with connect(scheduler) as client:
                result = simulate_power(
                    d, sizes, n_simulations=simulations, seed=seed, progress=progress,
                    client=client,
                )  # fmt: skip
    if plot is not None:
        from sci_evidence.outputs import atomic_write

        figure = result.plot()
        with atomic_write(plot, "wb") as fh:
            figure.savefig(fh, format=plot.suffix.lstrip(".").lower(), dpi=120)
    if as_json:
        payload = {"designs": result.to_dict()["designs"]}
        typer.echo(json.dumps(payload))
    else:
        console.print(result.summary(), highlight=False, markup=False, soft_wrap=True)


_PLOT_SUFFIXES = (".png", ".svg", ".pdf")


@contextmanager
def _progress(description: str) -> Iterator[Callable[[int, int], None]]:
    """A transient progress bar with the time left, on stderr; yields ``progress(done, total)``.
    Ctrl-C propagates as KeyboardInterrupt, which the program turns into exit code 130."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("left"),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
        disable=not err_console.is_terminal,
    )
    task = None

    def update(done: int, total: int) -> None:
        # started on the first report, so an error found up front prints alone
        nonlocal task
        if task is None:
            bar.start()
            task = bar.add_task(description, total=total)
        bar.update(task, completed=done, total=total)

    try:
        yield update
    finally:
        if task is not None:
            bar.stop()


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
