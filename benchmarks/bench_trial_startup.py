"""Start-up cost of `sci-evidence trial design`: this tree against a git revision, side by side.

Runs, interleaved and ``--repeats`` times each, ``sci-evidence trial design --n-per-arm 20
--simulations 10`` (the work is tiny, so the time is start-up: imports and the evidence load)
and ``import sci_evidence.trials.design``, once with this tree's ``src`` and once with
``--against``'s (exported with ``git archive`` into a temporary folder), and reports the
minimum and median wall time of each, their ratio, and whether ``scipy.stats`` is imported.

    python benchmarks/bench_trial_startup.py --against 2a5af3f --repeats 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DESIGN = (
    "import sys; sys.argv = ['sci-evidence', 'trial', 'design', '--n-per-arm', '20', "
    "'--simulations', '10']; from sci_evidence.cli import main; main()"
)
IMPORT = "import sci_evidence.trials.design"
SCIPY_STATS = "import sys, sci_evidence.trials.design; print('scipy.stats' in sys.modules)"


def _run(code: str, src: Path) -> tuple[float, str]:
    env = dict(os.environ, PYTHONPATH=str(src))
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"failed with {src}:\n{done.stderr[-1000:]}")
    return elapsed, done.stdout.strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--against", default="main", help="git revision to compare with")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "src.tar"
        subprocess.run(
            ["git", "archive", "-o", str(archive), args.against, "src"], cwd=ROOT, check=True
        )
        with tarfile.open(archive) as tar:
            tar.extractall(tmp, filter="data")
        trees = {args.against: Path(tmp) / "src", "this tree": ROOT / "src"}
        times: dict[tuple[str, str], list[float]] = {}
        for _ in range(args.repeats):
            for name, src in trees.items():
                for what, code in (("trial design", DESIGN), ("import trials.design", IMPORT)):
                    times.setdefault((name, what), []).append(_run(code, src)[0])
        print(f"load average {os.getloadavg()[0]:.1f}; {args.repeats} runs each, interleaved")
        for what in ("trial design", "import trials.design"):
            rows = {name: sorted(times[(name, what)]) for name in trees}
            for name, ts in rows.items():
                print(
                    f"{what:22s} {name:12s} min {ts[0]:.3f} s  median {statistics.median(ts):.3f} s"
                )
            a, b = (statistics.median(rows[n]) for n in trees)
            print(f"{what:22s} ratio this/{args.against}: {b / a:.2f} (medians)")
        for name, src in trees.items():
            print(f"scipy.stats imported by trials.design ({name}): {_run(SCIPY_STATS, src)[1]}")


if __name__ == "__main__":
    main()
