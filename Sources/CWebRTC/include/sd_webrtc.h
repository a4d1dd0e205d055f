// One WebRTC peer connection answered by GStreamer's webrtcbin: the signalling steps webrtcbin exposes only as
// GObject signals, promises and dynamic pads (which Swift cannot call: they are variadic or callbacks), done
// here in plain blocking calls with bounded waits. No media logic: the GStreamer pipeline around webrtcbin is
// described by the caller (a gst-launch description), and ICE, DTLS and SRTP are webrtcbin's and libnice's.
#ifndef SD_WEBRTC_H
#define SD_WEBRTC_H

#include <stddef.h>
#include <stdint.h>

typedef struct sd_webrtc sd_webrtc;

/// What a session reports when asked how it is.
typedef enum {
    SD_WEBRTC_CONNECTING = 0,  ///< Answer given, ICE and DTLS not done yet.
    SD_WEBRTC_CONNECTED = 1,   ///< Media flows.
    SD_WEBRTC_ENDED = 2,       ///< Failed, closed or disconnected, or an element reported an error (see error).
} sd_webrtc_status;

/// Builds the pipeline `launch` (it must name its webrtcbin `webrtc`), restricts ICE host candidates to
/// `ice_addresses` (comma-separated IP addresses; NULL or "" for every interface), adds a receive-only
/// transceiver for each of `recv_video_caps` / `recv_audio_caps` that is not NULL (RTP caps naming the one codec
/// accepted), starts it, applies the remote `offer`, creates and applies the answer, and waits up to
/// `timeout_ms` for ICE gathering so the answer carries every candidate (WHIP and WHEP do not trickle).
/// Received streams are linked to the element named `vdepay` (video) or `adepay` (audio) when the description
/// has one, and to a discarding sink otherwise.
/// Returns the session and the answer (`*answer`, free with sd_webrtc_free_string), or NULL with a one-line
/// reason in `error` and `*bad_offer` set when the offer itself was refused (not SDP, or webrtcbin rejected it).
sd_webrtc *sd_webrtc_open(const char *launch, const char *ice_addresses, const char *recv_video_caps,
                          const char *recv_audio_caps, const char *offer, int timeout_ms, char **answer,
                          int *bad_offer, char *error, size_t error_size);

/// Pushes one RGB picture (rows `stride` bytes apart) into the appsrc named `src`, timestamped on arrival.
/// The appsrc's own bounded queue drops the oldest picture when the encoder lags. Returns 0, or -1 when the
/// session has no such element or is ending.
int sd_webrtc_push_rgb(sd_webrtc *session, const uint8_t *rgb, int width, int height, size_t stride);

/// One decoded RGB picture from the appsink named `sink`, waiting up to `timeout_ms`: 1 with the picture
/// (`*rgb` valid until sd_webrtc_release(*sample)), 0 when none came in time, -1 when the session has no sink.
/// `*age_ns` is how long ago the picture's timestamp was on the pipeline clock (the time it spent in the jitter
/// buffer and the decoder), or -1 without a timestamp: audio pulled beside it is placed by the same clock.
int sd_webrtc_pull_rgb(sd_webrtc *session, int timeout_ms, const uint8_t **rgb, int *width, int *height,
                       size_t *stride, int64_t *age_ns, void **sample);

/// Audio samples every session speaks: 48 kHz, two channels, signed 16-bit, interleaved.
enum { SD_WEBRTC_AUDIO_RATE = 48000, SD_WEBRTC_AUDIO_CHANNELS = 2 };

/// The next decoded block of audio from the appsink named `asink`, without waiting: 1 with up to `capacity`
/// sample frames copied to `pcm` (`*frames` of them) and `*age_ns` as for pictures, 0 when none is waiting, -1
/// when the session has no such sink.
int sd_webrtc_pull_audio(sd_webrtc *session, int16_t *pcm, int capacity, int *frames, int64_t *age_ns);

/// Pushes `frames` sample frames into the appsrc named `asrc`, timestamped so that consecutive blocks play
/// back to back (re-anchored to the pipeline clock after a gap). Returns 0, or -1 when the session has no such
/// element or is ending.
int sd_webrtc_push_audio(sd_webrtc *session, const int16_t *pcm, int frames);

/// Gives back a picture sd_webrtc_pull_rgb handed out. Exactly once per picture.
void sd_webrtc_release(void *sample);

/// The connection's state; when it has ended, why (one line) in `error`.
sd_webrtc_status sd_webrtc_status_of(sd_webrtc *session, char *error, size_t error_size);

/// Buffers received so far on the streams linked to `vdepay` and `adepay` (a publisher that stops sending
/// shows as a count that stops growing).
uint64_t sd_webrtc_received(sd_webrtc *session);

/// Stops the pipeline and frees everything the session holds. Exactly once per session.
void sd_webrtc_close(sd_webrtc *session);

void sd_webrtc_free_string(char *string);

#endif
