# Extra reference values for the bias/sensitivity part (meta-bias), computed with R metafor 3.8-1
# (Debian r-cran-metafor) and the metadat data sets.
# Run: Rscript tests/data/generate_bias_extra.R > tests/data/metafor_bias_extra.json
suppressMessages({library(metafor); library(jsonlite)})
ctl <- list(tol = 1e-12, threshold = 1e-12, maxiter = 1000)
num <- function(x) if (is.null(x) || length(x) == 0) NA else as.numeric(x)
cases <- list()
add <- function(case) cases[[length(cases) + 1]] <<- case
bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
nd <- escalc(measure = "SMD", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i, n2i = n2i, data = dat.normand1999)
hk <- dat.hackshaw1998
eg <- escalc(measure = "OR", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat.egger2001)
eg$ni <- eg$n1i + eg$n2i
sets <- list(bcg_RR = bcg, normand_SMD = nd, hackshaw = hk, egger2001_OR = eg)
infl <- function(res) {
  inf <- influence(res)
  list(rstudent = as.numeric(inf$inf$rstudent), dffits = as.numeric(inf$inf$dffits),
       cooks_distance = as.numeric(inf$inf$cook.d), cov_ratio = as.numeric(inf$inf$cov.r),
       tau2_deleted = as.numeric(inf$inf$tau2.del), Q_deleted = as.numeric(inf$inf$QE.del),
       hat = as.numeric(inf$inf$hat), weight = as.numeric(inf$inf$weight),
       influential = as.logical(inf$is.infl),
       dfbetas = lapply(unclass(inf$dfbs)[seq_len(res$p)], as.numeric))
}
loo <- function(res) {
  l <- leave1out(res)
  list(estimate = l$estimate, se = l$se, stat = as.numeric(l[[3]]), pval = l$pval, ci_lb = l$ci.lb, ci_ub = l$ci.ub,
       Q = l$Q, Q_pval = l$Qp, tau2 = if (is.null(l$tau2)) rep(0, length(l$estimate)) else l$tau2, I2 = l$I2, H2 = l$H2)
}
for (nm in names(sets)) {
  d <- sets[[nm]]
  for (meth in c("REML", "DL", "EE")) for (tst in c("z", "knha")) {
    if (meth == "EE" && tst == "knha") next
    res <- rma(yi, vi, data = d, method = meth, test = tst, control = ctl)
    call <- sprintf("rma(yi, vi, method='%s', test='%s', control=list(tol=1e-12, threshold=1e-12, maxiter=1000))", meth, tst)
    rg <- regtest(res); rl <- regtest(res, model = "lm"); pe <- regtest(res, model = "lm", predictor = "vi")
    per <- regtest(res, predictor = "vi")
    tf <- trimfill(res); tr <- trimfill(res, estimator = "R0")
    tfl <- trimfill(res, side = "left"); tfr <- trimfill(res, side = "right")
    cu <- cumul(res)
    ord <- order(d$vi)
    cuv <- cumul(res, order = d$vi)
    case <- list(name = paste(nm, meth, tst, sep = "_"), call = call, method = meth, test = tst,
      input = list(yi = as.numeric(d$yi), vi = as.numeric(d$vi), ni = if (!is.null(d$ni)) d$ni else NULL),
      expected = list(
        egger_rma = list(z = num(rg$zval), pval = num(rg$pval), dof = num(rg$dfs), est = num(rg$est), ci_lb = num(rg$ci.lb), ci_ub = num(rg$ci.ub)),
        egger_lm = list(z = num(rl$zval), pval = num(rl$pval), dof = num(rl$dfs), est = num(rl$est), ci_lb = num(rl$ci.lb), ci_ub = num(rl$ci.ub)),
        peese_lm = list(z = num(pe$zval), pval = num(pe$pval), est = num(pe$est), ci_lb = num(pe$ci.lb), ci_ub = num(pe$ci.ub)),
        peese_rma = list(z = num(per$zval), pval = num(per$pval), est = num(per$est), ci_lb = num(per$ci.lb), ci_ub = num(per$ci.ub)),
        ranktest = list(tau = num(ranktest(res)$tau), pval = num(ranktest(res)$pval)),
        trimfill_L0 = list(k0 = tf$k0, se_k0 = num(tf$se.k0), side = tf$side, estimate = num(tf$beta), se = num(tf$se), tau2 = num(tf$tau2), Q = num(tf$QE), k = tf$k,
                           filled_yi = as.numeric(tf$yi[tf$fill]), filled_vi = as.numeric(tf$vi[tf$fill])),
        trimfill_R0 = list(k0 = tr$k0, se_k0 = num(tr$se.k0), side = tr$side, estimate = num(tr$beta), se = num(tr$se), p_k0 = num(tr$p.k0)),
        trimfill_left = list(k0 = tfl$k0, estimate = num(tfl$beta)),
        trimfill_right = list(k0 = tfr$k0, estimate = num(tfr$beta)),
        leave1out = loo(res),
        influence = infl(res),
        baujat = (function(b) list(x = as.numeric(b$x), y = as.numeric(b$y)))(suppressWarnings({pdf(NULL); b <- baujat(res); dev.off(); b})),
        cumulative = list(estimate = cu$estimate, se = cu$se, ci_lb = cu$ci.lb, ci_ub = cu$ci.ub, Q = cu$Q, I2 = cu$I2, tau2 = if (is.null(cu$tau2)) rep(0, length(cu$estimate)) else cu$tau2),
        cumulative_by_vi = list(order = as.integer(ord), estimate = cuv$estimate, tau2 = if (is.null(cuv$tau2)) rep(0, length(cuv$estimate)) else cuv$tau2),
        fsn = list(Rosenthal = fsn(yi, vi, data = d)$fsnum, Rosenthal_pval = fsn(yi, vi, data = d)$pval,
                   Orwin = fsn(yi, vi, data = d, type = "Orwin")$fsnum,
                   Orwin_weighted = fsn(yi, vi, data = d, type = "Orwin", weighted = TRUE)$fsnum,
                   Orwin_target_0.1 = fsn(yi, vi, data = d, type = "Orwin", target = 0.1)$fsnum,
                   Rosenberg = fsn(yi, vi, data = d, type = "Rosenberg")$fsnum,
                   Rosenberg_pval = fsn(yi, vi, data = d, type = "Rosenberg")$pval)))
    if (!is.null(d$ni)) {
      case$expected$egger_rma_ni <- list(z = num(regtest(res, predictor = "ni")$zval))
      case$expected$egger_lm_sqrtninv <- list(z = num(regtest(res, model = "lm", predictor = "sqrtninv")$zval),
                                             est = num(regtest(res, model = "lm", predictor = "sqrtninv")$est))
    }
    add(case)
  }
}
# influence with moderators (mixed-effects meta-regression)
for (tst in c("z", "knha")) {
  res <- rma(yi, vi, mods = ~ ablat + year, data = bcg, method = "REML", test = tst, control = ctl)
  add(list(name = paste0("bcg_RR_mods_ablat_year_REML_", tst), method = "REML", test = tst,
           call = sprintf("influence(rma(yi, vi, mods = ~ ablat + year, data = dat, test='%s', control=ctl)); regtest(res)", tst),
           input = list(yi = as.numeric(bcg$yi), vi = as.numeric(bcg$vi), mods = list(ablat = bcg$ablat, year = bcg$year)),
           expected = list(influence = infl(res),
                           egger_rma = list(z = num(regtest(res)$zval), pval = num(regtest(res)$pval)),
                           egger_lm = list(z = num(regtest(res, model = "lm")$zval), pval = num(regtest(res, model = "lm")$pval)))))
}
# exact permutation tests
perm <- list()
res <- rma(yi, vi, data = bcg, control = ctl)
pt <- permutest(res, exact = TRUE, progbar = FALSE)
perm[[1]] <- list(name = "bcg_RR_REML_intercept_exact", call = "permutest(rma(yi, vi, data=bcg), exact=TRUE)", method = "REML", test = "z",
  input = list(yi = as.numeric(bcg$yi), vi = as.numeric(bcg$vi)),
  expected = list(iterations = 2^13, pval = num(pt$pval), QMp = num(pt$QMp)))
res <- rma(yi, vi, data = nd, method = "DL", test = "knha", control = ctl)
pt <- permutest(res, exact = TRUE, progbar = FALSE)
perm[[2]] <- list(name = "normand_SMD_DL_knha_intercept_exact", call = "permutest(rma(yi, vi, data=nd, method='DL', test='knha'), exact=TRUE)", method = "DL", test = "knha",
  input = list(yi = as.numeric(nd$yi), vi = as.numeric(nd$vi)),
  expected = list(iterations = 2^9, pval = num(pt$pval), QMp = num(pt$QMp)))
rnd <- as.numeric(bcg$alloc == "random")
res <- rma(yi, vi, mods = ~ rnd, data = bcg, control = ctl)
pt <- permutest(res, exact = TRUE, progbar = FALSE)
perm[[3]] <- list(name = "bcg_RR_REML_mod_random_alloc_exact", call = "permutest(rma(yi, vi, mods = ~ I(alloc=='random')), exact=TRUE)", method = "REML", test = "z",
  input = list(yi = as.numeric(bcg$yi), vi = as.numeric(bcg$vi), mods = list(random = rnd)),
  expected = list(iterations = choose(13, 7), pval = as.numeric(pt$pval), QMp = num(pt$QMp)))
res <- rma(yi, vi, mods = ~ rnd, data = bcg, method = "DL", test = "knha", control = ctl)
pt <- permutest(res, exact = TRUE, progbar = FALSE)
perm[[4]] <- list(name = "bcg_RR_DL_knha_mod_random_alloc_exact", call = "permutest(rma(yi, vi, mods = ~ I(alloc=='random'), method='DL', test='knha'), exact=TRUE)", method = "DL", test = "knha",
  input = list(yi = as.numeric(bcg$yi), vi = as.numeric(bcg$vi), mods = list(random = rnd)),
  expected = list(iterations = choose(13, 7), pval = as.numeric(pt$pval), QMp = num(pt$QMp)))
# GOSH: all subsets are deterministic; first 8 studies of bcg
d8 <- bcg[1:8, ]
gosh_cases <- list()
for (meth in c("DL", "EE", "REML")) {
  res <- rma(yi, vi, data = d8, method = meth, control = ctl)
  g <- gosh(res, progbar = FALSE)
  incl <- as.matrix(g$incl)
  mask <- as.numeric(incl %*% 2^(0:7))
  gosh_cases[[length(gosh_cases) + 1]] <- list(name = paste0("bcg8_gosh_", meth), method = meth,
    call = sprintf("gosh(rma(yi, vi, data=bcg[1:8,], method='%s'))", meth),
    input = list(yi = as.numeric(d8$yi), vi = as.numeric(d8$vi)),
    expected = list(mask = mask, estimate = g$res$estimate, tau2 = g$res$tau2, I2 = g$res$I2, Q = g$res$QE, H2 = g$res$H2, k = g$res$k))
}
out <- list(generator = "tests/data/generate_bias_extra.R", metafor = as.character(packageVersion("metafor")),
            R = R.version.string, control = ctl, cases = cases, permutation = perm, gosh = gosh_cases)
cat(toJSON(out, auto_unbox = TRUE, digits = NA, na = "null", pretty = FALSE))
