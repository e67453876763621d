"""Time sci-evidence's effect sizes and Mantel-Haenszel/Peto fits against metafor, in one run.

Tasks (the same data in both engines, generated here and handed to R through a CSV):

1. ``effect_sizes("SMD", ...)`` vs ``escalc("SMD", ...)``, k = 22;
2. ``effect_sizes("RR", ...)`` vs ``escalc("RR", ...)`` with zero cells, k = 22;
3. ``pool_mh(measure="OR")`` vs ``rma.mh(measure="OR")``, k = 22 sparse tables;
4. ``pool_peto`` vs ``rma.peto``, k = 22 sparse tables.

Per-call times are medians over repeats of a loop of N calls; metafor is timed inside R
(``proc.time`` around the loop), so R's start-up is not counted. Estimates are printed side by
side as a sanity check.

Run:  python benchmarks/bench_effects.py [--n 500] [--repeats 5]
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
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from sci_evidence.meta import effect_sizes, pool_mh, pool_peto

R_SCRIPT = r"""
suppressMessages(library(metafor))
args <- commandArgs(trailingOnly = TRUE)
dat <- read.csv(args[1]); n <- as.integer(args[2]); reps <- as.integer(args[3])
time_it <- function(f) {
  out <- numeric(reps)
  for (r in seq_len(reps)) {
    t0 <- proc.time()[["elapsed"]]
    for (i in seq_len(n)) res <- f()
    out[r] <- (proc.time()[["elapsed"]] - t0) / n
  }
  list(times = out, res = res)
}
smd <- time_it(function() escalc("SMD", m1i=m1, sd1i=sd1, n1i=n1, m2i=m2, sd2i=sd2, n2i=n2, data=dat))
rr <- time_it(function() escalc("RR", ai=ai, bi=bi, ci=ci, di=di, data=dat))
mh <- time_it(function() rma.mh(measure="OR", ai=ai, bi=bi, ci=ci, di=di, data=dat))
pe <- time_it(function() rma.peto(ai=ai, bi=bi, ci=ci, di=di, data=dat))
fmt <- function(x) paste0("[", paste(sprintf("%.9g", x$times), collapse = ","), "]")
cat(sprintf('{"smd": %s, "rr": %s, "mh": %s, "peto": %s, "smd_y1": %.12g, "rr_y1": %.12g, "mh_est": %.12g, "peto_est": %.12g, "version": "%s"}\n',
    fmt(smd), fmt(rr), fmt(mh), fmt(pe), smd$res$yi[1], rr$res$yi[1], mh$res$beta[1],
    pe$res$beta[1], as.character(packageVersion("metafor"))))
"""


def make_data(k: int = 22, seed: int = 20240601) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n1 = rng.integers(20, 200, k)
    n2 = rng.integers(20, 200, k)
    ai = rng.binomial(n1, 0.03)
    ci = rng.binomial(n2, 0.06)
    return pd.DataFrame(
        {
            "ai": ai,
            "bi": n1 - ai,
            "ci": ci,
            "di": n2 - ci,
            "m1": rng.normal(30, 5, k),
            "m2": rng.normal(25, 5, k),
            "sd1": rng.uniform(8, 15, k),
            "sd2": rng.uniform(8, 15, k),
            "n1": n1,
            "n2": n2,
        }
    )


def time_py(f, n: int, repeats: int) -> tuple[list[float], object]:
    out = []
    res = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(n):
            res = f()
        out.append((time.perf_counter() - t0) / n)
    return out, res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=500, help="calls per timed loop")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    d = make_data()
    a, b, c, dd = (d[x].to_numpy() for x in ("ai", "bi", "ci", "di"))
    smd_cols = {
        k: d[v].to_numpy()
        for k, v in (
            ("m1i", "m1"),
            ("m2i", "m2"),
            ("sd1i", "sd1"),
            ("sd2i", "sd2"),
            ("n1i", "n1"),
            ("n2i", "n2"),
        )
    }
    warnings.simplefilter("ignore")
    tasks = {
        "smd": lambda: effect_sizes("SMD", **smd_cols),
        "rr": lambda: effect_sizes("RR", ai=a, bi=b, ci=c, di=dd),
        "mh": lambda: pool_mh(a, b, c, dd, measure="OR"),
        "peto": lambda: pool_peto(a, b, c, dd),
    }
    ours = {name: time_py(f, args.n, args.repeats) for name, f in tasks.items()}
    est = {
        "smd_y1": ours["smd"][1]["yi"][0],
        "rr_y1": ours["rr"][1]["yi"][0],
        "mh_est": ours["mh"][1].estimate,
        "peto_est": ours["peto"][1].estimate,
    }
    theirs = None
    if shutil.which("Rscript"):
        with tempfile.TemporaryDirectory() as tmp:
            csv = Path(tmp) / "d.csv"
            d.to_csv(csv, index=False)
            script = Path(tmp) / "b.R"
            script.write_text(R_SCRIPT)
            out = subprocess.run(
                ["Rscript", str(script), str(csv), str(args.n), str(args.repeats)],
                capture_output=True,
                text=True,
                check=True,
            )
            theirs = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"k = {len(d)}, {args.n} calls x {args.repeats} repeats; median time per call")
    header = f"{'task':<28}{'sci-evidence':>14}{'metafor':>14}{'ratio':>9}"
    print(header)
    labels = {
        "smd": "effect_sizes SMD / escalc",
        "rr": "effect_sizes RR / escalc",
        "mh": "pool_mh OR / rma.mh",
        "peto": "pool_peto / rma.peto",
    }
    for name, label in labels.items():
        t_ours = statistics.median(ours[name][0])
        line = f"{label:<28}{t_ours * 1e6:>11.1f} us"
        if theirs:
            t_r = statistics.median(theirs[name])
            line += f"{t_r * 1e6:>11.1f} us{t_r / t_ours:>8.1f}x"
        print(line)
    if theirs:
        print(f"\nmetafor {theirs['version']}; sanity check (ours vs metafor):")
        for key in est:
            print(f"  {key:<9} {est[key]: .12g}  {theirs[key]: .12g}")


if __name__ == "__main__":
    main()
