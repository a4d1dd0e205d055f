#include "vgg19_weights.h"

// Defined in vgg19_weights.S.
extern const unsigned char streamd_vgg19_bytes[];
extern const unsigned long long streamd_vgg19_size;

const void *streamd_vgg19_data(void) { return streamd_vgg19_bytes; }
unsigned long long streamd_vgg19_length(void) { return streamd_vgg19_size; }
