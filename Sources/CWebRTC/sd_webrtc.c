#define GST_USE_UNSTABLE_API 1
#include "sd_webrtc.h"

#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/gst.h>
#include <gst/sdp/sdp.h>
#include <gst/webrtc/webrtc.h>
#include <agent.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

struct sd_webrtc {
    GstElement *pipeline;
    GstElement *webrtc;
    GstElement *src;   // appsrc `src`, or NULL
    GstElement *sink;  // appsink `sink`, or NULL
    GstElement *asrc;  // appsrc `asrc` (audio to the peer), or NULL
    GstElement *asink; // appsink `asink` (audio from the peer), or NULL
    GstClockTime audio_next;  // running time where the next pushed audio block starts
    int width, height;
    GstClockTime started;
    _Atomic uint64_t received;  // counted by the pad probes on webrtcbin's streaming threads
};

static void init_once(void) {
    static gsize done = 0;
    if (g_once_init_enter(&done)) {
        gst_init(NULL, NULL);
        g_once_init_leave(&done, 1);
    }
}

static void set_error(char *error, size_t size, const char *format, const char *detail) {
    if (error && size) snprintf(error, size, format, detail ? detail : "");
}

/// A promise whose reply is waited for with a deadline. The waiter lives until the promise is freed (its destroy
/// notify), so a reply that comes after the caller gave up finds it still there.
typedef struct {
    GMutex lock;
    GCond replied;
    gboolean done;
} promise_waiter;

static void promise_changed(GstPromise *promise, gpointer data) {
    (void)promise;
    promise_waiter *w = data;
    g_mutex_lock(&w->lock);
    w->done = TRUE;
    g_cond_broadcast(&w->replied);
    g_mutex_unlock(&w->lock);
}

static void promise_waiter_free(gpointer data) {
    promise_waiter *w = data;
    g_mutex_clear(&w->lock);
    g_cond_clear(&w->replied);
    g_free(w);
}

static GstPromise *bounded_promise(promise_waiter **waiter) {
    promise_waiter *w = g_new0(promise_waiter, 1);
    g_mutex_init(&w->lock);
    g_cond_init(&w->replied);
    *waiter = w;
    return gst_promise_new_with_change_func(promise_changed, w, promise_waiter_free);
}

/// Waits (10 s at most) for webrtcbin's reply: TRUE with a one-line reason in `error` when it carried an error
/// or never came.
static gboolean promise_failed(GstPromise *promise, promise_waiter *w, char *error, size_t size, const char *what) {
    gint64 deadline = g_get_monotonic_time() + 10 * G_TIME_SPAN_SECOND;
    g_mutex_lock(&w->lock);
    while (!w->done) {
        if (!g_cond_wait_until(&w->replied, &w->lock, deadline)) break;
    }
    gboolean done = w->done;
    g_mutex_unlock(&w->lock);
    if (!done || gst_promise_wait(promise) != GST_PROMISE_RESULT_REPLIED) {
        set_error(error, size, "%s: no reply from webrtcbin within 10 s", what);
        return TRUE;
    }
    const GstStructure *reply = gst_promise_get_reply(promise);
    if (reply && gst_structure_has_field(reply, "error")) {
        GError *e = NULL;
        gst_structure_get(reply, "error", G_TYPE_ERROR, &e, NULL);
        char line[512];
        snprintf(line, sizeof line, "%s: %s", what, e ? e->message : "refused");
        set_error(error, size, "%s", line);
        if (e) g_error_free(e);
        return TRUE;
    }
    return FALSE;
}

static GstPadProbeReturn count_buffer(GstPad *pad, GstPadProbeInfo *info, gpointer data) {
    (void)pad; (void)info;
    atomic_fetch_add(&((sd_webrtc *)data)->received, 1);
    return GST_PAD_PROBE_OK;
}

/// webrtcbin's new source pad (a received stream): to `vdepay` or `adepay` by its media, else discarded.
static void on_pad_added(GstElement *webrtc, GstPad *pad, gpointer data) {
    sd_webrtc *session = data;
    if (GST_PAD_DIRECTION(pad) != GST_PAD_SRC) return;
    GstCaps *caps = gst_pad_get_current_caps(pad);
    if (!caps) caps = gst_pad_query_caps(pad, NULL);
    const char *media = caps && gst_caps_get_size(caps) ? gst_structure_get_string(gst_caps_get_structure(caps, 0), "media") : NULL;
    const char *target = media && strcmp(media, "video") == 0 ? "vdepay" : media && strcmp(media, "audio") == 0 ? "adepay" : NULL;
    GstElement *next = target ? gst_bin_get_by_name(GST_BIN(session->pipeline), target) : NULL;
    if (!next) {
        next = gst_element_factory_make("fakesink", NULL);
        gst_bin_add(GST_BIN(session->pipeline), next);
        gst_element_sync_state_with_parent(next);
        gst_object_ref(next);
    }
    GstPad *sink = gst_element_get_static_pad(next, "sink");
    if (sink && !gst_pad_is_linked(sink)) {
        gst_pad_link(pad, sink);
        if (target) gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, count_buffer, session, NULL);
    }
    if (sink) gst_object_unref(sink);
    gst_object_unref(next);
    if (caps) gst_caps_unref(caps);
    (void)webrtc;
}

/// ICE as streamd wants it: UDP only, keepalives that need an answer (so a peer that vanishes without a word
/// fails the connection within seconds instead of being sent to forever), and host candidates only on
/// `addresses` when given.
static void configure_ice(GstElement *webrtc, const char *addresses) {
    GObject *ice = NULL;
    g_object_get(webrtc, "ice-agent", &ice, NULL);
    if (!ice) return;
    NiceAgent *agent = NULL;
    g_object_get(ice, "agent", &agent, NULL);
    // TCP candidates only add gathering time for peers that all speak UDP.
    g_object_set(ice, "ice-tcp", FALSE, NULL);
    if (agent) g_object_set(agent, "keepalive-conncheck", TRUE, NULL);
    if (agent && addresses && *addresses) {
        gchar **list = g_strsplit(addresses, ",", -1);
        for (gchar **a = list; *a; a++) {
            NiceAddress address;
            nice_address_init(&address);
            if (nice_address_set_from_string(&address, g_strstrip(*a))) nice_agent_add_local_address(agent, &address);
        }
        g_strfreev(list);
    }
    if (agent) g_object_unref(agent);
    g_object_unref(ice);
}

static void add_receiver(GstElement *webrtc, const char *caps_text) {
    if (!caps_text) return;
    GstCaps *caps = gst_caps_from_string(caps_text);
    if (!caps) return;
    GstWebRTCRTPTransceiver *transceiver = NULL;
    g_signal_emit_by_name(webrtc, "add-transceiver", GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_RECVONLY, caps, &transceiver);
    if (transceiver) gst_object_unref(transceiver);
    gst_caps_unref(caps);
}

/// The first error message on the pipeline's bus, as one line, or NULL.
static char *bus_error(sd_webrtc *session) {
    GstBus *bus = gst_element_get_bus(session->pipeline);
    GstMessage *message = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR);
    gst_object_unref(bus);
    if (!message) return NULL;
    GError *e = NULL;
    gst_message_parse_error(message, &e, NULL);
    char *text = g_strdup_printf("%s: %s", GST_OBJECT_NAME(GST_MESSAGE_SRC(message)), e ? e->message : "error");
    if (e) g_error_free(e);
    gst_message_unref(message);
    return text;
}

sd_webrtc *sd_webrtc_open(const char *launch, const char *ice_addresses, const char *recv_video_caps,
                          const char *recv_audio_caps, const char *offer, int timeout_ms, char **answer,
                          int *bad_offer, char *error, size_t error_size) {
    init_once();
    *answer = NULL;
    *bad_offer = 0;
    GstSDPMessage *sdp = NULL;
    if (gst_sdp_message_new_from_text(offer, &sdp) != GST_SDP_OK || gst_sdp_message_medias_len(sdp) == 0) {
        if (sdp) gst_sdp_message_free(sdp);
        set_error(error, error_size, "%s", "the offer is not an SDP description with media");
        *bad_offer = 1;
        return NULL;
    }
    GError *parse_error = NULL;
    GstElement *pipeline = gst_parse_launch(launch, &parse_error);
    if (!pipeline || parse_error) {
        set_error(error, error_size, "cannot build the WebRTC pipeline: %s", parse_error ? parse_error->message : "?");
        if (parse_error) g_error_free(parse_error);
        if (pipeline) gst_object_unref(pipeline);
        gst_sdp_message_free(sdp);
        return NULL;
    }
    sd_webrtc *session = g_new0(sd_webrtc, 1);
    session->pipeline = pipeline;
    session->webrtc = gst_bin_get_by_name(GST_BIN(pipeline), "webrtc");
    session->src = gst_bin_get_by_name(GST_BIN(pipeline), "src");
    session->sink = gst_bin_get_by_name(GST_BIN(pipeline), "sink");
    session->asrc = gst_bin_get_by_name(GST_BIN(pipeline), "asrc");
    session->asink = gst_bin_get_by_name(GST_BIN(pipeline), "asink");
    session->audio_next = GST_CLOCK_TIME_NONE;
    if (!session->webrtc) {
        set_error(error, error_size, "%s", "the WebRTC pipeline has no webrtcbin named webrtc");
        gst_sdp_message_free(sdp);
        sd_webrtc_close(session);
        return NULL;
    }
    g_signal_connect(session->webrtc, "pad-added", G_CALLBACK(on_pad_added), session);
    configure_ice(session->webrtc, ice_addresses);
    add_receiver(session->webrtc, recv_video_caps);
    add_receiver(session->webrtc, recv_audio_caps);
    if (gst_element_set_state(pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
        char *why = bus_error(session);
        set_error(error, error_size, "the WebRTC pipeline does not start: %s", why ? why : "state change failed");
        g_free(why);
        gst_sdp_message_free(sdp);
        sd_webrtc_close(session);
        return NULL;
    }

    GstWebRTCSessionDescription *remote = gst_webrtc_session_description_new(GST_WEBRTC_SDP_TYPE_OFFER, sdp);
    promise_waiter *waiter = NULL;
    GstPromise *promise = bounded_promise(&waiter);
    g_signal_emit_by_name(session->webrtc, "set-remote-description", remote, promise);
    gboolean failed = promise_failed(promise, waiter, error, error_size, "the offer");
    gst_promise_unref(promise);
    gst_webrtc_session_description_free(remote);
    if (failed) { *bad_offer = 1; sd_webrtc_close(session); return NULL; }

    promise = bounded_promise(&waiter);
    g_signal_emit_by_name(session->webrtc, "create-answer", NULL, promise);
    failed = promise_failed(promise, waiter, error, error_size, "the answer");
    GstWebRTCSessionDescription *local = NULL;
    if (!failed) {
        const GstStructure *reply = gst_promise_get_reply(promise);
        gst_structure_get(reply, "answer", GST_TYPE_WEBRTC_SESSION_DESCRIPTION, &local, NULL);
        if (!local) { set_error(error, error_size, "%s", "webrtcbin gave no answer"); failed = TRUE; }
    }
    gst_promise_unref(promise);
    if (failed) { sd_webrtc_close(session); return NULL; }
    promise = bounded_promise(&waiter);
    g_signal_emit_by_name(session->webrtc, "set-local-description", local, promise);
    failed = promise_failed(promise, waiter, error, error_size, "the answer");
    gst_promise_unref(promise);
    gst_webrtc_session_description_free(local);
    if (failed) { sd_webrtc_close(session); return NULL; }

    // Non-trickle: the answer goes out once gathering is complete, bounded by the caller's timeout.
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    for (;;) {
        GstWebRTCICEGatheringState state = GST_WEBRTC_ICE_GATHERING_STATE_NEW;
        g_object_get(session->webrtc, "ice-gathering-state", &state, NULL);
        if (state == GST_WEBRTC_ICE_GATHERING_STATE_COMPLETE) break;
        if (g_get_monotonic_time() >= deadline) break;  // answer with the candidates gathered so far
        g_usleep(5000);
    }
    GstWebRTCSessionDescription *gathered = NULL;
    g_object_get(session->webrtc, "local-description", &gathered, NULL);
    if (!gathered) {
        set_error(error, error_size, "%s", "webrtcbin lost its local description");
        sd_webrtc_close(session);
        return NULL;
    }
    *answer = gst_sdp_message_as_text(gathered->sdp);
    gst_webrtc_session_description_free(gathered);
    session->started = g_get_monotonic_time();
    return session;
}

int sd_webrtc_push_rgb(sd_webrtc *session, const uint8_t *rgb, int width, int height, size_t stride) {
    if (!session->src || width <= 0 || height <= 0) return -1;
    if (width != session->width || height != session->height) {
        GstCaps *caps = gst_caps_new_simple("video/x-raw", "format", G_TYPE_STRING, "RGB", "width", G_TYPE_INT, width,
                                            "height", G_TYPE_INT, height, "framerate", GST_TYPE_FRACTION, 0, 1, NULL);
        gst_app_src_set_caps(GST_APP_SRC(session->src), caps);
        gst_caps_unref(caps);
        session->width = width;
        session->height = height;
    }
    // GStreamer's RGB rows are padded to 4 bytes.
    size_t row = (size_t)width * 3, padded = (row + 3) & ~(size_t)3;
    GstBuffer *buffer = gst_buffer_new_allocate(NULL, padded * (size_t)height, NULL);
    GstMapInfo map;
    if (!gst_buffer_map(buffer, &map, GST_MAP_WRITE)) { gst_buffer_unref(buffer); return -1; }
    for (int y = 0; y < height; y++) memcpy(map.data + (size_t)y * padded, rgb + (size_t)y * stride, row);
    gst_buffer_unmap(buffer, &map);
    return gst_app_src_push_buffer(GST_APP_SRC(session->src), buffer) == GST_FLOW_OK ? 0 : -1;
}

/// The pipeline's running time now, or GST_CLOCK_TIME_NONE before it has a clock.
static GstClockTime running_now(sd_webrtc *session) {
    GstClock *clock = gst_element_get_clock(session->pipeline);
    if (!clock) return GST_CLOCK_TIME_NONE;
    GstClockTime now = gst_clock_get_time(clock);
    gst_object_unref(clock);
    GstClockTime base = gst_element_get_base_time(session->pipeline);
    return now >= base ? now - base : GST_CLOCK_TIME_NONE;
}

/// How long ago (ns) the sample's buffer was timestamped, on the pipeline's running time; -1 when unknown.
static int64_t sample_age(sd_webrtc *session, GstSample *sample) {
    GstBuffer *buffer = gst_sample_get_buffer(sample);
    const GstSegment *segment = gst_sample_get_segment(sample);
    if (!buffer || !segment || !GST_BUFFER_PTS_IS_VALID(buffer)) return -1;
    guint64 running = gst_segment_to_running_time(segment, GST_FORMAT_TIME, GST_BUFFER_PTS(buffer));
    GstClockTime now = running_now(session);
    if (running == GST_CLOCK_TIME_NONE || now == GST_CLOCK_TIME_NONE) return -1;
    return now >= running ? (int64_t)(now - running) : 0;
}

int sd_webrtc_pull_rgb(sd_webrtc *session, int timeout_ms, const uint8_t **rgb, int *width, int *height,
                       size_t *stride, int64_t *age_ns, void **sample_out) {
    *sample_out = NULL;
    *age_ns = -1;
    if (!session->sink) return -1;
    GstSample *sample = gst_app_sink_try_pull_sample(GST_APP_SINK(session->sink), (GstClockTime)timeout_ms * GST_MSECOND);
    if (!sample) return 0;
    GstCaps *caps = gst_sample_get_caps(sample);
    GstBuffer *buffer = gst_sample_get_buffer(sample);
    const GstStructure *s = caps ? gst_caps_get_structure(caps, 0) : NULL;
    int w = 0, h = 0;
    if (!s || !buffer || !gst_structure_get_int(s, "width", &w) || !gst_structure_get_int(s, "height", &h) || w <= 0 || h <= 0) {
        gst_sample_unref(sample);
        return 0;
    }
    // The mapping stays valid while the sample lives: the sample is handed out with its buffer mapped.
    GstMapInfo *map = g_new0(GstMapInfo, 1);
    if (!gst_buffer_map(buffer, map, GST_MAP_READ) || map->size < ((((size_t)w * 3) + 3) & ~(size_t)3) * (size_t)(h - 1) + (size_t)w * 3) {
        g_free(map);
        gst_sample_unref(sample);
        return 0;
    }
    gst_mini_object_set_qdata(GST_MINI_OBJECT(sample), g_quark_from_static_string("sd-map"), map, NULL);
    *rgb = map->data;
    *width = w;
    *height = h;
    *stride = (((size_t)w * 3) + 3) & ~(size_t)3;
    *age_ns = sample_age(session, sample);
    *sample_out = sample;
    return 1;
}

int sd_webrtc_pull_audio(sd_webrtc *session, int16_t *pcm, int capacity, int *frames, int64_t *age_ns) {
    *frames = 0;
    *age_ns = -1;
    if (!session->asink) return -1;
    GstSample *sample = gst_app_sink_try_pull_sample(GST_APP_SINK(session->asink), 0);
    if (!sample) return 0;
    GstBuffer *buffer = gst_sample_get_buffer(sample);
    GstMapInfo map;
    if (!buffer || !gst_buffer_map(buffer, &map, GST_MAP_READ)) {
        gst_sample_unref(sample);
        return 0;
    }
    // The appsink's caps fix the format: S16LE, 48 kHz, two channels, interleaved.
    size_t frame_bytes = sizeof(int16_t) * SD_WEBRTC_AUDIO_CHANNELS;
    size_t count = map.size / frame_bytes;
    if (count > (size_t)capacity) count = (size_t)capacity;
    memcpy(pcm, map.data, count * frame_bytes);
    gst_buffer_unmap(buffer, &map);
    *frames = (int)count;
    *age_ns = sample_age(session, sample);
    gst_sample_unref(sample);
    return 1;
}

int sd_webrtc_push_audio(sd_webrtc *session, const int16_t *pcm, int frames) {
    if (!session->asrc || frames <= 0) return -1;
    GstClockTime now = running_now(session);
    if (now == GST_CLOCK_TIME_NONE) return -1;
    // Back to back while the blocks keep pace with the clock; a block after a gap (or a clock that ran ahead of
    // the blocks) starts anew at now, so the player neither waits for stale audio nor hears it late.
    if (session->audio_next == GST_CLOCK_TIME_NONE || session->audio_next + 200 * GST_MSECOND < now ||
        session->audio_next > now + 500 * GST_MSECOND)
        session->audio_next = now;
    size_t bytes = (size_t)frames * sizeof(int16_t) * SD_WEBRTC_AUDIO_CHANNELS;
    GstBuffer *buffer = gst_buffer_new_allocate(NULL, bytes, NULL);
    if (!buffer) return -1;
    gst_buffer_fill(buffer, 0, pcm, bytes);
    GstClockTime duration = gst_util_uint64_scale_int((guint64)frames, GST_SECOND, SD_WEBRTC_AUDIO_RATE);
    GST_BUFFER_PTS(buffer) = session->audio_next;
    GST_BUFFER_DURATION(buffer) = duration;
    session->audio_next += duration;
    return gst_app_src_push_buffer(GST_APP_SRC(session->asrc), buffer) == GST_FLOW_OK ? 0 : -1;
}

void sd_webrtc_release(void *sample_pointer) {
    GstSample *sample = sample_pointer;
    if (!sample) return;
    GstMapInfo *map = gst_mini_object_get_qdata(GST_MINI_OBJECT(sample), g_quark_from_static_string("sd-map"));
    if (map) {
        gst_buffer_unmap(gst_sample_get_buffer(sample), map);
        g_free(map);
    }
    gst_sample_unref(sample);
}

sd_webrtc_status sd_webrtc_status_of(sd_webrtc *session, char *error, size_t error_size) {
    char *why = bus_error(session);
    if (why) {
        set_error(error, error_size, "%s", why);
        g_free(why);
        return SD_WEBRTC_ENDED;
    }
    GstWebRTCPeerConnectionState state = GST_WEBRTC_PEER_CONNECTION_STATE_NEW;
    g_object_get(session->webrtc, "connection-state", &state, NULL);
    switch (state) {
    case GST_WEBRTC_PEER_CONNECTION_STATE_CONNECTED: return SD_WEBRTC_CONNECTED;
    case GST_WEBRTC_PEER_CONNECTION_STATE_FAILED:
        set_error(error, error_size, "%s", "the connection failed (ICE or DTLS)");
        return SD_WEBRTC_ENDED;
    case GST_WEBRTC_PEER_CONNECTION_STATE_DISCONNECTED:
    case GST_WEBRTC_PEER_CONNECTION_STATE_CLOSED:
        set_error(error, error_size, "%s", "the peer went away");
        return SD_WEBRTC_ENDED;
    default: return SD_WEBRTC_CONNECTING;
    }
}

uint64_t sd_webrtc_received(sd_webrtc *session) { return atomic_load(&session->received); }

void sd_webrtc_close(sd_webrtc *session) {
    if (!session) return;
    if (session->src) gst_app_src_end_of_stream(GST_APP_SRC(session->src));
    if (session->asrc) gst_app_src_end_of_stream(GST_APP_SRC(session->asrc));
    gst_element_set_state(session->pipeline, GST_STATE_NULL);
    if (session->src) gst_object_unref(session->src);
    if (session->sink) gst_object_unref(session->sink);
    if (session->asrc) gst_object_unref(session->asrc);
    if (session->asink) gst_object_unref(session->asink);
    if (session->webrtc) gst_object_unref(session->webrtc);
    gst_object_unref(session->pipeline);
    g_free(session);
}

void sd_webrtc_free_string(char *string) { g_free(string); }
