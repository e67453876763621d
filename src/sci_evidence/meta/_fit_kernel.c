/* Compiled tau2 iteration of the single (RE)ML fit (issue 16, goal 4).
 *
 * One REML fit of a few dozen studies is a handful of sums over k values per iteration;
 * in Python each sum costs a numpy call (~1 us) and the scalar algebra between them a few
 * more microseconds, so a fit spent 20-30 us on what is well under one microsecond of
 * arithmetic. This module runs the same iterations in C:
 *
 *   icpt   the intercept-only loop of meta/_lean_fit.py (_solve_py): HE start, the Halley
 *          step of tau2.icpt_parts, the bracket, the stopping rule, the boundary checks
 *          (score_negative_up_to with restarts, then the grid scan) and metafor's ll0check;
 *   design the (RE)ML iteration of tau2._fisher_scoring for a general design X (k x p,
 *          p <= MAX_P) with the moment sums of tau2._Moments (y centred; with an intercept
 *          column the other columns centred and scaled), newton_step, the bracket, the
 *          boundary rule, the ll0check and _no_interior_root / the grid scan.
 *
 * Both decide no hard case: where the Python code would warn, search an interior maximum,
 * fall back to Brent, or meet a matrix that is not positive definite, they return None and
 * the caller takes the Python path, which redoes the fit with every safeguard. Inputs they
 * cannot read as C-contiguous float64 buffers give NotImplemented (the caller then runs
 * the Python version of the same code).
 *
 * The formulas and the order of the decisions are those of the Python functions named
 * above (whose docstrings carry the derivations); the sums run in index order, while numpy
 * sums pairwise / by BLAS blocks, so the numbers agree to rounding (~1e-15 relative), not
 * bit for bit. Built with -ffp-contract=off (no FMA) like _gosh_kernel. The GIL is kept:
 * a fit takes about a microsecond, less than releasing and taking it back would cost.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* the constants of meta/tau2.py (LL0_TOL, _BOUND_SLACK, _BOUND_RESTARTS, _GRID_TOP_ROOM) */
#define LL0_TOL 1e-8
#define BOUND_SLACK 1e-6
#define BOUND_RESTARTS 3
#define GRID_TOP_ROOM (1.0 + 1e-9)
/* largest design the general kernel takes (fixed-size p x p work arrays on the stack) */
#define MAX_P 8

/* ---------------------------------------------------------------- input buffers */

/* A C-contiguous float64 buffer with `ndim` dimensions; 0 (error cleared) when obj is not. */
static int get_doubles(PyObject *obj, Py_buffer *b, int ndim) {
    if (PyObject_GetBuffer(obj, b, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) {
        PyErr_Clear();
        return 0;
    }
    const char *f = b->format;
    if (f && (f[0] == '<' || f[0] == '=' || f[0] == '@')) f++;
    if (b->itemsize != 8 || !f || strcmp(f, "d") != 0 || b->ndim != ndim) {
        PyBuffer_Release(b);
        return 0;
    }
    return 1;
}

static PyObject *not_implemented(void) { Py_RETURN_NOTIMPLEMENTED; }

/* ---------------------------------------------------------------- shared pieces */

/* Python's max(a, b) / min(a, b): the first argument unless the second is strictly beyond. */
static inline double pmax(double a, double b) { return b > a ? b : a; }
static inline double pmin(double a, double b) { return b < a ? b : a; }

/* tau2.newton_step: Newton's step on h = 1 - b / y'P^2y, else plain Newton, else Fisher. */
static double newton_step(double num, double fisher, double observed, double b) {
    const double a = num + b;
    const double den = b * observed - fisher * num;
    if (a > 0 && den > 0) return num * a / den;
    return observed > 0 ? num / observed : num / fisher;
}

/* tau2.score_negative_up_to: a tau2 up to which the (RE)ML score is proved negative. */
static double score_negative_up_to(double yPPy0, double Q0, double sw0, double vmin, int p_reml,
                                   double vmax, Py_ssize_t k, double t0, double b0,
                                   double fisher0) {
    const double u = yPPy0 * (1.0 + BOUND_SLACK);
    const double q = Q0 * (1.0 + BOUND_SLACK);
    if (!(q > 0.0 && u >= 0.0 && isfinite(u * q * (pmax(vmin, vmax) + t0)))) return t0;
    double start = t0;
    const double b = b0 * (1.0 - BOUND_SLACK);
    const double F = fisher0 * (1.0 + BOUND_SLACK);
    if (u < b && F > 0.0 && u > 0.0) {
        const double c = (b - u) * q;
        const double bq = 2.0 * b * u - F * q;
        start += (bq + sqrt(bq * bq + 8.0 * F * u * c)) / (4.0 * F * u) * (1.0 - BOUND_SLACK);
    }
    const double cs[2] = {(vmin + t0) * sw0 - p_reml, (double)(k - p_reml)};
    const double poles[2] = {vmin, vmax};
    for (int i = 0; i < 2; i++) {
        const double c = cs[i] * (1.0 - BOUND_SLACK);
        if (!(c > 0.0)) continue;
        const double f = u * q * (poles[i] + start) - c * (q + 2.0 * (start - t0) * u);
        if (!(f < 0.0)) continue;
        const double slope = u * q - 2.0 * c * u;
        if (slope <= 0.0) return INFINITY;
        start += -f / slope;
    }
    return start;
}

typedef struct {
    double ymin, ymax, vmin, vmax;
} ranges;

static ranges get_ranges(const double *y, const double *v, Py_ssize_t k) {
    ranges r = {y[0], y[0], v[0], v[0]};
    for (Py_ssize_t i = 1; i < k; i++) {
        r.ymin = pmin(r.ymin, y[i]);
        r.ymax = pmax(r.ymax, y[i]);
        r.vmin = pmin(r.vmin, v[i]);
        r.vmax = pmax(r.vmax, v[i]);
    }
    return r;
}

/* tau2.interior_grid_top: 4 max(range(y)^2, max(v), t_hint) */
static double grid_top(const ranges *r, double t_hint) {
    const double yr = r->ymax - r->ymin;
    return 4.0 * pmax(pmax(yr * yr, r->vmax), t_hint);
}

/* tau2.interior_grid: n geometric points from min(v)/100 to grid_top (8 per decade). The
 * caller evaluates point j as lo * exp(j * step). */
static Py_ssize_t grid_spec(const ranges *r, double t_hint, double *lo, double *step) {
    *lo = 0.01 * r->vmin;
    const double hi = grid_top(r, t_hint);
    const Py_ssize_t n = (Py_ssize_t)ceil(8.0 * log10(hi / *lo)) + 1;
    *step = log(hi / *lo) / (double)(n - 1);
    return n;
}

/* ---------------------------------------------------------------- intercept-only */

/* m[j-1] = [sum w^j, sum w^j yc, sum w^j yc^2], j = 1..4, at tau2 = t; w -> w_out */
static void icpt_sums(const double *yc, const double *v, Py_ssize_t k, double t, double *w_out,
                      double m[4][3]) {
    memset(m, 0, sizeof(double) * 12);
    for (Py_ssize_t i = 0; i < k; i++) {
        const double w = 1.0 / (v[i] + t);
        const double w2 = w * w;
        const double wj[4] = {w, w2, w * w2, w2 * w2}; /* as _lean_fit: [w, w2] * w2 */
        const double y = yc[i], yy = y * y;
        if (w_out) w_out[i] = w;
        for (int j = 0; j < 4; j++) {
            m[j][0] += wj[j];
            m[j][1] += wj[j] * y;
            m[j][2] += wj[j] * yy;
        }
    }
}

/* tau2.icpt_parts: num, fisher, observed, b and the (Halley) step */
static void icpt_parts(double m[4][3], int reml, double *num_, double *fisher_, double *b_,
                       double *step_) {
    const double s1 = m[0][0], a1 = m[0][1];
    const double s2 = m[1][0], a2 = m[1][1], c2 = m[1][2];
    const double s3 = m[2][0], a3 = m[2][1], c3 = m[2][2];
    const double s4 = m[3][0], a4 = m[3][1], c4 = m[3][2];
    const double mu = a1 / s1;
    const double yPPy = c2 - 2.0 * mu * a2 + mu * mu * s2;
    const double g = a2 - mu * s2;
    const double yPPPy = c3 - 2.0 * mu * a3 + mu * mu * s3 - g * g / s1;
    double b, fisher, b2;
    if (reml) {
        const double r = s2 / s1;
        b = s1 - r;
        fisher = s2 - 2.0 * s3 / s1 + r * r;
        b2 = 2.0 * (s3 - 3.0 * s4 / s1 + 3.0 * r * s3 / s1 - r * r * r);
    } else {
        b = s1;
        fisher = s2;
        b2 = 2.0 * s3;
    }
    const double num = yPPy - b;
    const double observed = 2.0 * yPPPy - fisher;
    const double a = yPPy;
    *num_ = num;
    *fisher_ = fisher;
    *b_ = b;
    if (a > 0) {
        const double gs = g / s1;
        const double yP4y =
            (c4 - 2.0 * mu * a4 + mu * mu * s4) - 2.0 * gs * (a3 - mu * s3) + gs * gs * s2;
        const double a_1 = -2.0 * yPPPy, a_2 = 6.0 * yP4y, b_1 = -fisher;
        const double q = b_1 * a - b * a_1;
        const double h = num / a;
        const double h1 = -q / (a * a);
        const double h2 = -((b2 * a - b * a_2) / (a * a) - 2.0 * a_1 * q / (a * a * a));
        const double den = 2.0 * h1 * h1 - h * h2;
        if (h1 < 0 && den > 0) {
            *step_ = -2.0 * h * h1 / den;
            return;
        }
    }
    *step_ = newton_step(num, fisher, observed, b);
}

/* _lean_fit._bound_covers_grid: the bound proves the score negative over the whole grid */
static int icpt_bound_covers(const double *yc, const double *v, Py_ssize_t k, const ranges *r,
                             double yPPy0, double Q0, double sw0, int reml, double t_hint,
                             double b0, double fisher0) {
    const int pr = reml ? 1 : 0;
    double proved =
        score_negative_up_to(yPPy0, Q0, sw0, r->vmin, pr, r->vmax, k, 0.0, b0, fisher0);
    if (proved == INFINITY) return 1;
    const double top = GRID_TOP_ROOM * grid_top(r, t_hint);
    if (0.0 < proved && proved <= top) {
        for (int it = 0; it < BOUND_RESTARTS; it++) {
            double m[4][3];
            icpt_sums(yc, v, k, proved, NULL, m);
            const double s1 = m[0][0], a1 = m[0][1], c1 = m[0][2];
            const double s2 = m[1][0], a2 = m[1][1], c2 = m[1][2], s3 = m[2][0];
            const double mu = a1 / s1;
            const double u = c2 - 2.0 * mu * a2 + mu * mu * s2;
            double b, fisher;
            if (reml) {
                const double rr = s2 / s1;
                b = s1 - rr;
                fisher = s2 - 2.0 * s3 / s1 + rr * rr;
            } else {
                b = s1;
                fisher = s2;
            }
            const double Q = c1 - a1 * a1 / s1;
            const double nxt =
                score_negative_up_to(u, Q, s1, r->vmin, pr, r->vmax, k, proved, b, fisher);
            if (!(nxt > proved)) break;
            proved = nxt;
            if (proved > top) break;
        }
    }
    return proved > top;
}

/* _grid_scores for the intercept-only design: 1 if the score is > 0 at some grid point */
static int icpt_grid_positive(const double *yc, const double *v, Py_ssize_t k, const ranges *r,
                              int reml, double t_hint) {
    double lo, step;
    const Py_ssize_t n = grid_spec(r, t_hint, &lo, &step);
    for (Py_ssize_t j = 0; j < n; j++) {
        const double t = lo * exp((double)j * step);
        double s1 = 0, a1 = 0, s2 = 0, a2 = 0, c2 = 0;
        for (Py_ssize_t i = 0; i < k; i++) {
            const double w = 1.0 / (v[i] + t), w2 = w * w, y = yc[i];
            s1 += w;
            a1 += w * y;
            s2 += w2;
            a2 += w2 * y;
            c2 += w2 * (y * y);
        }
        const double mu = a1 / s1;
        const double yPPy = c2 - 2.0 * mu * a2 + mu * mu * s2;
        const double score = yPPy - (reml ? s1 - s2 / s1 : s1);
        if (score > 0) return 1;
    }
    return 0;
}

PyDoc_STRVAR(icpt_doc,
"icpt(yi, vi, reml, threshold, max_iter, w) -> tuple | None | NotImplemented\n"
"\n"
"tau2 of the intercept-only REML (reml=True) or ML random-effects model, the iteration of\n"
"sci_evidence.meta._lean_fit (Python reference: _solve_py).\n"
"\n"
"With w_i = 1/(v_i + tau2), y centred and the sums s_j = sum w^j, a_j = sum w^j y,\n"
"c_j = sum w^j y^2: mu = a_1/s_1, y'P^2y = c_2 - 2 mu a_2 + mu^2 s_2, and the score is\n"
"y'P^2y - b with b = tr P = s_1 - s_2/s_1 (REML) or s_1 (ML); the expected information\n"
"is tr P^2 (REML) or s_2 (ML), as in metafor's rma.uni Fisher scoring. Start: the HE\n"
"estimate truncated at 0. Step: Halley's on h = 1 - b/y'P^2y (tau2.icpt_parts), inside\n"
"the bracket of the root kept from the score signs. Stops at the evaluated tau2 once the\n"
"next correction is below threshold * max(1, tau2), or at tau2 = 0 when the score there\n"
"is negative and the step would leave [0, inf). At tau2 = 0 the bound\n"
"tau2.score_negative_up_to (3 restarts), else the score on the grid of\n"
"tau2.interior_grid, must rule out an interior maximum; an interior tau2 must have a\n"
"log-likelihood no lower than at 0 minus 1e-8 (metafor's ll0check).\n"
"\n"
"Returns (tau2, n_iter, fisher, sum_w, estimate, w, Q, tr P at 0) - the tuple of\n"
"_solve_py - with the weights 1/(v + tau2) written into w (float64, length k); None for\n"
"a case it does not decide (step out of the bracket, no convergence in max_iter, a\n"
"possible interior maximum at the boundary, the ll0check); NotImplemented when yi, vi or w are not C-contiguous float64 of one length.");

static PyObject *icpt(PyObject *self, PyObject *args) {
    PyObject *yo, *vo, *wo;
    int reml, max_iter;
    double threshold;
    if (!PyArg_ParseTuple(args, "OOpdiO", &yo, &vo, &reml, &threshold, &max_iter, &wo))
        return NULL;
    Py_buffer yb, vb, wb;
    if (!get_doubles(yo, &yb, 1)) return not_implemented();
    if (!get_doubles(vo, &vb, 1)) {
        PyBuffer_Release(&yb);
        return not_implemented();
    }
    if (!get_doubles(wo, &wb, 1)) {
        PyBuffer_Release(&yb);
        PyBuffer_Release(&vb);
        return not_implemented();
    }
    if (wb.readonly) {
        PyBuffer_Release(&wb);
        PyBuffer_Release(&yb);
        PyBuffer_Release(&vb);
        return not_implemented();
    }
    PyObject *result = NULL;
    const Py_ssize_t k = yb.len / 8;
    double *yc = NULL;
    if (vb.len != yb.len || wb.len != yb.len || k < 2) {
        result = not_implemented();
        goto done;
    }
    yc = (double *)malloc((size_t)k * sizeof(double));
    if (!yc) {
        result = PyErr_NoMemory();
        goto done;
    }
    {
        const double *y = (const double *)yb.buf, *v = (const double *)vb.buf;
        double *w = (double *)wb.buf;
        int decided = 0;
        double t = 0.0, fisher = NAN, s1 = NAN, est = NAN, rss0 = NAN, trP0 = NAN;
        int n_iter = 0;
        double ysum = 0.0, vsum = 0.0, ss = 0.0;
        for (Py_ssize_t i = 0; i < k; i++) ysum += y[i];
        const double ybar = ysum / (double)k;
        /* sums at tau2 = 0 (Q, tr P and the ll0check): s10, a10, c10, s20 */
        double s10 = 0, a10 = 0, c10 = 0, s20 = 0;
        for (Py_ssize_t i = 0; i < k; i++) {
            const double e = y[i] - ybar, w0 = 1.0 / v[i];
            yc[i] = e;
            ss += e * e;
            vsum += v[i];
            s10 += w0;
            a10 += w0 * e;
            c10 += w0 * (e * e);
            s20 += w0 * w0;
        }
        /* HE start (tau2._he): (residual SS - sum(v)(1 - 1/k)) / (k - 1), truncated at 0 */
        t = pmax(0.0, (ss - vsum * (1.0 - 1.0 / (double)k)) / (double)(k - 1));
        double lo = 0.0, hi = INFINITY, hi_seen = t;
        double m[4][3], num = NAN, b = NAN, adj;
        int ok = 1;
        for (;;) {
            if (n_iter == max_iter) {
                ok = 0; /* not converged: the general path falls back to a bracketed search */
                break;
            }
            n_iter++;
            icpt_sums(yc, v, k, t, w, m);
            icpt_parts(m, reml, &num, &fisher, &b, &adj);
            if (num > 0) {
                lo = pmax(lo, t);
            } else if (num < 0) {
                hi = pmin(hi, t);
            } else {
                break;
            }
            const double nw = t + adj;
            if (!(isfinite(adj) && nw >= 0.0 && lo <= nw && nw <= hi)) {
                if (t == 0.0 && num < 0) break; /* score at 0 points down: a KKT maximum */
                ok = 0; /* the general path takes the safeguarded step */
                break;
            }
            if (fabs(adj) < threshold * pmax(1.0, nw)) break;
            t = nw;
            hi_seen = pmax(hi_seen, t);
        }
        if (ok) {
            rss0 = c10 - a10 * a10 / s10;
            if (!(rss0 > 1e-3 * c10)) {
                /* the expanded sum lost digits to cancellation: the residuals themselves */
                const double mu0 = a10 / s10;
                rss0 = 0.0;
                for (Py_ssize_t i = 0; i < k; i++) {
                    const double e = yc[i] - mu0;
                    rss0 += (1.0 / v[i]) * (e * e);
                }
            }
            const ranges rg = get_ranges(y, v, k);
            if (t == 0.0 &&
                !icpt_bound_covers(yc, v, k, &rg, num + b, rss0, s10, reml, hi_seen, b, fisher) &&
                icpt_grid_positive(yc, v, k, &rg, reml, hi_seen))
                ok = 0; /* a possible interior maximum: the general path refines it */
        }
        if (ok) {
            s1 = m[0][0];
            const double a1 = m[0][1], c1 = m[0][2];
            const double mu = a1 / s1;
            const double rss = c1 - a1 * a1 / s1;
            if (t > 0.0) {
                /* metafor's ll0check: ll(0) - ll(tau2) (as _Moments.loglik) */
                double lg = 0.0;
                for (Py_ssize_t i = 0; i < k; i++) lg += log1p(t * (1.0 / v[i]));
                double gap = 0.5 * lg + 0.5 * (rss - rss0);
                if (reml) gap += 0.5 * log(s1 / s10);
                if (gap > LL0_TOL) ok = 0; /* trapped: the general path warns and searches */
            }
            est = ybar + mu;
            rss0 = pmax(0.0, rss0);
            trP0 = s10 - s20 / s10;
        }
        decided = ok;
        if (decided)
            result = Py_BuildValue("(dldddOdd)", t, (long)n_iter, fisher, s1, est, wo, rss0, trP0);
        else {
            Py_INCREF(Py_None);
            result = Py_None;
        }
    }
done:
    free(yc);
    PyBuffer_Release(&yb);
    PyBuffer_Release(&vb);
    PyBuffer_Release(&wb);
    return result;
}

/* ---------------------------------------------------------------- general design */

typedef struct {
    Py_ssize_t k;
    int p, reml;
    const double *v, *y; /* y: yi as given (the HE start) */
    double *yc;          /* y centred */
    double *xs;          /* k x p, the design of tau2._Moments (scaled when it has an intercept) */
} design;

/* Inverse (row-major) and log-determinant of a p x p SPD matrix: Gauss-Jordan on the
 * diagonally scaled matrix, as tau2._py_spd_inverse (pivots of the scaled matrix must be
 * > 1e-14). Returns 0 when the matrix is not (numerically) positive definite. */
static int spd_inverse(const double *M, int p, double *inv, double *logdet) {
    double a[MAX_P][2 * MAX_P], s[MAX_P];
    double ld = 0.0, det = 1.0;
    for (int i = 0; i < p; i++) {
        if (!(M[i * p + i] > 0)) return 0;
        s[i] = 1.0 / sqrt(M[i * p + i]);
        ld += log(M[i * p + i]);
    }
    for (int i = 0; i < p; i++)
        for (int j = 0; j < p; j++) {
            a[i][j] = M[i * p + j] * s[i] * s[j];
            a[i][p + j] = (i == j) ? 1.0 : 0.0;
        }
    for (int c = 0; c < p; c++) {
        const double piv = a[c][c];
        if (!(piv > 1e-14)) return 0;
        ld += log(piv);
        const double ip = 1.0 / piv;
        for (int j = 0; j < 2 * p; j++) a[c][j] *= ip;
        det *= piv;
        for (int r = 0; r < p; r++) {
            if (r == c) continue;
            const double f = a[r][c];
            if (f != 0.0)
                for (int j = 0; j < 2 * p; j++) a[r][j] -= f * a[c][j];
        }
    }
    /* p = 2, 3: _spd_inverse_23 tests the determinant of the scaled matrix instead */
    if ((p == 2 || p == 3) && !(det > 1e-14)) return 0;
    for (int i = 0; i < p; i++)
        for (int j = 0; j < p; j++) inv[i * p + j] = a[i][p + j] * s[i] * s[j];
    *logdet = ld;
    return 1;
}

/* Weighted moments at tau2 = t for the weights w^1 .. w^nw: S[j] = sum w^j,
 * XX[j] = X'W^jX, Xy[j] = X'W^j yc, yy[j] = yc'W^j yc (w = 1/(v + t)). */
typedef struct {
    double S[3], XX[3][MAX_P * MAX_P], Xy[3][MAX_P], yy[3];
} moments;

static void design_sums(const design *d, double t, int nw, moments *m) {
    const int p = d->p;
    /* per row, the products x_a x_b (a <= b), x_a y and y^2 once; then one accumulator row
     * per power of w in a local array (no aliasing with the inputs: kept in registers) */
    enum { NT = MAX_P * (MAX_P + 1) / 2 + MAX_P + 2 };
    const int nxx = p * (p + 1) / 2, nt = nxx + p + 2;
    double acc[3][NT];
    memset(acc, 0, sizeof(acc));
    const double *restrict v = d->v, *restrict yc = d->yc, *restrict xs = d->xs;
    for (Py_ssize_t i = 0; i < d->k; i++) {
        double f[NT];
        const double *x = xs + i * p;
        const double y = yc[i];
        int n = 0;
        f[n++] = 1.0;
        for (int a = 0; a < p; a++)
            for (int b = a; b < p; b++) f[n++] = x[a] * x[b];
        for (int a = 0; a < p; a++) f[n++] = x[a] * y;
        f[n++] = y * y;
        const double w = 1.0 / (v[i] + t);
        const double w2 = w * w;
        const double wj[3] = {w, w2, w2 * w};
        for (int j = 0; j < nw; j++)
            for (int c = 0; c < nt; c++) acc[j][c] += wj[j] * f[c];
    }
    for (int j = 0; j < nw; j++) {
        int n = 0;
        m->S[j] = acc[j][n++];
        for (int a = 0; a < p; a++)
            for (int b = a; b < p; b++) {
                m->XX[j][a * p + b] = m->XX[j][b * p + a] = acc[j][n];
                n++;
            }
        for (int a = 0; a < p; a++) m->Xy[j][a] = acc[j][n++];
        m->yy[j] = acc[j][n];
    }
}

static double dotp(const double *a, const double *b, int p) {
    double s = 0.0;
    for (int i = 0; i < p; i++) s += a[i] * b[i];
    return s;
}

static void matvec(const double *M, const double *x, int p, double *out) {
    for (int i = 0; i < p; i++) out[i] = dotp(M + i * p, x, p);
}

/* sum w^j e^2 = y'W^j y - 2 b'X'W^j y + b'X'W^j X b */
static double wrss(const moments *m, int j, const double *beta, int p) {
    double XXb[MAX_P];
    matvec(m->XX[j], beta, p, XXb);
    return m->yy[j] - 2.0 * dotp(m->Xy[j], beta, p) + dotp(XXb, beta, p);
}

/* tau2._Moments.parts for REML/ML: num, fisher, b and newton_step; 0 if X'WX is not SPD */
static int design_parts(const design *d, double t, double *num_, double *fisher_, double *b_,
                        double *step_) {
    const int p = d->p;
    moments m;
    double A[MAX_P * MAX_P], beta[MAX_P], XXb1[MAX_P], g[MAX_P], Ag[MAX_P], ld;
    design_sums(d, t, 3, &m);
    if (!spd_inverse(m.XX[0], p, A, &ld)) return 0;
    matvec(A, m.Xy[0], p, beta);
    const double yPPy = wrss(&m, 1, beta, p);
    const double r3 = wrss(&m, 2, beta, p);
    matvec(m.XX[1], beta, p, XXb1);
    for (int i = 0; i < p; i++) g[i] = m.Xy[1][i] - XXb1[i];
    matvec(A, g, p, Ag);
    const double yPPPy = r3 - dotp(g, Ag, p);
    const double sw = m.S[0], sw2 = m.S[1];
    double num, obs, fisher, b;
    if (!d->reml) {
        num = yPPy - sw;
        obs = 2.0 * yPPPy - sw2;
        fisher = sw2;
        b = sw;
    } else {
        double AM2[MAX_P * MAX_P];
        double tr = 0.0, am3 = 0.0, sq = 0.0;
        for (int i = 0; i < p; i++)
            for (int j = 0; j < p; j++) {
                double s = 0.0;
                for (int l = 0; l < p; l++) s += A[i * p + l] * m.XX[1][l * p + j];
                AM2[i * p + j] = s;
            }
        for (int i = 0; i < p; i++) tr += AM2[i * p + i];
        for (int i = 0; i < p * p; i++) am3 += A[i] * m.XX[2][i];
        for (int i = 0; i < p; i++)
            for (int j = 0; j < p; j++) sq += AM2[i * p + j] * AM2[j * p + i];
        b = sw - tr;                     /* tr P */
        fisher = sw2 - 2.0 * am3 + sq;   /* tr P^2 */
        num = yPPy - b;
        obs = 2.0 * yPPPy - fisher;
    }
    *num_ = num;
    *fisher_ = fisher;
    *b_ = b;
    if (step_) *step_ = newton_step(num, fisher, obs, b);
    return 1;
}

/* tau2._Moments._q_and_trace: (y'Py, tr P, sum w) at t; 0 if X'WX is not SPD */
static int design_q_trace(const design *d, double t, double *Q, double *trP, double *sw) {
    const int p = d->p;
    moments m;
    double A[MAX_P * MAX_P], Ax[MAX_P], ld;
    design_sums(d, t, 2, &m);
    if (!spd_inverse(m.XX[0], p, A, &ld)) return 0;
    matvec(A, m.Xy[0], p, Ax);
    *Q = m.yy[0] - dotp(m.Xy[0], Ax, p);
    *trP = m.S[0] - dotp(A, m.XX[1], p * p);
    *sw = m.S[0];
    return 1;
}

/* tau2._Moments.loglik (REML: with the scaled design); 0 if X'WX is not SPD */
static int design_loglik(const design *d, double t, double *ll) {
    const int p = d->p;
    moments m;
    double A[MAX_P * MAX_P], Ax[MAX_P], logdet, lg = 0.0;
    design_sums(d, t, 1, &m);
    if (!spd_inverse(m.XX[0], p, A, &logdet)) return 0;
    matvec(A, m.Xy[0], p, Ax);
    const double rss = m.yy[0] - dotp(m.Xy[0], Ax, p);
    for (Py_ssize_t i = 0; i < d->k; i++) lg += log(d->v[i] + t);
    *ll = -0.5 * lg - 0.5 * rss;
    if (d->reml) *ll -= 0.5 * logdet;
    return 1;
}

/* tau2._grid_scores for a general design: 1 if the score is > 0 at a grid point, -1 if a
 * grid point has a singular X'WX (undecided), else 0 */
static int design_grid_positive(const design *d, const ranges *r, double t_hint) {
    const int p = d->p;
    double lo, step;
    const Py_ssize_t n = grid_spec(r, t_hint, &lo, &step);
    for (Py_ssize_t j = 0; j < n; j++) {
        const double t = lo * exp((double)j * step);
        moments m;
        double A[MAX_P * MAX_P], beta[MAX_P], ld;
        design_sums(d, t, 2, &m);
        if (!spd_inverse(m.XX[0], p, A, &ld)) return -1;
        matvec(A, m.Xy[0], p, beta);
        double score = wrss(&m, 1, beta, p);
        if (d->reml)
            score -= m.S[0] - dotp(A, m.XX[1], p * p); /* tr(A XX2): both symmetric */
        else
            score -= m.S[0];
        if (score > 0) return 1;
    }
    return 0;
}

/* tau2._he for the design: (y'P_o y - tr(P_o V)) / (k - p), P_o the OLS projection */
static int design_he(const design *d, double *he) {
    const int p = d->p;
    const Py_ssize_t k = d->k;
    double XtX[MAX_P * MAX_P] = {0}, XtVX[MAX_P * MAX_P] = {0}, Xty[MAX_P] = {0};
    double A[MAX_P * MAX_P], coef[MAX_P], ld;
    for (Py_ssize_t i = 0; i < k; i++) {
        const double *x = d->xs + i * p;
        for (int a = 0; a < p; a++) {
            for (int b = 0; b < p; b++) {
                XtX[a * p + b] += x[a] * x[b];
                XtVX[a * p + b] += x[a] * (x[b] * d->v[i]);
            }
            Xty[a] += x[a] * d->y[i];
        }
    }
    if (!spd_inverse(XtX, p, A, &ld)) return 0;
    matvec(A, Xty, p, coef);
    double rss = 0.0, vs = 0.0;
    for (Py_ssize_t i = 0; i < k; i++) {
        const double e = d->y[i] - dotp(d->xs + i * p, coef, p);
        rss += e * e;
        vs += d->v[i];
    }
    *he = (rss - (vs - dotp(A, XtVX, p * p))) / (double)(k - p);
    return 1;
}

/* _fisher_scoring + _no_interior_root + the SE and Q/tr P at 0 of fit_tau2, for REML/ML with
 * the default control (threshold and max_iter given). Returns 1 when decided. */
static int design_fit(const design *d, double threshold, int max_iter, double *out) {
    const Py_ssize_t k = d->k;
    const int p = d->p;
    double he;
    if (!design_he(d, &he)) return 0;
    double tau2 = pmax(0.0, he);
    const double start = tau2;
    double hi_seen = tau2, lo = 0.0, hi = INFINITY;
    double last_t = NAN, last_f = NAN;
    int have0 = 0;
    double num0 = NAN, fisher0 = NAN, b0 = NAN;
    int n_iter = 0, converged = 0;
    while (n_iter < max_iter) {
        n_iter++;
        double num, fisher, b, step;
        if (!design_parts(d, tau2, &num, &fisher, &b, &step)) return 0;
        last_t = tau2;
        last_f = fisher;
        if (num > 0)
            lo = pmax(lo, tau2);
        else if (num < 0)
            hi = pmin(hi, tau2);
        else {
            converged = 1;
            break;
        }
        double adj = step;
        if (!isfinite(adj)) break;
        if (tau2 + adj < 0 && tau2 + num / fisher >= 0) adj = num / fisher;
        if (tau2 + adj < 0) {
            /* boundary: if the score at 0 points down, tau2 = 0 is the (KKT) solution */
            double s0;
            if (!design_parts(d, 0.0, &num0, &fisher0, &b0, &s0)) return 0;
            have0 = 1;
            if (num0 <= 0) {
                last_t = 0.0;
                last_f = fisher0;
                tau2 = 0.0;
                converged = 1;
                break;
            }
        }
        if (!(lo <= tau2 + adj && tau2 + adj <= hi)) {
            const double fs = num / fisher; /* metafor's step, then bisection of the bracket */
            if (lo <= tau2 + fs && tau2 + fs <= hi)
                adj = fs;
            else if (isfinite(hi))
                adj = 0.5 * (lo + hi) - tau2;
        }
        while (tau2 + adj < 0) adj /= 2.0;
        if (fabs(adj) < threshold * pmax(1.0, tau2 + adj)) {
            converged = 1;
            break;
        }
        tau2 += adj;
        hi_seen = pmax(hi_seen, tau2);
        if (fabs(adj) < threshold * pmax(1.0, tau2)) {
            converged = 1;
            break;
        }
    }
    if (!converged) return 0; /* the Python path warns and runs Brent's search */
    if (tau2 > 0.0) {
        double ll0, llt;
        if (!design_loglik(d, 0.0, &ll0) || !design_loglik(d, tau2, &llt)) return 0;
        if (ll0 - llt > LL0_TOL) return 0; /* trapped: the Python path warns */
    }
    double Q0, trP0, sw0;
    if (!design_q_trace(d, 0.0, &Q0, &trP0, &sw0)) return 0;
    if (tau2 == 0.0) {
        /* _no_interior_root, then the grid scan; a possible interior maximum: Python */
        const ranges rg = get_ranges(d->y, d->v, k);
        const double t_hint = pmax(start, hi_seen);
        if (!have0 && !design_parts(d, 0.0, &num0, &fisher0, &b0, NULL)) return 0;
        const int p_reml = d->reml ? p : 0;
        double proved = score_negative_up_to(num0 + b0, Q0, sw0, rg.vmin, p_reml, rg.vmax, k,
                                             0.0, b0, fisher0);
        if (proved != INFINITY) {
            const double top = GRID_TOP_ROOM * grid_top(&rg, t_hint);
            for (int it = 0; it < BOUND_RESTARTS; it++) {
                if (proved > top || proved == 0.0) break;
                double num, fisher, b, Q, trP, sw;
                if (!design_parts(d, proved, &num, &fisher, &b, NULL) ||
                    !design_q_trace(d, proved, &Q, &trP, &sw))
                    return 0;
                const double nxt = score_negative_up_to(num + b, Q, sw, rg.vmin, p_reml,
                                                        rg.vmax, k, proved, b, fisher);
                if (!(nxt > proved)) break;
                proved = nxt;
            }
            if (!(proved > top) && design_grid_positive(d, &rg, t_hint) != 0) return 0;
        }
    }
    /* the information one step before convergence differs by < threshold (relative) */
    double fisher = last_f;
    if (!(fabs(last_t - tau2) <= threshold * pmax(1.0, tau2))) {
        double num, b;
        if (!design_parts(d, tau2, &num, &fisher, &b, NULL)) return 0;
    }
    out[0] = tau2;
    out[1] = sqrt(2.0 / fisher);
    out[2] = (double)n_iter;
    out[3] = Q0;
    out[4] = trP0;
    out[5] = sw0;
    return 1;
}

PyDoc_STRVAR(design_doc,
"design(yi, vi, X, reml, threshold, max_iter) -> tuple | None | NotImplemented\n"
"\n"
"tau2 of the REML (reml=True) or ML mixed-effects model y = X beta + u + e, the iteration\n"
"of sci_evidence.meta.tau2.fit_tau2 with the default control (Python reference:\n"
"tau2._fisher_scoring with tau2._Moments).\n"
"\n"
"With W = diag(1/(v_i + tau2)) and P = W - WX(X'WX)^-1X'W the score is y'P^2y - b,\n"
"b = tr P (REML) or sum w (ML), the expected information tr P^2 (REML) or sum w^2 (ML),\n"
"as in metafor's rma.uni Fisher scoring. Start: the HE estimate truncated at 0. Step:\n"
"tau2.newton_step (Newton on 1 - b/y'P^2y), else metafor's Fisher step, inside the bracket\n"
"of the root (bisection when both leave it), halved to stay >= 0; tau2 = 0 when a step\n"
"would leave [0, inf) and the score at 0 is <= 0. Stops once the correction is below\n"
"threshold * max(1, tau2). The sums are those of tau2._Moments: y centred and, when the\n"
"first column of X is all ones, the other columns centred and scaled (P is unchanged).\n"
"An interior tau2 must pass metafor's ll0check (log-likelihood at 0 at most 1e-8 higher);\n"
"at tau2 = 0 tau2.score_negative_up_to (3 restarts), else the grid scan of\n"
"tau2._grid_scores, must rule out an interior maximum.\n"
"\n"
"Returns (tau2, se_tau2, n_iter, Q, tr P, sum w) - the last three at tau2 = 0 (Cochran's\n"
"Q and the trace of I^2), se_tau2 = sqrt(2 / information at tau2); None for a case it does\n"
"not decide (no convergence, the ll0check, a possible interior maximum, X'WX not\n"
"positive definite); NotImplemented for inputs it does not take (not C-contiguous float64,\n"
"p > 8, k <= p).");

static PyObject *design_fn(PyObject *self, PyObject *args) {
    PyObject *yo, *vo, *xo;
    int reml, max_iter;
    double threshold;
    if (!PyArg_ParseTuple(args, "OOOpdi", &yo, &vo, &xo, &reml, &threshold, &max_iter))
        return NULL;
    Py_buffer yb, vb, xb;
    if (!get_doubles(yo, &yb, 1)) return not_implemented();
    if (!get_doubles(vo, &vb, 1)) {
        PyBuffer_Release(&yb);
        return not_implemented();
    }
    if (!get_doubles(xo, &xb, 2)) {
        PyBuffer_Release(&yb);
        PyBuffer_Release(&vb);
        return not_implemented();
    }
    PyObject *result = NULL;
    const Py_ssize_t k = yb.len / 8;
    const Py_ssize_t p = xb.ndim == 2 ? xb.shape[1] : 0;
    double *work = NULL;
    if (vb.len != yb.len || xb.shape[0] != k || p < 1 || p > MAX_P || k <= p) {
        result = not_implemented();
        goto done;
    }
    work = (double *)malloc((size_t)(k * (p + 1)) * sizeof(double));
    if (!work) {
        result = PyErr_NoMemory();
        goto done;
    }
    {
        const double *y = (const double *)yb.buf, *v = (const double *)vb.buf;
        const double *X = (const double *)xb.buf;
        double *yc = work, *xs = work + k;
        double out[6];
        int decided;
        double ys = 0.0;
        for (Py_ssize_t i = 0; i < k; i++) ys += y[i];
        for (Py_ssize_t i = 0; i < k; i++) yc[i] = y[i] - ys / (double)k;
        memcpy(xs, X, (size_t)(k * p) * sizeof(double));
        int ones = p > 1;
        for (Py_ssize_t i = 0; i < k && ones; i++) ones = X[i * p] == 1.0;
        if (ones) {
            /* as _Moments: with an intercept the other columns are centred and scaled, which
             * changes neither P nor tau2 and keeps the expanded sums free of cancellation */
            for (Py_ssize_t c = 1; c < p; c++) {
                double s = 0.0, ss = 0.0;
                for (Py_ssize_t i = 0; i < k; i++) s += X[i * p + c];
                for (Py_ssize_t i = 0; i < k; i++) {
                    const double r = X[i * p + c] - s / (double)k;
                    xs[i * p + c] = r;
                    ss += r * r;
                }
                const double sd = sqrt(ss / (double)k);
                if (sd > 0)
                    for (Py_ssize_t i = 0; i < k; i++) xs[i * p + c] /= sd;
            }
        }
        design d = {k, (int)p, reml, v, y, yc, xs};
        decided = design_fit(&d, threshold, max_iter, out);
        if (decided)
            result = Py_BuildValue("(ddlddd)", out[0], out[1], (long)out[2], out[3], out[4],
                                   out[5]);
        else {
            Py_INCREF(Py_None);
            result = Py_None;
        }
    }
done:
    free(work);
    PyBuffer_Release(&yb);
    PyBuffer_Release(&vb);
    PyBuffer_Release(&xb);
    return result;
}

static PyMethodDef methods[] = {{"icpt", icpt, METH_VARARGS, icpt_doc},
                                {"design", design_fn, METH_VARARGS, design_doc},
                                {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_fit_kernel",
    "Compiled (RE)ML tau2 iteration of single fits (see meta/_lean_fit.py and meta/tau2.py).",
    -1, methods};

PyMODINIT_FUNC PyInit__fit_kernel(void) { return PyModule_Create(&module); }
