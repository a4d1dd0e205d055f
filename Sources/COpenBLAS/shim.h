// Thin shim over OpenBLAS: the CBLAS interface plus the thread-count controls. No logic here.
#ifndef STREAMD_COPENBLAS_SHIM_H
#define STREAMD_COPENBLAS_SHIM_H
#include <cblas.h>
#endif
