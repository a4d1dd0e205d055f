// See include/dis_flow.h. OpenCV reports failures as C++ exceptions, which must not cross into Swift: every
// entry point catches them and returns the message instead.
#include "dis_flow.h"

#include <cstdio>
#include <exception>
#include <opencv2/core.hpp>
#include <opencv2/video/tracking.hpp>

struct streamd_dis_flow {
    cv::Ptr<cv::DISOpticalFlow> dis;
};

static void set_error(char *error, size_t size, const char *message) {
    if (error != nullptr && size > 0) std::snprintf(error, size, "%s", message);
}

extern "C" streamd_dis_flow *streamd_dis_create(int preset, char *error, size_t error_size) {
    if (preset < STREAMD_DIS_ULTRAFAST || preset > STREAMD_DIS_MEDIUM) {
        set_error(error, error_size, "unknown DIS preset");
        return nullptr;
    }
    try {
        // OpenCV would otherwise spread each flow over a pool of one thread per core, beside stylize workers
        // that already keep every core busy: no faster overall, and the stage's cost would hide in other
        // threads instead of showing on its own. (Process-wide; streamd uses OpenCV for nothing else.)
        cv::setNumThreads(1);
        auto *flow = new streamd_dis_flow;
        flow->dis = cv::DISOpticalFlow::create(preset);
        return flow;
    } catch (const std::exception &e) {
        set_error(error, error_size, e.what());
        return nullptr;
    }
}

extern "C" void streamd_dis_destroy(streamd_dis_flow *flow) { delete flow; }

extern "C" int streamd_dis_calc(streamd_dis_flow *flow, const uint8_t *from, const uint8_t *to, int width, int height,
                                int stride, float *out, char *error, size_t error_size) {
    if (flow == nullptr || from == nullptr || to == nullptr || out == nullptr || width <= 0 || height <= 0 || stride < width) {
        set_error(error, error_size, "invalid arguments");
        return -1;
    }
    try {
        // Headers over the caller's memory: nothing is copied in, and DIS writes the result straight into `out`
        // (a matrix of the right size and type is used as is).
        const cv::Mat a(height, width, CV_8UC1, const_cast<uint8_t *>(from), static_cast<size_t>(stride));
        const cv::Mat b(height, width, CV_8UC1, const_cast<uint8_t *>(to), static_cast<size_t>(stride));
        cv::Mat result(height, width, CV_32FC2, out);
        flow->dis->calc(a, b, result);
        if (result.data != reinterpret_cast<uchar *>(out)) {
            // OpenCV reallocated (it should not for a matching size and type): copy back so the caller sees it.
            cv::Mat target(height, width, CV_32FC2, out);
            result.copyTo(target);
        }
        return 0;
    } catch (const std::exception &e) {
        set_error(error, error_size, e.what());
        return -1;
    }
}
