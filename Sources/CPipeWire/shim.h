// PipeWire 0.3 (Debian 12): the stream API CPipeWireCamera builds a camera node with.
#include <pipewire/pipewire.h>
