"""`sci-evidence meta`: effect sizes and a (mixed-effects) meta-analysis of a CSV file.

A thin layer: it reads the CSV, hands the columns to
:func:`sci_evidence.meta.effects.effect_sizes` and :func:`sci_evidence.meta.pool` (or
:func:`~sci_evidence.meta.subgroups`), prints the summary (or ``to_dict()`` as JSON) and
optionally saves a forest plot. Every user mistake becomes one line ``Error: FILE, row R,
column 'C': ...`` with exit code 2 (rows are numbered as a spreadsheet shows them: the header
is row 1).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import typer

from sci_evidence.cli import _scale_options as scale_help
from sci_evidence.cli._common import (
    PLOT_SUFFIXES,
    check_output_path,
    console,
    err_console,
    save_figure,
)
from sci_evidence.cli._meta_input import (
    _check_finite_columns,
    _example_path,
    _moderator,
    _read_csv,
    _require_column,
)
from sci_evidence.errors import DataWarning, InputError, SciEvidenceError

#: Columns of the bundled example and how the example maps them (metafor's dat.bcg call).
EXAMPLE_DEFAULTS = {"measure": "RR", "ai": "tpos", "bi": "tneg", "ci": "cpos", "di": "cneg"}
#: Measures analysed on the log scale: the forest plot back-transforms them with exp.
#: Effect-size column options, named as metafor names them.
COLUMN_OPTIONS = (
    "ai", "bi", "ci", "di", "n1i", "n2i", "m1i", "m2i", "sd1i", "sd2i", "ni", "xi", "ti", "ri",
    "yi", "vi", "sei", "ci_lb", "ci_ub",
)  # fmt: skip


#: Columns that give effect sizes directly, and those they must not be mixed with.
_PRECOMPUTED = ("yi", "vi", "sei", "ci_lb", "ci_ub")


#: Single-group proportion measures (the forest plot draws their raw x/n when given as counts).
_PROPORTION_MEASURES = ("PR", "PLO", "PFT", "PAS")


def run_meta(
    file: Path | None,
    *,
    columns: dict[str, str],
    measure: str | None,
    method: str,
    test: str,
    level: float,
    mods: str | None,
    subgroup: str | None,
    tau2_common: bool,
    label: str | None,
    ri: float | None,
):
    """Read, compute effect sizes and fit.

    Returns ``(result, subgroup_result, file_label, ni, counts)``: ``ni`` holds the sample
    sizes of the analysed studies when the measure's back-transformation needs them (PFT), else
    None; ``counts`` is ``(xi, ni)`` of the analysed studies for a proportion measure given
    as counts (``--xi``/``--ni``), so that a forest plot can draw each study's raw
    proportion with its exact interval whatever scale the model was fitted on, else None.
    """
    import numpy as np

    from sci_evidence.meta import pool, subgroups
    from sci_evidence.meta.effects import effect_sizes
    from sci_evidence.meta.validation import check_magnitude

    example = file is None
    path = _example_path() if example else file
    fname = path.name if example else str(file)
    df = _read_csv(path)
    if example and not columns and measure is None:
        measure = EXAMPLE_DEFAULTS["measure"]
        columns = {k: v for k, v in EXAMPLE_DEFAULTS.items() if k != "measure"}
        if label is None:
            df["study"] = df["author"].astype(str) + ", " + df["year"].astype(str)
            label = "study"
    if not columns:
        raise InputError(
            "no data columns given: name them with --ai/--bi/--ci/--di (2x2 counts), "
            "--m1i/--sd1i/--n1i/... (means), --xi/--ni (proportions) or --yi with --vi/--sei",
            file=fname,
        )
    if measure is None:
        if "yi" in columns:
            measure = "GEN"
        else:
            raise InputError("--measure is required with raw data columns (e.g. RR, OR, SMD)")
    precomputed = [c for c in columns if c in _PRECOMPUTED]
    raw = [c for c in columns if c not in _PRECOMPUTED and c != "ri"]
    if "yi" in columns and raw:
        # effect_sizes would use --yi and silently ignore the raw columns
        raise InputError(
            "give either precomputed effect sizes (--yi with --vi or --sei) or raw data "
            f"columns ({', '.join('--' + c for c in raw)}), not both",
            file=fname,
        )
    if precomputed and "yi" not in columns:
        raise InputError(
            f"--{precomputed[0].replace('_', '-')} needs --yi (the effect sizes it belongs to)",
            file=fname,
        )
    for opt, col in columns.items():
        _require_column(df, col, fname, f"--{opt.replace('_', '-')}")
    _check_finite_columns(df, columns, fname)
    mod_names = [m.strip() for m in mods.split(",") if m.strip()] if mods else []
    for m in mod_names:
        _require_column(df, m, fname, "moderator")
    if subgroup:
        _require_column(df, subgroup, fname, "--subgroup")
        if mod_names:
            raise InputError("use either --mods or --subgroup, not both")
    if label:
        _require_column(df, label, fname, "--label")

    extra = {"ri": ri} if ri is not None and "ri" not in columns else {}
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            es = effect_sizes(measure, data=df, first_row=2, **extra, **columns)
    except InputError as exc:
        raise exc.with_file(fname) from None
    for w in caught:
        # the library numbers rows from first_row=2, as the CSV does: name the file too
        warnings.warn(f"{fname}: {w.message}", w.category, stacklevel=2)

    yi = es["yi"].to_numpy(dtype=float)
    vi = es["vi"].to_numpy(dtype=float)
    try:
        check_magnitude("yi", yi, first_row=2)
        check_magnitude("vi", vi, first_row=2, smallest=True)
    except InputError as exc:
        raise exc.with_file(fname) from None
    mod_values = {m: _moderator(df, m, fname) for m in mod_names}
    group_values = None
    if subgroup:
        group_values = [None if (v != v or v is None) else str(v) for v in df[subgroup].tolist()]
    labels = (
        [str(v) for v in df[label].tolist()] if label else [f"row {i + 2}" for i in range(len(df))]
    )
    # drop rows with anything missing, naming them (effect-size NaNs were announced above)
    missing = np.isnan(yi) | np.isnan(vi)
    why: dict[int, list[str]] = {}
    for m, vals in mod_values.items():
        for i, v in enumerate(vals):
            if v is None or (isinstance(v, float) and v != v):
                missing[i] = True
                why.setdefault(i, []).append(m)
    if group_values is not None:
        for i, v in enumerate(group_values):
            if v is None:
                missing[i] = True
                why.setdefault(i, []).append(subgroup)
    if why:
        rows = ", ".join(f"{i + 2} ({', '.join(c)})" for i, c in sorted(why.items()))
        warnings.warn(
            f"{fname}: rows with missing values dropped: {rows}", DataWarning, stacklevel=2
        )
    keep = ~missing
    if not keep.any():
        raise InputError("no row has all the values needed", file=fname)
    idx = np.flatnonzero(keep)
    labels = [labels[i] for i in idx]
    ni_all = es.attrs.get("ni")
    ni = None if ni_all is None else np.asarray(ni_all, dtype=float)[idx]
    counts = None
    if measure in _PROPORTION_MEASURES and "xi" in columns and "ni" in columns:
        counts = tuple(df[columns[c]].to_numpy(dtype=float)[idx] for c in ("xi", "ni"))
    try:
        if subgroup:
            sg = subgroups(
                yi[idx],
                vi[idx],
                [group_values[i] for i in idx],
                method=method,
                test=test,
                level=level,
                tau2="common" if tau2_common else "separate",
                labels=labels,
                measure=measure,
            )
            return sg.overall, sg, fname, ni, counts
        mods_arg = {m: [v[i] for i in idx] for m, v in mod_values.items()} or None
        res = pool(
            yi[idx],
            vi[idx],
            method=method,
            test=test,
            mods=mods_arg,
            level=level,
            labels=labels,
            measure=measure,
        )
        return res, None, fname, ni, counts
    except InputError as exc:
        raise exc.with_file(fname) from None
    except (ZeroDivisionError, OverflowError, FloatingPointError) as exc:
        raise InputError(
            f"the model cannot be fitted to these values ({type(exc).__name__}: {exc}); "
            "check for extreme effect sizes or variances",
            file=fname,
        ) from None


def _check_fitted(res, fname: str) -> None:
    """Never print a non-finite estimate with a p-value: a fit that overflowed is an error."""
    import numpy as np

    beta = np.atleast_1d(np.asarray(res.beta, dtype=float))
    se = np.atleast_1d(np.asarray(res.beta_se, dtype=float))
    if not (np.isfinite(beta).all() and np.isfinite(se).all()):
        raise InputError(
            "the fitted estimate or its standard error is not finite (the values overflow "
            "floating point); check for extreme effect sizes or variances",
            file=fname,
        )


def register(app: typer.Typer) -> None:
    """Add the `meta` command to ``app``."""

    from sci_evidence.cli._meta_small_k import MetaCommand  # --bayes, `meta convert`

    @app.command("meta", cls=MetaCommand)
    def meta(  # noqa: PLR0913 - one option per metafor argument
        file: Path | None = typer.Argument(
            None,
            help="CSV file, one row per study. Omit (or --example) for dat.bcg.",
            show_default=False,
        ),
        example: bool = typer.Option(False, "--example", help="Use the bundled dat.bcg data."),
        measure: str | None = typer.Option(
            None,
            "--measure",
            help="Effect measure: RR, OR, RD, MD, SMD, ROM, MC, SMCR, SMCC, "
            "PR, PLO, PAS, PFT, IR, IRLN, IRR, IRD, or GEN for precomputed --yi.",
        ),
        ai: str | None = typer.Option(None, "--ai", help="Column: events, group 1."),
        bi: str | None = typer.Option(None, "--bi", help="Column: non-events, group 1."),
        ci: str | None = typer.Option(None, "--ci", help="Column: events, group 2."),
        di: str | None = typer.Option(None, "--di", help="Column: non-events, group 2."),
        n1i: str | None = typer.Option(None, "--n1i", help="Column: size of group 1."),
        n2i: str | None = typer.Option(None, "--n2i", help="Column: size of group 2."),
        m1i: str | None = typer.Option(None, "--m1i", help="Column: mean, group 1 / time 1."),
        m2i: str | None = typer.Option(None, "--m2i", help="Column: mean, group 2 / time 2."),
        sd1i: str | None = typer.Option(None, "--sd1i", help="Column: SD, group 1 / time 1."),
        sd2i: str | None = typer.Option(None, "--sd2i", help="Column: SD, group 2 / time 2."),
        ni: str | None = typer.Option(None, "--ni", help="Column: sample size (one group)."),
        xi: str | None = typer.Option(None, "--xi", help="Column: events (one group)."),
        ti: str | None = typer.Option(None, "--ti", help="Column: person-time (rates)."),
        x1i: str | None = typer.Option(None, "--x1i", help="Column: events, group 1 (IRR, IRD)."),
        t1i: str | None = typer.Option(
            None, "--t1i", help="Column: person-time, group 1 (IRR, IRD)."
        ),
        x2i: str | None = typer.Option(None, "--x2i", help="Column: events, group 2 (IRR, IRD)."),
        t2i: str | None = typer.Option(
            None, "--t2i", help="Column: person-time, group 2 (IRR, IRD)."
        ),
        ri_col: str | None = typer.Option(
            None, "--ri", help="Column: pre-post correlation (MC, SMCC, SMCR)."
        ),
        ri_assumed: float | None = typer.Option(
            None,
            "--ri-assumed",
            help="Assumed pre-post correlation for every study (reported as an assumption).",
        ),
        yi: str | None = typer.Option(None, "--yi", help="Column: precomputed effect size."),
        vi: str | None = typer.Option(None, "--vi", help="Column: sampling VARIANCE of yi."),
        sei: str | None = typer.Option(None, "--sei", help="Column: STANDARD ERROR of yi."),
        ci_lb: str | None = typer.Option(None, "--ci-lb", help="Column: lower CI bound of yi."),
        ci_ub: str | None = typer.Option(None, "--ci-ub", help="Column: upper CI bound of yi."),
        method: str = typer.Option(
            "REML", "--method", help="EE (FE), DL, REML, ML, PM, HE, SJ, EB or HS."
        ),
        test: str = typer.Option("z", "--test", help="z, knha (Hartung-Knapp), adhoc or t."),
        level: float = typer.Option(0.95, "--level", help="Confidence level."),
        mods: str | None = typer.Option(
            None, "--mods", help="Comma-separated moderator columns (text columns are factors)."
        ),
        subgroup: str | None = typer.Option(None, "--subgroup", help="Column of subgroups."),
        tau2_common: bool = typer.Option(
            False, "--tau2-common", help="Subgroups share one tau^2 (default: one each)."
        ),
        label: str | None = typer.Option(None, "--label", help="Column of study labels."),
        as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
        plot: Path | None = typer.Option(None, "--plot", help="Save a forest plot (PNG/PDF/SVG)."),
        bias: bool = typer.Option(False, "--bias", help="Small-study / publication-bias tests."),
        gosh: Path | None = typer.Option(None, "--gosh", help="Save a GOSH plot to this file."),
        permutations: int | None = typer.Option(
            None, "--permutations", help="Permutation test with N permutations."
        ),
        model: str = typer.Option(
            "rma",
            "--model",
            help="rma (inverse-variance model of effect sizes) or glmm (binomial/Poisson "
            "GLMM of the counts, metafor's rma.glmm: --measure PLO with --xi/--ni, IRLN "
            "with --xi/--ti, OR with --ai/--ci and --n1i/--n2i or --bi/--di, IRR with "
            "--x1i/--t1i/--x2i/--t2i; --method ML or EE).",
        ),
        glmm_model: str = typer.Option(
            "UM.FS",
            "--glmm-model",
            help="With --model glmm and OR or IRR: UM.FS (fixed study intercepts), UM.RS (random "
            "study intercepts), CM.EL (exact conditional, non-central hypergeometric) or "
            "CM.AL (approximate conditional, binomial).",
        ),
        nagq: int = typer.Option(
            7, "--nagq", help="With --model glmm: Gauss-Hermite quadrature nodes (1 = Laplace)."
        ),
        gosh_all: bool = typer.Option(False, "--gosh-all", help=scale_help.GOSH_ALL),
        seed: int | None = typer.Option(None, "--seed", help=scale_help.SEED),
        scheduler: str | None = typer.Option(None, "--scheduler", help=scale_help.SCHEDULER),
    ) -> None:
        """Pool effect sizes in an equal- or random-effects model (metafor's rma).

        Example: sci-evidence meta trials.csv --measure RR --ai tpos --bi tneg --ci cpos
        --di cneg --method REML --test knha --mods ablat,alloc --plot forest.png
        """
        given = {
            "ai": ai, "bi": bi, "ci": ci, "di": di, "n1i": n1i, "n2i": n2i, "m1i": m1i,
            "m2i": m2i, "sd1i": sd1i, "sd2i": sd2i, "ni": ni, "xi": xi, "ti": ti, "ri": ri_col,
            "x1i": x1i, "t1i": t1i, "x2i": x2i, "t2i": t2i,
            "yi": yi, "vi": vi, "sei": sei, "ci_lb": ci_lb, "ci_ub": ci_ub,
        }  # fmt: skip
        columns = {k: v for k, v in given.items() if v is not None}
        if example and file is not None:
            raise InputError("give either FILE or --example, not both")
        if plot is not None:
            # before any work: an unusable plot path is one line, and nothing is written
            check_output_path(plot, suffixes=PLOT_SUFFIXES, what="forest plot (--plot)")
        if gosh is not None:
            check_output_path(gosh, suffixes=PLOT_SUFFIXES, what="GOSH plot (--gosh)")
        if model not in ("rma", "glmm"):
            raise InputError("--model must be rma or glmm", value=model)
        if model == "glmm":
            _meta_glmm_command(
                file, columns, measure, method, glmm_model, nagq, level, mods, label, as_json, plot
            )
            return
        res, sg, fname, ni, counts = run_meta(
            file,
            columns=columns,
            measure=measure,
            method=method,
            test=test,
            level=level,
            mods=mods,
            subgroup=subgroup,
            tau2_common=tau2_common,
            label=label,
            ri=ri_assumed,
        )
        _check_fitted(res, fname)
        extra = bias or gosh is not None or permutations is not None
        scale = {"scheduler": scheduler, "seed": seed, "gosh_all": gosh_all}
        if extra:
            try:
                from sci_evidence.cli._meta_bias import run_bias_options
            except ImportError:
                raise InputError(
                    "--bias, --gosh and --permutations are not available in this build "
                    "(module sci_evidence.cli._meta_bias is missing)"
                ) from None
        if as_json:
            out = sg.to_dict() if sg is not None else res.to_dict()
            out["file"] = fname
            if plot is not None:
                _save_forest(res, sg, plot, ni, counts)
            if extra:
                # stdout holds the JSON document alone: the bias results go inside it and
                # progress bars go to stderr
                out.update(
                    run_bias_options(
                        res,
                        bias=bias,
                        gosh_path=gosh,
                        permutations=permutations,
                        console=err_console,
                        **scale,
                        as_json=True,
                    )
                )
            typer.echo(json.dumps(out, indent=2, allow_nan=False))
            return
        console.print(f"[bold]{fname}[/bold]", highlight=False)
        console.print(
            sg.summary() if sg is not None else res.summary(),
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
        line = _back_transformed_line(res, ni)
        if line:
            console.print(line, highlight=False, markup=False, soft_wrap=True)
        if plot is not None:
            _save_forest(res, sg, plot, ni, counts)
            console.print(
                f"Forest plot written to {plot}", highlight=False, markup=False, soft_wrap=True
            )
        if extra:
            run_bias_options(
                res,
                bias=bias,
                gosh_path=gosh,
                permutations=permutations,
                console=console,
                **scale,
            )


def _meta_glmm_command(
    file, columns, measure, method, glmm_model, nagq, level, mods, label, as_json, plot
) -> None:
    """The `meta --model glmm` branch (sci_evidence.cli._meta_glmm does the work)."""
    from sci_evidence.cli._meta_glmm import run_glmm, save_glmm_forest

    if file is None:
        raise InputError("--model glmm needs a CSV file of counts")
    df = _read_csv(file)
    res = run_glmm(
        df,
        str(file),
        columns=columns,
        measure=measure,
        method=method,
        glmm_model=glmm_model,
        nagq=nagq,
        level=level,
        mods=mods,
        label=label,
    )
    if plot is not None:
        save_glmm_forest(res, plot)
    if as_json:
        out = res.to_dict()
        out["file"] = str(file)
        typer.echo(json.dumps(out, indent=2, allow_nan=False))
        return
    console.print(f"[bold]{file}[/bold]", highlight=False)
    console.print(res.summary(), highlight=False, markup=False, soft_wrap=True)
    if plot is not None:
        console.print(
            f"Forest plot written to {plot}", highlight=False, markup=False, soft_wrap=True
        )


def _back_transform(res, ni):
    """The measure's back-transformation as a callable, or None (identity/none/unknown)."""
    from sci_evidence.meta.transforms import back_transform, measure_scale

    try:
        scale = measure_scale(res.measure)
    except InputError:
        return None, None
    if scale.transform in ("identity", "none") or (scale.needs_ni and ni is None):
        return None, scale
    return (lambda v: back_transform(res.measure, v, ni=ni)), scale


def _back_transformed_line(res, ni) -> str | None:
    """'Risk ratio: 0.49 [0.34, 0.70]; prediction interval [...]' for transformed measures."""
    if res.p != 1:
        return None
    fn, scale = _back_transform(res, ni)
    if fn is None:
        return None
    vals = [res.estimate, res.ci_lb, res.ci_ub]
    if res.pi_lb is not None:
        vals += [res.pi_lb, res.pi_ub]
    b = [float(x) for x in fn(vals)]
    text = f"Back-transformed ({scale.label}): {b[0]:.4f} [{b[1]:.4f}, {b[2]:.4f}]"
    if len(b) == 5:
        text += f"; prediction interval [{b[3]:.4f}, {b[4]:.4f}]"
    return text


def _save_forest(res, sg, path: Path, ni=None, counts=None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import numpy as np

    from sci_evidence.meta.plots import forest_plot

    if res.p > 1:
        raise InputError(
            "--plot draws a forest plot, which needs a model without --mods; "
            "use --subgroup for a categorical moderator"
        )
    # log measures: exp (log axis); proportions: their inverse transform (PFT at the
    # harmonic mean of n); the rest as analysed
    fn, scale = _back_transform(res, ni)
    transf = np.exp if scale is not None and scale.transform == "exp" else fn
    xlabel = scale.label if (transf is not None and scale is not None) else None
    # proportions given as counts: each study's raw x/n with its Clopper–Pearson interval (as R
    # meta's metaprop draws them), not the back-transformed Wald interval of its yi
    raw = counts if sg is None else None
    fig = forest_plot(res, subgroups=sg, transf=transf, xlabel=xlabel, counts=raw)
    try:
        save_figure(fig, path, dpi=200, bbox_inches="tight")
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)


__all__ = ["register", "run_meta", "SciEvidenceError"]
