#include "crc32c.h"
#include <string.h>

static uint32_t table[8][256];
static int initialized = 0;
static int use_hw = 0;

#if defined(__x86_64__)
/* The hardware path runs three crc32 chains at once over three adjacent blocks of a stretch
 * (the instruction's latency is three times its throughput), then joins them: the register
 * after A|B is shift(R(A)) ^ R(B), where R(X) is the register after X from 0 (R(A) from the
 * incoming register) and shift() feeds a block's length of zero bytes, a linear map applied
 * by four tables of 256 entries. */
#define LONG_BLOCK 8192
#define SHORT_BLOCK 256
static uint32_t long_shift[4][256], short_shift[4][256];

/* The tables of the map "feed `n` zero bytes" on a raw (not inverted) register. */
static void make_shift(uint32_t t[4][256], size_t n) {
    uint32_t basis[32];
    for (int b = 0; b < 32; b++) {
        uint32_t c = (uint32_t)1 << b;
        for (size_t i = 0; i < n; i++) c = table[0][c & 0xff] ^ (c >> 8);
        basis[b] = c;
    }
    for (int k = 0; k < 4; k++)
        for (uint32_t v = 0; v < 256; v++) {
            uint32_t c = 0;
            for (int j = 0; j < 8; j++) if (v & (1u << j)) c ^= basis[8 * k + j];
            t[k][v] = c;
        }
}

static inline uint32_t shift(const uint32_t t[4][256], uint32_t c) {
    return t[0][c & 0xff] ^ t[1][(c >> 8) & 0xff] ^ t[2][(c >> 16) & 0xff] ^ t[3][c >> 24];
}
#endif

static void init_tables(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = table[0][i];
        for (int t = 1; t < 8; t++) { c = table[0][c & 0xff] ^ (c >> 8); table[t][i] = c; }
    }
#if defined(__x86_64__)
    __builtin_cpu_init();
    use_hw = __builtin_cpu_supports("sse4.2");
    make_shift(long_shift, LONG_BLOCK);
    make_shift(short_shift, SHORT_BLOCK);
#endif
    __atomic_store_n(&initialized, 1, __ATOMIC_RELEASE);
}

static uint32_t sw_extend(uint32_t crc, const unsigned char *p, size_t n) {
    while (n && ((uintptr_t)p & 7)) { crc = table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8); n--; }
    while (n >= 8) {
        uint64_t w; memcpy(&w, p, 8);
        w ^= crc;
        crc = table[7][w & 0xff] ^ table[6][(w >> 8) & 0xff] ^ table[5][(w >> 16) & 0xff] ^
              table[4][(w >> 24) & 0xff] ^ table[3][(w >> 32) & 0xff] ^ table[2][(w >> 40) & 0xff] ^
              table[1][(w >> 48) & 0xff] ^ table[0][w >> 56];
        p += 8; n -= 8;
    }
    while (n--) crc = table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2")))
static uint32_t hw_extend(uint32_t crc, const unsigned char *p, size_t n) {
    uint64_t c = crc;
    while (n && ((uintptr_t)p & 7)) { c = __builtin_ia32_crc32qi((uint32_t)c, *p++); n--; }
    for (int pass = 0; pass < 2; pass++) {
        const size_t block = pass == 0 ? LONG_BLOCK : SHORT_BLOCK;
        const uint32_t (*t)[256] = pass == 0 ? long_shift : short_shift;
        while (n >= 3 * block) {
            uint64_t c1 = 0, c2 = 0;
            const unsigned char *end = p + block;
            while (p < end) {
                uint64_t a, b, d;
                memcpy(&a, p, 8); memcpy(&b, p + block, 8); memcpy(&d, p + 2 * block, 8);
                c = __builtin_ia32_crc32di(c, a);
                c1 = __builtin_ia32_crc32di(c1, b);
                c2 = __builtin_ia32_crc32di(c2, d);
                p += 8;
            }
            c = shift(t, (uint32_t)c) ^ (uint32_t)c1;
            c = shift(t, (uint32_t)c) ^ (uint32_t)c2;
            p += 2 * block;
            n -= 3 * block;
        }
    }
    while (n >= 32) {
        uint64_t a, b, d, e;
        memcpy(&a, p, 8); memcpy(&b, p + 8, 8); memcpy(&d, p + 16, 8); memcpy(&e, p + 24, 8);
        c = __builtin_ia32_crc32di(c, a);
        c = __builtin_ia32_crc32di(c, b);
        c = __builtin_ia32_crc32di(c, d);
        c = __builtin_ia32_crc32di(c, e);
        p += 32; n -= 32;
    }
    while (n >= 8) { uint64_t w; memcpy(&w, p, 8); c = __builtin_ia32_crc32di(c, w); p += 8; n -= 8; }
    while (n--) c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
    return (uint32_t)c;
}
#endif

uint32_t vigil_crc32c_extend(uint32_t crc, const void *data, size_t length) {
    if (!__atomic_load_n(&initialized, __ATOMIC_ACQUIRE)) init_tables();
    crc = ~crc;
#if defined(__x86_64__)
    if (use_hw) return ~hw_extend(crc, (const unsigned char *)data, length);
#endif
    return ~sw_extend(crc, (const unsigned char *)data, length);
}

int vigil_crc32c_hardware(void) {
    if (!__atomic_load_n(&initialized, __ATOMIC_ACQUIRE)) init_tables();
    return use_hw;
}
