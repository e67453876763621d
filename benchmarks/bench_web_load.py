"""Load benchmark of the web application: concurrent users browsing and re-filtering the
analysis view.

Starts ``sci-evidence serve`` on a fresh SQLite copy of the bundled base on 127.0.0.1 (a free
port; nothing else is contacted), logs in ``--users`` viewers (before the clock starts), then
each user loops for ``--seconds``: a filter change of the live analysis (``/analyse/result``
with a random analysis, filter and subgroup drawn from a fixed set of views, as htmx sends it)
and, every third step, a page of the study list or a study, with a think time between steps
(uniform in 0.5–1.5 × ``--think`` seconds; a person reads the plot before the next change;
``--think 0`` hammers the server back to back). Bounded by time and by ``--max-requests``.

Reports requests per second, p50/p95/p99 latency (all requests, and filter changes alone, also
for the second half of the run when the server's cache of views is warm), errors, and the
server's resident memory (peak and end). Goal of issue 15: p95 of a filter change under
300 ms on 2 cores with the bundled base.

    python benchmarks/bench_web_load.py --seconds 60 --users 50
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

ANALYSES = ("ais_improved_prop", "ais_improved_rr", "ae_any_prop")
FILTERS = (
    {},
    {"cell_source": "bone_marrow"},
    {"cell_source": "umbilical_cord"},
    {"route": "intrathecal"},
    {"route": "intralesional"},
    {"injury_phase": "chronic"},
    {"injury_phase": "subacute"},
    {"auto_allo": "autologous"},
    {"controlled": "no"},
)
SUBGROUPS = ("", "route", "cell_source")
PASSWORD = "benchmark password"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


class User:
    """One browser: a keep-alive connection with its cookies."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, body: str | None = None, headers=None):  # noqa: ANN001, ANN201
        h = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        if body is not None:
            h["Content-Type"] = "application/x-www-form-urlencoded"
        h.update(headers or {})
        for attempt in (1, 2):
            try:
                self.conn.request(method, path, body=body, headers=h)
                r = self.conn.getresponse()
                data = r.read()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # the server closed an idle keep-alive connection: reconnect once, as a
                # browser does
                self.conn.close()
                if attempt == 2:
                    raise
            except (OSError, http.client.HTTPException):
                self.conn.close()
                raise
        for k, v in r.getheaders():
            if k.lower() == "set-cookie":
                name, _, rest = v.partition("=")
                self.cookies[name] = rest.split(";", 1)[0]
        return r.status, data

    def login(self, name: str) -> None:
        status, page = self.request("GET", "/login")
        token = re.search(rb'name="csrftoken" value="([^"]+)"', page).group(1).decode()
        body = urllib.parse.urlencode({"username": name, "password": PASSWORD, "csrftoken": token})
        status, _ = self.request("POST", "/login", body)
        if status != 303:
            raise RuntimeError(f"login of {name} failed: {status}")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    v = sorted(values)
    i = min(len(v) - 1, max(0, int(round(q / 100 * (len(v) - 1)))))
    return v[i]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--max-requests", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--think", type=float, default=1.0, help="mean think time per step (s)")
    ap.add_argument(
        "--prewarm",
        action="store_true",
        help="visit every view once before the clock starts (a server in use: warm cache)",
    )
    ap.add_argument("--json", type=Path, help="also write the numbers as JSON here")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-web-"))
    url = f"sqlite:///{tmp / 'evidence.sqlite'}"
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from sci_evidence.evidence.store import EvidenceStore
    from sci_evidence.web import accounts
    from sci_evidence.web.app import prepare_database

    store = EvidenceStore(url)
    prepare_database(store)
    names = [f"viewer{i:02d}" for i in range(args.users)]
    for n in names:
        accounts.add_user(store.engine, n, PASSWORD, "viewer")
    store.dispose()
    ids = [
        s
        for s in __import__("sci_evidence.evidence", fromlist=["x"])
        .load_evidence()
        .studies["study_id"]
    ]

    port = free_port()
    env = {**os.environ, "SCI_EVIDENCE_WEB_SECRET": "bench", "MPLBACKEND": "Agg"}
    cmd = [sys.executable, "-c", "from sci_evidence.cli import main; main()", "serve"]
    cmd += ["--db", url, "--port", str(port), "--runs-dir", str(tmp / "runs")]
    server = subprocess.Popen(
        cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.time() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    raise SystemExit("the server did not start") from None
                time.sleep(0.3)
        users = [User(port) for _ in names]
        for u, n in zip(users, names, strict=True):
            u.login(n)
        prewarm_seconds = 0.0
        if args.prewarm:
            t_warm = time.perf_counter()
            for a in ANALYSES:
                for f in FILTERS:
                    for sub in SUBGROUPS:
                        q = {"analysis": a, **f, **({"subgroup": sub} if sub else {})}
                        users[0].request("GET", "/analyse/result?" + urllib.parse.urlencode(q))
            prewarm_seconds = time.perf_counter() - t_warm

        lock = threading.Lock()
        samples: list[tuple[float, str, float, int]] = []  # start, kind, seconds, status
        errors: list[str] = []
        stop_at = time.perf_counter() + args.seconds
        t0 = time.perf_counter()
        peak = [rss_mb(server.pid)]

        def browse(i: int, u: User) -> None:
            rnd = random.Random(args.seed * 1000 + i)
            step = 0
            while time.perf_counter() < stop_at:
                with lock:
                    if len(samples) >= args.max_requests:
                        return
                step += 1
                if step % 3 == 0:
                    kind = "browse"
                    path = rnd.choice(
                        [
                            "/studies?" + urllib.parse.urlencode(rnd.choice(FILTERS)),
                            f"/studies/{rnd.choice(ids)}",
                        ]
                    )
                    headers = {}
                else:
                    kind = "filter"
                    q = {"analysis": rnd.choice(ANALYSES), **rnd.choice(FILTERS)}
                    sub = rnd.choice(SUBGROUPS)
                    if sub:
                        q["subgroup"] = sub
                    path = "/analyse/result?" + urllib.parse.urlencode(q)
                    headers = {"HX-Request": "true"}
                start = time.perf_counter()
                try:
                    status, _ = u.request("GET", path, headers=headers)
                except Exception as exc:  # noqa: BLE001 - counted as an error
                    status = 0
                    with lock:
                        errors.append(f"{path}: {type(exc).__name__}")
                    u.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                took = time.perf_counter() - start
                with lock:
                    samples.append((start - t0, kind, took, status))
                    if status != 200 and status != 0:
                        errors.append(f"{path}: HTTP {status}")
                if args.think > 0:
                    time.sleep(args.think * rnd.uniform(0.5, 1.5))

        threads = [threading.Thread(target=browse, args=(i, u)) for i, u in enumerate(users)]
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            peak.append(rss_mb(server.pid))
            time.sleep(0.5)
        elapsed = time.perf_counter() - t0
        end_rss = rss_mb(server.pid)
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()

    def ms(values: list[float], q: float) -> float:
        return round(1000 * percentile(values, q), 1)

    all_t = [s[2] for s in samples]
    filt = [s[2] for s in samples if s[1] == "filter"]
    warm = [s[2] for s in samples if s[1] == "filter" and s[0] > args.seconds / 2]
    out = {
        "users": args.users,
        "think_seconds": args.think,
        "prewarm": args.prewarm,
        "prewarm_seconds": round(prewarm_seconds, 1),
        "seconds": round(elapsed, 1),
        "requests": len(samples),
        "requests_per_second": round(len(samples) / elapsed, 1),
        "errors": len(errors),
        "latency_ms_all": {"p50": ms(all_t, 50), "p95": ms(all_t, 95), "p99": ms(all_t, 99)},
        "latency_ms_filter_change": {
            "n": len(filt),
            "p50": ms(filt, 50),
            "p95": ms(filt, 95),
            "p99": ms(filt, 99),
        },
        "latency_ms_filter_change_second_half": {
            "n": len(warm),
            "p50": ms(warm, 50),
            "p95": ms(warm, 95),
            "p99": ms(warm, 99),
        },
        "server_rss_mb": {"peak": round(max(peak), 1), "end": round(end_rss, 1)},
        "cpu_count": os.cpu_count(),
        "load_average_1min_at_end": round(os.getloadavg()[0], 2),
        "views": len(ANALYSES) * len(FILTERS) * len(SUBGROUPS),
        "goal": "p95 of a filter change < 300 ms",
    }
    print(json.dumps(out, indent=1))
    if errors:
        print("first errors:", *errors[:5], sep="\n  ")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
