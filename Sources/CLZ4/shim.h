// LZ4 from Debian's liblz4-dev: the frame format the alert index stores its bodies in (fast to
// write and to read). Imported only by VigilIndex.
#include <lz4frame.h>
#include <lz4.h>
