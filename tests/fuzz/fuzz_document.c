/* libFuzzer target for src/document: the checks and the lock of an invoice PDF.
 *
 * A PDF comes from outside (a producer's file, a URL), and qpdf is a large parser, so the
 * input goes through the same two calls the engine makes: ct_document_check_limits, and for
 * a document that passes, ct_document_lock through a key cache (the first lock derives the
 * key material once; every later one is the cached path the engine takes). Small limits keep
 * each run short and make the limits themselves part of what is fuzzed: 4 MiB per stream,
 * 8 MiB per document, a ratio of 100, 48 MiB of memory. The ctest runs it with libFuzzer's
 * own memory cap above that (-rss_limit_mb, -malloc_limit_mb): an input that makes qpdf hold
 * more than the document's allowance, whatever the path, is a finding. Beyond "does not
 * crash", the invariants the engine relies on abort like a crash would:
 *   - every failure has one of the documented reasons, with a detail, and nothing in *out;
 *   - a document that passes the check locks, and the locked file is refused by the check
 *     as encrypted (it opens only with the password);
 *   - decoded-size and memory refusals are permanent, and only memory running out is
 *     transient.
 */
#include "document/document.h"

#include "common/error.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                           \
  do {                                                                                        \
    if (!(cond)) {                                                                            \
      fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);            \
      abort();                                                                                \
    }                                                                                         \
  } while (0)

static const ct_doc_limits_t limits = {.stream_max = (uint64_t)4 << 20,
                                       .decoded_max = (uint64_t)8 << 20,
                                       .ratio_max = 100,
                                       .memory_max = (uint64_t)48 << 20};

static bool known_reason(const char *r) {
  static const char *const reasons[] = {CT_DOC_NOT_PDF, CT_DOC_ENCRYPTED, CT_DOC_DAMAGED,
                                        CT_DOC_TOO_LARGE, CT_DOC_PROTECTION_FAILED};
  for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
    if (r != NULL && strcmp(r, reasons[i]) == 0)
      return true;
  return false;
}

static void check_failure(const ct_doc_error_t *err) {
  CHECK(known_reason(err->reason));
  CHECK(err->detail[0] != '\0');
  if (strcmp(err->reason, CT_DOC_PROTECTION_FAILED) != 0)
    CHECK(!err->transient);
}

static ct_keycache_t *cache;

static void free_cache(void) { ct_keycache_free(cache); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (cache == NULL) {
    if (ct_keycache_new(4, 1 << 20, &cache) != 0)
      abort();
    atexit(free_cache);
  }
  ct_bytes_t pdf = {(uint8_t *)data, size};
  ct_doc_error_t err;
  if (ct_document_check_limits(&pdf, &limits, &err) != 0) {
    check_failure(&err);
    return 0;
  }
  CHECK(err.reason == NULL);
  ct_doc_lock_t how = {.limits = limits, .cache = cache, .tenant = "fuzz", .day = 1,
                       .policy = 3};
  ct_bytes_t out = {NULL, 0};
  int rc = ct_document_lock(&pdf, "1234", &how, &out, &err);
  if (rc != 0) {
    /* What passed the check may still be too large to write (the locked copy counts
     * against memory), or meet memory running out; nothing else. */
    check_failure(&err);
    if (getenv("FUZZ_DOCUMENT_VERBOSE") != NULL)
      fprintf(stderr, "lock: %s: %s\n", err.reason, err.detail);
    CHECK(strcmp(err.reason, CT_DOC_TOO_LARGE) == 0 ||
          (strcmp(err.reason, CT_DOC_PROTECTION_FAILED) == 0 && err.transient));
    CHECK(out.data == NULL);
    return 0;
  }
  CHECK(out.len > 5 && memcmp(out.data, "%PDF-", 5) == 0);
  ct_doc_error_t again;
  CHECK(ct_document_check_limits(&out, &limits, &again) == CT_EINVAL);
  CHECK(strcmp(again.reason, CT_DOC_ENCRYPTED) == 0);
  ct_bytes_free(&out);
  return 0;
}
