#ifndef VIGIL_CMAXMINDDB_SHIM_H
#define VIGIL_CMAXMINDDB_SHIM_H
#include <maxminddb.h>
#endif
