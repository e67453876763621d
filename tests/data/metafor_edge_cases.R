suppressMessages(library(metafor)); library(jsonlite)
con <- list(tol = 1e-12, threshold = 1e-12, maxiter = 1000)
sets <- list(
  k1 = list(yi = c(0.5), vi = c(0.04)),
  k2 = list(yi = c(0.1, 0.9), vi = c(0.05, 0.08)),
  tau2_zero = list(yi = c(0.1, 0.12, 0.09, 0.11, 0.1), vi = c(0.02, 0.03, 0.025, 0.04, 0.05)),
  identical_yi = list(yi = rep(0.3, 5), vi = c(0.02, 0.03, 0.025, 0.04, 0.05)),
  huge_variance = list(yi = c(0.2, 0.5, 0.1, 0.4, 3), vi = c(0.01, 0.02, 0.015, 0.03, 1e6)),
  wide_scale = list(yi = c(61.0, 61.4, 62.21, 62.3, 62.34, 62.6, 62.7, 62.84, 65.9) * 100,
                    vi = c(0.2025, 1.21, 0.09, 0.2025, 0.3844, 0.5625, 0.0676, 0.0225, 1.8225) * 1e4)
)
methods <- c("EE", "DL", "REML", "ML", "PM", "HE", "SJ", "EB", "HS")
out <- list()
num <- function(x) if (is.null(x) || length(x) == 0 || is.na(x)) NULL else unname(x)
for (nm in names(sets)) {
  s <- sets[[nm]]; k <- length(s$yi)
  for (m in methods) for (tst in c("z", "knha", "adhoc")) {
    if (k == 1 && tst != "z") next
    if (k == 1 && m %in% c("SJ")) next
    fit <- tryCatch(suppressWarnings(rma(s$yi, s$vi, method = m, test = tst, control = con)),
                    error = function(e) NULL)
    if (is.null(fit)) next
    pr <- predict(fit)
    ci <- if (m != "EE" && k > 1) tryCatch(suppressWarnings(confint(fit)$random), error = function(e) NULL) else NULL
    out[[length(out) + 1]] <- list(
      name = paste(nm, m, tst, sep = "_"), set = nm, method = m, test = tst,
      call = sprintf("rma(yi, vi, method='%s', test='%s', control=list(tol=1e-12, threshold=1e-12, maxiter=1000))", m, tst),
      input = list(yi = s$yi, vi = s$vi),
      expected = list(tau2 = num(fit$tau2), se_tau2 = num(fit$se.tau2), estimate = num(fit$b[1]),
                      se = num(fit$se), pval = num(fit$pval), ci_lb = num(fit$ci.lb), ci_ub = num(fit$ci.ub),
                      I2 = num(fit$I2), H2 = num(fit$H2), Q = num(fit$QE), Q_pval = num(fit$QEp),
                      pi_lb = if (m == "EE") NULL else num(pr$pi.lb), pi_ub = if (m == "EE") NULL else num(pr$pi.ub),
                      tau2_ci = if (is.null(ci)) NULL else unname(ci[1, 2:3]),
                      I2_ci = if (is.null(ci)) NULL else unname(ci[3, 2:3])))
  }
}
# test = "t" (t distribution without rescaling) and a 90% level, on dat.bcg log risk ratios
bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
for (spec in list(list(m = "REML", t = "t", l = 95), list(m = "DL", t = "t", l = 95),
                  list(m = "REML", t = "z", l = 90), list(m = "REML", t = "knha", l = 90),
                  list(m = "PM", t = "adhoc", l = 90), list(m = "EE", t = "z", l = 90))) {
  fit <- rma(yi, vi, data = bcg, method = spec$m, test = spec$t, level = spec$l, control = con)
  pr <- predict(fit)
  ci <- if (spec$m != "EE") confint(fit)$random else NULL
  out[[length(out) + 1]] <- list(
    name = paste("bcg", spec$m, spec$t, spec$l, sep = "_"), set = "bcg_level_t", method = spec$m,
    test = spec$t, level = spec$l / 100,
    call = sprintf("rma(yi, vi, data=escalc('RR', ai=tpos, bi=tneg, ci=cpos, di=cneg, data=dat.bcg), method='%s', test='%s', level=%d, control=...)", spec$m, spec$t, spec$l),
    input = list(yi = as.numeric(bcg$yi), vi = as.numeric(bcg$vi)),
    expected = list(tau2 = num(fit$tau2), se_tau2 = num(fit$se.tau2), estimate = num(fit$b[1]),
                    se = num(fit$se), pval = num(fit$pval), ci_lb = num(fit$ci.lb), ci_ub = num(fit$ci.ub),
                    I2 = num(fit$I2), H2 = num(fit$H2), Q = num(fit$QE), Q_pval = num(fit$QEp),
                    pi_lb = if (spec$m == "EE") NULL else num(pr$pi.lb), pi_ub = if (spec$m == "EE") NULL else num(pr$pi.ub),
                    tau2_ci = if (is.null(ci)) NULL else unname(ci[1, 2:3]),
                    I2_ci = if (is.null(ci)) NULL else unname(ci[3, 2:3])))
}
cat(toJSON(list(generator = "Rscript tests/data/metafor_edge_cases.R > tests/data/metafor_edge_cases.json",
                r_version = R.version.string, metafor = as.character(packageVersion("metafor")),
                cases = out), auto_unbox = TRUE, digits = NA, null = "null", pretty = FALSE))
