/* Fused GOSH kernel: the closed-form EE / DL fits of a range of subsets in one pass.
 *
 * The numpy path of meta/gosh.py (_exhaustive_closed_form) makes ~5k + 30 passes over each
 * block of subsets and allocates fresh arrays for each; this loop reads the two subset-sum
 * tables once per subset, keeps everything in registers and writes each result once. The
 * arithmetic is the numpy path's, operation for operation and in the same order (the DL
 * estimate sums over the studies in increasing index), so both give the same numbers to
 * the last bit on IEEE hardware without FMA contraction (built with -ffp-contract=off).
 *
 * reml_masks does the same for intercept-only ML/REML fits (Fisher scoring per subset).
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

static PyMethodDef methods[] = {
    {"closed_form", closed_form, METH_VARARGS,
     "closed_form(lo, hi, yc, v, low_bits, m0, m1, dl, centre, est, tau2, i2, q, n): EE/DL "
     "GOSH fits of the subsets with masks m0..m1-1 into the output buffers (GIL released)."},
    {"reml_masks", reml_masks, METH_VARARGS,
     "reml_masks(y, v, masks, reml, threshold, maxiter, est, tau2, i2, q, n, converged): "
     "intercept-only (RE)ML fits of the subsets given as uint64 bitmasks (GIL released)."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_gosh_kernel",
                                    "Fused compiled GOSH kernel (see meta/gosh.py).", -1,
                                    methods};

PyMODINIT_FUNC PyInit__gosh_kernel(void) { return PyModule_Create(&module); }
