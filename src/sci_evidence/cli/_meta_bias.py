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
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from sci_evidence.errors import InputError, SciEvidenceError

__all__ = ["run_bias_options"]

_GOSH_METHODS = ("EE", "DL", "ML", "REML")
_PLOT_SUFFIXES = (".png", ".pdf", ".svg", ".jpg", ".jpeg", ".tif", ".tiff", ".eps", ".ps")


@contextmanager
def _progress(console: Console, description: str) -> Iterator[Callable[[int, int], None]]:
    """A transient progress bar; yields the ``progress(done, total)`` callback."""
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
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


def _try(console: Console, name: str, fn: Callable[[], Any]) -> Any:
    """Run one analysis; a user-level reason it cannot run is printed, not raised."""
    try:
        return fn()
    except SciEvidenceError as exc:
        _print(console, f"{name}: not available ({exc})")
        return None


def _bias_report(res: Any, console: Console) -> None:
    from sci_evidence.meta.bias import egger_test, fail_safe_n, pet_peese, rank_test
    from sci_evidence.meta.influence import influence_result, leave_one_out_result
    from sci_evidence.meta.trimfill import trim_and_fill

    int_only = res.p == 1
    _section(console, "Small-study effects and publication bias")
    for model in ("rma", "lm"):
        r = _try(console, f"Egger test ({model})", lambda m=model: egger_test(res, m))
        if r is not None:
            _print(console, r.summary())
    r = _try(console, "Rank correlation test", lambda: rank_test(res))
    if r is not None:
        _print(console, r.summary())
    if int_only:
        r = _try(console, "PET-PEESE", lambda: pet_peese(res))
        if r is not None:
            _print(console, r.summary())
        r = _try(console, "Trim-and-fill", lambda: trim_and_fill(res))
        if r is not None:
            _print(console, r.summary())
            if r.k0 > 0:
                _print(
                    console,
                    "  filled studies:\n" + r.filled.to_string(float_format="{:.4f}".format),
                )
    else:
        _print(console, "PET-PEESE and trim-and-fill: only for models without moderators")
    for kind in ("Rosenthal", "Orwin"):
        r = _try(console, f"Fail-safe N ({kind})", lambda t=kind: fail_safe_n(res, t))
        if r is not None:
            _print(console, r.summary())

    _section(console, "Influence and sensitivity")
    if int_only:
        with _progress(console, "leave-one-out") as cb:
            loo = _try(console, "Leave-one-out", lambda: leave_one_out_result(res, progress=cb))
        if loo is not None:
            _print(console, loo.summary())
    with _progress(console, "influence diagnostics") as cb:
        inf = _try(console, "Influence diagnostics", lambda: influence_result(res, progress=cb))
    if inf is not None:
        _print(console, inf.summary())


def _check_plot_path(path: Path) -> Path:
    path = Path(path)
    if path.suffix.lower() not in _PLOT_SUFFIXES:
        raise InputError(
            "the GOSH plot file must end in " + ", ".join(_PLOT_SUFFIXES),
            column="--gosh",
            value=str(path),
        )
    if not path.parent.exists():
        raise InputError(
            "the folder of the GOSH plot does not exist", column="--gosh", value=str(path)
        )
    return path


def _gosh_report(res: Any, path: Path, console: Console) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from sci_evidence.meta.gosh import MAX_EXHAUSTIVE_K, gosh

    method = res.method if res.method in _GOSH_METHODS else "DL"
    if method != res.method:
        _print(
            console, f"GOSH: {res.method} has no vectorised kernel; the subsets are fitted with DL"
        )
    n = 2**res.k - 1 if res.k <= MAX_EXHAUSTIVE_K else None
    what = f"{n:,} subsets" if n else "1,000,000 random subsets"
    with _progress(console, f"GOSH ({what}, {method})") as cb:
        g = gosh(res, method=method, progress=cb)
    _section(console, "GOSH")
    _print(console, g.summary())
    # highlight the study whose presence moves the estimate most
    study = None
    if g.k > 2:
        si = g.study_influence()
        shift = (si["estimate_with"] - si["estimate_without"]).abs().to_numpy()
        if np.isfinite(shift).any():
            study = int(np.nanargmax(shift))  # by position: labels may repeat
            row = si.iloc[study]
            _print(
                console,
                f"  study moving the subset estimates most: {si.index[study]} "
                f"(mean with {row['estimate_with']:.4f}, without {row['estimate_without']:.4f})",
            )
    fig = g.plot(study=study)
    try:
        fig.savefig(path, dpi=150)
    except (OSError, ValueError) as exc:
        raise InputError(
            f"cannot write the GOSH plot: {exc}", column="--gosh", value=str(path)
        ) from None
    _print(console, f"GOSH plot written to {path}")


def _permutation_report(res: Any, n: int, console: Console) -> None:
    from sci_evidence.meta.permutation import permutation_test

    with _progress(console, f"permutation test ({n:,})") as cb:
        pt = permutation_test(res, iterations=n, progress=cb)
    _section(console, "Permutation test")
    _print(console, pt.summary())
    if pt.n_failed:
        _print(console, f"  {pt.n_failed} permuted fits failed and were left out")


def run_bias_options(
    res: Any,
    *,
    bias: bool,
    gosh_path: str | Path | None,
    permutations: int | None,
    console: Console,
) -> None:
    """Run what ``--bias``, ``--gosh FILE`` and ``--permutations N`` ask for and print it.

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
    path = _check_plot_path(Path(gosh_path)) if gosh_path is not None else None
    try:
        if bias:
            _bias_report(res, console)
        if path is not None:
            _gosh_report(res, path, console)
        if permutations is not None:
            _permutation_report(res, int(permutations), console)
    except KeyboardInterrupt:
        console.print("\nInterrupted: stopped cleanly.", highlight=False, markup=False)
        # SystemExit, not typer.Exit: click (standalone_mode=False) turns Exit into a return
        # value and the process would end with 0
        raise SystemExit(130) from None
