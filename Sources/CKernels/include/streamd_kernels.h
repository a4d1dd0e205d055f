// Hand-vectorised kernels for the passes OpenBLAS does not cover: depthwise convolution and tanh. Swift's
// SIMD types compile to the baseline x86-64 (SSE2) this project builds for, so these are written in C with
// AVX2/FMA code chosen at run time (`__builtin_cpu_supports`); each entry point says when it declined, and the
// caller then runs its portable Swift loop, which the tests also keep as the naive reference.
#ifndef STREAMD_KERNELS_H
#define STREAMD_KERNELS_H

#include <stdbool.h>

/// True when this CPU runs the AVX2/FMA paths (else every entry point below declines).
bool streamd_kernels_vectorized(void);

/// One channel of a depthwise 3×3 convolution with stride 1 or 2 on an already padded plane:
/// y[oy·wo + ox] = bias + Σ_{ky,kx} w[ky·3 + kx] · xp[(oy·stride + ky)·wp + ox·stride + kx]
/// for oy < ho, ox < wo. Returns false (and writes nothing) when the CPU lacks AVX2/FMA or the stride is
/// neither 1 nor 2.
bool streamd_depthwise3x3(const float *xp, long wp, const float *w, float bias, int stride,
                          float *y, long ho, long wo);

/// A stride-1 convolution with few channels, computed directly (no im2col, no GEMM), for output rows
/// [row_start, row_end): y[co·y_plane + oy·wo + ox] = bias[co] + Σ_{ci,ky,kx} w[((co·cin + ci)·kh + ky)·kw + kx] ·
/// xp[(ci·hp + oy + ky)·wp + ox + kx], with wo = wp − kw + 1 and `xp` already padded (`bias` may be NULL).
/// Made for 1–16 channels, where a matrix product is too thin to run fast. Returns false (and writes nothing)
/// without AVX2/FMA.
bool streamd_conv_direct(const float *xp, long cin, long hp, long wp, const float *w, long cout, long kh, long kw,
                         const float *bias, float *y, long y_plane, long row_start, long row_end);

/// One channel of nearest 2× upsampling followed by a depthwise 3×3 convolution (stride 1, one pixel of
/// padding), computed from the small picture without making the upsampled one. `xp` is the small picture
/// (h×w) padded by one pixel (rows of wp = w + 2 floats): padded with its edge when the upsampled picture is
/// reflect- or edge-padded, with zeros when it is zero-padded. Each output pixel of parity (a, b) is a 2×2
/// convolution of `xp` whose taps are sums of the 3×3 taps. Writes the 2h×2w plane `y`. Returns false (and
/// writes nothing) without AVX2/FMA.
bool streamd_upsample2_depthwise3x3(const float *xp, long h, long w, const float *k, float bias, float *y);

/// y[i] = alpha · tanh(x[i]) + beta for i < n (y may equal x); absolute error of tanh below 2e-7.
/// Returns false (and writes nothing) when the CPU lacks AVX2/FMA.
bool streamd_tanh_affine(const float *x, float *y, long n, float alpha, float beta);

/// Three float planes (rows of `stride` floats, h rows of w used) to interleaved 8-bit pixels: byte index[c] of
/// each pixel is floor(p_c · scale[c] + offset[c] + 0.5) clamped to 0…255 (NaN gives 255), computed as the Swift
/// loop it replaces computes it (a multiply, then two adds: no fused multiply-add), so the bytes are the same.
/// `dst` holds h·w·3 bytes. Returns false (and writes nothing) without AVX2.
bool streamd_planes_to_rgb8(const float *p0, const float *p1, const float *p2, long stride, long h, long w,
                            const float *scale, const float *offset, const int *index, unsigned char *dst);

#endif
