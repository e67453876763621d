/* Fused GOSH kernel: the closed-form EE / DL fits of a range of subsets in one pass.
 *
 * The numpy path of meta/gosh.py (_exhaustive_closed_form) makes ~5k + 30 passes over each
 * block of subsets and allocates fresh arrays for each; this loop reads the two subset-sum
 * tables once per subset, keeps everything in registers and writes each result once. The
 * arithmetic is the numpy path's, operation for operation and in the same order (the DL
 * estimate sums over the studies in increasing index), so both give the same numbers to
 * the last bit on IEEE hardware without FMA contraction (built with -ffp-contract=off).
 *
 * reml_masks does the same for intercept-only ML/REML fits (Fisher scoring per subset),
 * fisher_rows the (RE)ML tau2 of batched meta-regressions with p <= 2 (fit_batch).
 * The GIL is released during the loops, so callers run ranges on several threads.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>

/* closed_form(lo, hi, yc, v, low_bits, m0, m1, dl, centre, est, tau2, i2, q, n)
 *
 * lo: 5 x 2^low_bits doubles, hi: 5 x 2^(k - low_bits) doubles (row-major: sum w, sum w y,
 * sum w y^2, sum w^2, count over the studies whose bits are set); yc, v: k doubles.
 * Fits subsets with masks m0 .. m1 - 1 (m0 >= 1) into positions mask - m0 of the outputs
 * (est, tau2, i2, q: doubles; n: uint8).
 */
static PyObject *closed_form(PyObject *self, PyObject *args) {
    Py_buffer lo, hi, ycb, vb, est, tau2, i2, q, nb;
    int low_bits, dl;
    long long m0, m1;
    double centre;
    if (!PyArg_ParseTuple(args, "y*y*y*y*iLLidw*w*w*w*w*", &lo, &hi, &ycb, &vb, &low_bits, &m0,
                          &m1, &dl, &centre, &est, &tau2, &i2, &q, &nb))
        return NULL;
    PyObject *result = NULL;
    const Py_ssize_t k = ycb.len / (Py_ssize_t)sizeof(double);
    const Py_ssize_t n_lo = (Py_ssize_t)1 << low_bits;
    const Py_ssize_t n_out = (Py_ssize_t)(m1 - m0);
    if (low_bits < 0 || low_bits > k || k > 62 || vb.len != ycb.len || m0 < 1 || m1 < m0 ||
        lo.len != (Py_ssize_t)(5 * n_lo * sizeof(double)) ||
        hi.len != (Py_ssize_t)(5 * ((Py_ssize_t)1 << (k - low_bits)) * sizeof(double)) ||
        m1 > ((long long)1 << k) || est.len < n_out * (Py_ssize_t)sizeof(double) ||
        tau2.len < n_out * (Py_ssize_t)sizeof(double) ||
        i2.len < n_out * (Py_ssize_t)sizeof(double) ||
        q.len < n_out * (Py_ssize_t)sizeof(double) || nb.len < n_out) {
        PyErr_SetString(PyExc_ValueError, "closed_form: inconsistent buffer sizes");
        goto done;
    }
    {
        const double *L = (const double *)lo.buf, *H = (const double *)hi.buf;
        const double *yc = (const double *)ycb.buf, *v = (const double *)vb.buf;
        const Py_ssize_t n_hi = (Py_ssize_t)1 << (k - low_bits);
        double *e_out = (double *)est.buf, *t_out = (double *)tau2.buf;
        double *i_out = (double *)i2.buf, *q_out = (double *)q.buf;
        uint8_t *c_out = (uint8_t *)nb.buf;
        const uint64_t lo_mask = ((uint64_t)1 << low_bits) - 1;
        Py_BEGIN_ALLOW_THREADS
        for (long long m = m0; m < m1; m++) {
            const uint64_t l = (uint64_t)m & lo_mask, h = (uint64_t)m >> low_bits;
            const double sw = H[h] + L[l];
            const double swy = H[n_hi + h] + L[n_lo + l];
            const double swy2 = H[2 * n_hi + h] + L[2 * n_lo + l];
            const double sw2 = H[3 * n_hi + h] + L[3 * n_lo + l];
            const double cnt = H[4 * n_hi + h] + L[4 * n_lo + l];
            double e = swy / sw;
            double qq = swy2 - swy * e;
            qq = (qq < 0.0) ? 0.0 : qq;
            const double df = cnt - 1.0;
            if (!(cnt > 1.0)) qq = 0.0;
            double t = 0.0, ii;
            if (!dl) {
                ii = (qq > df && df > 0.0) ? 100.0 * (qq - df) / qq : 0.0;
            } else {
                const double c = sw - sw2 / sw;
                if (df > 0.0) {
                    t = (qq - df) / c;
                    t = (t < 0.0) ? 0.0 : t;
                }
                const double s2 = df / c;
                ii = (t > 0.0) ? 100.0 * t / (t + s2) : 0.0;
                if (t > 0.0) {
                    double acc_w = 0.0, acc_wy = 0.0;
                    uint64_t bits = (uint64_t)m;
                    while (bits) {
                        const int j = __builtin_ctzll(bits);
                        bits &= bits - 1;
                        const double wj = 1.0 / (t + v[j]);
                        acc_w += wj;
                        acc_wy += wj * yc[j];
                    }
                    e = acc_wy / acc_w;
                }
            }
            const Py_ssize_t o = (Py_ssize_t)(m - m0);
            e_out[o] = e + centre;
            t_out[o] = t;
            i_out[o] = ii;
            q_out[o] = qq;
            c_out[o] = (uint8_t)cnt;
        }
        Py_END_ALLOW_THREADS
    }
    Py_INCREF(Py_None);
    result = Py_None;
done:
    PyBuffer_Release(&lo);
    PyBuffer_Release(&hi);
    PyBuffer_Release(&ycb);
    PyBuffer_Release(&vb);
    PyBuffer_Release(&est);
    PyBuffer_Release(&tau2);
    PyBuffer_Release(&i2);
    PyBuffer_Release(&q);
    PyBuffer_Release(&nb);
    return result;
}


/* ---- (RE)ML, intercept-only: metafor's Fisher scoring, one subset at a time ----------
 * The scalar form of meta/_batch.py (_fisher_scoring with intercept_only, fit_batch):
 * Hedges start, Fisher step replaced by the Newton step where safe (_step), the boundary
 * check at tau2 = 0, step halving, threshold on |change|, and metafor's ll0check. Sums run
 * in study order, so results agree with the numpy path to rounding (not bit for bit).
 */
typedef struct {
    double score, info, ypPPPy;
} score_terms;

static score_terms reml_score(const double *y, const double *v, int n, double t, int reml) {
    double sw = 0, swy = 0, sw2 = 0, sw3 = 0, w[64];
    for (int i = 0; i < n; i++) {
        w[i] = 1.0 / (v[i] + t);
        sw += w[i];
        swy += w[i] * y[i];
    }
    const double mu = swy / sw;
    double ypPy = 0, wrr = 0, wr = 0;
    for (int i = 0; i < n; i++) {
        const double r = w[i] * (y[i] - mu);
        ypPy += r * r;
        wrr += w[i] * r * r;
        wr += w[i] * r;
        sw2 += w[i] * w[i];
        sw3 += w[i] * w[i] * w[i];
    }
    score_terms st;
    st.ypPPPy = wrr - wr * wr / sw;
    if (!reml) {
        st.score = ypPy - sw;
        st.info = sw2;
    } else {
        const double trP = sw - sw2 / sw, r2 = sw2 / sw;
        st.score = ypPy - trP;
        st.info = sw2 - 2.0 * sw3 / sw + r2 * r2;
    }
    return st;
}

static double reml_loglik(const double *y, const double *v, int n, double t, int reml) {
    double sw = 0, swy = 0, ll = 0;
    for (int i = 0; i < n; i++) {
        const double w = 1.0 / (v[i] + t);
        sw += w;
        swy += w * y[i];
    }
    const double mu = swy / sw;
    for (int i = 0; i < n; i++) {
        const double w = 1.0 / (v[i] + t), e = y[i] - mu;
        ll -= 0.5 * log(v[i] + t) + 0.5 * w * e * e;
    }
    if (reml) ll -= 0.5 * log(sw);
    return ll;
}

/* tau2 of one subset; *converged set to 0 when maxiter is reached. */
static double reml_tau2(const double *y, const double *v, int n, int reml, double threshold,
                        int maxiter, int *converged) {
    const int df = n - 1;
    *converged = 1;
    if (df <= 0) return 0.0;
    double sy = 0, sv = 0, rss = 0;
    for (int i = 0; i < n; i++) {
        sy += y[i];
        sv += v[i];
    }
    const double ybar = sy / n;
    for (int i = 0; i < n; i++) rss += (y[i] - ybar) * (y[i] - ybar);
    double t = (rss - (sv - sv / n)) / df; /* Hedges start */
    t = (t < 0.0) ? 0.0 : t;
    int live = 1;
    for (int it = 0; it < maxiter && live; it++) {
        const score_terms st = reml_score(y, v, n, t, reml);
        const double fisher = st.score / st.info, observed = 2.0 * st.ypPPPy - st.info;
        const double newton = st.score / observed;
        double adj = (observed > 0 && isfinite(newton) && fabs(newton) <= 4.0 * fabs(fisher))
                         ? newton
                         : fisher;
        if (!isfinite(adj)) adj = 0.0;
        if (t + adj < 0 && t + fisher >= 0) adj = fisher;
        if (t == 0 && adj < 0) adj = 0.0;
        int at_zero = 0;
        if (t + adj < 0) {
            const score_terms s0 = reml_score(y, v, n, 0.0, reml);
            if (s0.score <= 0) {
                at_zero = 1;
            } else {
                double h = ceil(log2(-adj / t));
                if (isnan(h)) h = 0.0;
                if (h > 1100.0) h = 1100.0;
                if (h < 0.0) h = 0.0;
                adj = ldexp(adj, -(int)h);
                while (t + adj < 0) adj /= 2.0;
            }
        }
        const double nt = at_zero ? 0.0 : t + adj;
        if (fabs(nt - t) <= threshold || at_zero) live = 0;
        t = nt;
    }
    if (live) {
        *converged = 0;
        return t;
    }
    /* metafor's ll0check (tol eps^0.25, threshold 1e-5) */
    if (t > 1e-5 &&
        reml_loglik(y, v, n, 0.0, reml) - reml_loglik(y, v, n, t, reml) > 1.220703125e-04)
        t = 0.0;
    return t;
}

/* reml_masks(y, v, masks, reml, threshold, maxiter, est, tau2, i2, q, n, converged) */
static PyObject *reml_masks(PyObject *self, PyObject *args) {
    Py_buffer yb, vb, mb, est, tau2, i2, q, nb, cb;
    int reml, maxiter;
    double threshold;
    if (!PyArg_ParseTuple(args, "y*y*y*idiw*w*w*w*w*w*", &yb, &vb, &mb, &reml, &threshold,
                          &maxiter, &est, &tau2, &i2, &q, &nb, &cb))
        return NULL;
    PyObject *result = NULL;
    const Py_ssize_t k = yb.len / (Py_ssize_t)sizeof(double);
    const Py_ssize_t B = mb.len / (Py_ssize_t)sizeof(uint64_t);
    const Py_ssize_t dsz = B * (Py_ssize_t)sizeof(double);
    if (k > 62 || vb.len != yb.len || est.len < dsz || tau2.len < dsz || i2.len < dsz ||
        q.len < dsz || nb.len < B || cb.len < B) {
        PyErr_SetString(PyExc_ValueError, "reml_masks: inconsistent buffer sizes");
        goto done;
    }
    {
        const double *Y = (const double *)yb.buf, *V = (const double *)vb.buf;
        const uint64_t *M = (const uint64_t *)mb.buf;
        double *e_out = (double *)est.buf, *t_out = (double *)tau2.buf;
        double *i_out = (double *)i2.buf, *q_out = (double *)q.buf;
        uint8_t *n_out = (uint8_t *)nb.buf, *c_out = (uint8_t *)cb.buf;
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t b = 0; b < B; b++) {
            double y[64], v[64];
            int n = 0;
            uint64_t bits = M[b] & (((uint64_t)1 << k) - 1);
            while (bits) {
                const int j = __builtin_ctzll(bits);
                bits &= bits - 1;
                y[n] = Y[j];
                v[n] = V[j];
                n++;
            }
            const int df = n - 1;
            /* equal-effect fit: Q and tr(P_0) */
            double sw0 = 0, swy0 = 0, sw02 = 0, qq = 0;
            for (int i = 0; i < n; i++) {
                const double w = 1.0 / v[i];
                sw0 += w;
                swy0 += w * y[i];
                sw02 += w * w;
            }
            const double b0 = swy0 / sw0;
            for (int i = 0; i < n; i++) {
                const double e = y[i] - b0;
                qq += (1.0 / v[i]) * (e * e);
            }
            if (df <= 0) qq = 0.0;
            const double trP0 = sw0 - sw02 / sw0;
            int conv = 1;
            const double t = n > 0 ? reml_tau2(y, v, n, reml, threshold, maxiter, &conv) : 0.0;
            double sw = 0, swy = 0;
            for (int i = 0; i < n; i++) {
                const double w = 1.0 / (v[i] + t);
                sw += w;
                swy += w * y[i];
            }
            const double s2 = df / trP0;
            e_out[b] = swy / sw;
            t_out[b] = t;
            i_out[b] = (t > 0) ? 100.0 * t / (t + s2) : 0.0;
            q_out[b] = qq;
            n_out[b] = (uint8_t)n;
            c_out[b] = (uint8_t)conv;
        }
        Py_END_ALLOW_THREADS
    }
    Py_INCREF(Py_None);
    result = Py_None;
done:
    PyBuffer_Release(&yb);
    PyBuffer_Release(&vb);
    PyBuffer_Release(&mb);
    PyBuffer_Release(&est);
    PyBuffer_Release(&tau2);
    PyBuffer_Release(&i2);
    PyBuffer_Release(&q);
    PyBuffer_Release(&nb);
    PyBuffer_Release(&cb);
    return result;
}

/* ---- (RE)ML tau2 of meta-regressions with p <= 2 columns (fit_batch's _fisher_scoring) ---
 * Rows share X (k x p); each has its own y, v and 0/1 study mask. Same algorithm as the
 * intercept-only loop above with the general score terms of _score_terms; the 2 x 2
 * inverse and its singularity rule are _inv_small's.
 */
typedef struct {
    int n, p;
    const double *y, *v, *x0, *x1; /* gathered studies; x1 unused when p == 1 */
} reg_data;

static int inv_small(const double *A, int p, double *out) {
    if (p == 1) {
        out[0] = 1.0 / A[0];
        return 1;
    }
    const double a = A[0], b = A[1], c = A[2], d = A[3], det = a * d - b * c;
    if (!(fabs(det) > 1e-12 * fabs(a * d))) {
        out[0] = out[1] = out[2] = out[3] = NAN;
        return 0;
    }
    out[0] = d / det;
    out[1] = -b / det;
    out[2] = -c / det;
    out[3] = a / det;
    return 1;
}

/* X'diag(u)X (p x p, row-major) */
static void xtux(const reg_data *D, const double *u, double *out) {
    double s00 = 0, s01 = 0, s11 = 0;
    for (int i = 0; i < D->n; i++) {
        s00 += u[i] * D->x0[i] * D->x0[i];
        if (D->p == 2) {
            s01 += u[i] * D->x0[i] * D->x1[i];
            s11 += u[i] * D->x1[i] * D->x1[i];
        }
    }
    out[0] = s00;
    if (D->p == 2) {
        out[1] = out[2] = s01;
        out[3] = s11;
    }
}

/* weighted least squares: residuals e (n), Ainv; returns 0 when singular */
static void wls(const reg_data *D, const double *w, double *Ainv, double *e) {
    double A[4], xy0 = 0, xy1 = 0, b0, b1 = 0;
    xtux(D, w, A);
    inv_small(A, D->p, Ainv);
    for (int i = 0; i < D->n; i++) {
        xy0 += D->x0[i] * (w[i] * D->y[i]);
        if (D->p == 2) xy1 += D->x1[i] * (w[i] * D->y[i]);
    }
    if (D->p == 1) {
        b0 = Ainv[0] * xy0;
    } else {
        b0 = Ainv[0] * xy0 + Ainv[1] * xy1;
        b1 = Ainv[2] * xy0 + Ainv[3] * xy1;
    }
    for (int i = 0; i < D->n; i++)
        e[i] = D->y[i] - (D->p == 2 ? b0 * D->x0[i] + b1 * D->x1[i] : b0 * D->x0[i]);
}

static double trace_prod(const double *A, const double *B, int p) {
    if (p == 1) return A[0] * B[0];
    return A[0] * B[0] + A[1] * B[2] + A[2] * B[1] + A[3] * B[3];
}

static score_terms reg_score(const reg_data *D, double t, int reml) {
    const int n = D->n, p = D->p;
    double w[64], w2[64], w3[64], e[64], Ainv[4];
    double sw = 0, sw2 = 0;
    for (int i = 0; i < n; i++) {
        w[i] = 1.0 / (D->v[i] + t);
        w2[i] = w[i] * w[i];
        w3[i] = w2[i] * w[i];
        sw += w[i];
        sw2 += w2[i];
    }
    wls(D, w, Ainv, e);
    double ypPy = 0, wrr = 0, xr0 = 0, xr1 = 0;
    for (int i = 0; i < n; i++) {
        const double r = w[i] * e[i], wr = w[i] * r;
        ypPy += r * r;
        wrr += wr * r;
        xr0 += D->x0[i] * wr;
        if (p == 2) xr1 += D->x1[i] * wr;
    }
    double quad;
    if (p == 1) {
        quad = Ainv[0] * xr0 * xr0;
    } else {
        quad = (Ainv[0] * xr0 + Ainv[1] * xr1) * xr0 + (Ainv[2] * xr0 + Ainv[3] * xr1) * xr1;
    }
    score_terms st;
    st.ypPPPy = wrr - quad;
    if (!reml) {
        st.score = ypPy - sw;
        st.info = sw2;
        return st;
    }
    double G2[4], G3[4], AG2[4];
    xtux(D, w2, G2);
    xtux(D, w3, G3);
    const double trP = sw - trace_prod(Ainv, G2, p);
    if (p == 1) {
        AG2[0] = Ainv[0] * G2[0];
    } else {
        AG2[0] = Ainv[0] * G2[0] + Ainv[1] * G2[2];
        AG2[1] = Ainv[0] * G2[1] + Ainv[1] * G2[3];
        AG2[2] = Ainv[2] * G2[0] + Ainv[3] * G2[2];
        AG2[3] = Ainv[2] * G2[1] + Ainv[3] * G2[3];
    }
    st.score = ypPy - trP;
    st.info = sw2 - 2.0 * trace_prod(Ainv, G3, p) + trace_prod(AG2, AG2, p);
    return st;
}

static double reg_loglik(const reg_data *D, double t, int reml) {
    double w[64], e[64], A[4], Ainv[4], ll = 0;
    for (int i = 0; i < D->n; i++) w[i] = 1.0 / (D->v[i] + t);
    wls(D, w, Ainv, e);
    for (int i = 0; i < D->n; i++) ll -= 0.5 * log(D->v[i] + t);
    for (int i = 0; i < D->n; i++) ll -= 0.5 * (w[i] * e[i]) * e[i];
    if (reml) {
        xtux(D, w, A);
        const double det = D->p == 1 ? A[0] : A[0] * A[3] - A[1] * A[2];
        ll -= 0.5 * log(fabs(det));
    }
    return ll;
}

static double reg_tau2(const reg_data *D, int reml, double threshold, int maxiter,
                       int *converged) {
    const int n = D->n, df = n - D->p;
    *converged = 1;
    if (df <= 0) return 0.0;
    double ones[64], Ainv[4], e[64], mv[64], rss = 0, sv = 0;
    for (int i = 0; i < n; i++) {
        ones[i] = 1.0;
        mv[i] = D->v[i];
        sv += D->v[i];
    }
    wls(D, ones, Ainv, e); /* Hedges start: OLS */
    for (int i = 0; i < n; i++) rss += e[i] * e[i];
    double G[4];
    xtux(D, mv, G);
    double t = (rss - (sv - trace_prod(Ainv, G, D->p))) / df;
    t = (t < 0.0 || isnan(t)) ? (isnan(t) ? t : 0.0) : t;
    int live = 1;
    for (int it = 0; it < maxiter && live; it++) {
        const score_terms st = reg_score(D, t, reml);
        const double fisher = st.score / st.info, observed = 2.0 * st.ypPPPy - st.info;
        const double newton = st.score / observed;
        double adj = (observed > 0 && isfinite(newton) && fabs(newton) <= 4.0 * fabs(fisher))
                         ? newton
                         : fisher;
        if (!isfinite(adj)) adj = 0.0;
        if (t + adj < 0 && t + fisher >= 0) adj = fisher;
        if (t == 0 && adj < 0) adj = 0.0;
        int at_zero = 0;
        if (t + adj < 0) {
            const score_terms s0 = reg_score(D, 0.0, reml);
            if (s0.score <= 0) {
                at_zero = 1;
            } else {
                double h = ceil(log2(-adj / t));
                if (isnan(h)) h = 0.0;
                if (h > 1100.0) h = 1100.0;
                if (h < 0.0) h = 0.0;
                adj = ldexp(adj, -(int)h);
                while (t + adj < 0) adj /= 2.0;
            }
        }
        const double nt = at_zero ? 0.0 : t + adj;
        if (fabs(nt - t) <= threshold || at_zero) live = 0;
        t = nt;
    }
    if (live) {
        *converged = 0;
        return t;
    }
    if (t > 1e-5 && reg_loglik(D, 0.0, reml) - reg_loglik(D, t, reml) > 1.220703125e-04)
        t = 0.0;
    return t;
}

/* fisher_rows(Y, V, X, M, p, reml, threshold, maxiter, tau2, converged)
 * Y: (By, k), V: (Bv, k) with By, Bv in {1, B}; X: (k, p); M: (B, k) 0/1 doubles. */
static PyObject *fisher_rows(PyObject *self, PyObject *args) {
    Py_buffer yb, vb, xb, mb, tb, cb;
    int p, reml, maxiter;
    double threshold;
    if (!PyArg_ParseTuple(args, "y*y*y*y*iidiw*w*", &yb, &vb, &xb, &mb, &p, &reml, &threshold,
                          &maxiter, &tb, &cb))
        return NULL;
    PyObject *result = NULL;
    const Py_ssize_t d = (Py_ssize_t)sizeof(double);
    const Py_ssize_t k = (p >= 1) ? xb.len / d / p : 0;
    const Py_ssize_t B = (k > 0) ? mb.len / d / k : 0;
    const Py_ssize_t By = (k > 0) ? yb.len / d / k : 0, Bv = (k > 0) ? vb.len / d / k : 0;
    if (p < 1 || p > 2 || k < 1 || k > 64 || xb.len != k * p * d || mb.len != B * k * d ||
        !(By == 1 || By == B) || !(Bv == 1 || Bv == B) || yb.len != By * k * d ||
        vb.len != Bv * k * d || tb.len < B * d || cb.len < B) {
        PyErr_SetString(PyExc_ValueError, "fisher_rows: inconsistent buffer sizes");
        goto done;
    }
    {
        const double *Y = (const double *)yb.buf, *V = (const double *)vb.buf;
        const double *X = (const double *)xb.buf, *M = (const double *)mb.buf;
        double *t_out = (double *)tb.buf;
        uint8_t *c_out = (uint8_t *)cb.buf;
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t b = 0; b < B; b++) {
            const double *y = Y + (By == 1 ? 0 : b * k), *v = V + (Bv == 1 ? 0 : b * k);
            const double *m = M + b * k;
            double ys[64], vs[64], x0[64], x1[64];
            int n = 0;
            for (Py_ssize_t i = 0; i < k; i++) {
                if (m[i] != 0.0) {
                    ys[n] = y[i];
                    vs[n] = v[i];
                    x0[n] = X[i * p];
                    x1[n] = (p == 2) ? X[i * p + 1] : 0.0;
                    n++;
                }
            }
            reg_data D = {n, p, ys, vs, x0, x1};
            int conv = 1;
            t_out[b] = reg_tau2(&D, reml, threshold, maxiter, &conv);
            c_out[b] = (uint8_t)conv;
        }
        Py_END_ALLOW_THREADS
    }
    Py_INCREF(Py_None);
    result = Py_None;
done:
    PyBuffer_Release(&yb);
    PyBuffer_Release(&vb);
    PyBuffer_Release(&xb);
    PyBuffer_Release(&mb);
    PyBuffer_Release(&tb);
    PyBuffer_Release(&cb);
    return result;
}

static PyMethodDef methods[] = {
    {"closed_form", closed_form, METH_VARARGS,
     "closed_form(lo, hi, yc, v, low_bits, m0, m1, dl, centre, est, tau2, i2, q, n): EE/DL "
     "GOSH fits of the subsets with masks m0..m1-1 into the output buffers (GIL released)."},
    {"reml_masks", reml_masks, METH_VARARGS,
     "reml_masks(y, v, masks, reml, threshold, maxiter, est, tau2, i2, q, n, converged): "
     "intercept-only (RE)ML fits of the subsets given as uint64 bitmasks (GIL released)."},
    {"fisher_rows", fisher_rows, METH_VARARGS,
     "fisher_rows(Y, V, X, M, p, reml, threshold, maxiter, tau2, converged): (RE)ML tau2 of "
     "meta-regressions with p <= 2 columns sharing X, one row each (GIL released)."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_gosh_kernel",
                                    "Fused compiled GOSH kernel (see meta/gosh.py).", -1,
                                    methods};

PyMODINIT_FUNC PyInit__gosh_kernel(void) { return PyModule_Create(&module); }
