// Thin shim: the files linked into the binary (bundled_models.S); Stylize's BuiltinModels and ModelHub's
// ML5Catalog read them. No logic
// beyond finding a file by name.
#ifndef STREAMD_BUNDLED_MODELS_H
#define STREAMD_BUNDLED_MODELS_H

/// The bytes of the bundled file called `name` (e.g. "default.safetensors"), read-only and never freed, with
/// their count in *length; NULL (and 0) for a name that is not bundled.
const void *streamd_bundled_file(const char *name, unsigned long long *length);

#endif
