"""Time sci-evidence's pool()/fit_design() against metafor's rma() in one run.

Fits (the same data in both, generated here and handed to R through a temporary CSV):

1. REML random-effects model, k = 22, repeated N times;
2. REML meta-regression with two continuous moderators, k = 22, repeated N times.

Per-fit times are medians over repeats of the *CPU time* (user + system) of each process —
``time.process_time`` here, ``proc.time()`` user.self + sys.self inside R around a loop of
``rma()`` calls — so R's start-up is not counted and other load on a shared machine distorts
the ratio less than wall-clock time would.
The estimates of the two engines are printed side by side as a sanity check.

Run:  python benchmarks/bench_pool.py [--n 2000] [--repeats 5]
Needs R with metafor for the comparison (``Rscript``); without it only our times print.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from sci_evidence.meta import fit_design, pool

R_SCRIPT = r"""
suppressMessages(library(metafor))
args <- commandArgs(trailingOnly = TRUE)
dat <- read.csv(args[1]); n <- as.integer(args[2]); reps <- as.integer(args[3])
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
a <- time_it(function() rma(yi, vi, data = dat, method = "REML"))
b <- time_it(function() rma(yi, vi, mods = ~ x1 + x2, data = dat, method = "REML"))
cat(sprintf('{"reml": %s, "metareg": %s, "reml_est": %.12g, "reml_tau2": %.12g, "metareg_coef": [%s], "metareg_tau2": %.12g, "version": "%s"}\n',
    paste0("[", paste(sprintf("%.9g", a$times), collapse = ","), "]"),
    paste0("[", paste(sprintf("%.9g", b$times), collapse = ","), "]"),
    a$res$b[1], a$res$tau2, paste(sprintf("%.12g", b$res$b), collapse = ","), b$res$tau2,
    as.character(packageVersion("metafor"))))
"""


def make_data(k: int = 22, seed: int = 20240601):
    rng = np.random.default_rng(seed)
    vi = rng.uniform(0.01, 0.2, k)
    x1 = rng.normal(size=k)
    x2 = rng.uniform(0, 1, k)
    yi = 0.3 + 0.2 * x1 - 0.1 * x2 + rng.normal(0, np.sqrt(vi + 0.05))
    return yi, vi, x1, x2


def time_python(fn, n: int, reps: int) -> list[float]:
    out = []
    for _ in range(reps):
        t0 = time.process_time()  # CPU time of this process, as measured in R
        for _ in range(n):
            fn()
        out.append((time.process_time() - t0) / n)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="fits per repeat (default 2000)")
    ap.add_argument("--repeats", type=int, default=5, help="repeats; the median is reported")
    ap.add_argument("--r-n", type=int, default=200, help="fits per repeat in R (default 200)")
    args = ap.parse_args()

    yi, vi, x1, x2 = make_data()
    k = yi.size
    X = np.column_stack([np.ones(k), x1, x2])
    mods = {"x1": x1, "x2": x2}

    r_times = None
    if shutil.which("Rscript"):
        with tempfile.TemporaryDirectory() as tmp:
            csv = Path(tmp) / "dat.csv"
            script = Path(tmp) / "bench.R"
            lines = ["yi,vi,x1,x2"] + [
                f"{a:.17g},{b:.17g},{c:.17g},{d:.17g}"
                for a, b, c, d in zip(yi, vi, x1, x2, strict=True)
            ]
            csv.write_text("\n".join(lines) + "\n")
            script.write_text(R_SCRIPT)
            proc = subprocess.run(
                ["Rscript", str(script), str(csv), str(args.r_n), str(args.repeats)],
                capture_output=True,
                text=True,
                check=False,
            )
            if proc.returncode == 0:
                r_times = json.loads(proc.stdout.strip().splitlines()[-1])
            else:
                print("metafor run failed:", proc.stderr.strip()[:500])

    cases = [
        ("REML, k=22, pool()", lambda: pool(yi, vi, method="REML"), "reml"),
        ("REML, k=22, fit_design()", lambda: fit_design(yi, vi, X[:, :1], method="REML"), "reml"),
        ("REML meta-regression (2 moderators), pool()", lambda: pool(yi, vi, mods=mods), "metareg"),
        (
            "REML meta-regression (2 moderators), fit_design()",
            lambda: fit_design(yi, vi, X, method="REML"),
            "metareg",
        ),
    ]
    print(f"k = {k}; {args.n} fits x {args.repeats} repeats (median per fit)")
    if r_times:
        print(f"metafor {r_times['version']}: {args.r_n} fits x {args.repeats} repeats")
    print(f"{'fit':52s} {'sci-evidence':>14s} {'metafor':>12s} {'ratio':>8s}")
    for label, fn, key in cases:
        ours = statistics.median(time_python(fn, args.n, args.repeats))
        line = f"{label:52s} {ours * 1e6:11.1f} us"
        if r_times:
            theirs = statistics.median(r_times[key])
            line += f" {theirs * 1e3:9.2f} ms {theirs / ours:7.1f}x"
        print(line)

    a = pool(yi, vi)
    b = pool(yi, vi, mods=mods)
    print()
    print(f"REML estimate {a.estimate:.10f} tau2 {a.tau2:.10f}", end="")
    if r_times:
        print(f"   metafor {r_times['reml_est']:.10f} tau2 {r_times['reml_tau2']:.10f}", end="")
    print()
    print(f"meta-regression coef {np.array2string(b.beta, precision=8)} tau2 {b.tau2:.10f}", end="")
    if r_times:
        print(f"   metafor {r_times['metareg_coef']} tau2 {r_times['metareg_tau2']:.10f}", end="")
    print()
    print("(metafor stops REML at |change| < 1e-5 by default; ours iterates to 1e-10)")


if __name__ == "__main__":
    main()
