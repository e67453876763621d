# Reference values for the Fisher-type fail-safe N (metafor fsn, Fisher's method of pooling
# p-values) -> tests/data/fsn_fisher.json. Run: Rscript tests/data/generate_fsn_fisher.R
#
# metafor 3.8-1 spells it fsn(yi, vi, test="Fisher") and searches uniroot() on [0, 1000];
# metafor >= 4 spells it fsn(yi, vi, pool="Fisher") and searches [0, 50 k] (same
# .fsn.fisher function, same uniroot tolerance, the root rounded up). Passing
# interval = c(0, 50 k) to 3.8-1 reproduces metafor 4's search; its published test value
# for dat.raudenbush1985 is 40 (tests/testthat/test_misc_fsn.r).
suppressMessages({library(metafor); library(jsonlite)})
one <- function(name, yi, vi) {
  k <- length(yi)
  iv <- c(0, 50 * k)
  res <- fsn(yi, vi, test = "Fisher", interval = iv)
  pi <- pnorm(abs(yi / sqrt(vi)), lower.tail = FALSE)
  p0 <- metafor:::.fsn.fisher(0, pi = pi, alpha = 0)
  root <- if (p0 >= 0.05) 0 else
    uniroot(metafor:::.fsn.fisher, interval = iv, extendInt = "upX", pi = pi, alpha = 0.05)$root
  list(name = name, yi = yi, vi = vi, fsnum = res$fsnum, root = root, pval = p0)
}
cases <- list()
cases[[1]] <- one("raudenbush1985", dat.raudenbush1985$yi, dat.raudenbush1985$vi)
d <- escalc(measure = "OR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
cases[[2]] <- one("bcg", as.numeric(d$yi), as.numeric(d$vi))
cases[[3]] <- one("hackshaw1998", dat.hackshaw1998$yi, dat.hackshaw1998$vi)
set.seed(20261207)
for (i in 1:40) {
  k <- sample(2:30, 1)
  vi <- runif(k, 0.01, 0.5)
  yi <- rnorm(k, mean = runif(1, -0.2, 0.8), sd = sqrt(vi))
  cases[[length(cases) + 1]] <- one(sprintf("random%02d", i), yi, vi)
}
out <- list(source = paste0(R.version.string, ", metafor ", packageVersion("metafor"),
                            "; fsn(yi, vi, test='Fisher', interval=c(0, 50*k))"),
            published = list(raudenbush1985 = 40), cases = cases)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA), "tests/data/fsn_fisher.json")
