/* Fused GOSH kernel: the closed-form EE / DL fits of a range of subsets in one pass.
 *
 * The numpy path of meta/gosh.py (_exhaustive_closed_form) makes ~5k + 30 passes over each
 * block of subsets and allocates fresh arrays for each; this loop reads the two subset-sum
 * tables once per subset, keeps everything in registers and writes each result once. The
 * arithmetic is the numpy path's, operation for operation and in the same order (the DL
 * estimate sums over the studies in increasing index), so both give the same numbers to
 * the last bit on IEEE hardware without FMA contraction (built with -ffp-contract=off).
 *
 * The GIL is released during the loop, so callers run ranges on several threads.
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

static PyMethodDef methods[] = {
    {"closed_form", closed_form, METH_VARARGS,
     "closed_form(lo, hi, yc, v, low_bits, m0, m1, dl, centre, est, tau2, i2, q, n): EE/DL "
     "GOSH fits of the subsets with masks m0..m1-1 into the output buffers (GIL released)."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_gosh_kernel",
                                    "Fused compiled GOSH kernel (see meta/gosh.py).", -1,
                                    methods};

PyMODINIT_FUNC PyInit__gosh_kernel(void) { return PyModule_Create(&module); }
