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
