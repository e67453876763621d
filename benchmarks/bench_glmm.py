"""Time sci-evidence's pool_glmm() against metafor's rma.glmm() in one run.

Fits (the same data in both: the inputs of tests/data/metafor_glmm.json, handed to R as a
temporary JSON file), for k = 5, 14 and 50:

1. PLO, binomial-normal random-effects model (ML, nAGQ = 7);
2. OR, UM.FS (fixed study intercepts, ML, nAGQ = 7);
3. OR, CM.AL (approximate conditional, ML, nAGQ = 7);
4. OR, UM.RS (random study intercepts, ML, Laplace: nAGQ = 1 as metafor forces);
5. OR, CM.EL (exact conditional, non-central hypergeometric, ML, nAGQ = 7).

The fixture has no k = 50 case for UM.RS and CM.EL: those two fit the counts of
``or50_UM.FS_ML`` with the other model (the other OR models likewise use the counts of the
case named in the table).

Per-fit times are medians over repeats (R and Python alternating) of the *CPU time* (user + system) of each process —
``time.process_time`` here, ``proc.time()`` inside R around a loop of ``rma.glmm()`` calls —
so R's start-up is not counted and other load on a shared machine distorts the ratio less
than wall-clock time would. Both sides do all of rma.glmm's work: the equal-effects GLM,
the saturated GLM of the heterogeneity tests, and the mixed model. The estimates of the two
engines are printed side by side as a sanity check.

Run:  python benchmarks/bench_glmm.py [--repeats 3] [--skip-slow] [--only PLO,CM.AL]
(--skip-slow leaves out the fits that cost metafor seconds each: OR UM.FS with k = 50 (~30 s)
and CM.EL with k = 50; --only keeps the rows whose label contains one of the given words.)
metafor's slow fits run once per repeat, so the whole run stays within a few minutes.
Needs R with metafor and lme4 (``Rscript``); without it only our times print.
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

from sci_evidence.meta import pool_glmm

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "data" / "metafor_glmm.json"

R_SCRIPT = r"""
suppressMessages({library(metafor); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
jobs <- fromJSON(args[1], simplifyVector = FALSE); reps <- as.integer(args[2])
out <- list()
for (job in jobs) {
  a <- c(list(measure = job$measure, model = job$model, method = "ML"), lapply(job$inputs, unlist))
  n <- job$n_r
  res <- suppressWarnings(do.call(rma.glmm, a))  # warm-up, untimed (as on our side)
  times <- numeric(reps)
  for (r in seq_len(reps)) {
    t0 <- proc.time()
    for (i in seq_len(n)) res <- suppressWarnings(do.call(rma.glmm, a))
    t1 <- proc.time()
    times[r] <- ((t1[["user.self"]] + t1[["sys.self"]]) - (t0[["user.self"]] + t0[["sys.self"]])) / n
  }
  out[[job$name]] <- list(times = times, beta = as.numeric(res$beta[1]), tau2 = res$tau2)
}
cat(toJSON(list(results = out, metafor = as.character(packageVersion("metafor")),
                lme4 = as.character(packageVersion("lme4"))), auto_unbox = TRUE, digits = NA))
"""

JOBS = [
    # label, case in the fixture whose counts are fitted, model (None: the case's own),
    # fits of ours per repeat, fits of R's per repeat
    ("plo5_ML", "plo5_ML", None, 50, 3),
    ("plo14_ML", "plo14_ML", None, 50, 3),
    ("plo50_ML", "plo50_ML", None, 50, 3),
    ("or5_UM.FS_ML", "or5_UM.FS_ML", None, 20, 2),
    ("or14_UM.FS_ML", "or14_UM.FS_ML", None, 20, 1),
    ("or50_UM.FS_ML", "or50_UM.FS_ML", None, 10, 1),
    ("or5_CM.AL_ML", "or5_CM.AL_ML", None, 50, 3),
    ("or14_CM.AL_ML", "or14_CM.AL_ML", None, 50, 3),
    ("or50_CM.AL_ML", "or50_CM.AL_ML", None, 50, 3),
    ("or5_UM.RS_ML", "or5_UM.RS_ML", None, 10, 2),
    ("or14_UM.RS_ML", "or14_UM.RS_ML", None, 10, 2),
    ("or50_UM.RS_ML", "or50_UM.FS_ML", "UM.RS", 5, 1),
    ("or5_CM.EL_ML", "or5_CM.EL_ML", None, 20, 1),
    ("or14_CM.EL_ML", "or14_CM.EL_ML", None, 20, 1),
    ("or50_CM.EL_ML", "or50_UM.FS_ML", "CM.EL", 5, 1),
]
SLOW = {"or50_UM.FS_ML", "or50_CM.EL_ML"}


def _case(name: str, model: str | None = None) -> dict:
    with open(FIXTURE, encoding="utf-8") as fh:
        cases = {c["name"]: c for c in json.load(fh)["cases"]}
    case = dict(cases[name])
    if model is not None:
        case["model"] = model
    return case


def time_ours(case: dict, n: int, repeats: int) -> tuple[list[float], object]:
    kw = {k: np.asarray(v, dtype=float) for k, v in case["inputs"].items()}
    fit = lambda: pool_glmm(measure=case["measure"], model=case["model"], method="ML", **kw)  # noqa: E731
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = fit()
        times = []
        for _ in range(repeats):
            t0 = time.process_time()
            for _ in range(n):
                res = fit()
            times.append((time.process_time() - t0) / n)
    return times, res


def time_r(jobs: list[dict], repeats: int) -> dict | None:
    if shutil.which("Rscript") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "bench.R"
        script.write_text(R_SCRIPT, encoding="utf-8")
        data = Path(tmp) / "jobs.json"
        data.write_text(json.dumps(jobs), encoding="utf-8")
        out = subprocess.run(
            ["Rscript", str(script), str(data), str(repeats)],
            capture_output=True,
            text=True,
            check=True,
            timeout=900,
        )
    return json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument(
        "--skip-slow", action="store_true", help="leave out OR UM.FS and CM.EL with k = 50"
    )
    ap.add_argument(
        "--only", default="", help="comma-separated words; keep rows whose label has one"
    )
    args = ap.parse_args()
    words = [w for w in args.only.split(",") if w]
    jobs = [
        (label, n, n_r)
        for label, _, _, n, n_r in JOBS
        if not (args.skip_slow and label in SLOW)
        and (not words or any(w.lower() in label.lower() for w in words))
    ]
    cases = {label: _case(src, model) for label, src, model, _, _ in JOBS}
    r_jobs = [
        {
            "name": name,
            "measure": cases[name]["measure"],
            "model": cases[name]["model"],
            "inputs": cases[name]["inputs"],
            "n_r": n_r,
        }
        for name, _, n_r in jobs
    ]
    # R and Python alternate, one repeat of each at a time, so that a change in the load of
    # a shared machine falls on both sides of the ratio alike
    r_times: dict[str, list[float]] = {name: [] for name, _, _ in jobs}
    our_times: dict[str, list[float]] = {name: [] for name, _, _ in jobs}
    results: dict[str, object] = {}
    r = None
    for _ in range(args.repeats):
        r = time_r(r_jobs, 1)
        for name, n, _ in jobs:
            if r is not None:
                t = r["results"][name]["times"]  # a scalar in R's JSON for one repeat
                r_times[name] += t if isinstance(t, list) else [t]
            times, results[name] = time_ours(cases[name], n, 1)
            our_times[name] += times
    if r is not None:
        print(f"metafor {r['metafor']}, lme4 {r['lme4']} (rma.glmm) vs sci-evidence pool_glmm")
    print(
        f"{'fit':<16} {'k':>3} {'ours ms':>9} {'metafor ms':>11} {'ratio':>7}   "
        "estimate (ours / metafor)   tau2 (ours / metafor)"
    )
    for name, _, _ in jobs:
        case = cases[name]
        res = results[name]
        ours = statistics.median(our_times[name]) * 1000
        k = len(next(iter(case["inputs"].values())))
        line = f"{name:<16} {k:>3} {ours:>9.2f}"
        if r is not None:
            rr = r["results"][name]
            theirs = statistics.median(r_times[name]) * 1000
            line += (
                f" {theirs:>11.1f} {theirs / ours:>6.0f}x   "
                f"{res.estimate:.6f} / {rr['beta']:.6f}   {res.tau2:.6f} / {rr['tau2']:.6f}"
            )
        print(line, flush=True)


if __name__ == "__main__":
    main()
