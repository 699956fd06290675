/*
 * rope_trig.inc.c: exact cos/sin tables, included once by rope_level.inc.c in each level
 * file. Scalar float64 code in loops the compiler vectorizes for the level (`omp simd`, built
 * with -fopenmp-simd: no OpenMP runtime); rope_two_prod_lo comes from the level's vocabulary.
 */

/* Round to the nearest integer, ties to even, without a libm call (so loops vectorize). */
ROPE_INLINE double rope_round_int(double v)
{
    const double av = fabs(v);
    return av < 0x1p52 ? copysign((av + 0x1p52) - 0x1p52, v) : v;
}

ROPE_INLINE void rope_cos_sin_one(double pos, double theta, double *cos_out, double *sin_out)
{
    /* 2 pi = TWO_PI_HI + TWO_PI_MID + TWO_PI_LO to ~160 bits. */
    const double TWO_PI_HI = 0x1.921fb54442d18p+2, TWO_PI_MID = 0x1.1a62633145c07p-52,
                 TWO_PI_LO = -0x1.f1976b7ed8fbcp-108, INV_TWO_PI = 0x1.45f306dc9c883p-3;
    const double PIO2_HI = 0x1.921fb54442d18p+0, PIO2_LO = 0x1.1a62633145c07p-54,
                 TWO_OVER_PI = 0x1.45f306dc9c883p-1;
    /* fdlibm's minimax polynomials for sin and cos on [-pi/4, pi/4]. */
    const double S1 = -1.66666666666666324348e-01, S2 = 8.33333333332248946124e-03,
                 S3 = -1.98412698298579493134e-04, S4 = 2.75573137070700676789e-06,
                 S5 = -2.50507602534068634195e-08, S6 = 1.58969099521155010221e-10;
    const double C1 = 4.16666666666666019037e-02, C2 = -1.38888888888741095749e-03,
                 C3 = 2.48015872894767294178e-05, C4 = -2.75573143513906633035e-07,
                 C5 = 2.08757232129817482790e-09, C6 = -1.13596475577881948265e-11;

    const double hi = pos * theta, lo = rope_two_prod_lo(pos, theta, hi); /* angle, exactly */
    const double n = rope_round_int(hi * INV_TWO_PI);
    const double th = n * TWO_PI_HI, tl = rope_two_prod_lo(n, TWO_PI_HI, th);
    /* hi - th is exact (Sterbenz: they are within a factor of two once n != 0). */
    double r = ((hi - th) - tl) + lo;
    r = (r - n * TWO_PI_MID) - n * TWO_PI_LO;
    /* Past |hi| = 2^52 the quotient hi/(2 pi) is rounded to a quarter or a half, and n can be
     * one off: r up to ~pi + 1.6, a quadrant (+-3) the code below does not handle. Wrap back
     * once; r +- TWO_PI_HI is exact (Sterbenz). */
    const double wrap = r > TWO_PI_HI * 0.5 ? -1.0 : (r < -TWO_PI_HI * 0.5 ? 1.0 : 0.0);
    r = (r + wrap * TWO_PI_HI) + wrap * TWO_PI_MID;    /* r in [-pi, pi], error ~1e-16 */

    const double q = rope_round_int(r * TWO_OVER_PI);  /* quadrant, -2 ... 2 */
    const double x = (r - q * PIO2_HI) - q * PIO2_LO;   /* |x| <= pi/4 */
    const double z = x * x;
    const double sin_x = x + x * z * (S1 + z * (S2 + z * (S3 + z * (S4 + z * (S5 + z * S6)))));
    const double rc = z * (C1 + z * (C2 + z * (C3 + z * (C4 + z * (C5 + z * C6)))));
    const double hz = 0.5 * z, w = 1.0 - hz;
    const double cos_x = w + (((1.0 - w) - hz) + z * rc);

    /* sin(x + q pi/2) and cos(x + q pi/2) for q = 0, 1, -1, +-2. */
    const double aq = fabs(q);
    const double s = aq == 1.0 ? cos_x : sin_x;
    const double c = aq == 1.0 ? sin_x : cos_x;
    /* Past |angle| = 2^54 the quotient n no longer rounds to an integer and the reduction
     * returns a wrong angle: NaN, never a wrong value. NaN and inf angles give NaN too.
     * `|`, not `||`: a short-circuit is a branch, and a branch stops vectorization. */
    const int in_range = fabs(hi) <= 0x1p54;
    *sin_out = in_range ? (((q == -1.0) | (aq == 2.0)) ? -s : s) : NAN;
    *cos_out = in_range ? (((q == 1.0) | (aq == 2.0)) ? -c : c) : NAN;
}

static void rope_cos_sin_f64(void *cos_, void *sin_, double pos, const double *theta,
                             ptrdiff_t m)
{
    double *co = cos_, *si = sin_;
#pragma omp simd
    for (ptrdiff_t j = 0; j < m; j++) {
        double c, s;
        rope_cos_sin_one(pos, theta[j], &c, &s);
        co[j] = c;
        si[j] = s;
    }
}

static void rope_cos_sin_f32(void *cos_, void *sin_, double pos, const double *theta,
                             ptrdiff_t m)
{
    float *co = cos_, *si = sin_;
#pragma omp simd
    for (ptrdiff_t j = 0; j < m; j++) {
        double c, s;
        rope_cos_sin_one(pos, theta[j], &c, &s);
        co[j] = (float)c; /* the one rounding to the compute precision */
        si[j] = (float)s;
    }
}
