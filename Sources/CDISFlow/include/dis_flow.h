#ifndef STREAMD_DIS_FLOW_H
#define STREAMD_DIS_FLOW_H

// A C interface over OpenCV's DIS optical flow (cv::DISOpticalFlow, Kroeger et al. 2016), so Swift can call
// it without C++ interop. No logic beyond the call: the Temporal module owns sizes, buffers and meaning.

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// One DIS instance with its internal pyramids; reused across frames of one size (it reallocates on a new
/// size). Not thread-safe: one owner at a time.
typedef struct streamd_dis_flow streamd_dis_flow;

/// OpenCV's presets: 0 ultrafast, 1 fast, 2 medium.
enum { STREAMD_DIS_ULTRAFAST = 0, STREAMD_DIS_FAST = 1, STREAMD_DIS_MEDIUM = 2 };

/// A new instance, or NULL with a message in `error` (at most `error_size` bytes, NUL-terminated). Also sets
/// OpenCV's process-wide thread count to 1: each flow runs on the calling thread only.
streamd_dis_flow *streamd_dis_create(int preset, char *error, size_t error_size);

/// Frees an instance made by `streamd_dis_create` (NULL is ignored).
void streamd_dis_destroy(streamd_dis_flow *flow);

/// Dense flow from `from` to `to`, two 8-bit grey pictures of `width`×`height` with rows `stride` bytes apart:
/// `out` receives width*height (dx, dy) float pairs, row-major, such that from(x, y) ≈ to(x + dx, y + dy).
/// Returns 0, or -1 with a message in `error`.
int streamd_dis_calc(streamd_dis_flow *flow, const uint8_t *from, const uint8_t *to, int width, int height,
                     int stride, float *out, char *error, size_t error_size);

#ifdef __cplusplus
}
#endif

#endif
