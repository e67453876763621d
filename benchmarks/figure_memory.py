"""Which figure of the review costs the most memory: each figure of the review at a scale
drawn alone in a fresh process, with its peak resident memory, drawing time and SVG size.

The review's figure workers are forked from the main process, so a worker's peak is the
parent's size at fork time plus what its largest figure (and the heap left by earlier ones)
adds. This script separates the two: it computes the review once at ``--scale`` (figures
drawn in-process), keeps each figure's spec (kind and arguments, pickled), then draws every
spec in its own fresh process and prints, per figure, the process's peak RSS before drawing
(imports and the spec) and after, the growth, the time and the SVG size. Nothing is written
outside a temporary directory.

Usage:
    python benchmarks/figure_memory.py [--scale 100] [--top 15]
"""

from __future__ import annotations

import argparse
import json
import pickle
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent


def record(scale: int, tmp: Path) -> list[Path]:
    """Run the review at ``scale`` drawing in-process; pickle each figure spec into ``tmp``."""
    sys.path.insert(0, str(HERE))
    from scaled_evidence import scaled_evidence

    from sci_evidence.evidence import load_evidence
    from sci_evidence.report import writer
    from sci_evidence.review.pipeline import run_review
    from sci_evidence.review.protocol import load_protocol

    specs: list[Path] = []
    real = writer.render_spec

    def keep(kind, name, args, fig_dir, formats):  # noqa: ANN001, ANN202
        path = tmp / f"{len(specs):03d}_{name}.pkl"
        path.write_bytes(pickle.dumps((kind, name, args, formats)))
        specs.append(path)
        # drawn later, alone; an empty figure file here, for the page the review writes
        (Path(fig_dir) / f"{name}.svg").write_text("<svg></svg>", encoding="utf-8")
        return name

    writer.render_spec = keep
    try:
        ev = scaled_evidence(load_evidence(), scale)
        renderer = writer.FigureRenderer.beside(tmp / "review", workers=1)
        try:
            result = run_review(ev, load_protocol(), on_analysis=renderer.submit_analysis)
            writer.write_review(result, tmp / "review", renderer=renderer)
        finally:
            renderer.close(cancel=True)
    finally:
        writer.render_spec = real
    return specs


def peak_mib() -> float:
    """This process's peak RSS (VmHWM; not ru_maxrss, which Linux carries over an exec from
    the forked copy of the parent, here the much larger review process)."""
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) / 1024


def draw_one(spec: Path, fig_dir: Path) -> dict:
    """Draw one pickled spec in this (fresh) process; its memory and time."""
    from sci_evidence.report.writer import render_spec

    kind, name, args, formats = pickle.loads(spec.read_bytes())
    before = peak_mib()
    t0 = time.perf_counter()
    render_spec(kind, name, args, str(fig_dir), formats)
    seconds = time.perf_counter() - t0
    after = peak_mib()
    return {
        "name": name,
        "kind": kind,
        "before_mib": before,
        "peak_mib": after,
        "seconds": seconds,
        "svg_kib": (fig_dir / f"{name}.svg").stat().st_size / 1024,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=int, default=100)
    ap.add_argument("--top", type=int, default=15, help="print the N largest peaks")
    ap.add_argument("--draw", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--fig-dir", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.draw is not None:
        print(json.dumps(draw_one(args.draw, args.fig_dir)))
        return
    tmp = Path(tempfile.mkdtemp(prefix="figure_memory_"))
    try:
        specs = record(args.scale, tmp)
        rows = []
        for spec in specs:
            proc = subprocess.run(
                [sys.executable, __file__, "--draw", str(spec), "--fig-dir", str(tmp / "f")],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        rows.sort(key=lambda r: -r["peak_mib"])
        print(f"{len(rows)} figures at {args.scale}x, each drawn alone in a fresh process")
        print(
            f"{'figure':<44} {'kind':<22} {'start MiB':>9} {'peak MiB':>9} {'growth':>7} "
            f"{'s':>6} {'SVG KiB':>8}"
        )
        for r in rows[: args.top]:
            print(
                f"{r['name'][:44]:<44} {r['kind']:<22} {r['before_mib']:>9.0f} "
                f"{r['peak_mib']:>9.0f} {r['peak_mib'] - r['before_mib']:>7.0f} "
                f"{r['seconds']:>6.2f} {r['svg_kib']:>8.0f}"
            )
        total = sum(r["svg_kib"] for r in rows)
        print(f"all figures: {total / 1024:.1f} MiB of SVG (the page inlines each file)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
