"""GOSH at scale: sci-evidence's vectorised ``gosh()`` against metafor's ``gosh()``, in one run.

1. Our ``gosh(res)`` with DL over all 2^20 - 1 = 1,048,575 subsets of a k = 20 data set
   (best of ``--repeats`` runs after one warm-up; goal: at most 1 s on 2 cores).
2. Our ``gosh`` and metafor's ``gosh(res, progbar=FALSE)`` over all 2^18 - 1 = 262,143
   subsets of the first 18 studies (same data, handed to R through a CSV; metafor is timed
   inside R with ``proc.time``, so R's start-up is not counted; metafor's DL path is its
   fastest, closed-form one). Both per-subset times and their ratio are printed (goal: at
   least 100 times faster per subset). The estimates, tau2 and I2 of every subset are
   compared as a check that both computed the same thing.
3. The compiled limit (``--limit``, default k = 20 22 24): ``gosh_limit.c``, a minimal fused
   C loop doing only the arithmetic of DL GOSH (built here with gcc -O3 -fopenmp, called
   through ctypes on all cores), beside our ``gosh`` with the compiled kernel and with the
   numpy fallback, interleaved in one run; medians of ``--repeats`` runs and the ratio
   ours / limit are printed (goal: at most 2). The limit's numbers are checked against ours.
4. REML GOSH (``--reml-k``, default 16): compiled kernel and numpy fallback, each on 1 and
   on all threads (medians of ``--repeats``): the speed-up of the second core, and CPU time
   over wall time of the threaded run (above 1: several cores computed at once; on a
   loaded machine the speed-up is capped by the cores the others leave free).
5. ``--k24``: peak memory (max RSS) of a k = 24 run (16,777,215 subsets) in a child process
   (goal: under 2 GB).

Run:  python benchmarks/bench_gosh.py [--repeats 5] [--k24] [--no-r] [--limit 20 22 24]
"""

from __future__ import annotations

import argparse
import ctypes
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from sci_evidence.meta import gosh, pool

R_SCRIPT = r"""
suppressMessages(library(metafor))
args <- commandArgs(trailingOnly = TRUE)
dat <- read.csv(args[1])
res <- rma(yi, vi, data = dat, method = "DL")
t0 <- proc.time()[["elapsed"]]
g <- gosh(res, progbar = FALSE)
elapsed <- proc.time()[["elapsed"]] - t0
mask <- as.numeric(as.matrix(g$incl) %*% 2^(seq_len(ncol(g$incl)) - 1))
write.csv(data.frame(mask = mask, estimate = g$res$estimate, tau2 = g$res$tau2, I2 = g$res$I2),
          args[2], row.names = FALSE)
cat(sprintf("%.6f\n", elapsed))
"""


def make_data(k: int, seed: int = 2024) -> tuple[np.ndarray, np.ndarray]:
    """A heterogeneous data set like small MSC trials: log odds ratios, vi 0.02-0.6."""
    rng = np.random.default_rng(seed)
    vi = rng.uniform(0.02, 0.6, k)
    yi = rng.normal(-0.4, np.sqrt(vi + 0.15))
    return yi, vi


def best_time(fn, repeats: int) -> tuple[float, object]:
    out = fn()  # warm-up (page faults, thread pool, numpy dispatch)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def run_r(yi: np.ndarray, vi: np.ndarray) -> tuple[float, pd.DataFrame] | None:
    if shutil.which("Rscript") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "d.csv"
        out = Path(tmp) / "g.csv"
        script = Path(tmp) / "g.R"
        pd.DataFrame({"yi": yi, "vi": vi}).to_csv(data, index=False)
        script.write_text(R_SCRIPT)
        proc = subprocess.run(
            ["Rscript", str(script), str(data), str(out)], capture_output=True, text=True
        )
        if proc.returncode != 0:
            print("metafor run failed:", proc.stderr.strip().splitlines()[-1:])
            return None
        return float(proc.stdout.strip().splitlines()[-1]), pd.read_csv(out)


def build_limit() -> ctypes.CDLL | None:
    """Compile gosh_limit.c (gcc -O3 -fopenmp) into a temporary shared library."""
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        return None
    src = Path(__file__).with_name("gosh_limit.c")
    out = Path(tempfile.mkdtemp()) / "gosh_limit.so"
    subprocess.run(
        [gcc, "-O3", "-fopenmp", "-shared", "-fPIC", "-o", str(out), str(src)], check=True
    )
    lib = ctypes.CDLL(str(out))
    dp = ctypes.POINTER(ctypes.c_double)
    lib.gosh_dl_limit.argtypes = [dp] * 6 + [ctypes.c_int, ctypes.c_longlong] + [dp] * 4
    lib.gosh_dl_limit.argtypes += [ctypes.c_int]
    return lib


def run_limit(lib: ctypes.CDLL, yi: np.ndarray, vi: np.ndarray, n_threads: int):
    """The minimal loop over all 2^k - 1 subsets, into freshly allocated arrays (as gosh)."""
    k = yi.size
    n = (1 << k) - 1
    w = 1.0 / vi
    tabs = [np.ascontiguousarray(a) for a in (yi, vi, w, w * yi, w * yi * yi, w * w)]
    outs = [np.empty(n) for _ in range(4)]
    ptr = [a.ctypes.data_as(ctypes.POINTER(ctypes.c_double)) for a in tabs + outs]
    lib.gosh_dl_limit(*ptr[:6], k, n, *ptr[6:], n_threads)
    return outs


def limit_comparison(ks: list[int], repeats: int) -> None:
    lib = build_limit()
    if lib is None:
        print("compiled limit: no C compiler")
        return
    from sci_evidence.meta.gosh import compiled_kernel_available

    n_threads = os.cpu_count() or 1
    print(f"compiled limit vs ours (DL, all subsets, {n_threads} threads, median of {repeats}):")
    for k in ks:
        yi, vi = make_data(k)
        res = pool(yi, vi, method="DL")
        runs: dict[str, list[float]] = {"limit": [], "compiled": [], "numpy": []}
        engines = ["compiled", "numpy"] if compiled_kernel_available() else ["numpy"]
        lim = run_limit(lib, yi, vi, n_threads)  # warm-up
        g = gosh(res, engine=engines[0])
        for _ in range(repeats):  # interleaved: the load of the machine hits all alike
            t0 = time.perf_counter()
            lim = run_limit(lib, yi, vi, n_threads)
            runs["limit"].append(time.perf_counter() - t0)
            for eng in engines:
                t0 = time.perf_counter()
                g = gosh(res, engine=eng)
                runs[eng].append(time.perf_counter() - t0)
        med = {name: statistics.median(t) for name, t in runs.items() if t}
        diff = max(
            float(np.max(np.abs(a - b)))
            for a, b in zip(lim, (g.estimate, g.tau2, g.I2, g.Q), strict=True)
        )
        line = f"  k = {k}: {g.n_subsets:,} subsets; limit {med['limit'] * 1e3:.1f} ms"
        for eng in engines:
            line += f", ours/{eng} {med[eng] * 1e3:.1f} ms (x{med[eng] / med['limit']:.2f})"
        print(line + f"; max |ours - limit| {diff:.1e}")


def reml_threads(k: int, repeats: int) -> None:
    from sci_evidence.meta.gosh import compiled_kernel_available

    yi, vi = make_data(k)
    res = pool(yi, vi, method="REML")
    engines = ["compiled", "numpy"] if compiled_kernel_available() else ["numpy"]
    n_all = os.cpu_count() or 1
    runs: dict[tuple[str, int], list[float]] = {(e, j): [] for e in engines for j in (1, n_all)}
    cpu: dict[tuple[str, int], list[float]] = {key: [] for key in runs}
    gosh(res, engine=engines[0])  # warm-up
    for _ in range(repeats):
        for key in runs:
            t0, c0 = time.perf_counter(), time.process_time()
            gosh(res, engine=key[0], n_jobs=key[1])
            runs[key].append(time.perf_counter() - t0)
            cpu[key].append((time.process_time() - c0) / runs[key][-1])
    med = {key: statistics.median(t) for key, t in runs.items()}
    print(f"REML GOSH, k = {k} ({2**k - 1:,} subsets), median of {repeats}:")
    for e in engines:
        print(
            f"  {e}: 1 thread {med[(e, 1)] * 1e3:.1f} ms, {n_all} threads "
            f"{med[(e, n_all)] * 1e3:.1f} ms (speed-up x{med[(e, 1)] / med[(e, n_all)]:.2f}; "
            f"CPU/wall {statistics.median(cpu[(e, n_all)]):.2f}: cores busy at once)"
        )
    if len(engines) == 2:
        print(
            f"  compiled / numpy (all threads): x{med[('numpy', n_all)] / med[('compiled', n_all)]:.1f}"
        )


def k24_memory() -> None:
    code = (
        "import resource, time\n"
        "from benchmarks.bench_gosh import make_data\n"
        "from sci_evidence.meta import gosh, pool\n"
        "yi, vi = make_data(24)\n"
        "t = time.perf_counter(); g = gosh(pool(yi, vi, method='DL'))\n"
        "dt = time.perf_counter() - t\n"
        "rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
        "print(f'{g.n_subsets} {dt:.3f} {rss:.0f}')\n"
    )
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=True
    )
    n, dt, rss = proc.stdout.split()
    print(
        f"k = 24, DL: {int(n):,} subsets in {float(dt):.2f} s; peak memory (max RSS) "
        f"{float(rss):,.0f} MB (goal < 2048 MB)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--k24", action="store_true", help="also measure memory at k = 24")
    ap.add_argument("--no-r", action="store_true", help="skip metafor")
    ap.add_argument(
        "--limit", type=int, nargs="*", default=[20, 22, 24], help="k values for the limit"
    )
    ap.add_argument("--reml-k", type=int, default=16, help="k of the REML threads part (0: skip)")
    ap.add_argument(
        "--limit-only", action="store_true", help="only the compiled-limit and REML parts"
    )
    args = ap.parse_args()
    print(f"cores: {os.cpu_count()}, numpy {np.__version__}")
    if args.limit:
        limit_comparison(args.limit, args.repeats)
    if args.reml_k:
        reml_threads(args.reml_k, args.repeats)
    if args.limit_only:
        return

    yi, vi = make_data(20)
    res20 = pool(yi, vi, method="DL")
    t20, g20 = best_time(lambda: gosh(res20), args.repeats)
    print(
        f"sci-evidence gosh, k = 20, DL: {g20.n_subsets:,} subsets in {t20:.3f} s "
        f"({t20 / g20.n_subsets * 1e6:.3f} us per subset; goal <= 1 s)"
    )
    t20_1, _ = best_time(lambda: gosh(res20, n_jobs=1), max(1, args.repeats // 2))
    print(f"  same on 1 thread: {t20_1:.3f} s (2 threads speed-up x{t20_1 / t20:.2f})")

    y18, v18 = yi[:18], vi[:18]
    res18 = pool(y18, v18, method="DL")
    t18, g18 = best_time(lambda: gosh(res18), args.repeats)
    ours = t18 / g18.n_subsets
    print(
        f"sci-evidence gosh, k = 18, DL: {g18.n_subsets:,} subsets in {t18:.4f} s "
        f"({ours * 1e6:.3f} us per subset)"
    )
    if not args.no_r:
        r = run_r(y18, v18)
        if r is None:
            print("metafor: not available (Rscript/metafor missing)")
        else:
            t_r, frame = r
            theirs = t_r / len(frame)
            print(
                f"metafor gosh,     k = 18, DL: {len(frame):,} subsets in {t_r:.2f} s "
                f"({theirs * 1e6:.2f} us per subset)"
            )
            print(
                f"ratio (metafor / sci-evidence, per subset): x{theirs / ours:,.0f} (goal >= 100)"
            )
            pos = frame["mask"].to_numpy(dtype=np.int64) - 1
            for name in ("estimate", "tau2", "I2"):
                diff = np.max(np.abs(getattr(g18, name)[pos] - frame[name].to_numpy()))
                print(f"  max |difference| in {name} over all subsets: {diff:.2e}")
    if args.k24:
        k24_memory()
    print(
        "this process peak memory:",
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB",
    )


if __name__ == "__main__":
    main()
