"""Time sci-evidence's pool()/fit_design() against metafor's rma() in one run.

For each number of studies k (default 5, 13, 50; the same data in both engines, generated
here and handed to R through a temporary CSV):

1. the REML random-effects model without moderators, ``pool(yi, vi)`` and
   ``fit_design(yi, vi, ones)`` against ``rma(yi, vi, method = "REML")``;
2. the same model on data whose REML tau² is 0 (the boundary: the residuals of ``yi`` about
   their inverse-variance weighted mean shrunk to 0.3 of their size, column ``y0``), where
   the fit must also rule out an interior maximum of the likelihood,
   ``pool(y0, vi)`` against ``rma(y0, vi, method = "REML")``;
3. the REML meta-regression with two continuous moderators, ``pool(yi, vi, mods=…)`` and
   ``fit_design(yi, vi, X)`` against ``rma(yi, vi, mods = ~ x1 + x2, method = "REML")``.

Per-fit times are medians over repeats of the *CPU time* (user + system) of each process —
``time.process_time`` here, ``proc.time()`` user.self + sys.self inside R around a loop of
``rma()`` calls — so R's start-up is not counted and other load on a shared machine distorts
the ratio less than wall-clock time would. The estimates of the two engines are printed side
by side as a sanity check, and ``--profile`` counts the Python function calls of one fit.

Run:  python benchmarks/bench_pool.py [--k 5,13,50] [--n 2000] [--repeats 5] [--seed S]
                                     [--profile]
Needs R with metafor for the comparison (``Rscript``); without it only our times print.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import shutil
import statistics
import subprocess
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np

from sci_evidence.meta import _lean_fit, fit_design, pool

R_SCRIPT = r"""
suppressMessages(library(metafor))
args <- commandArgs(trailingOnly = TRUE)
all <- read.csv(args[1]); n <- as.integer(args[2]); reps <- as.integer(args[3])
time_it <- function(f) {
  out <- numeric(reps)
  for (r in seq_len(reps)) {
    t0 <- proc.time()
    for (i in seq_len(n)) res <- f()
    t1 <- proc.time()
    # CPU time (user + system) of this process: robust to other load on the machine
    out[r] <- ((t1[["user.self"]] + t1[["sys.self"]]) - (t0[["user.self"]] + t0[["sys.self"]])) / n
  }
  list(times = out, res = res)
}
vec <- function(x, fmt) paste0("[", paste(sprintf(fmt, x), collapse = ","), "]")
parts <- character(0)
for (k in unique(all$k)) {
  dat <- all[all$k == k, ]
  a <- time_it(function() rma(yi, vi, data = dat, method = "REML"))
  z <- time_it(function() rma(y0, vi, data = dat, method = "REML"))
  b <- time_it(function() rma(yi, vi, mods = ~ x1 + x2, data = dat, method = "REML"))
  parts <- c(parts, sprintf(
    '"%d": {"reml": %s, "boundary": %s, "metareg": %s, "reml_est": %.12g, "reml_tau2": %.12g, "boundary_tau2": %.12g, "metareg_coef": %s, "metareg_tau2": %.12g}',
    k, vec(a$times, "%.9g"), vec(z$times, "%.9g"), vec(b$times, "%.9g"), a$res$b[1],
    a$res$tau2, z$res$tau2, vec(b$res$b, "%.12g"), b$res$tau2))
}
cat(sprintf('{"version": "%s", %s}\n', as.character(packageVersion("metafor")),
            paste(parts, collapse = ", ")))
"""


def make_data(k: int = 22, seed: int = 20240601):
    rng = np.random.default_rng(seed)
    vi = rng.uniform(0.01, 0.2, k)
    x1 = rng.normal(size=k)
    x2 = rng.uniform(0, 1, k)
    yi = 0.3 + 0.2 * x1 - 0.1 * x2 + rng.normal(0, np.sqrt(vi + 0.05))
    return yi, vi, x1, x2


def boundary_data(yi: np.ndarray, vi: np.ndarray) -> np.ndarray:
    """``yi`` with its residuals about the inverse-variance weighted mean shrunk to 0.3:
    too little spread for any tau² > 0 (checked in main: REML tau² must be 0)."""
    w = 1.0 / vi
    mu = float(w @ yi) / float(w.sum())
    return mu + 0.3 * (yi - mu)


def time_python(fn, n: int, reps: int) -> list[float]:
    out = []
    for _ in range(reps):
        t0 = time.process_time()  # CPU time of this process, as measured in R
        for _ in range(n):
            fn()
        out.append((time.process_time() - t0) / n)
    return out


def calls_per_fit(fn, n: int = 200) -> float:
    """Python-level function calls (cProfile's count, C functions included) of one fit."""
    fn()
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(n):
        fn()
    prof.disable()
    return pstats.Stats(prof).total_calls / n


def run_metafor(sets: dict, n: int, reps: int) -> dict | None:
    if not shutil.which("Rscript"):
        return None
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "dat.csv"
        script = Path(tmp) / "bench.R"
        lines = ["k,yi,vi,x1,x2,y0"]
        for k, (yi, vi, x1, x2) in sets.items():
            y0 = boundary_data(yi, vi)
            lines += [
                f"{k},{a:.17g},{b:.17g},{c:.17g},{d:.17g},{e:.17g}"
                for a, b, c, d, e in zip(yi, vi, x1, x2, y0, strict=True)
            ]
        csv.write_text("\n".join(lines) + "\n")
        script.write_text(R_SCRIPT)
        proc = subprocess.run(
            ["Rscript", str(script), str(csv), str(n), str(reps)],
            capture_output=True,
            text=True,
            check=False,
        )
    if proc.returncode != 0:
        print("metafor run failed:", proc.stderr.strip()[:500])
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--k", default="5,13,50", help="numbers of studies (default 5,13,50)")
    ap.add_argument("--n", type=int, default=2000, help="fits per repeat (default 2000)")
    ap.add_argument("--repeats", type=int, default=5, help="repeats; the median is reported")
    ap.add_argument("--r-n", type=int, default=200, help="fits per repeat in R (default 200)")
    ap.add_argument("--seed", type=int, default=20240601, help="seed of the generated data")
    ap.add_argument("--profile", action="store_true", help="also count Python calls per fit")
    args = ap.parse_args()

    ks = [int(x) for x in args.k.split(",")]
    sets = {k: make_data(k, args.seed) for k in ks}
    r_all = run_metafor(sets, args.r_n, args.repeats)

    print(f"{args.n} fits x {args.repeats} repeats per case here (median CPU time per fit)")
    print("tau2 iteration:", "compiled (_fit_kernel)" if _lean_fit._fit_kernel else "Python")
    if r_all:
        print(f"metafor {r_all['version']}: {args.r_n} fits x {args.repeats} repeats, same run")
    head = f"{'k':>3s}  {'fit':44s} {'sci-evidence':>13s} {'metafor':>11s} {'ratio':>8s}"
    if args.profile:
        head += f" {'calls/fit':>10s}"
    print(head)
    checks = []
    for k in ks:
        yi, vi, x1, x2 = sets[k]
        X = np.column_stack([np.ones(k), x1, x2])
        mods = {"x1": x1, "x2": x2}
        r = r_all[str(k)] if r_all else None
        one = X[:, :1]
        y0 = boundary_data(yi, vi)
        cases = [
            ("REML, no moderators, pool()", partial(pool, yi, vi, method="REML"), "reml"),
            ("REML, no moderators, fit_design()", partial(fit_design, yi, vi, one), "reml"),
            ("REML, no moderators, tau2 = 0, pool()", partial(pool, y0, vi), "boundary"),
            ("REML, 2 moderators, pool()", partial(pool, yi, vi, mods=mods), "metareg"),
            ("REML, 2 moderators, fit_design()", partial(fit_design, yi, vi, X), "metareg"),
        ]
        for label, fn, key in cases:
            ours = statistics.median(time_python(fn, args.n, args.repeats))
            line = f"{k:3d}  {label:44s} {ours * 1e6:10.1f} us"
            if r:
                theirs = statistics.median(r[key])
                line += f" {theirs * 1e3:8.2f} ms {theirs / ours:7.1f}x"
            if args.profile:
                line += f" {calls_per_fit(fn):10.0f}"
            print(line)
        a, b = pool(yi, vi), pool(yi, vi, mods=mods)
        msg = f"k={k}: REML estimate {a.estimate:.10f} tau2 {a.tau2:.10f}"
        if r:
            msg += f" (metafor {r['reml_est']:.10f}, {r['reml_tau2']:.10f})"
        z = pool(y0, vi).tau2
        msg += f"; boundary tau2 {z:.10f}"
        if r:
            msg += f" (metafor {r['boundary_tau2']:.10f})"
        if z != 0.0:
            msg += " NOT AT THE BOUNDARY"
        msg += f"; meta-regression tau2 {b.tau2:.10f}"
        if r:
            msg += f" (metafor {r['metareg_tau2']:.10f})"
        checks.append(msg)
    print()
    print("\n".join(checks))
    print("(metafor stops REML at |change| < 1e-5 by default; ours iterates to 1e-10)")


if __name__ == "__main__":
    main()
