# Reference values for the review's score analyses (tests/review/test_scores.py) on the
# hand-made score rows of tests/review/_handmade_scores.py.
# metafor 3.8-1 has no conv.fivenum: the conversions are the closed forms of metafor >= 4's
# conv.fivenum (method "luo/wan/shi", dist "norm"), written out from the papers (Luo 2018,
# Wan 2014, Shi 2020) as tests/data/small_k/generate_fivenum.R does; the effect sizes and
# fits are metafor's escalc("MC"/"MN"/"MD") and rma(method = "REML").
# Run: Rscript tests/review/make_metafor_scores.R > tests/data/metafor_review_scores.json
suppressMessages(library(metafor))
xi  <- function(n) 2 * qnorm((n - 0.375) / (n + 0.25))
eta <- function(n) 2 * qnorm((0.75 * n - 0.125) / (n + 0.25))
luo1 <- function(a, m, b, n) { w <- 4 / (4 + n^0.75); w * (a + b) / 2 + (1 - w) * m }
luo2 <- function(q1, m, q3, n) { w <- 0.7 + 0.39 / n; w * (q1 + q3) / 2 + (1 - w) * m }
luo3 <- function(a, q1, m, q3, b, n) {
  w1 <- 2.2 / (2.2 + n^0.75); w2 <- 0.7 - 0.72 / n^0.55
  w1 * (a + b) / 2 + w2 * (q1 + q3) / 2 + (1 - w1 - w2) * m }
shi3 <- function(a, q1, q3, b, n) {
  w <- 1 / (1 + 0.07 * n^0.6); w * (b - a) / xi(n) + (1 - w) * (q3 - q1) / eta(n) }
num <- function(x) paste0("[", paste(sprintf("%.17g", x), collapse = ", "), "]")
fit <- function(yi, vi) {
  r <- rma(yi, vi, method = "REML")
  sprintf('{"yi": %s, "vi": %s, "estimate": %.17g, "se": %.17g, "ci_lb": %.17g, "ci_ub": %.17g, "tau2": %.17g}',
          num(yi), num(vi), r$b[1], r$se, r$ci.lb, r$ci.ub, r$tau2)
}

# light touch: s1 medians + IQR at baseline and 12 months (n 14); s2 change median + range
# (n 31); s4 baseline mean/SD, 12 months all five numbers (n 11)
conv <- list(
  s1_base = c(luo2(30, 40, 52, 14), (52 - 30) / eta(14)),
  s1_post = c(luo2(35, 46, 60, 14), (60 - 35) / eta(14)),
  s2_change = c(luo1(-2, 6, 20, 31), (20 - -2) / xi(31)),
  s4_post = c(luo3(30, 45, 55, 66, 80, 11), shi3(30, 45, 66, 80, 11)))
lt <- function(ri) {
  pp <- escalc("MC", m1i = c(conv$s1_post[1], conv$s4_post[1]), m2i = c(conv$s1_base[1], 50),
               sd1i = c(conv$s1_post[2], conv$s4_post[2]), sd2i = c(conv$s1_base[2], 12),
               ni = c(14, 11), ri = c(ri, ri))
  ch <- escalc("MN", mi = conv$s2_change[1], sdi = conv$s2_change[2], ni = 31)
  # the review's row order: s1, s2, s4
  fit(c(pp$yi[1], ch$yi, pp$yi[2]), c(pp$vi[1], ch$vi, pp$vi[2]))
}
# motor (the hand-made set of _handmade.py): s1 pre/post 20 (10) -> 24 (11), n 14; s2 change 5 (4), n 31
motor <- function(ri) {
  pp <- escalc("MC", m1i = 24, m2i = 20, sd1i = 11, sd2i = 10, ni = 14, ri = ri)
  ch <- escalc("MN", mi = 5, sdi = 4, ni = 31)
  fit(c(pp$yi, ch$yi), c(pp$vi, ch$vi))
}
xiao <- escalc("MD", m1i = 131.9, sd1i = 41.6, n1i = 35, m2i = 108.3, sd2i = 36.4, n2i = 29)
z <- qnorm(0.975)
cat(sprintf('{"source": "%s, metafor %s",\n', R.version.string, packageVersion("metafor")))
cat(' "conversions": {', paste(sprintf('"%s": %s', names(conv), sapply(conv, num)), collapse = ", "), '},\n')
for (nm in c("lt", "motor")) {
  f <- get(nm)
  cat(sprintf(' "%s": {%s},\n', nm, paste(sprintf('"%g": %s', c(0.2, 0.5, 0.8), sapply(c(0.2, 0.5, 0.8), f)), collapse = ",\n  ")))
}
cat(sprintf(' "xiao_md": {"yi": %.17g, "vi": %.17g, "ci_lb": %.17g, "ci_ub": %.17g}\n}\n',
            xiao$yi, xiao$vi, xiao$yi - z * sqrt(xiao$vi), xiao$yi + z * sqrt(xiao$vi)))
