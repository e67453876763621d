"""Throughput of the ISNCSCI classification, side by side with the reference under Node.

Measures, in one run on the same exams (a realistic mix with NT and */** tags):

1. ``classify_table`` in-process on a DataFrame of strings as read from CSV (parsing and
   formatting included), best of ``--repeats``;
2. the reference algorithm (npm ``isncsci`` v2.0.6) in-process under Node, warm, via
   ``benchmarks/isncsci_reference.mjs`` — skipped when Node or the package is absent
   (install: ``mkdir -p /tmp/isncsci-ref && cd /tmp/isncsci-ref && npm install isncsci@2.0.6``);
3. ``sci-evidence classify FILE --output OUT.csv`` end to end on CSV files of each size in
   ``--cli-sizes`` (default 10^5 and 10^6 exams), each in a fresh interpreter: wall time,
   time in the command, exams per second and peak memory (max RSS of the child). The
   command streams blocks from the reader to the output, so the 10^6 rate should be at
   least the 10^5 rate and the peak memory flat (issue 16 goal 2: <= 500 MiB).

Usage: python benchmarks/bench_isncsci.py [--n 100000] [--cli-sizes 100000,1000000]
       [--node-dir /tmp/isncsci-ref]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import pandas as pd

from sci_evidence.isncsci import classify_table

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "tests"))  # the test-only exam generators
from support.random_exams import random_exams  # noqa: E402


def make_exams(n: int, unique: int, seed: int) -> pd.DataFrame:
    """n exams: ``unique`` distinct random ones, repeated (with distinct ids) to reach n."""
    base = random_exams(min(n, unique), seed=seed, p_nt=0.02, p_tag=0.03, p_non_key=0.1)
    reps = -(-n // len(base))
    frame = pd.concat([base] * reps, ignore_index=True).iloc[:n].copy()
    frame["id"] = [f"x{i + 1}" for i in range(n)]
    return frame


def bench_python(csv_path: Path, repeats: int) -> dict:
    frame = pd.read_csv(csv_path, dtype=str, keep_default_na=False, engine="pyarrow")
    times = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        classify_table(frame.iloc[:2000])  # warm-up
        for _ in range(repeats):
            t0 = time.perf_counter()
            out = classify_table(frame)
            times.append(time.perf_counter() - t0)
    assert len(out) == len(frame)
    best = min(times)
    return {"exams": len(frame), "seconds_best": best, "exams_per_second": len(frame) / best}


def bench_node(exams: pd.DataFrame, node_dir: Path, seconds: float, tmp: Path) -> dict | None:
    node = shutil.which("node")
    if node is None or not (node_dir / "node_modules" / "isncsci").is_dir():
        return None
    path = tmp / "exams.json"
    path.write_text(json.dumps(exams.to_dict("records")))
    run = subprocess.run(
        [
            node,
            str(HERE / "isncsci_reference.mjs"),
            str(node_dir),
            "bench",
            str(path),
            str(seconds),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(run.stdout)


_CLI_DRIVER = """
import resource, sys, time
from sci_evidence.cli import main
t0 = time.perf_counter()
try:
    main(sys.argv[1:])
except SystemExit as exc:
    if exc.code:
        raise
wall = time.perf_counter() - t0
# VmHWM: this process's own peak (ru_maxrss would carry the parent's peak over fork+exec)
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")]
peak_kb = int(hwm[0].split()[1]) if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(wall, peak_kb, file=sys.stderr)
"""


def bench_cli(csv_path: Path, n: int, tmp: Path) -> dict:
    """Time the command in a fresh interpreter (imports included); peak RSS of that process."""
    out = tmp / "results.csv"
    args = ["classify", str(csv_path), "--output", str(out)]
    t0 = time.perf_counter()
    run = subprocess.run(
        [sys.executable, "-c", _CLI_DRIVER, *args], check=True, capture_output=True, text=True
    )
    wall = time.perf_counter() - t0
    in_main, peak_kb = run.stderr.strip().splitlines()[-1].split()
    rows = sum(1 for _ in out.open()) - 1
    assert rows == n, rows
    return {
        "exams": n,
        "seconds": wall,
        "seconds_in_main": float(in_main),
        "exams_per_second": n / wall,
        "peak_rss_mb": int(peak_kb) / 1024,  # KiB -> MiB
        "command": "sci-evidence " + " ".join(args),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="exams for classify_table")
    parser.add_argument("--unique", type=int, default=20_000, help="distinct random exams")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--node-dir", type=Path, default=Path("/tmp/isncsci-ref"))
    parser.add_argument("--node-seconds", type=float, default=5.0)
    parser.add_argument(
        "--cli-sizes", default="100000,1000000", help="comma-separated exam counts for the CLI"
    )
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args()
    sizes = [int(x) for x in args.cli_sizes.split(",") if x.strip()]

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        exams = make_exams(args.n, args.unique, args.seed)
        csv_path = tmp / "exams.csv"
        exams.to_csv(csv_path, index=False)
        nt_share = exams.iloc[:, 3:].apply(lambda c: c.str.startswith("NT")).to_numpy().mean()
        print(
            f"mix: {args.unique} distinct realistic exams (seed {args.seed}), "
            f"{nt_share:.1%} of scores NT, tags on ~3% of abnormal scores"
        )
        py = bench_python(csv_path, args.repeats)
        print(
            f"classify_table (in-process): {py['exams']} exams in {py['seconds_best']:.3f} s "
            f"= {py['exams_per_second']:,.0f} exams/s"
        )
        ref = bench_node(exams.iloc[: args.unique], args.node_dir, args.node_seconds, tmp)
        if ref is None:
            print("reference (Node isncsci): skipped (node or the npm package not found)")
        else:
            print(
                f"reference (Node isncsci, in-process, warm): {ref['exams_per_second']:,.0f} "
                f"exams/s ({ref['exams']} exams in {ref['seconds']:.2f} s)"
            )
            print(f"speed-up: {py['exams_per_second'] / ref['exams_per_second']:.1f}x")
        csv_path.unlink()
        rates = {}
        for n in sizes:
            cli_csv = tmp / f"cli_exams_{n}.csv"
            # written in slices of the repeated mix, so a 10^6 file never sits in memory
            base = make_exams(min(n, args.unique), args.unique, args.seed)
            with cli_csv.open("w", encoding="utf-8", newline="") as fh:
                for start in range(0, n, len(base)):
                    part = base.iloc[: min(len(base), n - start)].copy()
                    part["id"] = [f"x{start + i + 1}" for i in range(len(part))]
                    part.to_csv(fh, index=False, header=start == 0)
            cli = bench_cli(cli_csv, n, tmp)
            cli_csv.unlink()
            rates[n] = n / cli["seconds_in_main"]
            line = (
                f"sci-evidence classify end to end: {cli['exams']:,} exams in "
                f"{cli['seconds']:.2f} s ({cli['seconds_in_main']:.2f} s in the command: "
                f"{rates[n]:,.0f} exams/s read+classify+write), peak RSS "
                f"{cli['peak_rss_mb']:.0f} MiB"
            )
            if ref is not None:
                line += f"; {rates[n] / ref['exams_per_second']:.1f}x the reference"
            print(line)
        if len(sizes) > 1:
            lo, hi = min(sizes), max(sizes)
            print(
                f"streaming: rate at {hi:,} / rate at {lo:,} = {rates[hi] / rates[lo]:.2f} "
                "(>= 1: no loss of throughput at scale)"
            )


if __name__ == "__main__":
    main()
