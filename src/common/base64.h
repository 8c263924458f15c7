/* Standard base64 with '=' padding (RFC 4648 section 4). */
#ifndef CT_COMMON_BASE64_H
#define CT_COMMON_BASE64_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A malloc'd, NUL-terminated encoding of data[0..n), or NULL (out of memory). */
char *ct_base64_encode(const uint8_t *data, size_t n);

/* Strict decoding of s[0..n) into `out` (room for n / 4 * 3 bytes): the standard alphabet,
 * a length that is a multiple of 4, '=' only as the last one or two characters, no
 * whitespace, and the unused low bits of the last symbol zero — anything looser would give
 * one byte string several spellings. Returns false on any violation; *outlen is the decoded
 * length on success. */
bool ct_base64_decode(const char *s, size_t n, uint8_t *out, size_t *outlen);

#endif
