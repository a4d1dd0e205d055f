// A PipeWire video source node fed with RGB pictures: what `camera:` outputs are. PipeWire's stream API needs
// SPA pods and a thread loop (macros and callbacks Swift cannot use directly); this file does only that.
#ifndef SD_CAMERA_H
#define SD_CAMERA_H

#include <stddef.h>
#include <stdint.h>

typedef struct sd_camera sd_camera;

/// Connects to the PipeWire daemon of this session and creates a `Video/Source` node called `name` offering
/// `width`×`height` RGB at `fps`, waiting up to `timeout_ms` for PipeWire to accept it. NULL with a one-line reason
/// in `error` (no daemon, refused).
sd_camera *sd_camera_open(const char *name, int width, int height, int fps, int timeout_ms, char *error, size_t error_size);

/// Keeps a copy of one picture (exactly the node's size; rows `stride` bytes apart): readers get it at their next
/// cycle. Returns 0, or -1 when the node has failed (see sd_camera_failure).
int sd_camera_push_rgb(sd_camera *camera, const uint8_t *rgb, size_t stride);

/// Pictures handed to readers so far.
uint64_t sd_camera_delivered(sd_camera *camera);

/// Why the node failed (one line), or NULL while it works.
const char *sd_camera_failure(sd_camera *camera);

/// Removes the node and frees everything. Exactly once.
void sd_camera_close(sd_camera *camera);

#endif
