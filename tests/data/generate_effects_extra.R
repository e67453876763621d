# Extra metafor reference values for sci_evidence.meta effects, back-transformations,
# Mantel-Haenszel / Peto fits and the correlation-sensitivity helper.
#
# Run (R 4 with metafor 3.8-1, Debian r-cran-metafor; jsonlite):
#   Rscript tests/data/generate_effects_extra.R > tests/data/metafor_effects_extra.json
#
# Every case records the exact metafor call in "call". Values are printed at full double
# precision (jsonlite digits = NA); NA becomes null.

suppressPackageStartupMessages({
  library(metafor)
  library(jsonlite)
})

cases <- list()
add_case <- function(x) cases[[length(cases) + 1]] <<- x
num <- function(x) { x <- as.numeric(x); x[is.nan(x)] <- NA; x }

## ---------------------------------------------------------------- data
bcg <- dat.bcg
li <- dat.li2007
niel <- dat.nielweise2007
pritz <- dat.pritz1997
norm <- dat.normand1999
prepost <- data.frame(
  m1i = c(39.8, 52.2, 29.7, 55, 27.2, 60.8, 36.5, 50.6, 40.8),
  m2i = c(23.9, 38.1, 23.4, 42.4, 20.3, 59.4, 32.7, 45.6, 31.8),
  sd1i = c(22.6, 13.7, 19.8, 15.7, 21.1, 13.7, 8.9, 15.7, 16.8),
  sd2i = c(17.6, 12.6, 17.1, 13.2, 18.9, 11.8, 9, 17.8, 18.8),
  ni = c(26, 38, 35, 9, 22, 33, 15, 10, 31))
rates <- data.frame(xi = c(0, 3, 10, 25, 7), ti = c(120.5, 300, 845, 1200, 410))
props0 <- data.frame(xi = c(0, 4, 9, 16, 20), ni = c(10, 10, 15, 20, 20))

## ---------------------------------------------------------------- escalc
es <- function(name, measure, input, args, call) {
  dat <- do.call(escalc, c(list(measure = measure), input, args))
  add_case(list(kind = "effect_size", name = name, measure = measure, input = input,
                args = args, call = call,
                expected = list(yi = num(dat$yi), vi = num(dat$vi))))
}

two <- function(d, a, b, c, dd) list(ai = d[[a]], bi = d[[b]], ci = d[[c]], di = d[[dd]])
bcg_in <- two(bcg, "tpos", "tneg", "cpos", "cneg")
li_in <- list(ai = li$ai, bi = li$n1i - li$ai, ci = li$ci, di = li$n2i - li$ci)
niel_in <- list(ai = niel$ai, n1i = niel$n1i, ci = niel$ci, n2i = niel$n2i)
norm_in <- list(m1i = norm$m1i, sd1i = norm$sd1i, n1i = norm$n1i,
                m2i = norm$m2i, sd2i = norm$sd2i, n2i = norm$n2i)
pritz_in <- list(xi = pritz$xi, ni = pritz$ni)

for (to in c("all", "if0all", "none")) for (m in c("RR", "OR", "RD")) {
  es(paste0("li2007_", m, "_to_", to), m, li_in, list(to = to),
     sprintf("escalc('%s', ai, bi, ci, di, data=dat.li2007 (bi=n1i-ai, di=n2i-ci), to='%s')", m, to))
}
for (m in c("RR", "OR", "RD")) {
  es(paste0("li2007_", m, "_add_0.25"), m, li_in, list(add = 0.25),
     sprintf("escalc('%s', ..., data=dat.li2007, add=1/4)", m))
  es(paste0("nielweise2007_", m, "_drop00"), m, niel_in, list(drop00 = TRUE),
     sprintf("escalc('%s', ai=ai, n1i=n1i, ci=ci, n2i=n2i, data=dat.nielweise2007, drop00=TRUE)", m))
  es(paste0("nielweise2007_", m, "_default"), m, niel_in, list(),
     sprintf("escalc('%s', ai=ai, n1i=n1i, ci=ci, n2i=n2i, data=dat.nielweise2007)", m))
}
for (vt in c("UB", "AV")) {
  es(paste0("li2007_RD_vtype_", vt), "RD", li_in, list(vtype = vt),
     sprintf("escalc('RD', ..., data=dat.li2007, vtype='%s')", vt))
}
for (vt in c("UB", "LS2", "AV")) {
  es(paste0("normand1999_SMD_vtype_", vt), "SMD", norm_in, list(vtype = vt),
     sprintf("escalc('SMD', m1i, sd1i, n1i, m2i, sd2i, n2i, data=dat.normand1999, vtype='%s')", vt))
}
es("normand1999_MD_vtype_HO", "MD", norm_in, list(vtype = "HO"),
   "escalc('MD', ..., data=dat.normand1999, vtype='HO')")
es("normand1999_ROM_uncorrected", "ROM", norm_in, list(),
   "escalc('ROM', ..., data=dat.normand1999)  # metafor 3.8: no bias correction")
es("normand1999_ROM_uncorrected_vtype_HO", "ROM", norm_in, list(vtype = "HO"),
   "escalc('ROM', ..., data=dat.normand1999, vtype='HO')  # metafor 3.8: no bias correction")

for (r in c(0, 0.3, 0.5, 0.9)) for (m in c("MC", "SMCC", "SMCR")) {
  inp <- c(as.list(prepost), list(ri = rep(r, nrow(prepost))))
  es(sprintf("prepost_%s_ri_%s", m, r), m, inp, list(),
     sprintf("escalc('%s', m1i, m2i, sd1i, sd2i, ni, ri=%s)", m, r))
}
for (m in c("SMCC", "SMCR")) {
  inp <- c(as.list(prepost), list(ri = rep(0.6, nrow(prepost))))
  es(sprintf("prepost_%s_ri_0.6_vtype_LS2", m), m, inp, list(vtype = "LS2"),
     sprintf("escalc('%s', m1i, m2i, sd1i, sd2i, ni, ri=0.6, vtype='LS2')", m))
}

for (vt in c("UB", "AV")) {
  es(paste0("pritz1997_PR_vtype_", vt), "PR", pritz_in, list(vtype = vt),
     sprintf("escalc('PR', xi, ni, data=dat.pritz1997, vtype='%s')", vt))
}
es("pritz1997_PLN", "PLN", pritz_in, list(), "escalc('PLN', xi, ni, data=dat.pritz1997)")
es("pritz1997_PLN_vtype_AV", "PLN", pritz_in, list(vtype = "AV"),
   "escalc('PLN', xi, ni, data=dat.pritz1997, vtype='AV')")
es("pritz1997_PLO_vtype_AV", "PLO", pritz_in, list(vtype = "AV"),
   "escalc('PLO', xi, ni, data=dat.pritz1997, vtype='AV')")
for (m in c("PR", "PLO", "PAS", "PFT")) {
  es(paste0("props0_", m, "_default"), m, as.list(props0), list(),
     sprintf("escalc('%s', xi=c(0,4,9,16,20), ni=c(10,10,15,20,20))", m))
  es(paste0("props0_", m, "_add_0.5_to_all"), m, as.list(props0), list(add = 0.5, to = "all"),
     sprintf("escalc('%s', xi=c(0,4,9,16,20), ni=c(10,10,15,20,20), add=1/2, to='all')", m))
}
for (m in c("IR", "IRLN")) {
  es(paste0("rates_", m, "_default"), m, as.list(rates), list(),
     sprintf("escalc('%s', xi=c(0,3,10,25,7), ti=c(120.5,300,845,1200,410))", m))
  es(paste0("rates_", m, "_to_all"), m, as.list(rates), list(to = "all"),
     sprintf("escalc('%s', xi=..., ti=..., to='all')", m))
  es(paste0("rates_", m, "_to_none"), m, as.list(rates), list(to = "none"),
     sprintf("escalc('%s', xi=..., ti=..., to='none')", m))
}
es("normand1999_MN", "MN", list(mi = norm$m1i, sdi = norm$sd1i, ni = norm$n1i), list(),
   "escalc('MN', mi=m1i, sdi=sd1i, ni=n1i, data=dat.normand1999)")

## ---------------------------------------------------------------- MH and Peto
fit_out <- function(res) {
  list(estimate = num(res$beta), se = num(res$se), zval = num(res$zval), pval = num(res$pval),
       ci_lb = num(res$ci.lb), ci_ub = num(res$ci.ub), Q = num(res$QE), Q_pval = num(res$QEp),
       I2 = num(res$I2), H2 = num(res$H2), k = res$k, k_yi = res$k.yi,
       yi = num(res$yi), vi = num(res$vi), weights = num(weights(res)))
}
mh <- function(name, input, measure, args, call) {
  res <- do.call(rma.mh, c(input, list(measure = measure), args))
  out <- fit_out(res)
  if (measure == "OR") {
    out$CMH <- num(res$MH); out$CMH_pval <- num(res$MHp)
    out$BD <- num(res$BD); out$BD_pval <- num(res$BDp)
    out$TA <- num(res$TA); out$TA_pval <- num(res$TAp)
  }
  add_case(list(kind = "mh", name = name, measure = measure, input = input, args = args,
                call = call, expected = out))
}
peto <- function(name, input, args, call) {
  res <- do.call(rma.peto, c(input, args))
  add_case(list(kind = "peto", name = name, measure = "PETO", input = input, args = args,
                call = call, expected = fit_out(res)))
}
for (m in c("OR", "RR", "RD")) {
  mh(paste0("bcg_MH_", m), bcg_in, m, list(),
     sprintf("rma.mh(measure='%s', ai=tpos, bi=tneg, ci=cpos, di=cneg, data=dat.bcg)", m))
  mh(paste0("li2007_MH_", m), li_in, m, list(),
     sprintf("rma.mh(measure='%s', ai, bi=n1i-ai, ci, di=n2i-ci, data=dat.li2007)", m))
  mh(paste0("nielweise2007_MH_", m), niel_in, m, list(),
     sprintf("rma.mh(measure='%s', ai=ai, n1i=n1i, ci=ci, n2i=n2i, data=dat.nielweise2007)", m))
  mh(paste0("bcg_MH_", m, "_level90"), bcg_in, m, list(level = 90),
     sprintf("rma.mh(measure='%s', ..., data=dat.bcg, level=90)", m))
}
mh("nielweise2007_MH_OR_drop00_FALSE_uncorrected", niel_in, "OR", list(drop00 = FALSE, correct = FALSE),
   "rma.mh(measure='OR', ai=ai, n1i=n1i, ci=ci, n2i=n2i, data=dat.nielweise2007, drop00=FALSE, correct=FALSE)")
mh("li2007_MH_RD_add_0.25_to_all", li_in, "RD", list(add = 0.25, to = "all"),
   "rma.mh(measure='RD', ai, bi=n1i-ai, ci, di=n2i-ci, data=dat.li2007, add=1/4, to='all')")
peto("nielweise2007_Peto_drop00_FALSE", niel_in, list(drop00 = FALSE),
     "rma.peto(ai=ai, n1i=n1i, ci=ci, n2i=n2i, data=dat.nielweise2007, drop00=FALSE)")
peto("bcg_Peto", bcg_in, list(), "rma.peto(ai=tpos, bi=tneg, ci=cpos, di=cneg, data=dat.bcg)")
peto("li2007_Peto", li_in, list(), "rma.peto(ai, bi=n1i-ai, ci, di=n2i-ci, data=dat.li2007)")
peto("nielweise2007_Peto", niel_in, list(),
     "rma.peto(ai=ai, n1i=n1i, ci=ci, n2i=n2i, data=dat.nielweise2007)")

## ---------------------------------------------------------------- back-transformations
bt <- function(name, measure, dat, method, transf, tname, targs = NULL) {
  res <- rma(yi, vi, data = dat, method = method)
  p <- if (is.null(targs)) predict(res, transf = transf) else predict(res, transf = transf, targs = targs)
  raw <- predict(res)
  vals <- c(raw$pred, raw$ci.lb, raw$ci.ub, raw$pi.lb, raw$pi.ub)
  add_case(list(kind = "back_transform", name = name, measure = measure,
                input = list(values = num(vals), ni = if (is.null(targs)) NULL else targs$ni),
                call = sprintf("predict(rma(yi, vi, method='%s'), transf=%s)", method, tname),
                expected = list(values = num(c(p$pred, p$ci.lb, p$ci.ub, p$pi.lb, p$pi.ub)))))
}
dpft <- escalc("PFT", xi = xi, ni = ni, data = pritz)
dpas <- escalc("PAS", xi = xi, ni = ni, data = pritz)
dplo <- escalc("PLO", xi = xi, ni = ni, data = pritz)
dpft0 <- escalc("PFT", xi = xi, ni = ni, data = props0)
for (method in c("EE", "REML")) {
  bt(paste0("pritz1997_PFT_", method), "PFT", dpft, method, transf.ipft.hm, "transf.ipft.hm",
     list(ni = pritz$ni))
  bt(paste0("props0_PFT_", method), "PFT", dpft0, method, transf.ipft.hm, "transf.ipft.hm",
     list(ni = props0$ni))
  bt(paste0("pritz1997_PAS_", method), "PAS", dpas, method, transf.iarcsin, "transf.iarcsin")
  bt(paste0("pritz1997_PLO_", method), "PLO", dplo, method, transf.ilogit, "transf.ilogit")
}
add_case(list(kind = "back_transform_per_study", name = "pritz1997_PFT_per_study",
              measure = "PFT", input = list(values = num(dpft$yi), ni = pritz$ni),
              call = "transf.ipft(dat$yi, dat$ni)  # dat = escalc('PFT', xi, ni, data=dat.pritz1997)",
              expected = list(values = num(transf.ipft(dpft$yi, pritz$ni)))))
add_case(list(kind = "back_transform_per_study", name = "props0_PFT_per_study",
              measure = "PFT", input = list(values = num(dpft0$yi), ni = props0$ni),
              call = "transf.ipft(dat$yi, dat$ni)  # xi=c(0,4,9,16,20), ni=c(10,10,15,20,20)",
              expected = list(values = num(transf.ipft(dpft0$yi, props0$ni)))))
grid <- seq(-0.2, 1.8, by = 0.1)
add_case(list(kind = "back_transform", name = "grid_PFT_hm", measure = "PFT",
              input = list(values = grid, ni = pritz$ni),
              call = "transf.ipft.hm(seq(-0.2, 1.8, by=0.1), targs=list(ni=dat.pritz1997$ni))",
              expected = list(values = num(transf.ipft.hm(grid, targs = list(ni = pritz$ni))))))
add_case(list(kind = "back_transform", name = "grid_PAS", measure = "PAS",
              input = list(values = grid), call = "transf.iarcsin(seq(-0.2, 1.8, by=0.1))",
              expected = list(values = num(transf.iarcsin(grid)))))

## ---------------------------------------------------------------- ri sensitivity
ri_grid <- function(m, method, test) {
  rows <- list()
  for (r in c(0.2, 0.5, 0.8)) {
    d <- escalc(m, m1i = m1i, m2i = m2i, sd1i = sd1i, sd2i = sd2i, ni = ni, ri = rep(r, 9),
                data = prepost)
    res <- rma(yi, vi, data = d, method = method, test = test,
               control = list(tol = 1e-12, threshold = 1e-12, maxiter = 1000))
    p <- predict(res)
    rows[[length(rows) + 1]] <- list(ri = r, estimate = num(res$beta), se = num(res$se),
                                     ci_lb = num(res$ci.lb), ci_ub = num(res$ci.ub),
                                     pi_lb = num(p$pi.lb), pi_ub = num(p$pi.ub),
                                     tau2 = num(res$tau2), I2 = num(res$I2))
  }
  add_case(list(kind = "ri_sensitivity", name = sprintf("prepost_%s_ri_grid_%s_%s", m, method, test),
                measure = m, input = as.list(prepost),
                args = list(method = method, test = test),
                call = sprintf(paste0("for ri in (0.2, 0.5, 0.8): rma(escalc('%s', ..., ri=ri), ",
                                      "method='%s', test='%s', control=list(tol=1e-12, ",
                                      "threshold=1e-12, maxiter=1000)); predict()"), m, method, test),
                expected = list(rows = rows)))
}
for (m in c("MC", "SMCC", "SMCR")) ri_grid(m, "REML", "z")
ri_grid("SMCR", "DL", "knha")
ri_grid("MC", "PM", "z")

out <- list(generator = "tests/data/generate_effects_extra.R",
            metafor_version = as.character(packageVersion("metafor")),
            R_version = R.version.string, cases = cases)
cat(toJSON(out, auto_unbox = TRUE, digits = NA, na = "null", null = "null", pretty = FALSE))
cat("\n")
