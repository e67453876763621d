# Reference values for meta-regressions without an intercept (mods = ~ 0 + x1 + x2). metafor
# 3.8-1 computes Q_E from the mean-centred yi (Ymc), which differs from the Q of the raw
# residuals when the design has no intercept; its QE, I^2 and H^2 are the ones to match.
# Run: Rscript tests/data/generate_no_intercept.R > tests/data/metafor_no_intercept.json
suppressMessages(library(metafor))
set.seed(3)
k <- 10
x1 <- rnorm(k); x2 <- rnorm(k)
vi <- runif(k, 0.02, 0.2)
yi <- 1 + 0.5 * x1 + rnorm(k, 0, sqrt(vi + 0.1))
num <- function(x) ifelse(is.na(x), "null", sprintf("%.17g", x))
vec <- function(x) paste0("[", paste(num(x), collapse = ", "), "]")
out <- character(0)
for (m in c("REML", "EE", "DL", "fixed")) {
  res <- if (m == "fixed") {
    rma(yi, vi, mods = ~ 0 + x1 + x2, tau2 = 0.05)
  } else {
    rma(yi, vi, mods = ~ 0 + x1 + x2, method = m,
        control = list(threshold = 1e-12, maxiter = 1000))
  }
  out <- c(out, sprintf(paste0(
    '"%s": {"method": "%s", "b": %s, "se": %s, "tau2": %s, "QE": %s, "QEp": %s, ',
    '"I2": %s, "H2": %s, "QM": %s}'),
    m, ifelse(m == "fixed", "REML", m), vec(res$b), vec(res$se), num(res$tau2), num(res$QE),
    num(res$QEp), num(res$I2), num(res$H2), num(res$QM)))
}
cat(sprintf('{"metafor": "%s", "yi": %s, "vi": %s, "x1": %s, "x2": %s,\n %s}\n',
            as.character(packageVersion("metafor")), vec(yi), vec(vi), vec(x1), vec(x2),
            paste(out, collapse = ",\n ")))
