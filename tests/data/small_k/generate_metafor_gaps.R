# Reference values for the remaining gaps to metafor (issue 14 §6), metafor 3.8-1.
# Run: Rscript generate_metafor_gaps.R > metafor_gaps.json
suppressMessages(library(metafor))
j <- function(x) paste0("[", paste(sprintf("%.17g", x), collapse = ", "), "]")
out <- c()
# CLASP (DerSimonian & Kacker 2007), as in metafor's test_analysis_example_dersimonian2007.r
n1i <- c(156, 303, 565, 1570, 103, 4659); n2i <- c(74, 303, 477, 1565, 105, 4650)
ai <- c(5, 5, 12, 69, 9, 313); ci <- c(8, 17, 9, 94, 11, 352)
dat <- escalc(measure = "OR", ai = ai, n1i = n1i, ci = ci, n2i = n2i)
he <- rma(yi, vi, method = "HE", data = dat)
sj <- rma(yi, vi, method = "SJ", data = dat)
sj2 <- rma(yi, vi, method = "SJ", data = dat, control = list(tau2.init = he$tau2))
out <- c(out, sprintf('"clasp": {"ai": %s, "n1i": %s, "ci": %s, "n2i": %s, "yi": %s, "vi": %s, "he_tau2": %.17g,
  "sj": [%.17g, %.17g, %.17g], "sj2": [%.17g, %.17g, %.17g]}',
  j(ai), j(n1i), j(ci), j(n2i), j(dat$yi), j(dat$vi), he$tau2,
  sj$tau2, coef(sj), sj$se, sj2$tau2, coef(sj2), sj2$se))
# unweighted model (rma(weighted=FALSE)), REML and DL, on CLASP and BCG
bcg <- escalc("RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
uw <- c()
for (nm in c("clasp", "bcg")) for (m in c("REML", "DL", "EE")) {
  d <- if (nm == "clasp") dat else bcg
  r <- rma(yi, vi, data = d, method = m, weighted = FALSE, control = list(threshold = 1e-12))
  uw <- c(uw, sprintf('{"data": "%s", "method": "%s", "estimate": %.17g, "se": %.17g, "tau2": %.17g, "ci_lb": %.17g, "ci_ub": %.17g, "pval": %.17g}',
    nm, m, coef(r), r$se, r$tau2, r$ci.lb, r$ci.ub, r$pval))
}
out <- c(out, sprintf('"bcg": {"yi": %s, "vi": %s}', j(bcg$yi), j(bcg$vi)))
out <- c(out, paste0('"unweighted": [', paste(uw, collapse = ",\n  "), "]"))
# profile-likelihood CI of tau^2 (confint(type = "PL")), ML and REML, levels 95 and 90
pl <- c()
for (nm in c("clasp", "bcg")) for (m in c("REML", "ML")) for (lv in c(95, 90)) {
  d <- if (nm == "clasp") dat else bcg
  r <- rma(yi, vi, data = d, method = m, level = lv, control = list(threshold = 1e-12))
  pci <- confint(r, type = "PL", control = list(tol = 1e-12))$random[1, ]
  pl <- c(pl, sprintf('{"data": "%s", "method": "%s", "level": %d, "tau2": %.17g, "ci_lb": %.17g, "ci_ub": %.17g}',
    nm, m, lv, pci[1], pci[2], pci[3]))
}
out <- c(out, paste0('"pl": [', paste(pl, collapse = ",\n  "), "]"))
# CMH: R's mantelhaen.test (MH form, with and without correction) on the CLASP tables
tabs <- array(0, c(2, 2, 6))
for (i in 1:6) tabs[, , i] <- matrix(c(ai[i], ci[i], n1i[i] - ai[i], n2i[i] - ci[i]), 2)
m1 <- mantelhaen.test(tabs, correct = TRUE); m0 <- mantelhaen.test(tabs, correct = FALSE)
# Cochran's (1954) form written out: binomial variance n1 n2 m1 m2 / N^3, no correction
N <- n1i + n2i; m1i <- ai + ci; m2i <- N - m1i
coch <- sum(ai - n1i * m1i / N)^2 / sum(n1i * n2i * m1i * m2i / N^3)
out <- c(out, sprintf('"cmh": {"mh_correct": %.17g, "mh_uncorrected": %.17g, "cochran": %.17g}',
  m1$statistic, m0$statistic, coch))
# measures: IRR, IRD (two-group incidence rates) and PETO (escalc)
x1i <- c(3, 12, 0, 25); t1i <- c(120.5, 400, 80, 1000); x2i <- c(7, 10, 4, 30); t2i <- c(110, 380, 95, 990)
irr <- escalc("IRR", x1i = x1i, t1i = t1i, x2i = x2i, t2i = t2i)
ird <- escalc("IRD", x1i = x1i, t1i = t1i, x2i = x2i, t2i = t2i)
peto <- escalc("PETO", ai = ai, n1i = n1i, ci = ci, n2i = n2i)
out <- c(out, sprintf('"rates": {"x1i": %s, "t1i": %s, "x2i": %s, "t2i": %s, "irr_yi": %s, "irr_vi": %s, "ird_yi": %s, "ird_vi": %s}',
  j(x1i), j(t1i), j(x2i), j(t2i), j(irr$yi), j(irr$vi), j(ird$yi), j(ird$vi)))
out <- c(out, sprintf('"peto": {"yi": %s, "vi": %s}', j(peto$yi), j(peto$vi)))
cat(sprintf('{"source": "%s, metafor %s",\n', R.version.string, packageVersion("metafor")))
cat(paste(out, collapse = ",\n")); cat("\n}\n")
