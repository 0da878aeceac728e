// zstd from Debian's libzstd-dev: compression of the alert index's stored bodies. Imported only
// by VigilIndex.
#include <zstd.h>
