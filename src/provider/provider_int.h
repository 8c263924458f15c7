/* Shared between the files of src/provider only: byte buffers, the encodings the adapters
 * need (UTF-8 repair, form and path percent-encoding, base64), and the classification steps
 * every adapter runs in the same order. */
#ifndef CT_PROVIDER_PROVIDER_INT_H
#define CT_PROVIDER_PROVIDER_INT_H

#include "provider/provider.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- byte buffer ------------------------------------------------------------------------ */

/* A growing buffer capped at CT__BUF_MAX bytes. Appends after a failure (ENOMEM or the cap)
 * are no-ops, so a builder appends everything and checks `failed` once at the end. The data
 * is always NUL-terminated while not failed. */
typedef struct {
  char *data;
  size_t len;
  size_t cap;
  bool failed;
} ct__buf_t;

/* Far above any request body an adapter builds from one job (the largest, a job record, is
 * at most CT_RECORD_MAX); reaching it means a bug, not a big invoice. */
#define CT__BUF_MAX CT_RECORD_MAX

void ct__buf_add(ct__buf_t *b, const char *s, size_t n);
void ct__buf_puts(ct__buf_t *b, const char *s);
void ct__buf_putc(ct__buf_t *b, char c);
/* Appends s[0..n) with every invalid UTF-8 sequence replaced by U+FFFD. */
void ct__buf_utf8(ct__buf_t *b, const char *s, size_t n);
/* Appends `base` without its trailing slashes (a configured ".../v24.0/" and ".../v24.0" are
 * the same endpoint). */
void ct__buf_base_url(ct__buf_t *b, const char *base);
/* Appends "/" and `segment` percent-encoded as one URL path segment (RFC 3986 unreserved
 * characters stay as they are). */
void ct__buf_path(ct__buf_t *b, const char *segment);
/* Appends one application/x-www-form-urlencoded pair, preceded by '&' unless the buffer is
 * empty, encoded as the WHATWG URL standard's serializer does: space as '+', ASCII letters,
 * digits and "*-._" as they are, every other byte as %XX. */
void ct__buf_form(ct__buf_t *b, const char *name, const char *value);
/* Hands over the NUL-terminated data (the buffer is left empty), or NULL when it failed. */
char *ct__buf_take(ct__buf_t *b);
/* Wipes and frees what the buffer holds: buffers may carry credentials on the way. */
void ct__buf_free(ct__buf_t *b);

/* ---- encodings -------------------------------------------------------------------------- */

/* Decodes one code point from s[0..n) (n >= 1) into *cp and returns the bytes it took (>= 1).
 * Overlong forms, surrogates, values past U+10FFFF and truncated sequences are invalid: one
 * byte is taken and *cp is U+FFFD. */
size_t ct__utf8_next(const unsigned char *s, size_t n, uint32_t *cp);


/* A JSON string of `s` with invalid UTF-8 repaired (jansson refuses invalid UTF-8, and a
 * customer's misencoded name must not stop the invoice). NULL only on ENOMEM. */
json_t *ct__json_text(const char *s);

/* The compact JSON text of `root` in a buffer from malloc (so ct_http_request_free may free
 * it whatever allocator jansson was given). Returns 0 or CT_ENOMEM; *out written only on
 * success. */
int ct__json_dump(const json_t *root, char **out, size_t *len);

/* ---- texts (render.c) ------------------------------------------------------------------- */

/* The invoice amount as every text shows it: "R$ 1.234,56" for BRL (or no currency), the
 * ISO code before the same pt-BR digits otherwise ("USD 1.234,56"). `cap` >= 40. */
char *ct__format_amount(const ct_invoice_t *inv, char *out, size_t cap);

/* "2026-12-10" -> "10/12/2026"; anything not shaped like YYYY-MM-DD is copied as it is. */
char *ct__format_date(const char *iso, char *out, size_t cap);

/* ---- building --------------------------------------------------------------------------- */

/* Writes a printf-style message into err (when errcap > 0) and returns `code`. */
int ct__fail(char *err, size_t errcap, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* A NULL string field reads as "" (protobuf-c leaves unset strings pointing at an empty
 * string, but a hand-built job may hold NULL). */
static inline const char *ct__str(const char *s) { return s != NULL ? s : ""; }

/* True for "+" followed by 1 to 15 digits (E.164). Validation checked the number at enqueue;
 * this guards the shape the request is built from. */
bool ct__is_e164(const char *phone);

/* Checks that `conf` has a secret, and `account` when `need_account`; else CT_EINVAL with a
 * message naming the provider and the key. */
int ct__check_conf(const ct_provider_conf_t *conf, bool need_account, char *err, size_t errcap);

/* "fatura-<number>.pdf" as a JSON string, characters a handset's save dialog or a file system
 * could stumble on ('/', quotes, spaces) replaced by '-'. NULL on ENOMEM. */
json_t *ct__pdf_filename(const ct_invoice_t *inv);

/* Sends `json` (taken over: json_decref'd) as the body of a request to `url` (taken over)
 * with "Authorization: Bearer <conf->secret>". Returns what ct__finish_request returns. */
int ct__finish_json_bearer(ct_http_request_t *out, char *url, json_t *json,
                           const ct_provider_conf_t *conf, char *err, size_t errcap);

/* Makes the request in *out from `url` and `body` (both malloc'd; taken over and freed on
 * failure too) and the Authorization (the whole value, "Bearer ...", "Basic ...") and
 * Content-Type headers. Returns 0, CT_ENOMEM, or CT_EINVAL when a header value is unusable
 * (a credential with a line break). *out is written only on success. */
int ct__finish_request(ct_http_request_t *out, char *url, char *body, size_t body_len,
                       const char *auth, const char *content_type, char *err, size_t errcap);

/* ---- classifying ------------------------------------------------------------------------ */

/* One provider error code and what it means for the delivery. */
typedef struct {
  int64_t code;
  ct_verdict_kind_t kind;
  const char *what; /* fixed description, no personal data */
} ct__code_t;

const ct__code_t *ct__code_find(const ct__code_t *table, size_t n, int64_t code);

/* Provider codes outside this range are not codes (a phone number where a code should be
 * would otherwise end up in error_code). */
#define CT__CODE_MAX INT64_C(9999999)

/* Fills *v for a transport failure and returns true; false when an answer arrived. */
bool ct__classify_transport(const ct_http_response_t *r, ct_verdict_t *v);

/* ACCEPTED with `id` when it is a usable message id (1..127 printable ASCII bytes), else
 * TRANSIENT: the provider said yes without saying to what, which is a protocol error worth
 * one more try rather than a receipt without an id. */
void ct__classify_accept(const ct_http_response_t *r, const char *id, size_t len,
                         ct_verdict_t *v);

/* Classifies a non-2xx answer by the provider's code when `table` knows it, else by the HTTP
 * status. `code` is the provider's code, or -1 when the answer carried none. */
void ct__classify_error(const ct_http_response_t *r, const ct__code_t *table, size_t n,
                        int64_t code, ct_verdict_t *v);

/* The answer's body as JSON, or NULL when it is not JSON (or is too large to be an API error
 * object). The caller json_decref()s it. */
json_t *ct__parse_body(const ct_http_response_t *r);

/* ---- webhooks (webhook.c) --------------------------------------------------------------- */

/* One decoded parameter of a form or query string (not NUL-terminated: a value may hold
 * %00). */
typedef struct {
  const char *name;
  size_t name_len;
  const char *value;
  size_t value_len;
} ct__param_t;

typedef struct {
  ct__param_t *v;
  size_t n;
  char *store; /* the decoded bytes the params point into */
} ct__form_t;

/* More parameters than any provider sends in one callback (Twilio: a few dozen). */
#define CT__FORM_MAX_PARAMS 1024

/* Decodes application/x-www-form-urlencoded text (also a query string): '+' is a space, %XX a
 * byte; "a&&b" skips the empty pair; a name without '=' has an empty value. Returns 0,
 * CT_EDECODE (a bad escape, or more than CT__FORM_MAX_PARAMS pairs), CT_ENOMEM. */
int ct__form_parse(const char *s, size_t n, ct__form_t *out);
void ct__form_free(ct__form_t *f);
/* The first parameter named `name`, or NULL. */
const ct__param_t *ct__form_get(const ct__form_t *f, const char *name);

/* HMAC with `digest` ("SHA1", "SHA256") over the concatenation of parts[0..n). Returns 0 or
 * CT_ENOMEM (libcrypto could not). */
int ct__hmac(const char *digest, const void *key, size_t keylen, const void *const *parts,
             const size_t *lens, size_t n, unsigned char *out, size_t cap, size_t *outlen);
/* Equality in time independent of where the bytes differ. */
bool ct__equal_const(const void *a, const void *b, size_t n);
/* Hex (either case) of exactly n bytes into out; false otherwise. */
bool ct__hex_decode(const char *hex, size_t len, unsigned char *out, size_t n);

/* Twilio's HMAC-SHA1 over url + the sorted parameters (see ct_webhook_twilio_signature). */
int ct__twilio_mac(const char *token, const char *url, size_t url_len, const ct__form_t *form,
                   unsigned char mac[20]);

/* "ct:<part>:<job id>" into out. Returns 0 or CT_EINVAL (does not fit). */
int ct__correlation_format(char *out, size_t cap, const char *job_id, unsigned part);

/* Starts an event of `kind` from account `conf` received at now_ms. */
void ct__event_start(ct_event_t *e, const ct_provider_conf_t *conf, ct_event_kind_t kind,
                     int64_t now_ms);

/* Decimal Unix seconds (as WhatsApp and SendGrid give them) to milliseconds. */
bool ct__parse_epoch_s(const char *s, size_t n, int64_t *ms);

#endif
