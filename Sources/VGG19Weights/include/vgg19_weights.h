// Thin shim: the packed VGG19 loss network linked into the binary (vgg19_weights.S); Stylize's VGG19Importer
// reads it. No logic.
#ifndef STREAMD_VGG19_WEIGHTS_H
#define STREAMD_VGG19_WEIGHTS_H

/// The packed file's first byte (see scripts/pack-vgg19.py for the layout); read-only, never freed.
const void *streamd_vgg19_data(void);
/// How many bytes the packed file holds.
unsigned long long streamd_vgg19_length(void);

#endif
