// Thin shim: FFmpeg's log callback takes a va_list, which Swift cannot receive. This formats each message into
// one line (FFmpeg's own prefix "[h264 @ 0x…] ") and hands it to a plain function pointer. No policy here.
#ifndef STREAMD_FFMPEG_LOG_BRIDGE_H
#define STREAMD_FFMPEG_LOG_BRIDGE_H

/// Receives one formatted line (without the trailing newline) and FFmpeg's level (AV_LOG_*).
typedef void (*streamd_ffmpeg_log_sink)(int level, const char *line);

/// Routes FFmpeg's log through `sink` (NULL restores FFmpeg's default stderr logger). Messages above FFmpeg's
/// current level (av_log_set_level) are dropped before formatting.
void streamd_ffmpeg_log_route(streamd_ffmpeg_log_sink sink);

#endif
