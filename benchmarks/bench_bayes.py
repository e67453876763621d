"""Time pool_bayes (a full posterior summary) against metafor's rma(method="REML") in one run.

For k = 5, 20 and 100 (the same data in both, generated here and handed to R through a
temporary CSV) this times

* ours: ``pool_bayes(yi, sei)`` with the default half-normal(0.5) prior and, as a heavier
  case, a half-Cauchy(0.5) prior — everything the result holds (median, mean, SD,
  equal-tailed and HPD intervals of mu, tau and theta_new, the density grids);
* metafor: ``rma(yi, vi, method="REML")`` (one frequentist fit, no profile or CI of tau²).

Per-call times are medians over repeats of the CPU time (user + system) of each process, so
R's start-up is not counted and other load on a shared machine distorts the ratio less than
wall-clock time would. R is timed twice, before and after ours, and its median is taken over
both runs, so that a change of load during the run does not favour either side. Goal (issue 14): ratio ours/metafor < 1 for every k.

Run:  python benchmarks/bench_bayes.py [--n 200] [--repeats 5]
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

from sci_evidence.meta.bayes import pool_bayes

R_SCRIPT = r"""
suppressMessages(library(metafor))
args <- commandArgs(trailingOnly = TRUE)
dat <- read.csv(args[1]); n <- as.integer(args[2]); reps <- as.integer(args[3])
out <- list()
for (k in sort(unique(dat$k))) {
  d <- dat[dat$k == k, ]
  times <- numeric(reps)
  for (r in seq_len(reps)) {
    t0 <- proc.time()
    for (i in seq_len(n)) res <- rma(d$yi, d$vi, method = "REML")
    t1 <- proc.time()
    times[r] <- ((t1[["user.self"]] + t1[["sys.self"]]) - (t0[["user.self"]] + t0[["sys.self"]])) / n
  }
  out[[length(out) + 1]] <- sprintf('"%d": [%s]', k, paste(sprintf("%.9g", times), collapse = ","))
}
cat(paste0("{", paste(unlist(out), collapse = ","), "}\n"))
"""

KS = (5, 20, 100)


def make_data(seed: int = 20261207):
    rng = np.random.default_rng(seed)
    rows = []
    for k in KS:
        sei = rng.uniform(0.1, 0.45, k)
        yi = rng.normal(0.3, np.sqrt(0.04 + sei**2))
        rows += [(k, float(y), float(s * s)) for y, s in zip(yi, sei, strict=True)]
    return rows


def time_ours(yi, sei, prior, n, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.process_time()
        for _ in range(n):
            res = pool_bayes(yi, sei, tau_prior=prior)
        times.append((time.process_time() - t0) / n)
    return statistics.median(times), res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200, help="calls per timing (default 200)")
    ap.add_argument("--repeats", type=int, default=5, help="timings per case (default 5)")
    args = ap.parse_args()
    rows = make_data()
    r_runs: dict[int, list[float]] = {}
    have_r = shutil.which("Rscript") is not None

    def time_r() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            csv = Path(tmp) / "dat.csv"
            csv.write_text("k,yi,vi\n" + "".join(f"{k},{y!r},{v!r}\n" for k, y, v in rows))
            script = Path(tmp) / "bench.R"
            script.write_text(R_SCRIPT)
            out = subprocess.run(
                ["Rscript", str(script), str(csv), str(args.n), str(args.repeats)],
                capture_output=True,
                text=True,
                check=True,
            )
            for k, v in json.loads(out.stdout).items():
                r_runs.setdefault(int(k), []).extend(v)

    if have_r:
        time_r()
    ours_times = {}
    for k in KS:
        yi = np.array([y for kk, y, _ in rows if kk == k])
        sei = np.sqrt([v for kk, _, v in rows if kk == k])
        for prior in ("halfnormal:0.5", "halfcauchy:0.5"):
            ours_times[k, prior] = time_ours(yi, sei, prior, args.n, args.repeats)[0]
    if have_r:
        time_r()
    r_times = {k: statistics.median(v) for k, v in r_runs.items()}
    print(f"{'k':>4} {'prior':>15} {'ours ms':>9} {'metafor ms':>11} {'ratio':>7}")
    for k in KS:
        for prior in ("halfnormal:0.5", "halfcauchy:0.5"):
            ours = ours_times[k, prior]
            ref = r_times.get(k)
            ratio = f"{ours / ref:7.2f}" if ref else "    n/a"
            ref_txt = f"{1000 * ref:11.3f}" if ref else "        n/a"
            print(f"{k:>4} {prior:>15} {1000 * ours:9.3f} {ref_txt} {ratio}")


if __name__ == "__main__":
    main()
