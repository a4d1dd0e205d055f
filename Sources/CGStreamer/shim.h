// GStreamer with webrtcbin, its libnice ICE agent, SDP and appsrc/appsink: what CWebRTC builds sessions from.
#define GST_USE_UNSTABLE_API 1
#include <gst/gst.h>
#include <gst/app/gstappsrc.h>
#include <gst/app/gstappsink.h>
#include <gst/sdp/sdp.h>
#include <gst/webrtc/webrtc.h>
#include <agent.h>
