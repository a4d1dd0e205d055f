#include "ffmpeg_log_bridge.h"
#include <libavutil/log.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <string.h>

/* Written by the routing call, read from any codec thread: atomic, and read once per message, so a message
   never sees the sink change between the check and the call. */
static _Atomic(streamd_ffmpeg_log_sink) current_sink;

static void bridge(void *avcl, int level, const char *fmt, va_list vl) {
    streamd_ffmpeg_log_sink sink = atomic_load_explicit(&current_sink, memory_order_acquire);
    if (level > av_log_get_level() || sink == NULL) return;
    char line[1024];
    int print_prefix = 1;
    av_log_format_line2(avcl, level, fmt, vl, line, sizeof(line), &print_prefix);
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
    if (n > 0) sink(level, line);
}

void streamd_ffmpeg_log_route(streamd_ffmpeg_log_sink sink) {
    atomic_store_explicit(&current_sink, sink, memory_order_release);
    av_log_set_callback(sink ? bridge : av_log_default_callback);
}
