#include "streamd_kernels.h"

#include <immintrin.h>
#include <math.h>

#define AVX2 __attribute__((target("avx2,fma")))

bool streamd_kernels_vectorized(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }
    return cached == 1;
}

// MARK: Depthwise 3×3

/// The 8 floats at p[0], p[2], …, p[14] (the even lanes of two consecutive vectors).
AVX2 static inline __m256 evens(const float *p) {
    __m256 a = _mm256_loadu_ps(p), b = _mm256_loadu_ps(p + 8);
    __m256 s = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0)); // a0 a2 b0 b2 | a4 a6 b4 b6
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(s), _MM_SHUFFLE(3, 1, 2, 0)));
}

/// The 8 floats at p[1], p[3], …, p[15].
AVX2 static inline __m256 odds(const float *p) {
    __m256 a = _mm256_loadu_ps(p), b = _mm256_loadu_ps(p + 8);
    __m256 s = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(s), _MM_SHUFFLE(3, 1, 2, 0)));
}

static inline float tap9(const float *r0, const float *r1, const float *r2, const float *w, long x, float bias) {
    return bias + w[0] * r0[x] + w[1] * r0[x + 1] + w[2] * r0[x + 2]
                + w[3] * r1[x] + w[4] * r1[x + 1] + w[5] * r1[x + 2]
                + w[6] * r2[x] + w[7] * r2[x + 1] + w[8] * r2[x + 2];
}

AVX2 static void depthwise3x3s1(const float *xp, long wp, const float *w, float bias, float *y, long ho, long wo) {
    __m256 k[9];
    for (int i = 0; i < 9; i++) k[i] = _mm256_set1_ps(w[i]);
    const __m256 b = _mm256_set1_ps(bias);
    for (long oy = 0; oy < ho; oy++) {
        const float *r0 = xp + oy * wp, *r1 = r0 + wp, *r2 = r1 + wp;
        float *out = y + oy * wo;
        long ox = 0;
        // Reads r[ox .. ox + 9]: inside the padded row (wp = wo + 2) while ox + 8 <= wo.
        for (; ox + 8 <= wo; ox += 8) {
            __m256 a = _mm256_fmadd_ps(k[0], _mm256_loadu_ps(r0 + ox), b);
            __m256 c = _mm256_mul_ps(k[1], _mm256_loadu_ps(r0 + ox + 1));
            a = _mm256_fmadd_ps(k[2], _mm256_loadu_ps(r0 + ox + 2), a);
            c = _mm256_fmadd_ps(k[3], _mm256_loadu_ps(r1 + ox), c);
            a = _mm256_fmadd_ps(k[4], _mm256_loadu_ps(r1 + ox + 1), a);
            c = _mm256_fmadd_ps(k[5], _mm256_loadu_ps(r1 + ox + 2), c);
            a = _mm256_fmadd_ps(k[6], _mm256_loadu_ps(r2 + ox), a);
            c = _mm256_fmadd_ps(k[7], _mm256_loadu_ps(r2 + ox + 1), c);
            a = _mm256_fmadd_ps(k[8], _mm256_loadu_ps(r2 + ox + 2), a);
            _mm256_storeu_ps(out + ox, _mm256_add_ps(a, c));
        }
        for (; ox < wo; ox++) out[ox] = tap9(r0, r1, r2, w, ox, bias);
    }
}

AVX2 static void depthwise3x3s2(const float *xp, long wp, const float *w, float bias, float *y, long ho, long wo) {
    __m256 k[9];
    for (int i = 0; i < 9; i++) k[i] = _mm256_set1_ps(w[i]);
    const __m256 b = _mm256_set1_ps(bias);
    for (long oy = 0; oy < ho; oy++) {
        const float *r0 = xp + 2 * oy * wp, *r1 = r0 + wp, *r2 = r1 + wp;
        float *out = y + oy * wo;
        long ox = 0;
        // Output ox reads input 2·ox … 2·ox + 2; a block of 8 loads input 2·ox … 2·ox + 17, which stays inside
        // the padded row (wp ≥ 2·wo + 1) only while 2·ox + 18 <= wp.
        for (; ox + 8 <= wo && 2 * ox + 18 <= wp; ox += 8) {
            const long i = 2 * ox;
            __m256 a = _mm256_fmadd_ps(k[0], evens(r0 + i), b);
            __m256 c = _mm256_mul_ps(k[1], odds(r0 + i));
            a = _mm256_fmadd_ps(k[2], evens(r0 + i + 2), a);
            c = _mm256_fmadd_ps(k[3], evens(r1 + i), c);
            a = _mm256_fmadd_ps(k[4], odds(r1 + i), a);
            c = _mm256_fmadd_ps(k[5], evens(r1 + i + 2), c);
            a = _mm256_fmadd_ps(k[6], evens(r2 + i), a);
            c = _mm256_fmadd_ps(k[7], odds(r2 + i), c);
            a = _mm256_fmadd_ps(k[8], evens(r2 + i + 2), a);
            _mm256_storeu_ps(out + ox, _mm256_add_ps(a, c));
        }
        for (; ox < wo; ox++) out[ox] = tap9(r0, r1, r2, w, 2 * ox, bias);
    }
}

bool streamd_depthwise3x3(const float *xp, long wp, const float *w, float bias, int stride,
                          float *y, long ho, long wo) {
    if (!streamd_kernels_vectorized()) return false;
    if (stride == 1) { depthwise3x3s1(xp, wp, w, bias, y, ho, wo); return true; }
    if (stride == 2) { depthwise3x3s2(xp, wp, w, bias, y, ho, wo); return true; }
    return false;
}

// MARK: Nearest 2× upsampling + depthwise 3×3

/// The 2×2 taps of each output parity: `sub[a][b][r][c]` multiplies xp[i + a + r][j + b + c] for output
/// (2i + a, 2j + b). Along one axis, parity 0 reads (small index − 1) with tap 0 and (index) with taps 1 + 2;
/// parity 1 reads (index) with taps 0 + 1 and (index + 1) with tap 2; xp is offset by the one padded pixel.
static void subKernels(const float *k, float sub[2][2][2][2]) {
    for (int a = 0; a < 2; a++) for (int b = 0; b < 2; b++) for (int r = 0; r < 2; r++) for (int c = 0; c < 2; c++) {
        float sum = 0;
        for (int ky = 0; ky < 3; ky++) for (int kx = 0; kx < 3; kx++) {
            int rowTap = a == 0 ? (ky == 0 ? 0 : 1) : (ky == 2 ? 1 : 0);
            int colTap = b == 0 ? (kx == 0 ? 0 : 1) : (kx == 2 ? 1 : 0);
            if (rowTap == r && colTap == c) sum += k[ky * 3 + kx];
        }
        sub[a][b][r][c] = sum;
    }
}

AVX2 static void upsample2Depthwise(const float *xp, long h, long w, const float *k, float bias, float *y) {
    float sub[2][2][2][2];
    subKernels(k, sub);
    const long wp = w + 2, wo = 2 * w;
    const __m256 vb = _mm256_set1_ps(bias);
    for (long oy = 0; oy < 2 * h; oy++) {
        const long i = oy >> 1, a = oy & 1;
        const float *r0 = xp + (i + a) * wp, *r1 = r0 + wp;
        float *out = y + oy * wo;
        const __m256 e00 = _mm256_set1_ps(sub[a][0][0][0]), e01 = _mm256_set1_ps(sub[a][0][0][1]);
        const __m256 e10 = _mm256_set1_ps(sub[a][0][1][0]), e11 = _mm256_set1_ps(sub[a][0][1][1]);
        const __m256 o00 = _mm256_set1_ps(sub[a][1][0][0]), o01 = _mm256_set1_ps(sub[a][1][0][1]);
        const __m256 o10 = _mm256_set1_ps(sub[a][1][1][0]), o11 = _mm256_set1_ps(sub[a][1][1][1]);
        long j = 0;
        // Reads xp columns j … j + 9, inside the padded row while j + 8 <= w.
        for (; j + 8 <= w; j += 8) {
            __m256 a0 = _mm256_loadu_ps(r0 + j), a1 = _mm256_loadu_ps(r0 + j + 1), a2 = _mm256_loadu_ps(r0 + j + 2);
            __m256 b0 = _mm256_loadu_ps(r1 + j), b1 = _mm256_loadu_ps(r1 + j + 1), b2 = _mm256_loadu_ps(r1 + j + 2);
            __m256 even = _mm256_fmadd_ps(e00, a0, vb);
            even = _mm256_fmadd_ps(e01, a1, even);
            even = _mm256_fmadd_ps(e10, b0, even);
            even = _mm256_fmadd_ps(e11, b1, even);
            __m256 odd = _mm256_fmadd_ps(o00, a1, vb);
            odd = _mm256_fmadd_ps(o01, a2, odd);
            odd = _mm256_fmadd_ps(o10, b1, odd);
            odd = _mm256_fmadd_ps(o11, b2, odd);
            __m256 lo = _mm256_unpacklo_ps(even, odd), hi = _mm256_unpackhi_ps(even, odd);
            _mm256_storeu_ps(out + 2 * j, _mm256_permute2f128_ps(lo, hi, 0x20));
            _mm256_storeu_ps(out + 2 * j + 8, _mm256_permute2f128_ps(lo, hi, 0x31));
        }
        for (; j < w; j++) {
            for (int b = 0; b < 2; b++) {
                out[2 * j + b] = bias + sub[a][b][0][0] * r0[j + b] + sub[a][b][0][1] * r0[j + b + 1]
                                      + sub[a][b][1][0] * r1[j + b] + sub[a][b][1][1] * r1[j + b + 1];
            }
        }
    }
}

bool streamd_upsample2_depthwise3x3(const float *xp, long h, long w, const float *k, float bias, float *y) {
    if (!streamd_kernels_vectorized()) return false;
    upsample2Depthwise(xp, h, w, k, bias, y);
    return true;
}

// MARK: Direct convolution for few channels

/// Output columns [ox, ox + 8·V) of one output row for `nc` (≤ 4) output channels from `co`: every tap a load
/// of V vectors and `nc` broadcasts of a weight, into 4·V accumulators.
#define DIRECT_BLOCK(V)                                                                                         \
    do {                                                                                                        \
        __m256 acc[4][V];                                                                                       \
        for (int j = 0; j < 4; j++) for (int v = 0; v < V; v++)                                               \
            acc[j][v] = _mm256_set1_ps(j < nc && bias ? bias[co + j] : 0.0f);                                   \
        for (long ci = 0; ci < cin; ci++) {                                                                     \
            for (long ky = 0; ky < kh; ky++) {                                                                  \
                const float *row = xp + (ci * hp + oy + ky) * wp + ox;                                          \
                const float *wk = w + ((co * cin + ci) * kh + ky) * kw;                                         \
                for (long kx = 0; kx < kw; kx++) {                                                              \
                    __m256 in[V];                                                                               \
                    for (int v = 0; v < V; v++) in[v] = _mm256_loadu_ps(row + kx + 8 * v);                     \
                    for (int j = 0; j < 4; j++) {                                                               \
                        if (j >= nc) break;                                                                     \
                        __m256 k = _mm256_broadcast_ss(wk + j * wstride + kx);                                  \
                        for (int v = 0; v < V; v++) acc[j][v] = _mm256_fmadd_ps(k, in[v], acc[j][v]);          \
                    }                                                                                           \
                }                                                                                               \
            }                                                                                                   \
        }                                                                                                       \
        for (int j = 0; j < nc; j++) for (int v = 0; v < V; v++)                                               \
            _mm256_storeu_ps(y + (co + j) * y_plane + oy * wo + ox + 8 * v, acc[j][v]);                         \
    } while (0)

AVX2 static void convDirect(const float *xp, long cin, long hp, long wp, const float *w, long cout, long kh, long kw,
                            const float *bias, float *y, long y_plane, long row_start, long row_end) {
    const long wo = wp - kw + 1, wstride = cin * kh * kw;
    for (long oy = row_start; oy < row_end; oy++) {
        for (long co = 0; co < cout; co += 4) {
            const int nc = (int)(cout - co < 4 ? cout - co : 4);
            long ox = 0;
            for (; ox + 16 <= wo; ox += 16) DIRECT_BLOCK(2);
            for (; ox + 8 <= wo; ox += 8) DIRECT_BLOCK(1);
            for (; ox < wo; ox++) {
                for (int j = 0; j < nc; j++) {
                    float sum = bias ? bias[co + j] : 0.0f;
                    for (long ci = 0; ci < cin; ci++)
                        for (long ky = 0; ky < kh; ky++)
                            for (long kx = 0; kx < kw; kx++)
                                sum += w[(((co + j) * cin + ci) * kh + ky) * kw + kx] * xp[(ci * hp + oy + ky) * wp + ox + kx];
                    y[(co + j) * y_plane + oy * wo + ox] = sum;
                }
            }
        }
    }
}

bool streamd_conv_direct(const float *xp, long cin, long hp, long wp, const float *w, long cout, long kh, long kw,
                         const float *bias, float *y, long y_plane, long row_start, long row_end) {
    if (!streamd_kernels_vectorized()) return false;
    convDirect(xp, cin, hp, wp, w, cout, kh, kw, bias, y, y_plane, row_start, row_end);
    return true;
}

// MARK: tanh

/// e^x for x in [-20, 20] (Cephes' expf: x = n·ln2 + r, |r| ≤ ln2/2, degree-6 polynomial; relative error
/// about 1e-7).
AVX2 static inline __m256 exp8(__m256 x) {
    const __m256 log2e = _mm256_set1_ps(1.44269504088896341f);
    const __m256 ln2hi = _mm256_set1_ps(0.693359375f), ln2lo = _mm256_set1_ps(-2.12194440e-4f);
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, log2e), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, ln2hi, x);
    r = _mm256_fnmadd_ps(n, ln2lo, r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

/// tanh(x) = sign(x)·(1 − 2/(e^{2|x|} + 1)), |x| clamped to 9 (tanh(9) rounds to 1 in float). Through |x| the
/// subtraction never cancels into a relative error larger than e^{2|x|}'s own.
AVX2 static inline __m256 tanh8(__m256 x) {
    const __m256 signMask = _mm256_set1_ps(-0.0f);
    __m256 sign = _mm256_and_ps(x, signMask);
    __m256 a = _mm256_min_ps(_mm256_andnot_ps(signMask, x), _mm256_set1_ps(9.0f));
    __m256 e = exp8(_mm256_add_ps(a, a));
    __m256 t = _mm256_sub_ps(_mm256_set1_ps(1.0f), _mm256_div_ps(_mm256_set1_ps(2.0f), _mm256_add_ps(e, _mm256_set1_ps(1.0f))));
    return _mm256_or_ps(t, sign);
}

AVX2 static void tanhAffine(const float *x, float *y, long n, float alpha, float beta) {
    const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    long i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, tanh8(_mm256_loadu_ps(x + i)), vb));
    for (; i < n; i++) y[i] = alpha * tanhf(x[i]) + beta;
}

bool streamd_tanh_affine(const float *x, float *y, long n, float alpha, float beta) {
    if (!streamd_kernels_vectorized()) return false;
    tanhAffine(x, y, n, alpha, beta);
    return true;
}

// MARK: Planes to RGB bytes

/// floor(v·a + b + 0.5) clamped to 0…255, NaN to 255: the Swift reference's `toByte(v * a + b)` step by step.
static inline unsigned char toByte(float v, float a, float b) {
#pragma clang fp contract(off)
    float t = v * a;
    t = t + b;
    t = t + 0.5f;
    t = floorf(t);
    t = t < 255.0f ? t : 255.0f;
    t = t >= 0.0f ? t : 0.0f;
    return (unsigned char)t;
}

AVX2 static inline __m256i bytes8(const float *p, __m256 a, __m256 b) {
#pragma clang fp contract(off)
    __m256 t = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(p), a), b);
    t = _mm256_floor_ps(_mm256_add_ps(t, _mm256_set1_ps(0.5f)));
    // min_ps returns its second operand when either is NaN: NaN becomes 255, as in the reference.
    t = _mm256_max_ps(_mm256_min_ps(t, _mm256_set1_ps(255.0f)), _mm256_setzero_ps());
    return _mm256_cvttps_epi32(t);
}

AVX2 static void planesToRGB8(const float *p0, const float *p1, const float *p2, long stride, long h, long w,
                              const float *scale, const float *offset, const int *index, unsigned char *dst) {
    const __m256 a0 = _mm256_set1_ps(scale[0]), a1 = _mm256_set1_ps(scale[1]), a2 = _mm256_set1_ps(scale[2]);
    const __m256 b0 = _mm256_set1_ps(offset[0]), b1 = _mm256_set1_ps(offset[1]), b2 = _mm256_set1_ps(offset[2]);
    const int d0 = index[0], d1 = index[1], d2 = index[2];
    for (long y = 0; y < h; y++) {
        const float *r0 = p0 + y * stride, *r1 = p1 + y * stride, *r2 = p2 + y * stride;
        unsigned char *row = dst + y * w * 3;
        long x = 0;
        for (; x + 8 <= w; x += 8) {
            int c0[8], c1[8], c2[8];
            _mm256_storeu_si256((__m256i *)c0, bytes8(r0 + x, a0, b0));
            _mm256_storeu_si256((__m256i *)c1, bytes8(r1 + x, a1, b1));
            _mm256_storeu_si256((__m256i *)c2, bytes8(r2 + x, a2, b2));
            unsigned char *px = row + x * 3;
            for (int i = 0; i < 8; i++, px += 3) {
                px[d0] = (unsigned char)c0[i];
                px[d1] = (unsigned char)c1[i];
                px[d2] = (unsigned char)c2[i];
            }
        }
        for (; x < w; x++) {
            unsigned char *px = row + x * 3;
            px[d0] = toByte(r0[x], scale[0], offset[0]);
            px[d1] = toByte(r1[x], scale[1], offset[1]);
            px[d2] = toByte(r2[x], scale[2], offset[2]);
        }
    }
}

bool streamd_planes_to_rgb8(const float *p0, const float *p1, const float *p2, long stride, long h, long w,
                            const float *scale, const float *offset, const int *index, unsigned char *dst) {
    if (!streamd_kernels_vectorized()) return false;
    planesToRGB8(p0, p1, p2, stride, h, w, scale, offset, index, dst);
    return true;
}
