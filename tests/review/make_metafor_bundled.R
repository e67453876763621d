# Reference values for the default review of the bundled evidence base: tests/data/metafor_bundled.json
# Run: Rscript tests/review/make_metafor_bundled.R  (R 4, metafor 3.8-1, jsonlite)
# The inputs are the rows the review pools from the corrected base (evidence schema 0003, after
# the audit): re-make this file whenever the bundled data change those rows.
suppressMessages({library(metafor); library(jsonlite)})
fit <- function(res, labels, transf = NULL, targs = NULL) {
  p <- predict(res)
  out <- list(labels = labels, estimate = unname(coef(res))[1], se = res$se, ci_lb = res$ci.lb,
              ci_ub = res$ci.ub, pi_lb = p$pi.lb, pi_ub = p$pi.ub, tau2 = res$tau2, I2 = res$I2,
              Q = res$QE, Q_pval = res$QEp, k = res$k, yi = as.numeric(res$yi),
              vi = as.numeric(res$vi), weights = unname(weights(res)))
  if (!is.null(transf)) {
    bt <- predict(res, transf = transf, targs = targs)
    out$bt <- list(estimate = bt$pred, ci_lb = bt$ci.lb, ci_ub = bt$ci.ub, pi_lb = bt$pi.lb, pi_ub = bt$pi.ub)
  }
  out
}
# AIS improvement by >= 1 grade, treated arms (12 studies)
ais_lab <- c("Bydon 2024", "Dai 2013a", "Dai 2013b", "EJHM series (Al-Azhar)", "El-Kheir 2014",
             "IV MSC series (PMC11509003)", "Jiang 2013", "Karamouzian 2012", "Mendonça 2014",
             "Pal 2009", "Park 2005", "Tien 2019")
ais_x <- c(7, 9, 10, 17, 17, 1, 15, 5, 7, 0, 5, 13)
ais_n <- c(10, 20, 18, 45, 50, 7, 20, 11, 14, 30, 6, 31)
plo <- rma(measure = "PLO", xi = ais_x, ni = ais_n, method = "REML")
pft <- rma(measure = "PFT", xi = ais_x, ni = ais_n, method = "REML")
# any adverse event (16 studies: 11 with an "any" row, 5 with the largest single-type count as
# a lower bound, review/safety.py) and serious adverse events (7 studies), treated arms
d <- "[derived (lower bound)]"
any_lab <- c("Oh 2016", "Park 2012", "Vaquero 2018", "Hur 2016", "El-Kheir 2014",
             "Karamouzian 2012", "Cheng 2014", "Kabataş 2021", "Pal 2009", "Saito 2012", "Tien 2019",
             paste("Bydon 2024", d), paste("Mendonça 2014", d), paste("Satti 2016", d),
             paste("Kishk 2010", d), paste("EJHM series (Al-Azhar)", d))
any_x <- c(0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 8, 1, 2, 1, 4)
any_n <- c(16, 10, 10, 14, 50, 11, 10, 1, 30, 5, 31, 10, 14, 9, 44, 45)
ae_any <- rma(measure = "PFT", xi = any_x, ni = any_n, method = "REML")
ser_lab <- c("Bydon 2024", "Satti 2016", "IV MSC series (PMC11509003)", "Tien 2019", "Park 2005",
             "Vij 2023", "Kishk 2010")
ser_x <- c(0, 0, 0, 0, 0, 0, 1)
ser_n <- c(10, 9, 7, 31, 6, 1, 44)
ae_ser <- rma(measure = "PFT", xi = ser_x, ni = ser_n, method = "REML")
out <- list(
  meta = list(R = R.version.string, metafor = as.character(packageVersion("metafor"))),
  calls = list(
    ais_improved_prop = "rma(measure='PLO', xi, ni, method='REML'); predict(res, transf=transf.ilogit)",
    ais_improved_prop_ft = "rma(measure='PFT', xi, ni, method='REML'); predict(res, transf=transf.ipft.hm, targs=list(ni=ni))",
    ae_any_prop = "rma(measure='PFT', xi, ni, method='REML'); predict(res, transf=transf.ipft.hm, targs=list(ni=ni))",
    ae_serious_prop = "rma(measure='PFT', xi, ni, method='REML'); predict(res, transf=transf.ipft.hm, targs=list(ni=ni))"),
  ais_improved_prop = fit(plo, ais_lab, transf.ilogit),
  ais_improved_prop_ft = fit(pft, ais_lab, transf.ipft.hm, list(ni = ais_n)),
  ae_any_prop = fit(ae_any, any_lab, transf.ipft.hm, list(ni = any_n)),
  ae_serious_prop = fit(ae_ser, ser_lab, transf.ipft.hm, list(ni = ser_n)))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "tests/data/metafor_bundled.json")
