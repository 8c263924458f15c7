#include "common/base64.h"

#include <stdlib.h>

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_value(unsigned char c) {
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+')
    return 62;
  if (c == '/')
    return 63;
  return -1;
}

bool ct_base64_decode(const char *s, size_t n, uint8_t *out, size_t *outlen) {
  if (n % 4 != 0)
    return false;
  size_t o = 0;
  for (size_t i = 0; i < n; i += 4) {
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; k++) {
      unsigned char c = (unsigned char)s[i + k];
      if (c == '=') {
        if (i + 4 != n || k < 2)
          return false;
        pad++;
        v[k] = 0;
        continue;
      }
      if (pad > 0)
        return false;
      v[k] = b64_value(c);
      if (v[k] < 0)
        return false;
    }
    if ((pad == 2 && (v[1] & 0x0f) != 0) || (pad == 1 && (v[2] & 0x03) != 0))
      return false;
    uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
    out[o++] = (uint8_t)(w >> 16);
    if (pad < 2)
      out[o++] = (uint8_t)(w >> 8);
    if (pad < 1)
      out[o++] = (uint8_t)w;
  }
  *outlen = o;
  return true;
}

char *ct_base64_encode(const uint8_t *data, size_t n) {
  if (n > (SIZE_MAX - 1) / 4 * 3 - 2)
    return NULL;
  char *out = malloc((n + 2) / 3 * 4 + 1);
  if (out == NULL)
    return NULL;
  size_t o = 0;
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t w = (uint32_t)data[i] << 16 | (uint32_t)data[i + 1] << 8 | data[i + 2];
    out[o++] = b64_alphabet[w >> 18];
    out[o++] = b64_alphabet[(w >> 12) & 63];
    out[o++] = b64_alphabet[(w >> 6) & 63];
    out[o++] = b64_alphabet[w & 63];
  }
  if (n - i == 1) {
    uint32_t w = (uint32_t)data[i] << 16;
    out[o++] = b64_alphabet[w >> 18];
    out[o++] = b64_alphabet[(w >> 12) & 63];
    out[o++] = '=';
    out[o++] = '=';
  } else if (n - i == 2) {
    uint32_t w = (uint32_t)data[i] << 16 | (uint32_t)data[i + 1] << 8;
    out[o++] = b64_alphabet[w >> 18];
    out[o++] = b64_alphabet[(w >> 12) & 63];
    out[o++] = b64_alphabet[(w >> 6) & 63];
    out[o++] = '=';
  }
  out[o] = '\0';
  return out;
}
