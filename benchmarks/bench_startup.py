"""Start-up time of ``sci-evidence --help``, side by side with an earlier commit.

Runs ``python -m sci_evidence --help`` from this source tree and from a baseline commit
(extracted with ``git archive`` into a temporary folder and put first on ``PYTHONPATH``),
interleaved, ``--runs`` times each, and reports the median wall time of each, their ratio,
the modules imported (numpy, pandas, scipy, matplotlib, SQLAlchemy, pyarrow) and the
cumulative import time of ``sci_evidence.cli`` from ``python -X importtime``.

Usage: python benchmarks/bench_startup.py [--baseline 2a5af3f] [--runs 15]
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

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"
HEAVY = ("numpy", "pandas", "scipy", "matplotlib", "sqlalchemy", "pyarrow")
PROBE = (
    "import sys, sci_evidence.cli\n"
    f"print(','.join(m for m in {HEAVY!r} if m in sys.modules) or '-')\n"
)


def _env(src: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(src), "COLUMNS": "100"}


def _wall(src: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "sci_evidence", "--help"],
        env=_env(src),
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - t0


def _import_us(src: Path) -> int:
    """Cumulative import time (µs) of sci_evidence.cli reported by -X importtime."""
    run = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import sci_evidence.cli"],
        env=_env(src),
        check=True,
        capture_output=True,
        text=True,
    )
    for line in run.stderr.splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) == 3 and parts[2] == "sci_evidence.cli":
            return int(parts[1])
    return -1


def _heavy(src: Path) -> str:
    run = subprocess.run(
        [sys.executable, "-c", PROBE], env=_env(src), check=True, capture_output=True, text=True
    )
    return run.stdout.strip()


def _extract(ref: str, into: Path) -> Path:
    archive = into / "src.tar"
    with archive.open("wb") as fh:
        subprocess.run(
            ["git", "-C", str(HERE.parent), "archive", ref, "src"], stdout=fh, check=True
        )
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="2a5af3f", help="git ref to compare with")
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as d:
        base_src = _extract(args.baseline, Path(d))
        trees = {f"baseline {args.baseline}": base_src, "this tree": SRC}
        for src in trees.values():  # warm the page cache and byte-code caches
            _wall(src)
        walls: dict[str, list[float]] = {name: [] for name in trees}
        for _ in range(args.runs):
            for name, src in trees.items():
                walls[name].append(_wall(src))
        for name, src in trees.items():
            med = statistics.median(walls[name])
            imp = statistics.median(_import_us(src) for _ in range(5)) / 1000
            print(
                f"{name}: `sci-evidence --help` median {med:.3f} s over {args.runs} runs; "
                f"import sci_evidence.cli {imp:.0f} ms; heavy modules loaded: {_heavy(src)}"
            )
        names = list(trees)
        ratio = statistics.median(walls[names[0]]) / statistics.median(walls[names[1]])
        print(f"start-up speed-up (baseline / this tree): {ratio:.2f}x")


if __name__ == "__main__":
    main()
