# Reference values for meta-regressions under test = "knha" whose residuals are all 0 (every
# yi on the fitted line): metafor 3.8-1 sets the Knapp-Hartung factor to 0, so the standard
# errors are 0, the t statistics +-Inf, and the omnibus test QM is NA.
# Run: Rscript tests/data/generate_knha_perfect_fit.R > tests/data/metafor_knha_perfect_fit.json
suppressMessages(library(metafor))
x1 <- seq(0, 1, length.out = 8)
x2 <- c(0.3, 0.1, 0.7, 0.2, 0.9, 0.4, 0.5, 0.8)
vi <- c(0.05, 0.02, 0.08, 0.04, 0.06, 0.03, 0.07, 0.05)
cases <- list(
  list(name = "one_moderator_reml", yi = 0.2 + 0.5 * x1, mods = "x1", method = "REML"),
  list(name = "two_moderators_reml", yi = 0.2 + 0.5 * x1 - 0.3 * x2, mods = "x1+x2",
       method = "REML"),
  list(name = "one_moderator_dl", yi = 0.2 + 0.5 * x1, mods = "x1", method = "DL")
)
num <- function(x) ifelse(is.na(x), "null", ifelse(is.infinite(x),
  ifelse(x > 0, "\"Inf\"", "\"-Inf\""), sprintf("%.17g", x)))
vec <- function(x) paste0("[", paste(num(x), collapse = ", "), "]")
out <- character(0)
for (cs in cases) {
  X <- if (cs$mods == "x1") cbind(x1) else cbind(x1, x2)
  res <- rma(cs$yi, vi, mods = X, method = cs$method, test = "knha")
  out <- c(out, sprintf(paste0(
    '"%s": {"yi": %s, "vi": %s, "x1": %s, "x2": %s, "mods": "%s", "method": "%s", ',
    '"b": %s, "se": %s, "tval": %s, "pval": %s, "ci_lb": %s, "ci_ub": %s, ',
    '"tau2": %s, "QE": %s, "QM": %s, "QMp": %s, "s2w": %s}'),
    cs$name, vec(cs$yi), vec(vi), vec(x1), vec(x2), cs$mods, cs$method,
    vec(res$b), vec(res$se), vec(res$zval), vec(res$pval), vec(res$ci.lb), vec(res$ci.ub),
    num(res$tau2), num(res$QE), num(res$QM), num(res$QMp), num(res$s2w)))
}
cat(sprintf('{"metafor": "%s",\n %s}\n', as.character(packageVersion("metafor")),
            paste(out, collapse = ",\n ")))
