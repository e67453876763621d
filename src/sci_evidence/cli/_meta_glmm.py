"""`sci-evidence meta --model glmm`: a GLMM for counts (metafor's rma.glmm) on a CSV file.

Kept apart from ``cli/meta.py`` so that the meta command only gains its options and one
branch. Heavy imports stay inside the function (``--help`` starts fast).
"""

from __future__ import annotations

import warnings
from pathlib import Path

from sci_evidence.errors import InputError

#: measure → the CSV columns (CLI option names) it needs
GLMM_COLUMNS = {
    "PLO": ("xi", "ni"),
    "IRLN": ("xi", "ti"),
    "OR": ("ai", "ci"),
    "IRR": ("x1i", "t1i", "x2i", "t2i"),
}


def run_glmm(
    df,
    fname: str,
    *,
    columns: dict[str, str],
    measure: str | None,
    method: str,
    glmm_model: str,
    nagq: int,
    level: float,
    mods: str | None,
    label: str | None,
):
    """Fit :func:`sci_evidence.meta.pool_glmm` to the columns of ``df`` (a DataFrame read
    from ``fname``); rows with a missing value are dropped with a warning naming them."""
    import numpy as np

    from sci_evidence.meta.glmm import pool_glmm

    measure = (measure or "").upper()
    if measure not in GLMM_COLUMNS:
        raise InputError(
            "--model glmm needs --measure PLO (--xi, --ni), IRLN (--xi, --ti), OR "
            "(--ai, --ci with --n1i/--n2i or --bi/--di) or IRR (--x1i, --t1i, --x2i, --t2i)",
            value=measure or None,
        )
    method = method.upper()
    if method == "REML":  # the meta command's default: a GLMM is fitted by ML
        method = "ML"
    if method not in ("ML", "EE", "FE"):
        raise InputError("--model glmm fits by ML or EE", value=method)
    method = "EE" if method == "FE" else method
    need = list(GLMM_COLUMNS[measure])
    if measure == "OR":
        for b, n in (("bi", "n1i"), ("di", "n2i")):
            if n not in columns and b not in columns:
                raise InputError(f"--model glmm with OR needs --{n} or --{b}", file=fname)
            need.append(n if n in columns else b)
    for opt in need:
        if opt not in columns:
            raise InputError(f"--model glmm with {measure} needs --{opt}", file=fname)
        if columns[opt] not in df.columns:
            raise InputError(f"no column '{columns[opt]}' (--{opt})", file=fname)
    mod_names = [m.strip() for m in mods.split(",") if m.strip()] if mods else []
    for m in mod_names:
        if m not in df.columns:
            raise InputError(f"no moderator column '{m}'", file=fname)
    if label and label not in df.columns:
        raise InputError(f"no column '{label}' (--label)", file=fname)

    values: dict[str, np.ndarray] = {}
    bad: dict[int, list[str]] = {}
    for opt in need:
        col = columns[opt]
        raw = df[col].tolist()
        out = np.full(len(raw), np.nan)
        for i, v in enumerate(raw):
            if (
                v is None
                or (isinstance(v, float) and v != v)
                or (isinstance(v, str) and not v.strip())
            ):
                bad.setdefault(i, []).append(col)
                continue
            try:
                out[i] = float(v)
            except (TypeError, ValueError):
                raise InputError(
                    "not a number", file=fname, row=i + 2, column=col, value=v
                ) from None
        values[opt] = out
    mod_cols: dict[str, np.ndarray] = {}
    for m in mod_names:
        raw = df[m].tolist()
        present = [v for v in raw if not (v is None or (isinstance(v, float) and v != v))]
        try:
            num = np.array(
                [
                    np.nan if (v is None or (isinstance(v, float) and v != v)) else float(v)
                    for v in raw
                ]
            )
            mod_cols[m] = num
        except (TypeError, ValueError):
            levels = sorted({str(v) for v in present})
            for lev in levels[1:]:  # treatment coding, first level as reference
                mod_cols[f"{m}[{lev}]"] = np.array(
                    [
                        np.nan
                        if (v is None or (isinstance(v, float) and v != v))
                        else float(str(v) == lev)
                        for v in raw
                    ]
                )
        for i, v in enumerate(raw):
            if v is None or (isinstance(v, float) and v != v):
                bad.setdefault(i, []).append(m)
    if bad:
        rows = ", ".join(f"{i + 2} ({', '.join(c)})" for i, c in sorted(bad.items()))
        from sci_evidence.errors import DataWarning

        warnings.warn(
            f"{fname}: rows with missing values dropped: {rows}", DataWarning, stacklevel=2
        )
    keep = np.array([i not in bad for i in range(len(df))], bool)
    if not keep.any():
        raise InputError("no row has all the values needed", file=fname)
    v = {k: a[keep] for k, a in values.items()}
    if measure == "OR":
        if "n1i" not in v:
            v["n1i"] = v["ai"] + v.pop("bi")
        if "n2i" not in v:
            v["n2i"] = v["ci"] + v.pop("di")
    labels = (
        [str(x) for x in df[label].tolist()] if label else [f"row {i + 2}" for i in range(len(df))]
    )
    labels = [lab for lab, kk in zip(labels, keep, strict=True) if kk]
    mods_arg = {m: a[keep] for m, a in mod_cols.items()} or None
    try:
        return pool_glmm(
            measure=measure,
            model=glmm_model,
            method=method,
            mods=mods_arg,
            nAGQ=nagq,
            level=level,
            labels=labels,
            **v,
        )
    except InputError as exc:
        raise exc.with_file(fname) from None


def save_glmm_forest(res, path: Path) -> None:
    """Forest plot of a GLMM fit on the back-transformed scale (proportion, rate, OR)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from scipy.special import expit

    if res.p > 1:
        raise InputError("--plot draws a forest plot, which needs a model without --mods")
    transf = expit if res.measure == "PLO" else np.exp
    fig = res.plot(transf=transf)
    from sci_evidence.cli._common import save_figure

    try:
        save_figure(fig, path, dpi=200, bbox_inches="tight")
    finally:
        plt.close(fig)
