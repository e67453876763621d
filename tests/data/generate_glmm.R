# Reference values for sci_evidence.meta.pool_glmm, computed with R metafor 3.8-1 rma.glmm
# (lme4 1.1-31, BiasedUrn) on Debian.
# Run from the repository root:
#   Rscript tests/data/generate_glmm.R > tests/data/metafor_glmm.json
# Every case records its inputs, the exact call and metafor's results (full precision).
suppressMessages({library(metafor); library(jsonlite)})
num <- function(x) if (is.null(x) || length(x) == 0) NA else as.numeric(x)
cases <- list()
run <- function(name, args, note = "") {
  warns <- character(0)
  res <- tryCatch(withCallingHandlers(do.call(rma.glmm, args),
    warning = function(w) {warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning")}),
    error = function(e) conditionMessage(e))
  if (is.character(res)) {  # metafor refused or failed: recorded, not pinned
    cases[[length(cases) + 1]] <<- list(name = name, error = res, measure = args$measure,
      model = if (is.null(args$model)) "UM.FS" else args$model, method = if (is.null(args$method)) "ML" else args$method,
      inputs = lapply(args[setdiff(names(args), c("measure", "model", "method", "mods", "nAGQ", "control"))], as.numeric),
      warnings = as.list(warns))
    return(invisible(NULL))
  }
  pr <- if (res$int.only) predict(res) else NULL
  tf <- if (args$measure %in% c("PLO")) transf.ilogit else exp
  prt <- if (res$int.only) predict(res, transf = tf) else NULL
  inputs <- args[setdiff(names(args), c("measure", "model", "method", "mods", "nAGQ", "control"))]
  call <- paste0("rma.glmm(", paste(names(args), sapply(args, function(a) paste(deparse(a, width.cutoff = 500L), collapse = "")), sep = "=", collapse = ", "), ")")
  out <- list(
    name = name, note = note, call = call,
    measure = args$measure, model = if (is.null(args$model)) "UM.FS" else args$model,
    method = if (is.null(args$method)) "ML" else args$method,
    nAGQ = if (is.null(args$nAGQ)) 7 else args$nAGQ,
    inputs = lapply(inputs, as.numeric),
    mods = if (is.null(args$mods)) NULL else unname(as.matrix(args$mods)),
    k = res$k, p = res$p, beta = num(res$beta), se = num(res$se), zval = num(res$zval), pval = num(res$pval),
    ci_lb = num(res$ci.lb), ci_ub = num(res$ci.ub), tau2 = num(res$tau2),
    QE_Wld = num(res$QE.Wld), QEp_Wld = num(res$QEp.Wld), QE_LRT = num(res$QE.LRT), QEp_LRT = num(res$QEp.LRT),
    QE_df = num(res$QE.df), QM = num(res$QM), QMp = num(res$QMp), QM_df = num(res$QMdf[1]),
    I2 = num(res$I2), H2 = num(res$H2),
    logLik = num(res$fit.stats["ll", "ML"]), deviance = num(res$fit.stats["dev", "ML"]),
    AIC = num(res$fit.stats["AIC", "ML"]), BIC = num(res$fit.stats["BIC", "ML"]), AICc = num(res$fit.stats["AICc", "ML"]),
    warnings = as.list(warns))
  if (!is.null(pr)) {
    out$pred <- list(pred = num(pr$pred), se = num(pr$se), ci_lb = num(pr$ci.lb), ci_ub = num(pr$ci.ub),
                     pi_lb = num(pr$pi.lb), pi_ub = num(pr$pi.ub))
    out$pred_transf <- list(pred = num(prt$pred), ci_lb = num(prt$ci.lb), ci_ub = num(prt$ci.ub),
                            pi_lb = num(prt$pi.lb), pi_ub = num(prt$pi.ub))
  }
  cases[[length(cases) + 1]] <<- out
}

# ---- single proportions (PLO) ----
set.seed(20261207)
plo2 <- list(xi = c(0, 3), ni = c(10, 20))
plo5 <- list(xi = c(0, 2, 5, 1, 10), ni = c(12, 30, 25, 1, 10))  # a zero, a case report with the event, all events
gen_plo <- function(k, mu, tau, nmin, nmax) {
  ni <- sample(nmin:nmax, k, replace = TRUE)
  pi <- plogis(rnorm(k, mu, tau))
  list(xi = rbinom(k, ni, pi), ni = ni)
}
plo14 <- gen_plo(14, -2, 0.8, 5, 40); plo14$xi[c(3, 9)] <- 0; plo14$ni[5] <- 1; plo14$xi[5] <- 0
plo50 <- gen_plo(50, -1.5, 0.6, 1, 60); plo50$xi[7] <- plo50$ni[7]
plo_hom <- list(xi = c(2, 3, 2, 4, 3), ni = c(40, 42, 38, 45, 41))  # tau2 at the boundary
for (nm in c("plo2", "plo5", "plo14", "plo50", "plo_hom")) {
  d <- get(nm)
  for (meth in c("ML", "EE")) run(paste0(nm, "_", meth), list(measure = "PLO", xi = d$xi, ni = d$ni, method = meth))
}
run("plo5_nAGQ1", list(measure = "PLO", xi = plo5$xi, ni = plo5$ni, method = "ML", nAGQ = 1))
run("plo5_nAGQ15", list(measure = "PLO", xi = plo5$xi, ni = plo5$ni, method = "ML", nAGQ = 15))
route14 <- c(1, 0, 1, 1, 0, 0, 1, 0, 1, 0, 1, 1, 0, 0)
dose14 <- round(runif(14, 1, 10), 1)
for (meth in c("ML", "EE")) {
  run(paste0("plo14_route_", meth), list(measure = "PLO", xi = plo14$xi, ni = plo14$ni, mods = cbind(route14), method = meth))
  run(paste0("plo14_route_dose_", meth), list(measure = "PLO", xi = plo14$xi, ni = plo14$ni, mods = cbind(route14, dose14), method = meth))
}

# ---- the bundled review's adverse events: every treated-arm row with events/total ----
ae <- read.csv("src/sci_evidence/evidence/data/adverse_events.csv", stringsAsFactors = FALSE)
arms <- read.csv("src/sci_evidence/evidence/data/arms.csv", stringsAsFactors = FALSE)
ae <- ae[!is.na(ae$n) & !is.na(ae$patients), ]
ae <- merge(ae, arms[, c("arm_id", "route", "role")], by = "arm_id", sort = FALSE)
ae <- ae[ae$role == "treated", ]
ae <- ae[order(ae$ae_id), ]
ae$intrathecal <- as.numeric(grepl("intrathecal", ae$route))
any_ae <- ae[ae$ae_type == "any", ]
for (meth in c("ML", "EE")) {
  run(paste0("ae_any_", meth), list(measure = "PLO", xi = any_ae$patients, ni = any_ae$n, method = meth),
      note = paste(any_ae$ae_id, collapse = ","))
  run(paste0("ae_rows_", meth), list(measure = "PLO", xi = ae$patients, ni = ae$n, method = meth),
      note = paste(ae$ae_id, collapse = ","))
  run(paste0("ae_rows_route_", meth), list(measure = "PLO", xi = ae$patients, ni = ae$n, mods = cbind(ae$intrathecal), method = meth),
      note = paste(ae$ae_id, collapse = ","))
}

# ---- two groups: odds ratios ----
or6 <- list(ai = c(2, 0, 5, 0, 3, 1), n1i = c(20, 15, 30, 10, 25, 12), ci = c(5, 1, 9, 0, 3, 4), n2i = c(20, 16, 28, 11, 24, 12))
gen_or <- function(k, mu, tau) {
  n1i <- sample(10:60, k, replace = TRUE); n2i <- sample(10:60, k, replace = TRUE)
  a <- rnorm(k, -1.5, 0.7); th <- rnorm(k, mu, tau)
  list(ai = rbinom(k, n1i, plogis(a + th / 2)), n1i = n1i, ci = rbinom(k, n2i, plogis(a - th / 2)), n2i = n2i)
}
or5 <- gen_or(5, -0.5, 0.9)
or14 <- gen_or(14, -0.6, 0.9); or14$ai[4] <- 0
or50 <- gen_or(50, -0.5, 0.7)
or_mod <- c(1, 0, 1, 0, 1, 0, 1, 1, 0, 0, 1, 0, 1, 0)
for (nm in c("or6", "or5", "or14", "or50")) {
  d <- get(nm)
  for (mdl in c("UM.FS", "UM.RS", "CM.EL", "CM.AL")) for (meth in c("ML", "EE")) {
    if (nm == "or50" && mdl %in% c("UM.RS", "CM.EL")) next  # metafor needs minutes for these
    run(paste0(nm, "_", mdl, "_", meth), list(measure = "OR", ai = d$ai, n1i = d$n1i, ci = d$ci, n2i = d$n2i, model = mdl, method = meth))
  }
}
for (mdl in c("UM.FS", "CM.EL", "CM.AL")) run(paste0("or14_mod_", mdl, "_ML"),
  list(measure = "OR", ai = or14$ai, n1i = or14$n1i, ci = or14$ci, n2i = or14$n2i, mods = cbind(or_mod), model = mdl, method = "ML"))

# ---- the same fits with tighter optimiser/integration settings: how precise metafor itself is ----
tight_glmer <- list(glmerCtrl = list(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12, maxfun = 1e5)))
for (nm in c("plo5", "plo14", "plo50")) {
  d <- get(nm)
  run(paste0(nm, "_ML_tight"), list(measure = "PLO", xi = d$xi, ni = d$ni, method = "ML", control = tight_glmer))
}
run("plo14_route_dose_ML_tight", list(measure = "PLO", xi = plo14$xi, ni = plo14$ni, mods = cbind(route14, dose14), method = "ML", control = tight_glmer))
run("ae_any_ML_tight", list(measure = "PLO", xi = any_ae$patients, ni = any_ae$n, method = "ML", control = tight_glmer))
for (nm in c("or5", "or14")) {
  d <- get(nm)
  run(paste0(nm, "_UM.FS_ML_tight"), list(measure = "OR", ai = d$ai, n1i = d$n1i, ci = d$ci, n2i = d$n2i, model = "UM.FS", method = "ML", control = tight_glmer))
  run(paste0(nm, "_CM.EL_EE_tight"), list(measure = "OR", ai = d$ai, n1i = d$n1i, ci = d$ci, n2i = d$n2i, model = "CM.EL", method = "EE",
      control = list(dnchgprec = 1e-15, hessianCtrl = list(r = 8, d = 1e-3))))
}
run("or14_mod_UM.FS_ML_tight", list(measure = "OR", ai = or14$ai, n1i = or14$n1i, ci = or14$ci, n2i = or14$n2i, mods = cbind(or_mod),
    model = "UM.FS", method = "ML", control = tight_glmer))
run("or5_CM.EL_ML_tight", list(measure = "OR", ai = or5$ai, n1i = or5$n1i, ci = or5$ci, n2i = or5$n2i, model = "CM.EL", method = "ML",
    control = list(dnchgprec = 1e-15, intCtrl = list(rel.tol = 1e-10), optCtrl = list(rel.tol = 1e-14, x.tol = 1e-12), hessianCtrl = list(r = 8, d = 1e-3))))

# ---- incidence rates: IRLN (single group) and IRR (two groups) ----
irln8 <- list(xi = c(0, 3, 17, 2, 12, 1, 15, 0), ti = c(50, 120, 200, 80, 310, 40, 150, 25))
for (meth in c("ML", "EE")) run(paste0("irln8_", meth), list(measure = "IRLN", xi = irln8$xi, ti = irln8$ti, method = meth))
irr8 <- list(x1i = c(2, 0, 15, 1, 7, 3, 0, 14), t1i = c(100, 80, 150, 60, 220, 90, 70, 130),
             x2i = c(5, 2, 6, 3, 9, 8, 0, 4), t2i = c(95, 85, 140, 70, 200, 100, 65, 120))
for (mdl in c("UM.FS", "UM.RS", "CM.EL")) for (meth in c("ML", "EE"))
  run(paste0("irr8_", mdl, "_", meth), list(measure = "IRR", x1i = irr8$x1i, t1i = irr8$t1i, x2i = irr8$x2i, t2i = irr8$t2i, model = mdl, method = meth))

cat(toJSON(list(generator = "tests/data/generate_glmm.R", R = R.version.string,
                metafor = as.character(packageVersion("metafor")), lme4 = as.character(packageVersion("lme4")),
                BiasedUrn = as.character(packageVersion("BiasedUrn")), cases = cases),
           auto_unbox = TRUE, digits = NA, null = "null", na = "null", pretty = FALSE))
