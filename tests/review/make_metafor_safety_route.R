# Reference values for sci_evidence.review.safety.safety_by_route: metafor 3.8-1 rma.glmm
# (binomial-normal GLMM, measure = "PLO") on the exact rows the review compares by route.
# The rows are fixtures written from the review (tests/data/safety_route_rows.csv: the
# bundled "any adverse event" analysis; tests/data/safety_route_handmade_rows.csv: the
# hand-made set of tests/review/_safety_set.py). Run from the repository root:
#   Rscript tests/review/make_metafor_safety_route.R > tests/data/metafor_safety_route.json
# Fits use lme4's bobyqa with rhoend = 1e-12 (metafor's default stops early, see
# tests/meta/test_glmm_metafor.py), nAGQ = 7 as metafor's default.
suppressMessages({library(metafor); library(jsonlite)})
tight <- list(glmerCtrl = list(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12, maxfun = 1e5)))
num <- function(x) if (is.null(x) || length(x) == 0) NA else as.numeric(x)
fit <- function(args) {
  warns <- character(0)
  res <- withCallingHandlers(do.call(rma.glmm, args),
    warning = function(w) {warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning")})
  list(res = res, warnings = warns)
}
cases <- list()
for (set in c("bundled", "handmade")) {
  file <- if (set == "bundled") "tests/data/safety_route_rows.csv" else "tests/data/safety_route_handmade_rows.csv"
  d <- read.csv(file, stringsAsFactors = FALSE)
  m <- d[d$in_moderator %in% c("True", "TRUE", TRUE), ]
  m$route_group <- factor(m$route_group)  # levels alphabetical: the first is the reference
  f <- fit(list(measure = "PLO", xi = m$xi, ni = m$ni, mods = ~ route_group, data = m, method = "ML",
                control = tight))
  r <- f$res
  cases[[length(cases) + 1]] <- list(
    name = paste0(set, "_route_moderator"), set = set, study_id = m$study_id,
    levels = levels(m$route_group), coef_names = rownames(r$beta),
    beta = num(r$beta), se = num(r$se), ci_lb = num(r$ci.lb), ci_ub = num(r$ci.ub),
    tau2 = num(r$tau2), QM = num(r$QM), QMp = num(r$QMp), QM_df = num(r$QMdf[1]),
    k = r$k, warnings = as.list(f$warnings))
  for (g in levels(m$route_group)) {
    s <- m[m$route_group == g, ]
    if (nrow(s) < 2) next
    f <- fit(list(measure = "PLO", xi = s$xi, ni = s$ni, method = "ML", control = tight))
    p <- predict(f$res, transf = transf.ilogit)
    cases[[length(cases) + 1]] <- list(
      name = paste0(set, "_route_", g), set = set, route_group = g, study_id = s$study_id,
      beta = num(f$res$beta), se = num(f$res$se), ci_lb = num(f$res$ci.lb), ci_ub = num(f$res$ci.ub),
      tau2 = num(f$res$tau2), proportion = num(p$pred), prop_ci_lb = num(p$ci.lb),
      prop_ci_ub = num(p$ci.ub), k = f$res$k, warnings = as.list(f$warnings))
  }
}
cat(toJSON(list(generator = "tests/review/make_metafor_safety_route.R", R = R.version.string,
                metafor = as.character(packageVersion("metafor")),
                lme4 = as.character(packageVersion("lme4")), cases = cases),
           auto_unbox = TRUE, digits = NA, null = "null", na = "null"))
