"""The bias, sensitivity and robustness part of ``sci-evidence meta``: ``--bias``,
``--gosh FILE`` and ``--permutations N``.

The statistics live in :mod:`sci_evidence.meta` (bias, trimfill, influence, gosh,
permutation); this module only runs them, prints them and writes the GOSH figure. Long runs
(GOSH, permutation tests, refits per study) show a rich progress bar; Ctrl-C stops them
cleanly (pending chunks are cancelled, nothing half-written is left) with exit code 130.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from sci_evidence.cli._common import PLOT_SUFFIXES, check_output_path, err_console, save_figure
from sci_evidence.errors import InputError, SciEvidenceError

__all__ = ["run_bias_options"]

_GOSH_METHODS = ("EE", "DL", "ML", "REML")


@contextmanager
def _progress(console: Console, description: str) -> Iterator[Callable[[int, int], None]]:
    """A transient progress bar on standard error (stdout keeps the results alone), with
    the time elapsed and an estimate of the time left; yields the ``progress(done, total)``
    callback. ``console`` is where the results go; the bar uses it only if it is stderr."""
    bar_console = console if console.stderr else err_console
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("left"),
        TimeRemainingColumn(),
        console=bar_console,
        transient=True,
    ) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total or None)

        yield update


def _print(console: Console, text: str) -> None:
    console.print(text, highlight=False, markup=False, soft_wrap=True)


def _section(console: Console, title: str) -> None:
    console.print(f"\n[bold]{title}[/bold]", highlight=False)


class _Report:
    """Where the results go: printed as text, or collected as ``to_dict()`` for ``--json``
    (then nothing is printed; progress bars go to the console given, stderr)."""

    def __init__(self, console: Console, as_json: bool):
        self.console, self.as_json = console, as_json
        self.data: dict[str, Any] = {}

    def text(self, text: str) -> None:
        if not self.as_json:
            _print(self.console, text)

    def section(self, title: str) -> None:
        if not self.as_json:
            _section(self.console, title)

    def result(self, key: str, r: Any, target: dict[str, Any] | None = None) -> None:
        """Print ``r.summary()``, or store ``r.to_dict()`` under ``key``."""
        if self.as_json:
            (self.data if target is None else target)[key] = r.to_dict()
        else:
            _print(self.console, r.summary())

    def attempt(
        self, name: str, key: str, fn: Callable[[], Any], target: dict[str, Any] | None = None
    ) -> Any:
        """Run one analysis; a user-level reason it cannot run is reported, not raised."""
        try:
            return fn()
        except SciEvidenceError as exc:
            if self.as_json:
                (self.data if target is None else target)[key] = {"not_available": str(exc)}
            else:
                _print(self.console, f"{name}: not available ({exc})")
            return None


def _bias_report(res: Any, rep: _Report) -> None:
    from sci_evidence.meta.bias import egger_test, fail_safe_n, pet_peese, rank_test
    from sci_evidence.meta.influence import influence_result, leave_one_out_result
    from sci_evidence.meta.trimfill import trim_and_fill

    console = rep.console
    out: dict[str, Any] = {}
    rep.data["bias"] = out
    int_only = res.p == 1
    rep.section("Small-study effects and publication bias")
    for model in ("rma", "lm"):
        key = f"egger_{model}"
        r = rep.attempt(f"Egger test ({model})", key, lambda m=model: egger_test(res, m), out)
        if r is not None:
            rep.result(key, r, out)
    r = rep.attempt("Rank correlation test", "rank_test", lambda: rank_test(res), out)
    if r is not None:
        rep.result("rank_test", r, out)
    if int_only:
        r = rep.attempt("PET-PEESE", "pet_peese", lambda: pet_peese(res), out)
        if r is not None:
            rep.result("pet_peese", r, out)
        r = rep.attempt("Trim-and-fill", "trim_and_fill", lambda: trim_and_fill(res), out)
        if r is not None:
            rep.result("trim_and_fill", r, out)
            if r.k0 > 0:
                rep.text("  filled studies:\n" + r.filled.to_string(float_format="{:.4f}".format))
    else:
        rep.text("PET-PEESE and trim-and-fill: only for models without moderators")
        out["pet_peese"] = out["trim_and_fill"] = {
            "not_available": "only for models without moderators"
        }
    fsn: dict[str, Any] = {}
    out["fail_safe_n"] = fsn
    for kind in ("Rosenthal", "Orwin"):
        r = rep.attempt(f"Fail-safe N ({kind})", kind, lambda t=kind: fail_safe_n(res, t), fsn)
        if r is not None:
            rep.result(kind, r, fsn)

    rep.section("Influence and sensitivity")
    if int_only:
        with _progress(console, "leave-one-out") as cb:
            loo = rep.attempt(
                "Leave-one-out",
                "leave_one_out",
                lambda: leave_one_out_result(res, progress=cb),
                out,
            )
        if loo is not None:
            rep.result("leave_one_out", loo, out)
    else:
        out["leave_one_out"] = {"not_available": "only for models without moderators"}
    with _progress(console, "influence diagnostics") as cb:
        inf = rep.attempt(
            "Influence diagnostics", "influence", lambda: influence_result(res, progress=cb), out
        )
    if inf is not None:
        rep.result("influence", inf, out)


def _check_plot_path(path: Path) -> Path:
    """One line (exit 2) for an unusable GOSH plot path, before any work."""
    return check_output_path(path, suffixes=PLOT_SUFFIXES, what="GOSH plot (--gosh)")


def _gosh_report(
    res: Any,
    path: Path,
    rep: _Report,
    scheduler: str | None = None,
    seed: int | None = None,
    gosh_all: bool = False,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from sci_evidence.meta.gosh import MAX_EXHAUSTIVE_K, gosh
    from sci_evidence.meta.gosh_summary import gosh_summary

    console = rep.console
    method = res.method if res.method in _GOSH_METHODS else "DL"
    if method != res.method:
        rep.text(f"GOSH: {res.method} has no vectorised kernel; the subsets are fitted with DL")
    binned = gosh_all and res.k > MAX_EXHAUSTIVE_K
    n = 2**res.k - 1 if res.k <= MAX_EXHAUSTIVE_K or binned else None
    what = f"{n:,} subsets" if n else "1,000,000 random subsets"

    def run(client: Any = None) -> Any:
        if binned:  # every subset, kept as bins: 2^k fits would not fit in memory
            return gosh_summary(res, method=method, progress=cb, client=client)
        return gosh(res, method=method, progress=cb, seed=seed, client=client)

    with _progress(console, f"GOSH ({what}, {method})") as cb:
        if scheduler is None:
            g = run()
        else:  # the same chunks on a Dask cluster: the same numbers as a local run
            from sci_evidence.cluster import connect

            with connect(scheduler) as client:
                g = run(client)
    rep.section("GOSH")
    rep.result("gosh", g)
    # highlight the study whose presence moves the estimate most
    study = None
    if g.k > 2:
        si = g.study_influence()
        shift = (si["estimate_with"] - si["estimate_without"]).abs().to_numpy()
        if np.isfinite(shift).any():
            study = int(np.nanargmax(shift))  # by position: labels may repeat
            row = si.iloc[study]
            rep.text(
                f"  study moving the subset estimates most: {si.index[study]} "
                f"(mean with {row['estimate_with']:.4f}, without {row['estimate_without']:.4f})",
            )
    fig = g.plot() if binned else g.plot(study=study)
    try:
        save_figure(fig, path, dpi=150)
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)
    rep.text(f"GOSH plot written to {path}")
    if rep.as_json:
        rep.data["gosh"]["plot"] = str(path)


def _permutation_report(
    res: Any, n: int, rep: _Report, scheduler: str | None = None, seed: int | None = None
) -> None:
    from sci_evidence.meta.permutation import permutation_test

    with _progress(rep.console, f"permutation test ({n:,})") as cb:
        if scheduler is None:
            pt = permutation_test(res, iterations=n, progress=cb, seed=seed)
        else:  # the same batches on a Dask cluster: the same p-values as a local run
            from sci_evidence.cluster import connect

            with connect(scheduler) as client:
                pt = permutation_test(res, iterations=n, progress=cb, seed=seed, client=client)
    rep.section("Permutation test")
    rep.result("permutation_test", pt)
    if pt.n_failed:
        rep.text(f"  {pt.n_failed} permuted fits failed and were left out")


def run_bias_options(
    res: Any,
    *,
    bias: bool,
    gosh_path: str | Path | None,
    permutations: int | None,
    console: Console,
    as_json: bool = False,
    scheduler: str | None = None,
    seed: int | None = None,
    gosh_all: bool = False,
) -> dict[str, Any] | None:
    """Run what ``--bias``, ``--gosh FILE`` and ``--permutations N`` ask for and print it
    (or, with ``as_json``, return it).

    Parameters
    ----------
    res : PoolResult
        The model fitted by ``sci-evidence meta``.
    bias : bool
        Print Egger's tests (mixed-effects and classical), the rank test, PET-PEESE,
        trim-and-fill, fail-safe N, leave-one-out and influence diagnostics.
    gosh_path : str or Path, optional
        Fit every subset (k <= 24; else 1,000,000 random ones) and save the GOSH plot here.
    permutations : int, optional
        Run a permutation test with this many permutations (exact when there are fewer
        distinct permutations).
    console : rich.console.Console
        Where the text goes; with ``as_json`` only the progress bars (give stderr).
    as_json : bool, default False
        Print nothing; return the results as JSON-safe dicts (``to_dict()`` of each
        analysis) under the keys ``"bias"`` (``egger_rma``, ``egger_lm``, ``rank_test``,
        ``pet_peese``, ``trim_and_fill``, ``fail_safe_n`` {``Rosenthal``, ``Orwin``},
        ``leave_one_out``, ``influence``; an analysis that cannot run holds
        ``{"not_available": reason}``), ``"gosh"`` (with ``"plot"``, the file written) and
        ``"permutation_test"``.
    scheduler : str, optional
        Address of a Dask scheduler: the GOSH fits and the permutation refits run on that
        cluster.
    seed : int, optional
        Seed of the random permutations and of the random GOSH subsets (k > 24); default
        drawn from the operating system (and reported).
    gosh_all : bool, default False
        With k > 24, fit every subset for GOSH and keep binned counts
        (:func:`~sci_evidence.meta.gosh_summary.gosh_summary`) instead of a random sample.

    Returns
    -------
    dict or None
        The results with ``as_json``, else None.

    Raises
    ------
    InputError
        Bad option values (the CLI prints one line and exits 2).
    SystemExit
        Code 130 after Ctrl-C.
    """
    if permutations is not None and permutations < 2:
        raise InputError(
            "--permutations must be at least 2", column="--permutations", value=permutations
        )
    if seed is not None and seed < 0:
        raise InputError("--seed must be an integer >= 0", column="--seed", value=seed)
    path = _check_plot_path(Path(gosh_path)) if gosh_path is not None else None
    rep = _Report(console, as_json)
    try:
        if bias:
            _bias_report(res, rep)
        if path is not None:
            _gosh_report(res, path, rep, scheduler, seed, gosh_all)
        if permutations is not None:
            _permutation_report(res, int(permutations), rep, scheduler, seed)
    except KeyboardInterrupt:
        console.print("\nInterrupted: stopped cleanly.", highlight=False, markup=False)
        # SystemExit, not typer.Exit: click (standalone_mode=False) turns Exit into a return
        # value and the process would end with 0
        raise SystemExit(130) from None
    return rep.data if as_json else None
