"""Runs on a Dask cluster against the same runs on local threads, in one script run.

For each of binned GOSH over all subsets (``gosh_summary``, ``--k``, default 26), a random
permutation test (``--permutations``, default 200,000, REML, k = 20) and a trial-design
simulation (``--simulations``, default 200,000 trials, conversion endpoint, 40 per arm):

* the local run (threads of this process) and the run on a ``LocalCluster`` of
  ``--workers`` single-threaded worker processes (default 2), with the same seed;
* whether the results are identical (they must be: the same chunks, computed by the same
  functions from the same seeds);
* wall times and cluster / local ratios. On one machine the cluster uses the same cores as
  the local run plus the cost of shipping chunks between processes, so a ratio near 1 means
  the overhead is small; the gain of a real cluster is its extra machines.

``--k 30`` fits all 1,073,741,823 subsets (takes minutes on 2 cores).

Run:  python benchmarks/bench_dask.py [--k 26] [--workers 2] [--permutations N] [--simulations N]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time

import numpy as np


def _same(a, b) -> bool:
    if hasattr(a, "points"):  # a PowerResult: its run time differs, its points must not
        return a.points == b.points and a.seed == b.seed
    da, db = dataclasses.asdict(a), dataclasses.asdict(b)
    for key, va in da.items():
        vb = db[key]
        if isinstance(va, np.ndarray):
            if not np.array_equal(va, vb, equal_nan=va.dtype.kind == "f"):
                return False
        elif va != vb:
            return False
    return True


def _warm_up() -> None:
    import sci_evidence.meta.gosh_summary  # noqa: F401
    import sci_evidence.meta.permutation  # noqa: F401
    import sci_evidence.trials.design  # noqa: F401


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--k", type=int, default=26)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--permutations", type=int, default=200_000)
    ap.add_argument("--simulations", type=int, default=200_000)
    args = ap.parse_args()

    from distributed import Client, LocalCluster

    from sci_evidence.evidence import load_evidence
    from sci_evidence.meta import gosh_summary, permutation_test, pool
    from sci_evidence.trials.design import design_from_evidence, simulate_power

    rng = np.random.default_rng(2024)
    vi = rng.uniform(0.02, 0.5, args.k)
    yi = rng.normal(0.3, np.sqrt(vi + 0.1))
    res_gosh = pool(yi, vi, method="DL")
    res_perm = pool(yi[:20], vi[:20], method="REML")
    ev = load_evidence()
    design = design_from_evidence(ev.natural_history_conversion, None, odds_ratio=2.0)

    runs = {
        f"binned GOSH, DL, k = {args.k} ({2**args.k - 1:,} subsets)": lambda c: gosh_summary(
            res_gosh, client=c
        ),
        f"permutation test, REML, k = 20, {args.permutations:,} permutations": lambda c: (
            permutation_test(res_perm, iterations=args.permutations, seed=7, client=c)
        ),
        f"trial design, {args.simulations:,} trials, 40 per arm": lambda c: simulate_power(
            design, 40, n_simulations=args.simulations, seed=7, client=c
        ),
    }
    print(f"cores: {os.cpu_count()}; cluster: LocalCluster({args.workers} workers x 1 thread)")
    with (
        LocalCluster(
            n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        # imports on the workers are start-up, not the runs' cost
        client.run(_warm_up)
        for name, run in runs.items():
            local, t_local = _timed(lambda run=run: run(None))
            remote, t_remote = _timed(lambda run=run: run(client))
            print(
                f"{name}: local {t_local:.2f} s, cluster {t_remote:.2f} s "
                f"(cluster / local x{t_remote / t_local:.2f}); identical: {_same(local, remote)}"
            )


if __name__ == "__main__":
    main()
