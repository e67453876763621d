/* The compiled limit of exhaustive DL GOSH: a minimal fused loop doing only the arithmetic.
 *
 * Per subset: one pass over its studies for sum w, sum w y, sum w y^2, sum w^2 (4 flops a
 * study, from per-study tables of w, w y, w y^2, w^2), the DL tau2 and I2 (~25 flops), and where tau2 > 0 a second pass for the
 * random-effects estimate; results written once. No tables, no checks, no Python: what a
 * hand-written C loop reaches. Split over threads with OpenMP (static schedule).
 * Built and called by bench_gosh.py (gcc -O3 -fopenmp -shared).
 */
#include <stdint.h>

void gosh_dl_limit(const double *y, const double *v, const double *w_, const double *wy_,
                   const double *wy2_, const double *w2_, int k, long long n, double *est,
                   double *tau2, double *i2, double *q, int n_threads) {
#pragma omp parallel for schedule(static) num_threads(n_threads)
    for (long long m = 1; m <= n; m++) {
        double sw = 0, swy = 0, swy2 = 0, sw2 = 0;
        int cnt = 0;
        uint64_t bits = (uint64_t)m;
        while (bits) {
            int j = __builtin_ctzll(bits);
            bits &= bits - 1;
            sw += w_[j]; swy += wy_[j]; swy2 += wy2_[j]; sw2 += w2_[j]; cnt++;
        }
        double e = swy / sw, qq = swy2 - swy * e, df = cnt - 1.0, t = 0.0, ii = 0.0;
        if (qq < 0 || cnt < 2) qq = 0.0;
        if (cnt > 1) {
            double c = sw - sw2 / sw;
            t = (qq - df) / c;
            if (t > 0) {
                ii = 100.0 * t / (t + df / c);
                double aw = 0, awy = 0;
                bits = (uint64_t)m;
                while (bits) {
                    int j = __builtin_ctzll(bits);
                    bits &= bits - 1;
                    double w = 1.0 / (t + v[j]);
                    aw += w; awy += w * y[j];
                }
                e = awy / aw;
            } else {
                t = 0.0;
            }
        }
        est[m - 1] = e; tau2[m - 1] = t; i2[m - 1] = ii; q[m - 1] = qq;
    }
}
