"""Time `sci-evidence review` on the bundled evidence base (the issue's target: < 15 s on
2 cores), end to end as a user runs it, beside R/metafor fitting the same pooled analyses and
drawing their forest plots (PNG, SVG, PDF) — the closest reference for the same work.

Usage:
    python benchmarks/bench_review.py [--repeat 3] [--no-r]

Prints the wall time of each run of the command, the median, the in-process split (compute vs
writing), and the metafor time; writes nothing outside a temporary directory.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

R_SCRIPT = r"""
suppressMessages({library(metafor); library(jsonlite)})
args <- commandArgs(TRUE); res <- fromJSON(args[1], simplifyVector = FALSE); out <- args[2]
t <- system.time({
  for (a in res$analyses) {
    if (!is.null(a$parent)) next
    yi <- sapply(a$studies, function(s) s$yi); vi <- sapply(a$studies, function(s) s$vi)
    slab <- sapply(a$studies, function(s) s$label)
    fit <- rma(yi, vi, method = a$method, slab = slab)
    for (dev in c("png", "svg", "pdf")) {
      f <- file.path(out, paste0(a$id, ".", dev))
      if (dev == "png") png(f, width = 9, height = 6, units = "in", res = 150)
      if (dev == "svg") svg(f, width = 9, height = 6)
      if (dev == "pdf") pdf(f, width = 9, height = 6)
      forest(fit, addpred = TRUE, showweights = TRUE); dev.off()
    }
  }
})
cat(sprintf("%.3f\n", t[["elapsed"]]))
"""


def _children_cpu() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_cli(out: Path) -> tuple[float, float]:
    """Wall seconds and CPU seconds (the command and its figure workers) of one run."""
    c0 = _children_cpu()
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "sci_evidence", "review", "--out", str(out), "--quiet"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise SystemExit(f"sci-evidence review failed:\n{proc.stderr}")
    return time.perf_counter() - t0, _children_cpu() - c0


def in_process_split(out: Path) -> tuple[float, float]:
    from sci_evidence.evidence import load_evidence
    from sci_evidence.review.pipeline import run_review
    from sci_evidence.review.protocol import load_protocol

    ev, proto = load_evidence(), load_protocol()
    t0 = time.perf_counter()
    run_review(ev, proto, out, write=False)
    compute = time.perf_counter() - t0
    t0 = time.perf_counter()
    run_review(ev, proto, out)
    return compute, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-r", action="store_true", help="skip the metafor reference")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_review_"))
    try:
        print(f"cores: {os.cpu_count()}; load average: {os.getloadavg()}")
        runs = [run_cli(tmp / f"run{i}") for i in range(args.repeat)]
        for i, (wall, cpu) in enumerate(runs):
            print(f"sci-evidence review, run {i + 1}: {wall:.2f} s wall, {cpu:.2f} s CPU")
        walls = [w for w, _ in runs]
        cpus = [c for _, c in runs]
        print(
            f"sci-evidence review, median of {len(runs)}: {statistics.median(walls):.2f} s wall, "
            f"{statistics.median(cpus):.2f} s CPU (on an idle {os.cpu_count()}-core machine the "
            "wall time is about the CPU time divided by the cores used by the figure workers)"
        )
        compute, total = in_process_split(tmp / "split")
        print(f"in process: compute {compute:.2f} s; compute + figures + report {total:.2f} s")
        if not args.no_r and shutil.which("Rscript"):
            script = tmp / "bench.R"
            script.write_text(R_SCRIPT)
            r_out = tmp / "r"
            r_out.mkdir()
            t0 = time.perf_counter()
            proc = subprocess.run(
                ["Rscript", str(script), str(tmp / "run0" / "results.json"), str(r_out)],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            wall = time.perf_counter() - t0
            if proc.returncode == 0:
                n = sum(1 for e in json.loads((tmp / "run0" / "results.json").read_text())[
                    "analyses"] if e["parent"] is None)  # fmt: skip
                print(
                    f"metafor 3.8-1 (Rscript): {n} main analyses fitted + forest plots in 3 "
                    f"formats: {float(proc.stdout.strip()):.2f} s inside R, {wall:.2f} s with "
                    "R start-up (no subgroups, natural history, funnel plots, tables or report)"
                )
            else:
                print(f"metafor reference failed: {proc.stderr.strip()[:300]}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
