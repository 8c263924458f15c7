/* Checking an invoice PDF and locking it with the recipient's password, with qpdf's C API.
 *
 * Why AES-256, revision 6 (PDF 2.0, ISO 32000-2): it is the only standard security handler
 * that is not broken. RC4 (R2-R4) and the R5 key derivation are deprecated by ISO 32000-2 and
 * qpdf offers them only as "insecure"; every reader our customers use (Adobe, Chrome, Firefox
 * pdf.js, iOS and Android viewers, poppler) opens R6. AES-256 does not make a 4-digit
 * password strong: 10,000 guesses open the file. The lock keeps a forwarded e-mail or a shared
 * phone from showing the bill at a glance; it is what the tenants asked for, not a vault.
 *
 * The owner password is 16 bytes (128 bits) from the OS CSPRNG (OpenSSL RAND_bytes), written
 * as 32 hex digits, handed to qpdf and wiped; it is never stored or logged. Nobody, us
 * included, can later lift the restrictions with it; a producer that needs another version
 * sends the job again. It is not longer because R6 hashes each password through 64 or more
 * rounds of AES over 64 copies of it: qpdf's key setup is most of the cost of protecting an
 * invoice (bench/document_bench.c), and 128 bits already cannot be guessed.
 *
 * Every call has its own qpdf object (qpdf objects are not shared between threads) and ends
 * with qpdf_cleanup(), which frees all qpdf memory, including the output buffer: the result is
 * copied into a malloc'd ct_bytes_t first. qpdf never prints: errors are silenced and warnings
 * suppressed, then read back from the object.
 *
 * Error details name the qpdf step, the qpdf error kind and the file offset, never qpdf's own
 * message text: that text can quote tokens of the document (names, amounts).
 */
#include "document/document_int.h"

#include "common/error.h"

#include <openssl/rand.h>
#include <qpdf/qpdf-c.h>

#include <stdlib.h>
#include <string.h>

static const char *kind_name(enum qpdf_error_code_e code) {
  switch (code) {
  case qpdf_e_success:
    return "success";
  case qpdf_e_internal:
    return "internal";
  case qpdf_e_system:
    return "system";
  case qpdf_e_unsupported:
    return "unsupported";
  case qpdf_e_password:
    return "password";
  case qpdf_e_damaged_pdf:
    return "damaged_pdf";
  case qpdf_e_pages:
    return "pages";
  case qpdf_e_object:
    return "object";
  case qpdf_e_json:
    return "json";
  case qpdf_e_linearization:
    return "linearization";
  }
  return "unknown";
}

/* Turns the error qpdf holds after a failed `step` into our reason. The input and output are
 * both in memory, so no qpdf error here is an I/O error: whatever qpdf throws while reading,
 * checking or writing a document is about the document, except a wrong password (it is
 * encrypted) and qpdf's own failures (an allocation, a bug). */
static int fail_error(qpdf_data q, const char *step, ct_doc_error_t *err) {
  qpdf_error e = qpdf_get_error(q);
  if (e == NULL)
    return ct__doc_fail(err, CT_DOC_PROTECTION_FAILED, false, "qpdf %s failed without an error",
                        step);
  enum qpdf_error_code_e code = qpdf_get_error_code(q, e);
  unsigned long long pos = qpdf_get_error_file_position(q, e);
  if (code == qpdf_e_password)
    return ct__doc_fail(err, CT_DOC_ENCRYPTED, false, "the document needs a password to open");
  if (code == qpdf_e_internal) {
    /* The C API reports any std::exception that is not a runtime_error as internal, with
     * what() as the detail: this is the one place qpdf's text is looked at, and only for the
     * name of the exception. */
    const char *what = qpdf_get_error_message_detail(q, e);
    if (what != NULL && strstr(what, "bad_alloc") != NULL)
      return ct__doc_fail(err, CT_DOC_PROTECTION_FAILED, true, "qpdf %s: out of memory", step);
    return ct__doc_fail(err, CT_DOC_PROTECTION_FAILED, false, "qpdf %s: internal error", step);
  }
  return ct__doc_fail(err, CT_DOC_DAMAGED, false, "qpdf %s: %s error at offset %llu", step,
                      kind_name(code), pos);
}

/* Fails with document_damaged when qpdf queued a warning during `step` (see the rule in
 * document.h); returns 0 when there is none. */
static int fail_warning(qpdf_data q, const char *step, ct_doc_error_t *err) {
  if (!qpdf_more_warnings(q))
    return 0;
  qpdf_error w = qpdf_next_warning(q);
  if (w == NULL)
    return 0;
  return ct__doc_fail(err, CT_DOC_DAMAGED, false, "qpdf %s: %s warning at offset %llu", step,
                      kind_name(qpdf_get_error_code(q, w)), qpdf_get_error_file_position(q, w));
}

/* The checking pass. qpdf reads objects only when something asks for them, and neither the
 * protecting write nor qpdf_check_pdf() decodes a Flate stream (QPDFWriter copies Flate data
 * through unless it has to recompress it), so a page whose compressed content is cut or
 * garbled would pass both. This pass writes the whole document with every stream decoded
 * (all of qpdf's lossless filters; not the image codecs: a damaged logo still prints, and
 * decoding would run libjpeg on images of whatever size they declare) to /dev/null, so that
 * nothing is kept in memory however far a stream inflates. */
static int decode_everything(qpdf_data q, ct_doc_error_t *err) {
  if (qpdf_init_write(q, "/dev/null") & QPDF_ERRORS) {
    qpdf_get_error(q); /* consumed: it is about /dev/null, not about the document */
    return ct__doc_fail(err, CT_DOC_PROTECTION_FAILED, true, "qpdf cannot open /dev/null");
  }
  qpdf_set_compress_streams(q, QPDF_FALSE);
  qpdf_set_decode_level(q, qpdf_dl_specialized);
  if (qpdf_write(q) & QPDF_ERRORS)
    return fail_error(q, "checking", err);
  return fail_warning(q, "checking", err);
}

/* Opens `pdf` in a new qpdf object and applies every check of ct_document_check(). On success
 * *out holds the object, which the caller cleans up; on failure nothing is left behind. */
static int load(const ct_bytes_t *pdf, qpdf_data *out, ct_doc_error_t *err) {
  if (pdf == NULL || pdf->len < 5 || memcmp(pdf->data, "%PDF-", 5) != 0)
    return ct__doc_fail(err, CT_DOC_NOT_PDF, false, "the document does not start with %%PDF-");
  if (pdf->len > CT_DOCUMENT_MAX)
    return ct__doc_fail(err, CT_DOC_TOO_LARGE, false, "document has %zu bytes, more than %zu",
                        pdf->len, CT_DOCUMENT_MAX);

  qpdf_data q = qpdf_init();
  if (q == NULL)
    return ct__doc_fail(err, CT_DOC_PROTECTION_FAILED, true, "qpdf: out of memory");
  qpdf_silence_errors(q);
  qpdf_set_suppress_warnings(q, QPDF_TRUE);
  /* Recovery would rebuild the cross-reference table of a truncated or edited file and guess
   * stream lengths; what it rebuilds is not necessarily the bill that was issued. */
  qpdf_set_attempt_recovery(q, QPDF_FALSE);

  int rc;
  if (qpdf_read_memory(q, "document", (const char *)pdf->data, (unsigned long long)pdf->len,
                       "") &
      QPDF_ERRORS) {
    rc = fail_error(q, "reading", err);
    goto fail;
  }
  rc = fail_warning(q, "reading", err);
  if (rc != 0)
    goto fail;
  if (qpdf_is_encrypted(q)) {
    /* It opened with the empty user password but has an owner password: someone already
     * chose its restrictions, and a second lock would need to remove theirs. */
    rc = ct__doc_fail(err, CT_DOC_ENCRYPTED, false, "the document is already encrypted");
    goto fail;
  }
  rc = decode_everything(q, err);
  if (rc != 0)
    goto fail;
  *out = q;
  return 0;

fail:
  qpdf_cleanup(&q);
  return rc;
}

int ct_document_check(const ct_bytes_t *pdf, ct_doc_error_t *err) {
  qpdf_data q;
  int rc = load(pdf, &q, err);
  if (rc != 0)
    return rc;
  qpdf_cleanup(&q);
  ct__doc_ok(err);
  return 0;
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

int ct_document_protect(const ct_bytes_t *pdf, const char *password, ct_bytes_t *out,
                        ct_doc_error_t *err) {
  if (password == NULL || password[0] == '\0')
    return ct__doc_fail(err, CT_DOC_PROTECTION_FAILED, false,
                        "an empty user password would lock nothing");
  char owner[33];
  if (make_owner_password(owner) != 0)
    return ct__doc_fail(err, CT_DOC_PROTECTION_FAILED, true,
                        "the system random generator failed");

  qpdf_data q;
  size_t len;
  const unsigned char *buf;
  uint8_t *data;
  int rc = load(pdf, &q, err);
  if (rc != 0)
    goto wipe;

  if (qpdf_init_write_memory(q) & QPDF_ERRORS) {
    rc = fail_error(q, "preparing to write", err);
    goto cleanup;
  }
  /* After qpdf_init_write_memory(): it resets every write parameter. Extraction for
   * accessibility stays allowed (screen readers; the bit is deprecated in PDF 2.0); general
   * extraction, assembly, annotation, form filling and modification are forbidden; printing
   * is allowed at full resolution; metadata is encrypted with the rest. */
  qpdf_set_r6_encryption_parameters2(q, password, owner, QPDF_TRUE, QPDF_FALSE, QPDF_FALSE,
                                     QPDF_FALSE, QPDF_FALSE, QPDF_FALSE, qpdf_r3p_full,
                                     QPDF_TRUE);
  if (qpdf_has_error(q)) {
    rc = fail_error(q, "setting encryption", err);
    goto cleanup;
  }
  if (qpdf_write(q) & QPDF_ERRORS) {
    rc = fail_error(q, "writing", err);
    goto cleanup;
  }
  rc = fail_warning(q, "writing", err);
  if (rc != 0)
    goto cleanup;

  len = qpdf_get_buffer_length(q);
  buf = qpdf_get_buffer(q);
  if (buf == NULL || len == 0) {
    rc = ct__doc_fail(err, CT_DOC_PROTECTION_FAILED, false, "qpdf wrote nothing");
    goto cleanup;
  }
  data = malloc(len);
  if (data == NULL) {
    rc = ct__doc_fail(err, CT_DOC_PROTECTION_FAILED, true,
                      "out of memory copying the protected document");
    goto cleanup;
  }
  memcpy(data, buf, len);
  out->data = data;
  out->len = len;
  ct__doc_ok(err);

cleanup:
  qpdf_cleanup(&q);
wipe:
  explicit_bzero(owner, sizeof owner);
  return rc;
}
