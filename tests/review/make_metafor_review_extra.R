# Reference values for the review tests: tests/data/metafor_review_extra.json
# Run: Rscript tests/review/make_metafor_review_extra.R  (R 4, metafor 3.8-1, jsonlite)
suppressMessages({library(metafor); library(jsonlite)})
fit <- function(res, transf = NULL, targs = NULL) {
  p <- predict(res)
  out <- list(estimate = unname(coef(res))[1], se = res$se, ci_lb = res$ci.lb, ci_ub = res$ci.ub,
              pi_lb = p$pi.lb, pi_ub = p$pi.ub, tau2 = res$tau2, I2 = res$I2, Q = res$QE,
              Q_pval = res$QEp, k = res$k, yi = as.numeric(res$yi), vi = as.numeric(res$vi),
              weights = unname(weights(res)))
  if (!is.null(transf)) {
    bt <- predict(res, transf = transf, targs = targs)
    out$bt <- list(estimate = bt$pred, ci_lb = bt$ci.lb, ci_ub = bt$ci.ub, pi_lb = bt$pi.lb, pi_ub = bt$pi.ub)
  }
  out
}
xi <- c(7, 13, 9, 5, 2); ni <- c(14, 31, 20, 11, 10)
plo <- rma(measure = "PLO", xi = xi, ni = ni, method = "REML")
pft <- rma(measure = "PFT", xi = xi, ni = ni, method = "REML")
ae_x <- c(0, 3, 1, 0, 2)
ae <- rma(measure = "PFT", xi = ae_x, ni = ni, method = "REML")
rr <- rma(measure = "RR", ai = c(9, 5, 2), n1i = c(20, 11, 10), ci = c(3, 1, 0), n2i = c(20, 12, 10), method = "REML")
rd <- rma(measure = "RD", ai = c(9, 5, 2), n1i = c(20, 11, 10), ci = c(3, 1, 0), n2i = c(20, 12, 10), method = "REML")
md <- rma(measure = "MD", m1i = c(30, 25), sd1i = c(8, 10), n1i = c(20, 11), m2i = c(27, 24), sd2i = c(9, 9), n2i = c(20, 12), method = "REML")
mc1 <- escalc(measure = "MC", m1i = 24, m2i = 20, sd1i = 11, sd2i = 10, ni = 14, ri = 0.5)
mn2 <- escalc(measure = "MN", mi = 5, sdi = 4, ni = 31)
mc <- rma(yi = c(mc1$yi, mn2$yi), vi = c(mc1$vi, mn2$vi), method = "REML")
# subgroups by route (separate tau2): intrathecal = studies 1, 3, 5; intralesional = 2; intravenous = 4
dat <- escalc(measure = "PLO", xi = xi, ni = ni)
route <- c("intrathecal", "intralesional", "intrathecal", "intravenous", "intrathecal")
sub <- lapply(c("intrathecal", "intralesional", "intravenous"), function(g) rma(yi, vi, data = dat, subset = route == g, method = "REML"))
est <- sapply(sub, function(r) unname(coef(r))); se <- sapply(sub, function(r) r$se)
qb <- rma(est, sei = se, method = "FE")
# sign tests and intervals (binom.test, Clopper-Pearson)
sign <- lapply(list(c(5, 6), c(0, 3), c(7, 10), c(1, 1), c(12, 20)), function(v) {
  b <- binom.test(v[1], v[2]); list(x = v[1], n = v[2], p = b$p.value, ci_lb = b$conf.int[1], ci_ub = b$conf.int[2])})
# excess over a known spontaneous rate
ex <- lapply(list(c(7, 14, 0.056), c(13, 31, 0.262), c(2, 10, 0.3)), function(v) {
  b <- binom.test(v[1], v[2], p = v[3]); w <- prop.test(v[1], v[2], correct = FALSE)
  list(x = v[1], n = v[2], p0 = v[3], p = b$p.value, wilson_lb = w$conf.int[1], wilson_ub = w$conf.int[2])})
out <- list(
  meta = list(R = R.version.string, metafor = as.character(packageVersion("metafor"))),
  calls = list(
    plo = "rma(measure='PLO', xi=c(7,13,9,5,2), ni=c(14,31,20,11,10), method='REML'); predict(res, transf=transf.ilogit)",
    pft = "rma(measure='PFT', xi=c(7,13,9,5,2), ni=c(14,31,20,11,10), method='REML'); predict(res, transf=transf.ipft.hm, targs=list(ni=ni))",
    ae = "rma(measure='PFT', xi=c(0,3,1,0,2), ni=c(14,31,20,11,10), method='REML'); predict(res, transf=transf.ipft.hm, targs=list(ni=ni))",
    rr = "rma(measure='RR', ai=c(9,5,2), n1i=c(20,11,10), ci=c(3,1,0), n2i=c(20,12,10), method='REML'); predict(res, transf=exp)",
    rd = "rma(measure='RD', same data)",
    md = "rma(measure='MD', m1i=c(30,25), sd1i=c(8,10), n1i=c(20,11), m2i=c(27,24), sd2i=c(9,9), n2i=c(20,12))",
    mc = "rma(yi=c(escalc('MC', m1i=24, m2i=20, sd1i=11, sd2i=10, ni=14, ri=0.5)$yi, escalc('MN', mi=5, sdi=4, ni=31)$yi), vi=...)",
    subgroups = "rma(yi, vi, subset=route==g) per route; rma(est, sei=se, method='FE')$QE",
    sign = "binom.test(x, n)",
    excess = "binom.test(x, n, p=p0); prop.test(x, n, correct=FALSE)$conf.int"),
  plo = fit(plo, transf.ilogit), pft = fit(pft, transf.ipft.hm, list(ni = ni)),
  ae = fit(ae, transf.ipft.hm, list(ni = ni)), rr = fit(rr, exp), rd = fit(rd), md = fit(md), mc = fit(mc),
  subgroups = list(groups = c("intrathecal", "intralesional", "intravenous"), estimate = est, se = se,
                   Q_between = qb$QE, Q_between_pval = qb$QEp),
  sign = sign, excess = ex)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "tests/data/metafor_review_extra.json")
