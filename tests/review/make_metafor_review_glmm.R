# Reference values for the review's own GLMM, Mantel-Haenszel, Peto and conditional GLMM fits:
# tests/data/metafor_review_glmm.json (metafor 3.8-1, lme4, BiasedUrn, jsonlite).
# Input: tests/data/review_glmm_rows.csv, the exact rows the default review of the bundled base
# pools (written by tests/review/export_review_glmm_rows.py). Re-make both when those rows change.
# Run from the repository root: Rscript tests/review/make_metafor_review_glmm.R
suppressMessages({library(metafor); library(jsonlite)})
rows <- read.csv("tests/data/review_glmm_rows.csv", stringsAsFactors = FALSE, encoding = "UTF-8")
pick <- function(id) rows[rows$analysis == id, ]
num <- function(res, extra = list()) {
  c(list(estimate = unname(coef(res))[1], se = res$se, ci_lb = res$ci.lb, ci_ub = res$ci.ub,
         tau2 = if (is.null(res$tau2)) 0 else res$tau2, k = res$k), extra)
}
# lme4's optimiser stops early with metafor's default settings; the tight rerun is the maximum
tight <- list(glmerCtrl = list(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12, maxfun = 1e5)))
out <- list(software = list(R = R.version.string, metafor = as.character(packageVersion("metafor")),
                            lme4 = as.character(packageVersion("lme4"))))
for (id in c("ais_improved_prop", "ae_any_prop", "ae_serious_prop")) {
  d <- pick(id)
  res <- rma.glmm(measure = "PLO", xi = d$xi, ni = d$ni, method = "ML", control = tight)
  bt <- predict(res, transf = transf.ilogit)
  out[[id]] <- num(res, list(labels = d$label, call = "rma.glmm(measure='PLO', xi, ni, method='ML') [bobyqa rhoend 1e-12]",
                             bt = list(estimate = bt$pred, ci_lb = bt$ci.lb, ci_ub = bt$ci.ub)))
  # the test for subgroup differences of the GLMM: the subgroup as moderator (factor), QM
  sg <- list()
  for (v in c("baseline_group", "route", "cell_source", "injury_phase")) {
    g <- factor(d[[v]])
    if (nlevels(g) < 2) next
    m <- tryCatch(suppressWarnings(rma.glmm(measure = "PLO", xi = d$xi, ni = d$ni, mods = ~ g,
                                            method = "ML", control = tight)),
                  error = function(e) NULL)
    # metafor/lme4 cannot fit some of these (events in one study only): recorded as NA
    sg[[v]] <- if (is.null(m)) list(QM = NA, df = nlevels(g) - 1) else
      list(QM = m$QM, df = m$QMdf[1], pval = m$QMp, tau2 = m$tau2)
  }
  out[[id]]$subgroups <- sg
}
t2 <- pick("ais_improved_rr")
with2 <- function(res, call) {
  b <- num(res, list(labels = t2$label, call = call))
  b$bt <- list(estimate = exp(b$estimate), ci_lb = exp(b$ci_lb), ci_ub = exp(b$ci_ub))
  b
}
out$mh_rr <- with2(rma.mh(measure = "RR", ai = t2$ai, n1i = t2$n1i, ci = t2$ci, n2i = t2$n2i),
                   "rma.mh(measure='RR', ai, n1i, ci, n2i)")
out$mh_rd <- num(rma.mh(measure = "RD", ai = t2$ai, n1i = t2$n1i, ci = t2$ci, n2i = t2$n2i),
                 list(labels = t2$label, call = "rma.mh(measure='RD', ai, n1i, ci, n2i)"))
out$mh_or <- with2(rma.mh(measure = "OR", ai = t2$ai, n1i = t2$n1i, ci = t2$ci, n2i = t2$n2i),
                   "rma.mh(measure='OR', ai, n1i, ci, n2i)")
out$peto <- with2(rma.peto(ai = t2$ai, n1i = t2$n1i, ci = t2$ci, n2i = t2$n2i),
                  "rma.peto(ai, n1i, ci, n2i)")
out$glmm_cm_el <- with2(rma.glmm(measure = "OR", ai = t2$ai, n1i = t2$n1i, ci = t2$ci, n2i = t2$n2i,
                                 model = "CM.EL", method = "ML"),
                        "rma.glmm(measure='OR', ai, n1i, ci, n2i, model='CM.EL', method='ML')")
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "tests/data/metafor_review_glmm.json")
