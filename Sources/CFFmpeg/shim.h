// Thin shim over FFmpeg 5.1: headers plus static inline wrappers for what Swift cannot import
// (function-like macros, AVERROR codes, AV_NOPTS_VALUE). No logic here.
#ifndef STREAMD_CFFMPEG_SHIM_H
#define STREAMD_CFFMPEG_SHIM_H
#include <libavformat/avformat.h>
#include <libavdevice/avdevice.h>
#include <libavcodec/avcodec.h>
#include <libavutil/avutil.h>
#include <libavutil/imgutils.h>
#include <libavutil/pixdesc.h>
#include <libavutil/display.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>
#include <libswresample/swresample.h>
#include <libavutil/audio_fifo.h>
#include <libavutil/channel_layout.h>

static inline int streamd_averror(int e) { return AVERROR(e); }
static inline int streamd_averror_eof(void) { return AVERROR_EOF; }
static inline int streamd_averror_eagain(void) { return AVERROR(EAGAIN); }
static inline int streamd_averror_invaliddata(void) { return AVERROR_INVALIDDATA; }
static inline int streamd_averror_decoder_not_found(void) { return AVERROR_DECODER_NOT_FOUND; }
static inline int streamd_averror_demuxer_not_found(void) { return AVERROR_DEMUXER_NOT_FOUND; }
static inline int64_t streamd_nopts_value(void) { return AV_NOPTS_VALUE; }
static inline const char *streamd_err2str(int err, char *buf, size_t size) {
    return av_make_error_string(buf, size, err);
}
#endif
