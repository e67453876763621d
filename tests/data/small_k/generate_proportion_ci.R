# Reference intervals for sci_evidence.meta.proportion_ci (R 4.x stats, no packages).
# Clopper-Pearson: binom.test(x, n, conf.level)$conf.int
# Wilson:          prop.test(x, n, correct = FALSE, conf.level)$conf.int
# Run: Rscript generate_proportion_ci.R > proportion_ci.json
cases <- list(c(0,1), c(1,1), c(0,50), c(3,122), c(5,50), c(50,50), c(1,2), c(7,9), c(12,300), c(0,3))
out <- list()
for (lv in c(0.95, 0.90, 0.99)) for (cs in cases) {
  x <- cs[1]; n <- cs[2]
  cp <- binom.test(x, n, conf.level = lv)$conf.int
  wi <- suppressWarnings(prop.test(x, n, correct = FALSE, conf.level = lv)$conf.int)
  out[[length(out) + 1]] <- sprintf(
    '{"x": %d, "n": %d, "level": %.2f, "cp": [%.17g, %.17g], "wilson": [%.17g, %.17g]}',
    x, n, lv, cp[1], cp[2], wi[1], wi[2])
}
cat(sprintf('{"source": "%s, stats::binom.test and stats::prop.test(correct=FALSE)",\n "cases": [\n',
            R.version.string))
cat(paste(out, collapse = ",\n"))
cat("\n]}\n")
