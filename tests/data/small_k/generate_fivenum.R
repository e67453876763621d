# Closed-form reference values for sci_evidence.meta.fivenum_to_mean_sd, written out
# independently in R from the papers (metafor 3.8-1 here has no conv.fivenum; these are the
# formulas of metafor >= 4's conv.fivenum, method "luo/wan/shi" with dist="norm", and
# "hozo2005"). Run: Rscript generate_fivenum.R > fivenum.json
xi  <- function(n) 2 * qnorm((n - 0.375) / (n + 0.25))           # Wan 2014 eq. 9
eta <- function(n) 2 * qnorm((0.75 * n - 0.125) / (n + 0.25))    # Wan 2014 eq. 16
luo1 <- function(a, m, b, n) { w <- 4 / (4 + n^0.75); w * (a + b) / 2 + (1 - w) * m }
luo2 <- function(q1, m, q3, n) { w <- 0.7 + 0.39 / n; w * (q1 + q3) / 2 + (1 - w) * m }
luo3 <- function(a, q1, m, q3, b, n) {
  w1 <- 2.2 / (2.2 + n^0.75); w2 <- 0.7 - 0.72 / n^0.55
  w1 * (a + b) / 2 + w2 * (q1 + q3) / 2 + (1 - w1 - w2) * m }
shi3 <- function(a, q1, q3, b, n) { w <- 1 / (1 + 0.07 * n^0.6); w * (b - a) / xi(n) + (1 - w) * (q3 - q1) / eta(n) }
hozo_mean <- function(a, m, b, n) if (n <= 25) (a + 2 * m + b) / 4 else m
hozo_sd <- function(a, m, b, n) if (n <= 15) sqrt(((a - 2 * m + b)^2 / 4 + (b - a)^2) / 12) else if (n <= 70) (b - a) / 4 else (b - a) / 6
inputs <- list(c(2, 6, 9, 17, 41), c(0, 10, 15, 22, 50), c(-3.5, -1, 0.2, 1.1, 4), c(12, 14, 15, 16, 30))
out <- c()
for (v in inputs) for (n in c(3, 7, 15, 16, 25, 26, 70, 71, 300)) {
  a <- v[1]; q1 <- v[2]; m <- v[3]; q3 <- v[4]; b <- v[5]
  out <- c(out, sprintf(paste0('{"min": %.17g, "q1": %.17g, "median": %.17g, "q3": %.17g, "max": %.17g, "n": %d, ',
    '"S1": [%.17g, %.17g], "S2": [%.17g, %.17g], "S3": [%.17g, %.17g], "hozo": [%.17g, %.17g]}'),
    a, q1, m, q3, b, n, luo1(a, m, b, n), (b - a) / xi(n), luo2(q1, m, q3, n), (q3 - q1) / eta(n),
    luo3(a, q1, m, q3, b, n), shi3(a, q1, q3, b, n), hozo_mean(a, m, b, n), hozo_sd(a, m, b, n)))
}
cat(sprintf('{"source": "%s; closed forms of Luo 2018, Wan 2014, Shi 2020, Hozo 2005",\n "cases": [\n', R.version.string))
cat(paste(out, collapse = ",\n")); cat("\n]}\n")
