/* Shared between the files of src/document: how a step reports its failure, the one C++ file
 * that drives qpdf (pdf.cc), and the key cache's entries. */
#ifndef CT_DOCUMENT_DOCUMENT_INT_H
#define CT_DOCUMENT_DOCUMENT_INT_H

#include "document/document.h"

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Fills `err` (when not NULL) with `reason`, `transient` and a printf-style detail, and
 * returns CT_EINVAL. The detail must stay free of personal data: no password, no path a
 * producer chose, no document bytes. */
int ct__doc_fail(ct_doc_error_t *err, const char *reason, bool transient, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Clears `err` (when not NULL) for a successful call: reason NULL, detail "". */
void ct__doc_ok(ct_doc_error_t *err);

/* The key material of one user password under AES-256, revision 6 (ISO 32000-2, 7.6.4.4):
 * the file key and the values of the encryption dictionary that depend on the passwords.
 * Whoever holds one wipes it (explicit_bzero) when done. */
typedef struct {
  uint8_t key[32];   /* the file encryption key: every string and stream is AES-256 under it */
  uint8_t o[48];     /* /O: owner password hash, validation and key salts */
  uint8_t u[48];     /* /U: the same for the user password */
  uint8_t oe[32];    /* /OE: the file key encrypted under the owner password's hash */
  uint8_t ue[32];    /* /UE: the file key encrypted under the user password's hash */
  uint8_t perms[16]; /* /Perms: the permissions, encrypted under the file key */
} ct__pdf_keys_t;

/* The permissions every locked document carries (the /P value qpdf computes for print full,
 * extraction for accessibility only, nothing else): bits 3, 10 and 12 allowed. */
#define CT__PDF_PERMISSIONS (-1340)

/* pdf.cc. Derives the key material for `user` and `owner` (qpdf's
 * QPDF::compute_encryption_parameters_V5: a random file key and random salts, then
 * Algorithm 2.B for each password). Returns 0, or CT_EINVAL with reason
 * document_protection_failed (transient when memory ran out). *out only on success. */
int ct__pdf_derive(const char *user, const char *owner, ct__pdf_keys_t *out,
                   ct_doc_error_t *err);

/* Where ct__pdf_run() gets the key material, once the document passed its checks: fills *out
 * and returns 0, or fails with *err set (its return value is ct__pdf_run's). */
typedef int (*ct__pdf_keys_fn)(void *arg, ct__pdf_keys_t *out, ct_doc_error_t *err);

/* pdf.cc. Opens `pdf` (which starts with "%PDF-" and is at most CT_DOCUMENT_MAX bytes) with
 * qpdf and checks it (the rules at the top of document.h, within `limits`). With `keys` NULL
 * that is all, and *out is untouched. Otherwise it asks keys(arg, ...) for the key material
 * and writes the document locked with it into *out (a malloc'd buffer), with a fresh random
 * /ID. Returns 0 or CT_EINVAL with *err; *out only on success. The key material given to it
 * is wiped before it returns. */
int ct__pdf_run(const ct_bytes_t *pdf, const ct_doc_limits_t *limits, ct__pdf_keys_fn keys,
                void *arg, ct_bytes_t *out, ct_doc_error_t *err);

/* keycache.c. The lookup key of (tenant, day, policy, password) under the cache's secret. */
void ct__keycache_tag(ct_keycache_t *c, const char *tenant, int64_t day, int policy,
                      const char *password, uint8_t tag[32]);

/* keycache.c. Copies the entry of `tag` into *out and marks it most recently used: true; or
 * false (a miss, or a NULL cache) with *out untouched. Counts a hit or a miss. */
bool ct__keycache_get(ct_keycache_t *c, const uint8_t tag[32], ct__pdf_keys_t *out);

/* keycache.c. Stores a copy of `keys` under `tag`, evicting the least recently used entry when
 * full. An entry already there for `tag` is kept (another thread derived it at the same
 * time; either is as good). NULL cache: no-op. */
void ct__keycache_put(ct_keycache_t *c, const uint8_t tag[32], const ct__pdf_keys_t *keys);

#ifdef __cplusplus
}
#endif

#endif
