// Thin shim over the kernel's V4L2 API (linux/videodev2.h): the VIDIOC_* requests are function-like macros
// Swift cannot import, and the frame size/interval structs keep their values in anonymous unions. Plain
// libc ioctl (not libv4l2, whose v4l2_open bypasses userspace fakes such as PipeWire's pw-v4l2). No logic.
#ifndef STREAMD_CV4L2_SHIM_H
#define STREAMD_CV4L2_SHIM_H
#include <linux/videodev2.h>
#include <sys/ioctl.h>

static inline int streamd_v4l2_querycap(int fd, struct v4l2_capability *c) { return ioctl(fd, VIDIOC_QUERYCAP, c); }
static inline int streamd_v4l2_enum_fmt(int fd, struct v4l2_fmtdesc *d) { return ioctl(fd, VIDIOC_ENUM_FMT, d); }
static inline int streamd_v4l2_enum_framesizes(int fd, struct v4l2_frmsizeenum *s) { return ioctl(fd, VIDIOC_ENUM_FRAMESIZES, s); }
static inline int streamd_v4l2_s_fmt(int fd, struct v4l2_format *f) { return ioctl(fd, VIDIOC_S_FMT, f); }
static inline int streamd_v4l2_enum_frameintervals(int fd, struct v4l2_frmivalenum *i) { return ioctl(fd, VIDIOC_ENUM_FRAMEINTERVALS, i); }

static inline struct v4l2_frmsize_discrete streamd_v4l2_frmsize_discrete(const struct v4l2_frmsizeenum *s) { return s->discrete; }
static inline struct v4l2_frmsize_stepwise streamd_v4l2_frmsize_stepwise(const struct v4l2_frmsizeenum *s) { return s->stepwise; }
static inline struct v4l2_fract streamd_v4l2_frmival_discrete(const struct v4l2_frmivalenum *i) { return i->discrete; }
static inline struct v4l2_frmival_stepwise streamd_v4l2_frmival_stepwise(const struct v4l2_frmivalenum *i) { return i->stepwise; }
#endif
