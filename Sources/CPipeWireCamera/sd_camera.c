#include "sd_camera.h"

#include <pipewire/pipewire.h>
#include <spa/param/video/format-utils.h>
#include <spa/pod/builder.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sd_camera {
    struct pw_thread_loop *loop;
    struct pw_stream *stream;
    struct spa_hook listener;
    int width, height, stride;
    enum pw_stream_state state;
    char failure[256];
    // The newest picture (guarded by the thread loop's lock) and whether readers have had it.
    uint8_t *latest;
    int fresh;
    _Atomic uint64_t delivered;
};

static void on_state_changed(void *data, enum pw_stream_state old, enum pw_stream_state state, const char *error) {
    (void)old;
    struct sd_camera *camera = data;
    camera->state = state;
    if (state == PW_STREAM_STATE_ERROR) snprintf(camera->failure, sizeof camera->failure, "%s", error ? error : "PipeWire stream error");
    if (state == PW_STREAM_STATE_UNCONNECTED && !camera->failure[0]) snprintf(camera->failure, sizeof camera->failure, "disconnected from PipeWire");
    pw_thread_loop_signal(camera->loop, false);
}

/// The format is fixed: the buffers are one picture each, rows `stride` apart.
static void on_param_changed(void *data, uint32_t id, const struct spa_pod *param) {
    struct sd_camera *camera = data;
    if (param == NULL || id != SPA_PARAM_Format) return;
    uint8_t buffer[1024];
    struct spa_pod_builder b = SPA_POD_BUILDER_INIT(buffer, sizeof buffer);
    const struct spa_pod *params[1];
    params[0] = spa_pod_builder_add_object(&b, SPA_TYPE_OBJECT_ParamBuffers, SPA_PARAM_Buffers,
        SPA_PARAM_BUFFERS_buffers, SPA_POD_CHOICE_RANGE_Int(4, 2, 8),
        SPA_PARAM_BUFFERS_blocks, SPA_POD_Int(1),
        SPA_PARAM_BUFFERS_size, SPA_POD_Int(camera->stride * camera->height),
        SPA_PARAM_BUFFERS_stride, SPA_POD_Int(camera->stride),
        SPA_PARAM_BUFFERS_dataType, SPA_POD_CHOICE_FLAGS_Int((1 << SPA_DATA_MemPtr) | (1 << SPA_DATA_MemFd)));
    pw_stream_update_params(camera->stream, params, 1);
}

/// A reader's cycle: the newest picture, if it has not had it yet.
static void on_process(void *data) {
    struct sd_camera *camera = data;
    if (!camera->fresh) return;
    struct pw_buffer *b = pw_stream_dequeue_buffer(camera->stream);
    if (!b) return;
    struct spa_data *d = &b->buffer->datas[0];
    if (d->data && d->maxsize >= (uint32_t)(camera->stride * camera->height)) {
        memcpy(d->data, camera->latest, (size_t)camera->stride * camera->height);
        d->chunk->offset = 0;
        d->chunk->size = (uint32_t)(camera->stride * camera->height);
        d->chunk->stride = camera->stride;
        camera->fresh = 0;
        atomic_fetch_add(&camera->delivered, 1);
    }
    pw_stream_queue_buffer(camera->stream, b);
}

static const struct pw_stream_events events = {
    PW_VERSION_STREAM_EVENTS,
    .state_changed = on_state_changed,
    .param_changed = on_param_changed,
    .process = on_process,
};

static void init_pipewire(void) { pw_init(NULL, NULL); }

sd_camera *sd_camera_open(const char *name, int width, int height, int fps, int timeout_ms, char *error, size_t error_size) {
    // Once per process, and finished before any caller goes on (two cameras may open at once).
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, init_pipewire);
    struct sd_camera *camera = calloc(1, sizeof *camera);
    camera->width = width;
    camera->height = height;
    camera->stride = width * 3;
    camera->latest = calloc((size_t)camera->stride * height, 1);
    camera->loop = pw_thread_loop_new("streamd-camera", NULL);
    if (!camera->loop || !camera->latest) {
        snprintf(error, error_size, "cannot start a PipeWire thread loop");
        sd_camera_close(camera);
        return NULL;
    }
    struct pw_properties *props = pw_properties_new(PW_KEY_MEDIA_CLASS, "Video/Source", PW_KEY_MEDIA_ROLE, "Camera",
                                                    PW_KEY_NODE_NAME, name, PW_KEY_NODE_DESCRIPTION, name, NULL);
    pw_thread_loop_lock(camera->loop);
    camera->stream = pw_stream_new_simple(pw_thread_loop_get_loop(camera->loop), name, props, &events, camera);
    if (!camera->stream) {
        pw_thread_loop_unlock(camera->loop);
        snprintf(error, error_size, "cannot create a PipeWire stream");
        sd_camera_close(camera);
        return NULL;
    }
    uint8_t buffer[1024];
    struct spa_pod_builder b = SPA_POD_BUILDER_INIT(buffer, sizeof buffer);
    const struct spa_pod *params[1];
    params[0] = spa_pod_builder_add_object(&b, SPA_TYPE_OBJECT_Format, SPA_PARAM_EnumFormat,
        SPA_FORMAT_mediaType, SPA_POD_Id(SPA_MEDIA_TYPE_video),
        SPA_FORMAT_mediaSubtype, SPA_POD_Id(SPA_MEDIA_SUBTYPE_raw),
        SPA_FORMAT_VIDEO_format, SPA_POD_Id(SPA_VIDEO_FORMAT_RGB),
        SPA_FORMAT_VIDEO_size, SPA_POD_Rectangle(&SPA_RECTANGLE((uint32_t)width, (uint32_t)height)),
        SPA_FORMAT_VIDEO_framerate, SPA_POD_Fraction(&SPA_FRACTION((uint32_t)fps, 1)));
    int connected = pw_stream_connect(camera->stream, PW_DIRECTION_OUTPUT, PW_ID_ANY,
                                      PW_STREAM_FLAG_MAP_BUFFERS, params, 1);
    if (connected < 0) {
        pw_thread_loop_unlock(camera->loop);
        const char *runtime = getenv("XDG_RUNTIME_DIR");
        if (connected == -EHOSTDOWN)
            snprintf(error, error_size, "no PipeWire daemon in this session (XDG_RUNTIME_DIR=%s)", runtime ? runtime : "unset");
        else
            snprintf(error, error_size, "PipeWire refused the stream: %s", strerror(-connected));
        sd_camera_close(camera);
        return NULL;
    }
    pw_thread_loop_unlock(camera->loop);
    pw_thread_loop_start(camera->loop);
    // Bounded: PipeWire answers in milliseconds or not at all (no daemon: the connection fails at once).
    pw_thread_loop_lock(camera->loop);
    struct timespec deadline;
    pw_thread_loop_get_time(camera->loop, &deadline, (int64_t)timeout_ms * SPA_NSEC_PER_MSEC);
    while (camera->state != PW_STREAM_STATE_PAUSED && camera->state != PW_STREAM_STATE_STREAMING &&
           camera->state != PW_STREAM_STATE_ERROR) {
        if (pw_thread_loop_timed_wait_full(camera->loop, &deadline) != 0) break;
    }
    enum pw_stream_state state = camera->state;
    pw_thread_loop_unlock(camera->loop);
    if (state != PW_STREAM_STATE_PAUSED && state != PW_STREAM_STATE_STREAMING) {
        snprintf(error, error_size, "%s", camera->failure[0] ? camera->failure : "PipeWire did not accept the camera node in time");
        sd_camera_close(camera);
        return NULL;
    }
    return camera;
}

int sd_camera_push_rgb(sd_camera *camera, const uint8_t *rgb, size_t stride) {
    pw_thread_loop_lock(camera->loop);
    int failed = camera->failure[0] != 0;
    if (!failed) {
        for (int y = 0; y < camera->height; y++) memcpy(camera->latest + (size_t)y * camera->stride, rgb + (size_t)y * stride, (size_t)camera->stride);
        camera->fresh = 1;
    }
    pw_thread_loop_unlock(camera->loop);
    return failed ? -1 : 0;
}

uint64_t sd_camera_delivered(sd_camera *camera) { return atomic_load(&camera->delivered); }

const char *sd_camera_failure(sd_camera *camera) { return camera->failure[0] ? camera->failure : NULL; }

void sd_camera_close(sd_camera *camera) {
    if (!camera) return;
    if (camera->loop) pw_thread_loop_stop(camera->loop);
    if (camera->stream) pw_stream_destroy(camera->stream);
    if (camera->loop) pw_thread_loop_destroy(camera->loop);
    free(camera->latest);
    free(camera);
}
