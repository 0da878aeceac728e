#ifndef VIGIL_CRC32C_H
#define VIGIL_CRC32C_H
#include <stddef.h>
#include <stdint.h>

/// Extends a CRC32C (Castagnoli, reflected, polynomial 0x82F63B78) over `length` bytes.
/// Start with crc = 0; the usual pre- and post-inversion is done inside.
/// Uses the SSE4.2 crc32 instruction when the CPU has it, else slicing-by-8 tables.
uint32_t vigil_crc32c_extend(uint32_t crc, const void *data, size_t length);

/// 1 when the hardware path is in use.
int vigil_crc32c_hardware(void);

#endif
