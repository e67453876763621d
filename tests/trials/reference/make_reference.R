# Reference values for tests/trials (sci-evidence "trials" part).
# Run from the repository root:  Rscript tests/trials/reference/make_reference.R
# Writes tests/data/trials_reference.json.  R 4.2.2, metafor 3.8-1, jsonlite.
suppressMessages({library(metafor); library(jsonlite)})
out <- list(r_version = R.version.string, metafor = as.character(packageVersion("metafor")))

# 1. Proportion intervals: binom.test (Clopper-Pearson), prop.test(correct=FALSE) (Wilson).
props <- list(c(0, 10), c(1, 10), c(7, 10), c(10, 10), c(13, 31), c(3, 47), c(50, 100), c(1, 1))
out$proportions <- lapply(props, function(p) {
  cp <- binom.test(p[1], p[2], conf.level = 0.95)$conf.int
  w <- suppressWarnings(prop.test(p[1], p[2], correct = FALSE, conf.level = 0.95)$conf.int)
  cp90 <- binom.test(p[1], p[2], conf.level = 0.90)$conf.int
  list(x = p[1], n = p[2], call = "binom.test(x, n); prop.test(x, n, correct=FALSE)",
       cp = as.numeric(cp), wilson = as.numeric(w), cp90 = as.numeric(cp90))
})

# 2. Risk ratio / risk difference: escalc(measure, ai, n1i, ci, n2i) with defaults (add=1/2, to="only0").
tables <- list(c(7, 20, 3, 20), c(0, 15, 4, 16), c(12, 12, 6, 14), c(13, 31, 5, 30), c(1, 40, 0, 38))
out$two_by_two <- lapply(tables, function(t) {
  rr <- escalc("RR", ai = t[1], n1i = t[2], ci = t[3], n2i = t[4])
  rd <- escalc("RD", ai = t[1], n1i = t[2], ci = t[3], n2i = t[4])
  srr <- summary(rr); srd <- summary(rd)
  list(ai = t[1], n1 = t[2], ci = t[3], n2 = t[4],
       call = 'summary(escalc("RR"|"RD", ai=, n1i=, ci=, n2i=))',
       rr_yi = as.numeric(rr$yi), rr_vi = as.numeric(rr$vi), rr_ci = c(srr$ci.lb, srr$ci.ub),
       rd_yi = as.numeric(rd$yi), rd_vi = as.numeric(rd$vi), rd_ci = c(srd$ci.lb, srd$ci.ub))
})

# 3. ANCOVA and t intervals on a data set written by Python (tests/trials/reference/ancova_data.json).
d <- fromJSON("tests/trials/reference/ancova_data.json")
fit <- lm(change ~ treated + baseline, data = d)
s <- summary(fit)$coefficients
ci <- confint(fit, level = 0.95)
tt <- t.test(d$change[d$treated == 1])
out$ancova <- list(call = "lm(change ~ treated + baseline)",
  estimate = s["treated", 1], se = s["treated", 2], stat = s["treated", 3], pval = s["treated", 4],
  ci = as.numeric(ci["treated", ]), intercept = s["(Intercept)", 1], baseline = s["baseline", 1],
  sigma = summary(fit)$sigma, df = fit$df.residual,
  ttest_call = "t.test(change[treated == 1])", ttest_mean = as.numeric(tt$estimate),
  ttest_ci = as.numeric(tt$conf.int))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "tests/data/trials_reference.json")

# 4. Cochran-Mantel-Haenszel chi-square without continuity correction (design simulation's
#    conversion analysis): mantelhaen.test(array(c(a, c, b, d) per stratum), correct = FALSE).
#    Each stratum: treated events a, treated non-events b, control events c, control non-events d.
cmh_cases <- list(
  list(c(5, 10, 3, 12), c(8, 4, 6, 7)),
  list(c(2, 18, 1, 19), c(6, 9, 2, 12), c(10, 3, 9, 5)),
  list(c(0, 10, 3, 8), c(4, 4, 4, 4))
)
out2 <- fromJSON("tests/data/trials_reference.json", simplifyVector = FALSE)
out2$cmh <- lapply(cmh_cases, function(strata) {
  arr <- array(unlist(lapply(strata, function(s) c(s[1], s[3], s[2], s[4]))), dim = c(2, 2, length(strata)))
  t <- mantelhaen.test(arr, correct = FALSE)
  list(strata = strata, call = "mantelhaen.test(array(c(a, c, b, d), dim = c(2, 2, K)), correct = FALSE)",
       statistic = as.numeric(t$statistic), pval = t$p.value)
})
writeLines(toJSON(out2, digits = NA, auto_unbox = TRUE, pretty = TRUE), "tests/data/trials_reference.json")

# 5. Analytic power for single-stratum designs (the simulation must agree within MC error).
out3 <- fromJSON("tests/data/trials_reference.json", simplifyVector = FALSE)
p2 <- 0.2 * 2.5 / (1 + 0.2 * 1.5)  # odds ratio 2.5 on p0 = 0.2
out3$analytic_power <- list(
  prop = list(call = "power.prop.test(n = 100, p1 = 0.2, p2 = 0.2*2.5/(1+0.2*1.5))", n = 100,
              p0 = 0.2, odds_ratio = 2.5, power = power.prop.test(n = 100, p1 = 0.2, p2 = p2)$power),
  t = list(call = "power.t.test(n = 50, delta = 5, sd = 10)", n = 50, delta = 5, sd = 10,
           power = power.t.test(n = 50, delta = 5, sd = 10)$power))
writeLines(toJSON(out3, digits = NA, auto_unbox = TRUE, pretty = TRUE), "tests/data/trials_reference.json")
