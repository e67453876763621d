"""Additions to `sci-evidence meta` for few, small studies (issue 14): ``--bayes`` and the
``meta convert`` subcommand.

`meta` stays a single command, so every existing ``sci-evidence meta FILE ...`` call works as
before; :class:`MetaCommand` (its click class) adds three options and one subcommand word:

* ``sci-evidence meta FILE ... --bayes [--tau-prior halfnormal:0.5] [--mu-prior normal:0,4]``
  computes the effect sizes as usual, then pools them with
  :func:`sci_evidence.meta.pool_bayes` instead of ``pool``;
* ``sci-evidence meta convert FILE.csv [-o OUT.csv] [--method luo-wan]`` estimates means and
  SDs from medians with ranges/quartiles (:func:`sci_evidence.meta.fivenum_to_mean_sd_frame`)
  and writes the table with ``mean``, ``sd``, ``mean_sd_method`` and ``mean_sd_note``
  columns added (atomically with ``-o``, else to standard output).

Heavy imports (pandas, numpy, matplotlib) stay inside the functions.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperCommand

from sci_evidence.errors import InputError

SUBCOMMANDS = ("convert",)
_SUB_KEY = "sci_evidence_meta_sub"
_BAYES_PARAMS = ("bayes", "tau_prior", "mu_prior")
#: The meta callback's column options, by metafor argument name.
_COLUMN_PARAMS = {
    "ai": "ai", "bi": "bi", "ci": "ci", "di": "di", "n1i": "n1i", "n2i": "n2i", "m1i": "m1i",
    "m2i": "m2i", "sd1i": "sd1i", "sd2i": "sd2i", "ni": "ni", "xi": "xi", "ti": "ti",
    "ri_col": "ri", "yi": "yi", "vi": "vi", "sei": "sei", "ci_lb": "ci_lb", "ci_ub": "ci_ub",
}  # fmt: skip

_HELP_EXTRA = (
    "\n\nBayesian pooling: add --bayes (random-effects model by numerical integration; "
    "--tau-prior, --mu-prior).\n\nSubcommand: sci-evidence meta convert FILE.csv estimates "
    "means and SDs from medians with ranges or quartiles (see: sci-evidence meta convert "
    "--help)."
)


def _bayes_options() -> list[Any]:
    """The three options as parameters of this Typer build (taken from a template command,
    so that they are made exactly as Typer makes the others)."""
    template = typer.Typer(add_completion=False)

    @template.command()
    def _options(
        bayes: bool = typer.Option(
            False,
            "--bayes",
            help="Bayesian random-effects pooling (normal-normal model, numerical "
            "integration over tau; no MCMC) instead of rma.",
        ),
        tau_prior: str | None = typer.Option(
            None,
            "--tau-prior",
            help="Prior of tau with --bayes: halfnormal:SCALE (default halfnormal:0.5), "
            "halfcauchy:SCALE, halfstudent:SCALE,DF, uniform[:UPPER], loguniform:LO,HI, "
            "jeffreys.",
        ),
        mu_prior: str | None = typer.Option(
            None, "--mu-prior", help="Prior of mu with --bayes: flat (default) or normal:MEAN,SD."
        ),
    ) -> None:  # pragma: no cover - never invoked, only its parameters are used
        pass

    return list(typer.main.get_command(template).params)


class MetaCommand(TyperCommand):
    """The `meta` command with ``--bayes`` and the ``convert`` subcommand word."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params.extend(_bayes_options())
        self.help = (self.help or "") + _HELP_EXTRA

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] in SUBCOMMANDS:
            ctx.meta[_SUB_KEY] = (args[0], list(args[1:]))
            return super().parse_args(ctx, [])
        return super().parse_args(ctx, args)

    def invoke(self, ctx: Any) -> Any:
        sub = ctx.meta.pop(_SUB_KEY, None)
        if sub is not None:
            cmd = typer.main.get_command(_convert_app)
            # parent: the root, so that usage reads "sci-evidence meta convert", not
            # "sci-evidence meta [file] convert"
            name = f"{ctx.info_name} {sub[0]}"
            with cmd.make_context(name, sub[1], parent=ctx.parent or ctx) as sub_ctx:
                return cmd.invoke(sub_ctx)
        bayes, tau_prior, mu_prior = (ctx.params.pop(k, None) for k in _BAYES_PARAMS)
        if not bayes:
            if tau_prior is not None or mu_prior is not None:
                raise InputError("--tau-prior and --mu-prior need --bayes")
            return super().invoke(ctx)
        return run_bayes(ctx.params, tau_prior=tau_prior, mu_prior=mu_prior)


def _mu_prior(text: str | None):
    if text is None or text.strip().lower() == "flat":
        return None
    name, _, args = text.partition(":")
    parts = [a for a in args.replace(",", " ").split() if a]
    if name.strip().lower() != "normal" or len(parts) != 2:
        raise InputError(f"--mu-prior {text!r}: use flat or normal:MEAN,SD (e.g. normal:0,4)")
    return ("normal", parts[0], parts[1])


def run_bayes(params: dict[str, Any], *, tau_prior: str | None, mu_prior: str | None) -> None:
    """`meta --bayes`: the usual effect sizes, pooled by :func:`pool_bayes`."""
    from sci_evidence.cli._common import console
    from sci_evidence.cli.meta import run_meta
    from sci_evidence.meta.bayes import parse_tau_prior, pool_bayes

    for name, flag in (
        ("mods", "--mods"),
        ("subgroup", "--subgroup"),
        ("gosh", "--gosh"),
        ("permutations", "--permutations"),
    ):
        if params.get(name) is not None:
            raise InputError(f"{flag} is not available with --bayes")
    if params.get("bias"):
        raise InputError("--bias is not available with --bayes")
    if params.get("example") and params.get("file") is not None:
        raise InputError("give either FILE or --example, not both")
    tp = parse_tau_prior(tau_prior or "halfnormal:0.5")
    mp = _mu_prior(mu_prior)
    plot = params.get("plot")
    if plot is not None:
        from sci_evidence.outputs import check_output_path

        plot = check_output_path(plot, suffixes=(".png", ".pdf", ".svg"), what="plot")
    columns = {
        arg: params[name] for name, arg in _COLUMN_PARAMS.items() if params.get(name) is not None
    }
    res, _, fname, _, _ = run_meta(
        params.get("file"),
        columns=columns,
        measure=params.get("measure"),
        method="EE",  # only the effect sizes are used; pool_bayes does the pooling
        test="z",
        level=params.get("level", 0.95),
        mods=None,
        subgroup=None,
        tau2_common=False,
        label=params.get("label"),
        ri=params.get("ri_assumed"),
    )
    import numpy as np

    try:
        bres = pool_bayes(
            res.yi, np.sqrt(res.vi), tau_prior=tp, mu_prior=mp, level=res.level, measure=res.measure
        )
    except InputError as exc:
        raise exc.with_file(fname) from None
    if plot is not None:
        _save_plot(bres, plot)
    if params.get("as_json"):
        out = bres.to_dict()
        out["file"] = fname
        typer.echo(json.dumps(out, indent=2, allow_nan=False))
        return
    console.print(f"[bold]{fname}[/bold]", highlight=False)
    console.print(bres.summary(), highlight=False, markup=False, soft_wrap=True)
    line = _ratio_line(bres)
    if line:
        console.print(line, highlight=False, markup=False, soft_wrap=True)
    if plot is not None:
        console.print(f"Posterior densities written to {plot}", highlight=False, markup=False)


def _ratio_line(bres) -> str | None:
    """Log-scale measures: mu and theta_new back on the ratio scale (medians, intervals)."""
    import math

    from sci_evidence.meta.transforms import log_scale_measures

    if (bres.measure or "").upper() not in log_scale_measures():
        return None
    mu, new = bres.mu, bres.theta_new
    return (
        f"Back-transformed ({bres.measure}, ratio scale): median {math.exp(mu.median):.4f} "
        f"[{math.exp(mu.ci_lb):.4f}, {math.exp(mu.ci_ub):.4f}]; new study "
        f"[{math.exp(new.ci_lb):.4f}, {math.exp(new.ci_ub):.4f}]"
    )


def _save_plot(bres, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sci_evidence.cli._common import save_figure

    fig = bres.plot()
    try:
        save_figure(fig, path, dpi=200, bbox_inches="tight")
    finally:
        plt.close(fig)


# ---- meta convert ------------------------------------------------------------------------

_convert_app = typer.Typer(add_completion=False)


@_convert_app.command("convert")
def convert(
    file: Path = typer.Argument(..., help="CSV file, one row per study arm.", show_default=False),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write the table here (CSV, atomically); default: stdout."
    ),
    method: str = typer.Option(
        "luo-wan",
        "--method",
        help="luo-wan (Luo mean, Wan/Shi SD; metafor's default), hozo, qe (quantile "
        "estimation, best of 5 distributions) or bc (Box-Cox).",
    ),
    min_col: str = typer.Option("min", "--min", help="Column: minimum."),
    q1_col: str = typer.Option("q1", "--q1", help="Column: first quartile."),
    median_col: str = typer.Option("median", "--median", help="Column: median."),
    q3_col: str = typer.Option("q3", "--q3", help="Column: third quartile."),
    max_col: str = typer.Option("max", "--max", help="Column: maximum."),
    n_col: str = typer.Option("n", "--n", help="Column: sample size."),
    mean_col: str = typer.Option(
        "mean", "--mean-column", help="Column of the means (filled where empty, else kept)."
    ),
    sd_col: str = typer.Option(
        "sd", "--sd-column", help="Column of the SDs (filled where empty, else kept)."
    ),
) -> None:
    """Estimate means and SDs from medians with ranges and/or quartiles.

    Adds the columns MEAN/SD (where not reported), mean_sd_method (the method, or "reported")
    and mean_sd_note (its assumption). Rows with a median give min+max (S1), q1+q3 (S2) or all
    four (S3). Example: sci-evidence meta convert arms.csv -o arms_with_means.csv --method qe
    """
    import csv
    import io

    from sci_evidence.cli._meta_input import _read_csv
    from sci_evidence.meta.fivenum import fivenum_to_mean_sd_frame
    from sci_evidence.outputs import atomic_write, check_output_path, csv_safe_cell

    if output is not None:
        output = check_output_path(output, suffixes=(".csv",), what="output")
    df = _read_csv(file)
    cols = {"min": min_col, "q1": q1_col, "median": median_col, "q3": q3_col, "max": max_col}
    cols["n"] = n_col
    for key in ("median", "n"):
        if cols[key] not in df.columns:
            raise InputError(
                f"{key} column '{cols[key]}' not found; available: {', '.join(df.columns)}",
                file=str(file),
            )
    try:
        out = fivenum_to_mean_sd_frame(
            df, method=method, columns=cols, mean_column=mean_col, sd_column=sd_col
        )
    except InputError as exc:
        raise exc.with_file(str(file)) from None
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([csv_safe_cell(str(c)) for c in out.columns])
    for row in out.itertuples(index=False):
        writer.writerow(["" if _is_missing(v) else csv_safe_cell(v) for v in row])
    if output is None:
        typer.echo(buf.getvalue(), nl=False)
        return
    with atomic_write(output, "w", newline="") as fh:
        fh.write(buf.getvalue())
    n_est = int((out["mean_sd_method"] != "reported").sum())
    typer.echo(f"{n_est} row(s) estimated ({method}); written to {output}", err=True)


def _is_missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and v != v)
