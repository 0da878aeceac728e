#ifndef VIGIL_COPENSSL_SHIM_H
#define VIGIL_COPENSSL_SHIM_H
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/md5.h>
#include <openssl/hmac.h>

// Macros Swift cannot import, as functions.
static inline long vigil_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version) {
    return SSL_CTX_set_min_proto_version(ctx, version);
}
static inline long vigil_SSL_CTX_set_mode(SSL_CTX *ctx, long mode) { return SSL_CTX_set_mode(ctx, mode); }
static inline int vigil_BIO_pending(BIO *b) { return (int)BIO_pending(b); }
static inline int vigil_BIO_should_retry(BIO *b) { return BIO_should_retry(b); }
// Server hardening options (SSL_OP_* are 64-bit macro expressions Swift cannot import): no
// renegotiation, no compression, the server's cipher preference.
static inline uint64_t vigil_SSL_CTX_set_server_options(SSL_CTX *ctx) {
    return SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
}
// SHA-256 with its state as a plain struct (copied by value: an HMAC key's padded blocks are
// hashed once and each MAC starts from a copy, QUIC Initial key derivation). The low-level
// functions are deprecated in OpenSSL 3 but exported; `EVP_MD_CTX_copy_ex` duplicates a provider
// context on the heap, which cost more than the two blocks it saved.
#include <openssl/sha.h>
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
static inline int vigil_SHA256_Init(SHA256_CTX *c) { return SHA256_Init(c); }
static inline int vigil_SHA256_Update(SHA256_CTX *c, const void *data, size_t len) { return SHA256_Update(c, data, len); }
static inline int vigil_SHA256_Final(unsigned char *md, SHA256_CTX *c) { return SHA256_Final(md, c); }
// SHA-1 of one buffer (Community ID). `SHA1()` goes through the provider machinery, which costs
// more than the one block hashed.
static inline void vigil_SHA1(const void *data, size_t len, unsigned char *md) {
    SHA_CTX c;
    SHA1_Init(&c);
    SHA1_Update(&c, data, len);
    SHA1_Final(md, &c);
}
#pragma GCC diagnostic pop
#endif
