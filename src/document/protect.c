/* Checking an invoice PDF and locking it with the recipient's password: the rules, the
 * passwords and where the key material comes from. qpdf itself is driven by pdf.cc.
 *
 * Why AES-256, revision 6 (PDF 2.0, ISO 32000-2): it is the only standard security handler
 * that is not broken. RC4 (R2-R4) and the R5 key derivation are deprecated by ISO 32000-2 and
 * qpdf offers them only as "insecure"; every reader our customers use (Adobe, Chrome, Firefox
 * pdf.js, iOS and Android viewers, poppler) opens R6. AES-256 does not make a 4-digit
 * password strong: 10,000 guesses open the file. The lock keeps a forwarded e-mail or a shared
 * phone from showing the bill at a glance; it is what the tenants asked for, not a vault.
 *
 * Key material. R6 derives, from each password, a hash that opens the file key (/U and /UE
 * for the user password, /O and /OE for the owner's); each takes revision 6's Algorithm 2.B,
 * about a millisecond of CPU, and that was most of the cost of locking an invoice. None of it
 * depends on the document. So the material for one password is derived once and used for
 * every document locked with that password in the same scope (tenant, UTC day, password
 * policy), from the key cache (keycache.c); README.md says why that is safe. Without a cache,
 * or on a miss, it is derived here: a random file key and salts (qpdf, from the OS CSPRNG),
 * the user password as given, and an owner password of 16 bytes (128 bits) from the OS CSPRNG
 * (OpenSSL RAND_bytes), written as 32 hex digits and wiped once derived. The owner password
 * is never stored or logged: nobody, us included, can later lift the restrictions with it; a
 * producer that needs another version sends the job again.
 *
 * Error details name the qpdf step, the qpdf error kind and the file offset, never qpdf's own
 * message text: that text can quote tokens of the document (names, amounts).
 */
#include "document/document_int.h"

#include "common/error.h"

#include <openssl/rand.h>

#include <string.h>

/* What every step refuses before qpdf sees the bytes. */
static int precheck(const ct_bytes_t *pdf, ct_doc_error_t *err) {
  if (pdf == NULL || pdf->len < 5 || memcmp(pdf->data, "%PDF-", 5) != 0)
    return ct__doc_fail(err, CT_DOC_NOT_PDF, false, "the document does not start with %%PDF-");
  if (pdf->len > CT_DOCUMENT_MAX)
    return ct__doc_fail(err, CT_DOC_TOO_LARGE, false, "document has %zu bytes, more than %zu",
                        pdf->len, CT_DOCUMENT_MAX);
  return 0;
}

int ct_document_check_limits(const ct_bytes_t *pdf, const ct_doc_limits_t *limits,
                             ct_doc_error_t *err) {
  ct_doc_limits_t def = CT_DOC_LIMITS_DEFAULT;
  int rc = precheck(pdf, err);
  if (rc == 0)
    rc = ct__pdf_run(pdf, limits != NULL ? limits : &def, NULL, NULL, NULL, err);
  if (rc == 0)
    ct__doc_ok(err);
  return rc;
}

int ct_document_check(const ct_bytes_t *pdf, ct_doc_error_t *err) {
  return ct_document_check_limits(pdf, NULL, err);
}

/* 16 random bytes as 32 lower-case hex digits and a NUL. */
static int make_owner_password(char hex[33]) {
  static const char digits[] = "0123456789abcdef";
  unsigned char raw[16];
  if (RAND_bytes(raw, (int)sizeof raw) != 1)
    return -1;
  for (size_t i = 0; i < sizeof raw; i++) {
    hex[2 * i] = digits[raw[i] >> 4];
    hex[2 * i + 1] = digits[raw[i] & 0x0F];
  }
  hex[32] = '\0';
  explicit_bzero(raw, sizeof raw);
  return 0;
}

/* Fresh key material for `password`. */
static int derive(const char *password, ct__pdf_keys_t *out, ct_doc_error_t *err) {
  char owner[33];
  if (make_owner_password(owner) != 0)
    return ct__doc_fail(err, CT_DOC_PROTECTION_FAILED, true,
                        "the system random generator failed");
  int rc = ct__pdf_derive(password, owner, out, err);
  explicit_bzero(owner, sizeof owner);
  return rc;
}

typedef struct {
  const char *password;
  const ct_doc_lock_t *how;
} lock_args_t;

/* ct__pdf_keys_fn: asked once the document passed its checks, so a damaged or oversized
 * document costs no derivation and leaves nothing in the cache. */
static int get_keys(void *arg, ct__pdf_keys_t *out, ct_doc_error_t *err) {
  const lock_args_t *a = arg;
  ct_keycache_t *cache = a->how != NULL ? a->how->cache : NULL;
  if (cache == NULL)
    return derive(a->password, out, err);
  uint8_t tag[32];
  const char *tenant = a->how->tenant != NULL ? a->how->tenant : "";
  ct__keycache_tag(cache, tenant, a->how->day, a->how->policy, a->password, tag);
  int rc = 0;
  if (!ct__keycache_get(cache, tag, out)) {
    rc = derive(a->password, out, err);
    if (rc == 0)
      ct__keycache_put(cache, tag, out);
  }
  explicit_bzero(tag, sizeof tag);
  return rc;
}

int ct_document_lock(const ct_bytes_t *pdf, const char *password, const ct_doc_lock_t *how,
                     ct_bytes_t *out, ct_doc_error_t *err) {
  if (password == NULL || password[0] == '\0')
    return ct__doc_fail(err, CT_DOC_PROTECTION_FAILED, false,
                        "an empty user password would lock nothing");
  int rc = precheck(pdf, err);
  if (rc != 0)
    return rc;
  ct_doc_limits_t def = CT_DOC_LIMITS_DEFAULT;
  lock_args_t args = {.password = password, .how = how};
  rc = ct__pdf_run(pdf, how != NULL ? &how->limits : &def, get_keys, &args, out, err);
  if (rc == 0)
    ct__doc_ok(err);
  return rc;
}

int ct_document_protect(const ct_bytes_t *pdf, const char *password, ct_bytes_t *out,
                        ct_doc_error_t *err) {
  return ct_document_lock(pdf, password, NULL, out, err);
}
