"""Time the trial-design simulation against a reference run in R, side by side.

    python benchmarks/bench_trial_design.py [--simulations 10000]

For each design (conversion endpoint with the stratified CMH test; motor endpoint with
ANCOVA adjusted for baseline score and stratum) and sample size, it simulates the same design
with ``sci_evidence.trials.simulate_power`` and with an independent vectorised R
implementation (base R + ``mantelhaen.test``-equivalent formula, ``lm.fit`` per trial is far
too slow, so R uses the same closed-form batched algebra), and prints power, Monte-Carlo SE
and wall time of both. Power estimates must agree within Monte-Carlo error (different random
streams). R's own analytic ``power.prop.test`` / ``power.t.test`` are printed for a
single-stratum design where they apply.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from sci_evidence.evidence import load_evidence
from sci_evidence.trials.design import Stratum, TrialDesign, design_from_evidence, simulate_power

R_CODE = r"""
args <- commandArgs(trailingOnly = TRUE)
spec <- jsonlite::fromJSON(args[1])
set.seed(spec$seed)
sim_one <- function(n, S) {
  N <- 2 * n; k <- length(spec$w)
  st <- matrix(sample.int(k, S * N, replace = TRUE, prob = spec$w), S, N)
  # stratified permuted blocks of 4: rank within stratum -> slot in a block sequence
  tr <- matrix(FALSE, S, N)
  for (j in 1:k) {
    inj <- st == j
    rk <- t(apply(inj, 1, cumsum)) * inj
    nb <- ceiling(N / 4)
    seqs <- matrix(replicate(S * nb, sample(c(TRUE, TRUE, FALSE, FALSE))), nrow = S, byrow = TRUE)
    idx <- which(inj, arr.ind = TRUE)
    tr[idx] <- seqs[cbind(idx[, 1], rk[idx])]
  }
  obs <- matrix(runif(S * N) >= spec$dropout, S, N)
  if (spec$endpoint == "conversion") {
    p0 <- matrix(spec$p[st], S, N)
    o <- p0 / (1 - p0) * spec$or
    p <- ifelse(tr, o / (1 + o), p0)
    y <- matrix(runif(S * N), S, N) < p
    num <- numeric(S); v <- numeric(S)
    for (j in 1:k) {
      inj <- (st == j) & obs
      nk <- rowSums(inj); n1 <- rowSums(inj & tr); m1 <- rowSums(inj & y); a <- rowSums(inj & tr & y)
      ok <- nk > 1
      num <- num + ifelse(ok, a - n1 * m1 / nk, 0)
      v <- v + ifelse(ok, n1 * (nk - n1) * m1 * (nk - m1) / (nk^2 * (nk - 1)), 0)
    }
    pv <- pchisq(num^2 / v, 1, lower.tail = FALSE)
  } else {
    z1 <- matrix(rnorm(S * N), S, N); z2 <- matrix(rnorm(S * N), S, N)
    mb <- matrix(spec$mb[st], S, N); sb <- matrix(spec$sb[st], S, N)
    mf <- matrix(spec$mf[st], S, N); sf <- matrix(spec$sf[st], S, N)
    r <- spec$rho
    b <- pmin(pmax(mb + sb * z1, 0), spec$top)
    f <- pmin(pmax(mf + sf * (r * z1 + sqrt(1 - r^2) * z2) + spec$gain * tr, 0), spec$top)
    ch <- f - b
    pv <- numeric(S)
    for (s in 1:S) {  # per-trial QR least squares (lm.fit), the plain R way
      m <- obs[s, ]
      X <- cbind(1, tr[s, m], b[s, m], sapply(2:k, function(j) as.numeric(st[s, m] == j)))
      X <- X[, colSums(X != 0) > 0, drop = FALSE]  # a stratum nobody was drawn into
      fit <- lm.fit(X, ch[s, m])
      df <- fit$df.residual
      R <- qr.R(fit$qr); ix <- fit$qr$pivot
      XtXi <- chol2inv(R)
      se <- sqrt(sum(fit$residuals^2) / df * XtXi[which(ix == 2), which(ix == 2)])
      pv[s] <- 2 * pt(abs(fit$coefficients[2] / se), df, lower.tail = FALSE)
    }
  }
  mean(pv < spec$alpha, na.rm = FALSE)
}
res <- lapply(spec$n, function(n) {
  t0 <- proc.time()[["elapsed"]]
  pw <- sim_one(n, spec$S)
  list(n = n, power = pw, seconds = proc.time()[["elapsed"]] - t0)
})
cat(jsonlite::toJSON(res, auto_unbox = TRUE, digits = NA))
"""


def run_r(spec: dict) -> list[dict] | None:
    if shutil.which("Rscript") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "sim.R"
        script.write_text(R_CODE)
        spec_file = Path(tmp) / "spec.json"
        spec_file.write_text(json.dumps(spec))
        out = subprocess.run(
            ["Rscript", str(script), str(spec_file)], capture_output=True, text=True, check=True
        )
    return json.loads(out.stdout)


def spec_of(design: TrialDesign, sizes, simulations, seed) -> dict:
    s = design.strata

    def nums(values):  # JSON has no NaN; the conversion design has no score course
        return [0.0 if not np.isfinite(v) else v for v in values]

    return {
        "endpoint": design.endpoint,
        "n": sizes,
        "S": simulations,
        "seed": seed,
        "w": [x.weight for x in s],
        "p": [x.p_convert for x in s],
        "or": design.odds_ratio,
        "gain": design.motor_gain,
        "mb": nums([x.score_mean_baseline for x in s]),
        "sb": nums([x.score_sd_baseline for x in s]),
        "mf": nums([x.score_mean_followup for x in s]),
        "sf": nums([x.score_sd_followup for x in s]),
        "rho": design.correlation,
        "top": 100.0,
        "dropout": design.dropout,
        "alpha": design.alpha,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--simulations", type=int, default=10_000)
    ap.add_argument(
        "--r-simulations-motor",
        type=int,
        default=2_000,
        help="R's per-trial lm.fit loop is slow; fewer trials, time scaled up",
    )
    args = ap.parse_args()
    ev = load_evidence()
    conv = design_from_evidence(ev.natural_history_conversion, odds_ratio=2.5)
    motor = design_from_evidence(
        ev.natural_history_conversion, ev.natural_history_scores, endpoint="motor", motor_gain=5
    )
    sizes = [25, 50, 100, 200]
    print(f"{args.simulations} simulated trials per sample size; dropout 10%, alpha 0.05\n")
    print(
        f"{'design':<26}{'n/arm':>6}{'py power':>10}{'py SE':>8}{'py s':>8}"
        f"{'R power':>10}{'R s (10k)':>11}{'speed-up':>10}"
    )
    for name, design, r_sims in (
        ("conversion OR 2.5 (CMH)", conv, args.simulations),
        ("motor TMS +5 (ANCOVA)", motor, args.r_simulations_motor),
    ):
        py = []
        for n in sizes:
            t0 = time.perf_counter()
            res = simulate_power(design, [n], n_simulations=args.simulations, seed=1)
            py.append((res.points[0], time.perf_counter() - t0))
        r = run_r(spec_of(design, sizes, r_sims, 1))
        for i, n in enumerate(sizes):
            pt, secs = py[i]
            if r is None:
                print(
                    f"{name:<26}{n:>6}{pt.power:>10.3f}{pt.mc_se:>8.3f}{secs:>8.2f}  (Rscript not found)"
                )
                continue
            r_secs = r[i]["seconds"] * args.simulations / r_sims
            print(
                f"{name:<26}{n:>6}{pt.power:>10.3f}{pt.mc_se:>8.3f}{secs:>8.2f}"
                f"{r[i]['power']:>10.3f}{r_secs:>11.2f}{r_secs / secs:>9.1f}x"
            )
    # Analytic reference where one applies: one stratum, no dropout, unstratified tests.
    single = TrialDesign(
        (Stratum("A", "all", 1.0, 0.2),), odds_ratio=2.5, dropout=0.0, analysis="chi2"
    )
    res = simulate_power(single, [100], n_simulations=args.simulations, seed=3)
    p1 = 0.2 * 2.5 / (1 + 0.2 * 1.5)
    if shutil.which("Rscript"):
        out = subprocess.run(
            ["Rscript", "-e", f"cat(power.prop.test(n=100, p1=0.2, p2={p1!r})$power)"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        print(
            f"\none stratum p0 0.2, OR 2.5, n 100/arm, chi2: simulated {res.points[0].power:.4f} "
            f"(SE {res.points[0].mc_se:.4f}); R power.prop.test {float(out):.4f}"
        )


if __name__ == "__main__":
    main()
