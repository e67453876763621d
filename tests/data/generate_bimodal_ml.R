# (RE)ML fits on likelihoods with two maxima (the boundary tau2 = 0 and an interior one),
# computed with R metafor 3.8-1. Run from the repository root:
#   Rscript tests/data/generate_bimodal_ml.R > tests/data/metafor_bimodal_ml.json
# Each case records its rma() call. "mods": the moderator x = seq(-1, 1, length.out = k).
# For cases where metafor's Fisher scoring (from the HE start) stays at tau2 = 0 although
# an interior maximum is higher, "interior_tau2" is that maximum (found by sci-evidence)
# and "loglik_at_interior" metafor's log-likelihood there: rma(..., tau2 = interior_tau2).
suppressMessages({library(metafor); library(jsonlite)})
ctl <- list(tol = 1e-12, threshold = 1e-12, maxiter = 1000)
y6 <- c(0.55301962, 0.19112119, 0.84354883, 1.33384201, -1.36138575, 1.04390545)
v6 <- c(0.63877688, 0.27343778, 0.04576866, 0.021445, 0.81420389, 0.9131918)
inputs <- list(
  list(name = "gosh_subset_2_3_5", yi = y6[c(2, 3, 5)], vi = v6[c(2, 3, 5)], mods = FALSE),
  list(name = "gosh_subset_1_4_5_6", yi = y6[c(1, 4, 5, 6)], vi = v6[c(1, 4, 5, 6)], mods = FALSE),
  list(name = "moderator_k5", yi = c(-1.33488567, -1.44971824, -0.51446011, 0.4872479, -1.57626674),
       vi = c(0.73394653, 0.13561384, 0.10995675, 0.04542687, 0.89576278), mods = TRUE),
  list(name = "random_k6", yi = c(1.16293649, 1.47780574, 2.38468379, 1.54903794, 2.03172269, -0.35096159),
       vi = c(0.26813397, 0.02516666, 0.48689181, 0.83675398, 0.23754744, 0.36405728), mods = FALSE),
  list(name = "random_k4_moderator", yi = c(0.93172265, -1.71242653, 0.61493418, -0.5261101),
       vi = c(0.71991754, 0.55147068, 0.71577162, 0.14248471), mods = TRUE),
  list(name = "metafor_boundary_k4", yi = c(2.32813246, 1.89916216, 3.33325369, 2.73655424),
       vi = c(0.68010284, 0.02271641, 0.36576357, 0.90192188), mods = FALSE, interior_tau2 = 0.14741690700832938),
  list(name = "metafor_boundary_k5_moderator", yi = c(-1.00902125, -0.94645552, -0.42362497, -1.58887495, -1.66994291),
       vi = c(0.98148942, 0.13603568, 0.02455968, 0.68879964, 0.81478805), mods = TRUE, interior_tau2 = 0.04380951806520806),
  list(name = "metafor_boundary_k3", yi = c(0.48638624, 1.55805725, 1.51781313),
       vi = c(0.00929027, 0.8668619, 0.19740836), mods = FALSE, interior_tau2 = 0.14501246312788224)
)
cases <- list()
for (inp in inputs) for (m in c("ML", "REML")) {
  y <- inp$yi; v <- inp$vi; x <- seq(-1, 1, length.out = length(y))
  call <- sprintf("rma(yi, vi%s, method='%s', control=list(tol=1e-12, threshold=1e-12, maxiter=1000))",
                  if (inp$mods) ", mods = ~ x" else "", m)
  r <- if (inp$mods) rma(y, v, mods = ~ x, method = m, control = ctl) else rma(y, v, method = m, control = ctl)
  r0 <- if (inp$mods) rma(y, v, mods = ~ x, method = m, tau2 = 0) else rma(y, v, method = m, tau2 = 0)
  case <- list(name = inp$name, call = call, method = m, mods = inp$mods,
               input = list(yi = y, vi = v),
               expected = list(tau2 = r$tau2, se_tau2 = r$se.tau2, coef = as.numeric(r$b),
                               coef_se = as.numeric(r$se), loglik = as.numeric(logLik(r)),
                               loglik_at_0 = as.numeric(logLik(r0))))
  if (!is.null(inp$interior_tau2) && m == "ML") {
    ri <- if (inp$mods) rma(y, v, mods = ~ x, method = m, tau2 = inp$interior_tau2)
          else rma(y, v, method = m, tau2 = inp$interior_tau2)
    case$interior_tau2 <- inp$interior_tau2
    case$expected$loglik_at_interior <- as.numeric(logLik(ri))
    case$expected$coef_at_interior <- as.numeric(ri$b)
  }
  cases[[length(cases) + 1]] <- case
}
cat(toJSON(list(generator = "tests/data/generate_bimodal_ml.R",
                metafor = as.character(packageVersion("metafor")), R = R.version.string,
                control = ctl, cases = cases), auto_unbox = TRUE, digits = NA), "\n")
