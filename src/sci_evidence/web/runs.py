"""Running the review from the browser: one adapter to the review pipeline, a background
thread per run with its progress, and what changed since the previous run.

:func:`run_review_to` is the only place that calls the review; the review-report work is
restructuring it into ``run_review(...)`` + ``report.write_review(results, out)``, and at
merge only this function needs to follow.
"""

from __future__ import annotations

import io
import json
import threading
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert, select, update

from sci_evidence.web import tables as T


def run_review_to(evidence, out_dir: Path, progress) -> dict:  # noqa: ANN001
    """Run the bundled protocol over ``evidence`` and write the report into ``out_dir``
    (``review.run_review`` computes, ``report.writer.write_review`` writes, as
    ``sci-evidence review`` does); ``progress(step, done, total)`` is called as it goes.
    Returns a short summary."""
    from sci_evidence.report.writer import write_review
    from sci_evidence.review.pipeline import run_review
    from sci_evidence.review.protocol import load_protocol

    renderer = _renderer(out_dir)
    try:
        result = run_review(
            evidence, load_protocol(), on_analysis=renderer.submit_analysis, progress=progress
        )
        files = write_review(result, out_dir, renderer=renderer)
    finally:
        renderer.close(cancel=True)
    return {
        "data_hash": result.record.data_hash,
        "pooled": sum(1 for a in result.analyses if a.main is not None),
        "files": len(files),
        "seconds": result.record.seconds,
    }


def _renderer(out_dir: Path):  # noqa: ANN202 - a report.writer.FigureRenderer
    """The report's figure renderer, drawing in this thread one figure at a time.

    The server is multi-threaded: forking drawing workers from it could copy a lock held by
    another thread into the child, and pyplot is not thread-safe, so each figure is drawn
    here under the lock the live analysis view draws under.
    """
    from sci_evidence.report.writer import FigureRenderer
    from sci_evidence.web.analysis import DRAW_LOCK

    class LockedRenderer(FigureRenderer):
        def submit(self, kind: str, name: str, *args) -> None:
            with DRAW_LOCK:
                super().submit(kind, name, *args)

    return LockedRenderer.beside(out_dir, workers=1)


@dataclass
class RunState:
    step: str = "starting"
    done: int = 0
    total: int = 0
    status: str = "running"  # running, done, failed
    message: str = ""
    summary: dict = field(default_factory=dict)


class Runs:
    """Review runs of this server: one at a time, each in its own folder under ``root``."""

    def __init__(self, engine, root: Path) -> None:  # noqa: ANN001
        self.engine = engine
        self.root = Path(root)
        self.state: dict[int, RunState] = {}
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def running(self) -> bool:
        return any(s.status == "running" for s in self.state.values())

    def start(self, evidence, username: str, *, wait: bool = False) -> int:  # noqa: ANN001
        with self._lock:
            if self.running():
                raise RuntimeError("a review is already running")
            with self.engine.begin() as conn:
                run_id = int(
                    conn.execute(
                        insert(T.review_runs).values(
                            username=username,
                            started_at=_now(),
                            status="running",
                            out_dir="",
                            data_hash=evidence.data_hash,
                        )
                    ).inserted_primary_key[0]
                )
                out = self.root / f"run-{run_id:05d}"
                conn.execute(
                    update(T.review_runs)
                    .where(T.review_runs.c.id == run_id)
                    .values(out_dir=str(out))
                )
            self.state[run_id] = RunState()
        t = threading.Thread(target=self._run, args=(run_id, evidence, out), daemon=True)
        self._threads.append(t)
        t.start()
        if wait:
            t.join()
        return run_id

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the runs of this server to finish; True when none is left running.

        The server calls it on shutdown so that no review thread (drawing with matplotlib)
        is still alive when the interpreter exits.
        """
        for t in list(self._threads):
            t.join(timeout)
        self._threads = [t for t in self._threads if t.is_alive()]
        return not self._threads

    def _run(self, run_id: int, evidence, out: Path) -> None:  # noqa: ANN001
        st = self.state[run_id]

        def progress(step: str, done: int, total: int) -> None:
            st.step, st.done, st.total = step, done, max(total, done)

        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            st.summary = run_review_to(evidence, out, progress)
            st.status = "done"
            st.message = f"{st.summary['pooled']} pooled analyses, {st.summary['files']} files"
        except Exception as exc:  # noqa: BLE001 - a failed run is shown, the server goes on
            st.status = "failed"
            st.message = f"{type(exc).__name__}: {exc}".splitlines()[0][:500]
        with self.engine.begin() as conn:
            conn.execute(
                update(T.review_runs)
                .where(T.review_runs.c.id == run_id)
                .values(status=st.status, finished_at=_now(), message=st.message)
            )

    def list(self) -> list[dict]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(T.review_runs).order_by(T.review_runs.c.id.desc())).all()
        out = []
        for r in rows:
            d = dict(r._mapping)
            live = self.state.get(d["id"])
            if d["status"] == "running" and live is None:
                d["status"] = "interrupted"  # the server stopped during the run
            out.append(d)
        return out

    def get(self, run_id: int) -> dict | None:
        for r in self.list():
            if r["id"] == run_id:
                return r
        return None

    def previous_done(self, run_id: int) -> dict | None:
        done = [r for r in self.list() if r["status"] == "done" and r["id"] < run_id]
        return done[0] if done else None

    def zip_bytes(self, run_id: int) -> bytes:
        run = self.get(run_id)
        out = Path(run["out_dir"])
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for p in sorted(out.rglob("*")):
                if p.is_file():
                    z.write(p, f"review-{run_id}/{p.relative_to(out)}")
        return buf.getvalue()


def pooled_results(out_dir: Path) -> dict[str, dict]:
    """analysis id → its title, k and pooled block, from a run's ``results.json``."""
    path = Path(out_dir) / "results.json"
    if not path.is_file():
        return {}
    doc = json.loads(path.read_text(encoding="utf-8"))
    out = {}
    for a in doc.get("analyses", []):
        p = a.get("pooled", {})
        bt = p.get("back_transformed") or {}
        out[a["id"]] = {
            "title": a.get("title", ""),
            "k": p.get("k"),
            "estimate": bt.get("estimate", p.get("estimate")),
            "ci_lb": bt.get("ci_lb", p.get("ci_lb")),
            "ci_ub": bt.get("ci_ub", p.get("ci_ub")),
            "scale": bt.get("scale", a.get("measure", "")),
        }
    for a in doc.get("not_pooled", []):
        out[a["id"]] = {
            "title": a.get("title", ""),
            "k": a.get("k"),
            "estimate": None,
            "ci_lb": None,
            "ci_ub": None,
            "scale": "",
        }
    return out


def compare_runs(new_dir: Path, old_dir: Path) -> list[dict]:
    """Analyses whose k or pooled estimate/CI changed between two runs (or that appear or
    disappear)."""
    new, old = pooled_results(new_dir), pooled_results(old_dir)
    out = []
    for aid in dict.fromkeys([*new, *old]):
        n, o = new.get(aid), old.get(aid)
        if n == o:
            continue
        out.append({"id": aid, "title": (n or o)["title"], "old": o, "new": n})
    return out


def _now() -> datetime:
    return datetime.now(UTC)
