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

# ---- meta/: analyses that refit the model many times -----------------------------------------
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
#: tau² > 10 (1/1 and 10/10 events, or 1 event in 134): a flat maximum, lme4 differs by 2e-4.
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
