"""Every numeric tolerance of the test suite, in one place, with the reason for its size.

Each test folder imports its tolerances from here (``tests/`` is on ``sys.path``, see
``tests/conftest.py``), so a reader sees in one file how close to each reference we claim to
be, and a change of a tolerance is a reviewed change of this file.
"""

# ---- meta/: fits against metafor (metafor_cases.json, metafor_grid_cases.json) -------------
#: Closed-form tau² estimators (EE, DL, HE, SJ, HS) agree with metafor to rounding.
METAFOR_CLOSED_RTOL = 1e-9
#: Iterative estimators were solved to 1e-10 here and to 1e-12 in metafor: they agree to ~1e-9.
METAFOR_ITERATIVE_RTOL = 1e-8
#: Absolute floor for values near 0 (relative tolerances are meaningless there).
METAFOR_ATOL = 1e-11
#: Effect sizes of escalc are closed-form arithmetic: agreement to double rounding.
EFFECTS_CLOSED_FORM_RTOL = 1e-12

#: The lean intercept-only (RE)ML path (meta/_lean_fit.py) runs the general path's iteration
#: step for step; only the order of a few sums differs (estimate, Q): agreement to rounding.
LEAN_VS_GENERAL_RTOL = 1e-11
#: The compiled (RE)ML iteration (meta/_fit_kernel.c) against its Python reference on
#: well-conditioned data (variance ratios ≤ 100, moderators on unit scale): the same steps and
#: decisions (equal n_iter), only the order of the sums differs (index order against numpy's
#: pairwise / BLAS order), so the numbers agree to rounding, not bit for bit; measured ≤ 2e-13
#: relative (tau² against max(tau², mean v), Q against max(Q, k)).
FIT_KERNEL_RTOL = 1e-11
#: ... on extreme data (variance ratios to 1e6, moderators on scales 1e-2 … 1e3, k = p + 1)
#: the expanded moment sums of both paths carry rounding noise in the score of the order of
#: the stopping threshold (1e-10 · max(1, tau²)), so the two stop at different points inside
#: it: |Δtau²| ≤ this · max(1, tau²) (measured 3.4e-10).
FIT_KERNEL_ILL_ATOL = 1e-8
#: Two orders of the same least-squares arithmetic (meta/_small_wls.py against the matrix
#: formulas), per unit of the condition number of the scaled X'WX: rounding (~1e-16) grows
#: with the conditioning, 1e-13 leaves room for a few hundred roundings.
SMALL_WLS_COND_RTOL = 1e-13

# ---- meta/: analyses that refit the model many times -----------------------------------------
#: Binned GOSH (gosh_summary) sums the subsets' estimates and I2 per chunk and merges with
#: fsum; GoshResult.study_influence takes nanmean of the same values in another order: ~1e-14.
GOSH_SUMMARY_MEAN_RTOL = 1e-12
#: leave1out/influence/baujat refit k models (each REML solved to 1e-10): relative 1e-6.
DIAGNOSTICS_RTOL = 1e-6
#: ... with an absolute floor for the diagnostics that are 0 or near it (DFBETAS, residuals).
DIAGNOSTICS_ATOL = 1e-9
#: regtest/ranktest/fsn/PET-PEESE against metafor.
BIAS_RTOL = 1e-6
#: trimfill iterates k0 and refits; metafor prints the filled estimates with 7 digits.
TRIMFILL = {"rel": 2e-5, "abs": 2e-6}

# ---- values read off a printed table (published_cases.json) -----------------------------------
#: 4 printed decimals plus the optimiser's tolerance.
PRINTED_4DP = 1e-4
#: Percentages printed with 2 decimals (I², H², R²): half a unit of the last digit, plus slack.
PRINTED_2DP = 0.006

# ---- trials/ and review/ ---------------------------------------------------------------------
#: Trial statistics (exact intervals, Poisson-binomial, ANCOVA) against R: closed forms.
TRIAL_STATS = 1e-9
#: The review's fits of the hand-made evidence set against metafor 3.8-1 (REML to ~1e-8).
REVIEW_VS_METAFOR = 1e-6

# ---- meta/: Bayesian random effects (test_bayes.py) ------------------------------------------
#: Posterior summaries by 1-D quadrature against an independent dense 2-D grid (issue 14: 1e-6).
BAYES_GRID_TOL = 1e-6

# ---- meta/: GLMMs against metafor 3.8-1 rma.glmm (test_glmm_metafor.py) ----------------------
#: EE fits and QE.LRT replicate glm.fit step for step (we see ~1e-15).
GLMM_RTOL_EXACT = 1e-9
#: QE.Wld with zero cells is computed at glm's unconverged iterate (we see up to 5.5e-6).
GLMM_RTOL_WALD_ZERO_CELL = 1e-5
#: ML fits under metafor's default settings: lme4's optimiser stops early (tight reruns below).
GLMM_RTOL_LME4 = 1e-2
#: ML fits against metafor rerun with rhoend = 1e-12 (we see 1e-8 to 1.4e-6).
GLMM_RTOL_LME4_TIGHT = 2e-6
#: Standard errors of the tight reruns (numerical Hessians on both sides).
GLMM_RTOL_LME4_TIGHT_SE = 5e-6
#: tau² > 5 (1/1 and 10/10 events, 1 event in 134, or 8/10 beside 0/50): a flat maximum where the
#: 7-node quadrature itself differs between lme4 and us (2e-4 at most; at nAGQ = 21 both agree to 1e-6).
GLMM_RTOL_LME4_FLAT = 1e-3
#: UM.RS: lme4 stops early; our log-likelihood is higher wherever the two differ.
GLMM_RTOL_UM_RS = 5e-3
#: CM.EL estimates: BiasedUrn at 1e-10 and integrate() at rel.tol 1.2e-4 inside metafor.
GLMM_RTOL_CM_EL = 1e-5
#: CM.EL standard errors: metafor's numerical Hessian carries ~1e-3 noise.
GLMM_RTOL_CM_EL_SE = 2e-3
#: lme4 reports tau² of 1e-10..1e-9 where the maximum is at 0.
GLMM_ATOL_TAU2 = 1e-6

# ---- review/: the bundled review against metafor (test_bundled_metafor.py) --------------------
#: metafor's REML stops when tau² changes by < 1e-5; ours is closer to the optimum.
BUNDLED_REVIEW_TOL = 1e-5
#: tau² agrees to ~1e-5, prediction intervals (growing with sqrt(tau² + se²)) to ~1e-4.
BUNDLED_REVIEW_TAU2 = {"tau2": 1e-4, "pi_lb": 1e-4, "pi_ub": 1e-4}

# ---- review/: adverse events by route (test_safety.py) ---------------------------------------
#: Route GLMMs against metafor 3.8-1 rerun with rhoend = 1e-12: the bundled intrathecal group
#: (8/10 beside 0/50, tau² ≈ 8.3) has a flat maximum; metafor stops 4e-8 below our AGQ
#: log-likelihood maximum (its gradient there ~1e-4), estimates differ by up to ~3e-4.
SAFETY_ROUTE_GLMM_RTOL = 1e-3
#: ... standard errors there come from finite-difference Hessians on both sides: ours (1.35417)
#: is confirmed by central differences of our AGQ log-likelihood, lme4 gives 1.35566 (1.1e-3).
SAFETY_ROUTE_GLMM_SE_RTOL = 2e-3
#: ... so the bounds beta ± 1.96·se on the logit scale differ by up to 1.96 × 1.36 × 1.1e-3 ≈ 3e-3.
SAFETY_ROUTE_GLMM_CI_ATOL = 5e-3
#: Clopper–Pearson bounds by the regularised incomplete beta inverse vs scipy's beta.ppf.
CLOPPER_PEARSON_RTOL = 1e-9
#: GLMM conditional modes against bisection (to machine precision): Newton stops at a step < 1e-10.
GLMM_MODE_ATOL = 1e-9
# ---- review/: the review's own GLMM and Bayes fits (test_review_models.py) ---------------------
#: Conditional GLMM (CM.EL) estimate of the review's 3 controlled AIS tables (two control arms
#: with 0 events): a flat likelihood; our maximum's logLik is 2.4e-4 above metafor's, which
#: stops at a point 1e-3 (relative) away even with reltol 1e-14 and rel.tol 1e-10.
REVIEW_GLMM_CM_EL = 2e-3
#: The review's Bayes posterior against the test's own dense-grid integration (trapezoid rule on
#: 40001 tau nodes, the mean integrated in closed form).
REVIEW_BAYES_GRID = 1e-5
#: Its tau² and standard error: metafor's stopping point and numDeriv Hessian on that flat
#: surface (we see 7.9e-3 and 8.7e-3); the CI is estimate ± z·se on both sides, so it follows the two above.
REVIEW_GLMM_CM_EL_SE = 1e-2

# ---- report/: the reader's scale (test_reader_scale.py) -----------------------------------------
#: A number shown on the reader's scale against the same transformation (exp, expit, × 100) done
#: in the test on the model-scale value: the same floating-point operations, rounding only.
READER_SCALE_RTOL = 1e-9
