"""How `sci-evidence review` scales: time and peak memory at 1x, 10x and 100x the bundled
evidence base, as ratios to the 1x run measured in the same run of this script; and the 1x
review cold (a fresh `sci-evidence review` process, imports included).

Goals (issue 16): time grows at most linearly with the studies (the 100x review takes at most
100 times the 1x review, aim far lower), peak memory at 100x at most 500 MiB, the cold 1x
review at most 10 s on 2 cores.

Usage:
    python benchmarks/bench_review.py [--scales 1,10,100] [--figures svg] [--no-cold] [--metafor]

With --metafor, R/metafor fits the same 1x main analyses and draws their forest plots in the
same formats (the closest reference for the same work), timed beside our 1x run.

Each scale runs in its own process (`--child`), which reports the review's wall time
(computing, then writing the report with figures drawn in worker processes as the CLI does),
its CPU time and the peak resident memory of the main process and of the largest figure
worker. The larger bases come from benchmarks/scaled_evidence.py. Nothing is written outside a
temporary directory.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent

R_SCRIPT = r"""
suppressMessages({library(metafor); library(jsonlite)})
args <- commandArgs(TRUE); res <- fromJSON(args[1], simplifyVector = FALSE); out <- args[2]
devs <- strsplit(args[3], ",")[[1]]
t <- system.time({
  for (a in res$analyses) {
    if (!is.null(a$parent)) next
    yi <- sapply(a$studies, function(s) s$yi); vi <- sapply(a$studies, function(s) s$vi)
    fit <- rma(yi, vi, method = a$method, slab = sapply(a$studies, function(s) s$label))
    for (dev in devs) {
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


def child(scale: int, out: Path, figures: str) -> dict:
    """One review at ``scale`` in this process; the measurements as a dict."""
    import resource

    sys.path.insert(0, str(HERE))
    from scaled_evidence import scaled_evidence

    from sci_evidence.evidence import load_evidence
    from sci_evidence.report.writer import FigureRenderer, write_review
    from sci_evidence.review.pipeline import run_review
    from sci_evidence.review.protocol import load_protocol

    cpu0 = time.process_time()
    t0 = time.perf_counter()
    # the workers are forked before the evidence is loaded, as the CLI does: each starts at
    # the size of the parent then; loading the evidence is not timed
    renderer = FigureRenderer.beside(out, formats=figures.split(","))
    try:
        load0, load_cpu0 = time.perf_counter(), time.process_time()
        ev = scaled_evidence(load_evidence(), scale)
        proto = load_protocol()
        t0 += time.perf_counter() - load0
        cpu0 += time.process_time() - load_cpu0
        result = run_review(ev, proto, on_analysis=renderer.submit_analysis)
        t1 = time.perf_counter()
        files = write_review(result, out, renderer=renderer)
    finally:
        renderer.close(cancel=True)
    t2 = time.perf_counter()
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "scale": scale,
        "studies": len(ev.studies),
        "pooled_rows": sum(a.k for a in result.analyses),
        "files": len(files),
        "compute_s": t1 - t0,
        "total_s": t2 - t0,
        "cpu_s": time.process_time() - cpu0 + kids.ru_utime + kids.ru_stime,
        "peak_main_mib": me.ru_maxrss / 1024,
        "peak_worker_mib": kids.ru_maxrss / 1024,
    }


def run_child(scale: int, tmp: Path, figures: str) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", str(scale), "--out", str(tmp / f"x{scale}"),
         "--figures", figures],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise SystemExit(f"review at {scale}x failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _children_cpu() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def cold(tmp: Path) -> tuple[float, float]:
    """Wall and CPU seconds of `sci-evidence review` at 1x in a fresh process (imports
    included; CPU of the command and its figure workers)."""
    c0 = _children_cpu()
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "sci_evidence", "review", "--out", str(tmp / "cold"), "--quiet"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise SystemExit(f"sci-evidence review failed:\n{proc.stderr[-2000:]}")
    return time.perf_counter() - t0, _children_cpu() - c0


def metafor(tmp: Path, figures: str, base: dict) -> None:
    """R/metafor on the 1x main analyses (fits and forest plots), beside our 1x total."""
    script = tmp / "bench.R"
    script.write_text(R_SCRIPT)
    (tmp / "r").mkdir()
    results = tmp / "x1" / "results.json"
    proc = subprocess.run(
        ["Rscript", str(script), str(results), str(tmp / "r"), figures],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        print(f"metafor reference failed: {proc.stderr.strip()[:300]}")
        return
    r_s = float(proc.stdout.strip().splitlines()[-1])
    n = sum(1 for e in json.loads(results.read_text())["analyses"] if e["parent"] is None)
    print(
        f"metafor 3.8-1: {n} main analyses fitted + forest plots ({figures}): {r_s:.2f} s; "
        f"our whole 1x review (every analysis, subgroup, diagnostic, figure, table, page): "
        f"{base['total_s']:.2f} s (ratio metafor/ours {r_s / base['total_s']:.2f})"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scales", default="1,10,100")
    ap.add_argument("--figures", default="svg", help="figure formats, as review --figures")
    ap.add_argument("--no-cold", action="store_true", help="skip the cold 1x CLI run")
    ap.add_argument("--metafor", action="store_true", help="time R/metafor beside the 1x run")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        print(json.dumps(child(args.child, args.out, args.figures)))
        return
    scales = [int(s) for s in args.scales.split(",")]
    if scales[0] != 1:
        scales = [1, *scales]
    tmp = Path(tempfile.mkdtemp(prefix="bench_review_"))
    try:
        print(f"cores: {os.cpu_count()}; load average at start: {os.getloadavg()}")
        if not args.no_cold:
            wall, cpu = cold(tmp)
            print(
                f"cold 1x `sci-evidence review` (fresh process): {wall:.2f} s wall, "
                f"{cpu:.2f} s CPU (command and figure workers)"
            )
        rows = [run_child(s, tmp, args.figures) for s in scales]
        base = rows[0]
        print(
            f"{'scale':>6} {'studies':>8} {'rows':>6} {'compute s':>10} {'total s':>8} "
            f"{'CPU s':>7} {'time ratio':>10} {'per-study':>9} {'CPU ratio':>9} {'main MiB':>9} "
            f"{'worker MiB':>10}"
        )
        for r in rows:
            ratio = r["total_s"] / base["total_s"]
            print(
                f"{r['scale']:>5}x {r['studies']:>8} {r['pooled_rows']:>6} "
                f"{r['compute_s']:>10.2f} {r['total_s']:>8.2f} {r['cpu_s']:>7.1f} "
                f"{ratio:>9.1f}x {ratio / r['scale']:>9.2f} "
                f"{r['cpu_s'] / base['cpu_s']:>8.1f}x {r['peak_main_mib']:>9.0f} "
                f"{r['peak_worker_mib']:>10.0f}"
            )
        if args.metafor and shutil.which("Rscript"):
            metafor(tmp, args.figures, base)
        print(f"load average at end: {os.getloadavg()}")
        print(
            "time ratio = total wall time / 1x total (goal at 100x: <= 100); per-study = time "
            "ratio / scale (<= 1 is linear or better); CPU ratio = CPU seconds (main process and "
            "figure workers) / 1x, the ratio that a busy machine disturbs least; memory goal at "
            "100x: <= 500 MiB"
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
