/* A job's document, start to finish: which password its policy asks for, and the preparation
 * the engine runs on the thread pool (source -> check -> protect).
 *
 * The steps live along the data flow: source.c reads a path under the document root,
 * protect.c checks and encrypts with qpdf, hash.c hashes what was sent. This file ties them to
 * the job model. Passwords are wiped from our buffers as soon as qpdf has them.
 */
#include "document/document_int.h"

#include "common/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ct__doc_fail(ct_doc_error_t *err, const char *reason, bool transient, const char *fmt,
                 ...) {
  if (err != NULL) {
    err->reason = reason;
    err->transient = transient;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->detail, sizeof err->detail, fmt, ap);
    va_end(ap);
  }
  return CT_EINVAL;
}

void ct__doc_ok(ct_doc_error_t *err) {
  if (err != NULL) {
    err->reason = NULL;
    err->transient = false;
    err->detail[0] = '\0';
  }
}

void ct_bytes_free(ct_bytes_t *b) {
  if (b == NULL)
    return;
  free(b->data);
  b->data = NULL;
  b->len = 0;
}

static const char *str_or_empty(const char *s) { return s != NULL ? s : ""; }

static const ct_document_t *job_document(const ct_job_t *job) {
  if (job == NULL || job->invoice == NULL)
    return NULL;
  return job->invoice->document;
}

/* The first four digits of an 11-digit CPF, plain or punctuated ("123.456.789-09"). */
static int cpf_first4(const ct_job_t *job, char *out, ct_doc_error_t *err) {
  const char *cpf = job->recipient != NULL ? str_or_empty(job->recipient->cpf) : "";
  if (cpf[0] == '\0')
    return ct__doc_fail(err, CT_DOC_PROTECTION_FAILED, false,
                        "password policy cpf_first4 needs recipient.cpf");
  size_t digits = 0;
  for (const char *p = cpf; *p != '\0'; p++) {
    if (*p >= '0' && *p <= '9') {
      if (digits < 4)
        out[digits] = *p;
      digits++;
    } else if (*p != '.' && *p != '-' && *p != ' ') {
      return ct__doc_fail(err, CT_DOC_PROTECTION_FAILED, false,
                          "recipient.cpf is not a CPF (unexpected character)");
    }
  }
  if (digits != 11)
    return ct__doc_fail(err, CT_DOC_PROTECTION_FAILED, false,
                        "recipient.cpf is not a CPF (%zu digits, want 11)", digits);
  out[4] = '\0';
  return 0;
}

static int card_last4(const ct_job_t *job, char *out, ct_doc_error_t *err) {
  const char *card = job->recipient != NULL ? str_or_empty(job->recipient->card_last4) : "";
  if (card[0] == '\0')
    return ct__doc_fail(err, CT_DOC_PROTECTION_FAILED, false,
                        "password policy card_last4 needs recipient.card_last4");
  size_t n = strlen(card);
  bool digits = n == 4;
  for (size_t i = 0; digits && i < n; i++)
    digits = card[i] >= '0' && card[i] <= '9';
  if (!digits)
    return ct__doc_fail(err, CT_DOC_PROTECTION_FAILED, false,
                        "recipient.card_last4 is not 4 digits");
  memcpy(out, card, 5);
  return 0;
}

/* Counts UTF-8 characters the way validation does: every byte that does not continue one. */
static size_t utf8_chars(const char *s) {
  size_t n = 0;
  for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
    n += (*p & 0xC0) != 0x80;
  return n;
}

static int explicit_password(const ct_document_t *doc, char *out, size_t cap,
                             ct_doc_error_t *err) {
  const char *pw = str_or_empty(doc->password);
  size_t chars = utf8_chars(pw);
  if (chars == 0)
    return ct__doc_fail(err, CT_DOC_PROTECTION_FAILED, false,
                        "password policy explicit needs document.password");
  if (chars < 4 || chars > 32)
    return ct__doc_fail(err, CT_DOC_PROTECTION_FAILED, false,
                        "document.password has %zu characters, want 4 to 32", chars);
  size_t n = strlen(pw);
  if (n >= cap)
    return ct__doc_fail(err, CT_DOC_PROTECTION_FAILED, false,
                        "document.password does not fit in %zu bytes", cap);
  memcpy(out, pw, n + 1);
  return 0;
}

int ct_document_password(const ct_job_t *job, char *out, size_t cap, ct_doc_error_t *err) {
  if (out == NULL || cap < 40)
    return ct__doc_fail(err, CT_DOC_PROTECTION_FAILED, false,
                        "password buffer of %zu bytes, need at least 40", cap);
  const ct_document_t *doc = job_document(job);
  if (doc == NULL) {
    out[0] = '\0';
    ct__doc_ok(err);
    return 0;
  }
  /* Digits go to a scratch buffer first so that `out` is written only on success. */
  char four[5];
  int rc;
  int policy = (int)doc->password_policy;
  switch (policy) {
  case CARTEIRO__V1__PASSWORD_POLICY__PASSWORD_POLICY_UNSPECIFIED:
  case CARTEIRO__V1__PASSWORD_POLICY__PASSWORD_POLICY_NONE:
    out[0] = '\0';
    ct__doc_ok(err);
    return 0;
  case CARTEIRO__V1__PASSWORD_POLICY__PASSWORD_POLICY_CPF_FIRST4:
    rc = cpf_first4(job, four, err);
    break;
  case CARTEIRO__V1__PASSWORD_POLICY__PASSWORD_POLICY_CARD_LAST4:
    rc = card_last4(job, four, err);
    break;
  case CARTEIRO__V1__PASSWORD_POLICY__PASSWORD_POLICY_EXPLICIT:
    rc = explicit_password(doc, out, cap, err);
    if (rc == 0)
      ct__doc_ok(err);
    return rc;
  default:
    return ct__doc_fail(err, CT_DOC_PROTECTION_FAILED, false, "unknown password policy %d",
                        policy);
  }
  if (rc == 0) {
    memcpy(out, four, sizeof four);
    ct__doc_ok(err);
  }
  explicit_bzero(four, sizeof four);
  return rc;
}

/* A copy of `b` that the caller owns. */
static int copy_bytes(const ct_bytes_t *b, ct_bytes_t *out, ct_doc_error_t *err) {
  uint8_t *data = malloc(b->len > 0 ? b->len : 1);
  if (data == NULL)
    return ct__doc_fail(err, CT_DOC_PROTECTION_FAILED, true, "out of memory copying the document");
  if (b->len > 0)
    memcpy(data, b->data, b->len);
  out->data = data;
  out->len = b->len;
  return 0;
}

int ct_document_prepare(const ct_job_t *job, const ct_doc_prepare_t *how, ct_bytes_t *out,
                        ct_doc_error_t *err) {
  const ct_document_t *doc = job_document(job);
  if (doc == NULL || doc->source_case == CARTEIRO__V1__DOCUMENT__SOURCE__NOT_SET) {
    out->data = NULL;
    out->len = 0;
    ct__doc_ok(err);
    return 0;
  }

  /* The password first: a job that cannot be locked fails before any file is read. */
  char password[CT_DOCUMENT_PASSWORD_CAP];
  int rc = ct_document_password(job, password, sizeof password, err);
  if (rc != 0)
    return rc;

  ct_bytes_t owned = {NULL, 0}; /* what this call read and must free */
  ct_bytes_t src;
  switch (doc->source_case) {
  case CARTEIRO__V1__DOCUMENT__SOURCE_INLINE_PDF:
    src.data = doc->inline_pdf.data;
    src.len = doc->inline_pdf.len;
    break;
  case CARTEIRO__V1__DOCUMENT__SOURCE_PATH:
    rc = ct_document_read_path(how->root, doc->path, &owned, err);
    if (rc != 0)
      goto out;
    src = owned;
    break;
  case CARTEIRO__V1__DOCUMENT__SOURCE_URL:
    if (how->fetched == NULL) {
      rc = ct__doc_fail(err, CT_DOC_FETCH_FAILED, false,
                        "document.url was not fetched before preparing the document");
      goto out;
    }
    src = *how->fetched;
    break;
  default:
    rc = ct__doc_fail(err, CT_DOC_FETCH_FAILED, false, "unknown document source %d",
                      (int)doc->source_case);
    goto out;
  }

  if (src.len > CT_DOCUMENT_MAX) {
    rc = ct__doc_fail(err, CT_DOC_TOO_LARGE, false, "document has %zu bytes, more than %zu",
                      src.len, CT_DOCUMENT_MAX);
    goto out;
  }
  if (password[0] == '\0') {
    rc = ct_document_check_limits(&src, &how->limits, err);
    if (rc == 0)
      rc = copy_bytes(&src, out, err);
  } else {
    /* Locking checks the document on the way (one qpdf parse, not two). The key cache's
     * scope: the job's tenant, the UTC day, the policy. */
    ct_doc_lock_t lock = {.limits = how->limits,
                          .cache = how->keys,
                          .tenant = job->tenant != NULL ? job->tenant : "",
                          .day = how->now_ms / (86400 * 1000),
                          .policy = (int)doc->password_policy};
    rc = ct_document_lock(&src, password, &lock, out, err);
  }
  if (rc == 0)
    ct__doc_ok(err);

out:
  explicit_bzero(password, sizeof password);
  ct_bytes_free(&owned);
  return rc;
}
