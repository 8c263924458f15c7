/* The evidence hash: SHA-256 of the exact bytes handed to a provider, kept in the receipt
 * (ReceiptPart.document_sha256) as proof of what the customer received. */
#include "document/document.h"

#include <openssl/evp.h>

#include <stdio.h>
#include <stdlib.h>

void ct_document_sha256(const uint8_t *data, size_t len, char hex[65]) {
  static const char digits[] = "0123456789abcdef";
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  static const uint8_t empty[1] = {0};
  /* EVP_Digest fails only when libcrypto itself is broken (no SHA-256 provider loaded, say,
   * by an odd OpenSSL configuration). A receipt with a wrong or blank hash would be false
   * evidence, and the contract has no error to return, so stop loudly instead. */
  if (EVP_Digest(data != NULL ? data : empty, len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
      mdlen != 32) {
    fputs("carteiro: SHA-256 unavailable from libcrypto\n", stderr);
    abort();
  }
  for (unsigned int i = 0; i < 32; i++) {
    hex[2 * i] = digits[md[i] >> 4];
    hex[2 * i + 1] = digits[md[i] & 0x0F];
  }
  hex[64] = '\0';
}
