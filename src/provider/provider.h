/* Provider adapters: how one channel's API is spoken, without doing any I/O.
 *
 * Each provider is a static const table of hooks (build a request for one part of a delivery;
 * classify the answer), so adapters are unit-tested and fuzzed offline; the transport is the
 * only code that talks to the network.
 *
 *   whatsapp  WhatsApp Cloud API: part 0 the invoice template (document header, name, amount,
 *             due date), part 1 the barcode line alone in a second template so it can be
 *             copied. Notifications: one template.
 *   sms       Twilio Messages API shape: one form-encoded message with barcode, amount, due
 *             date, within SMS length rules.
 *   email     SendGrid v3 mail/send shape: subject, text and HTML bodies.
 *
 * The same tables check and read the providers' webhooks (webhook.c and each adapter): a
 * request the listener received, raw bytes and headers, is verified by the account's keys
 * (WhatsApp HMAC-SHA256, Twilio HMAC-SHA1, SendGrid ECDSA P-256) and turned into events
 * (event/event.h), again without I/O. Every message sent carries the correlation the events
 * come back with: the job id and the part (WhatsApp biz_opaque_callback_data, the query of
 * Twilio's StatusCallback URL, SendGrid custom_args).
 */
#ifndef CT_PROVIDER_PROVIDER_H
#define CT_PROVIDER_PROVIDER_H

#include "config/config.h"
#include "event/event.h"
#include "job/job.h"
#include "transport/http.h"

#include <stdint.h>

typedef enum {
  CT_VERDICT_ACCEPTED,       /* the provider took the message: message_id is set */
  CT_VERDICT_TRANSIENT,      /* try again later: 5xx, timeouts, resets, stream errors */
  CT_VERDICT_THROTTLED,      /* the account is over its rate (429, 130429): slow it down */
  CT_VERDICT_RECIPIENT_BUSY, /* WhatsApp pair rate limit (131056): delay this recipient only */
  CT_VERDICT_PERMANENT,      /* this channel cannot reach this recipient: fall back */
  CT_VERDICT_AUTH,           /* our credentials were refused: pause the account, alert */
} ct_verdict_kind_t;

/* "accepted", "transient", "throttled", "recipient_busy", "permanent", "auth". */
const char *ct_verdict_name(ct_verdict_kind_t kind);

typedef struct {
  ct_verdict_kind_t kind;
  int64_t retry_after_ms;  /* what the provider asked for, -1 when it did not say */
  char message_id[128];    /* ACCEPTED: wamid / SID / X-Message-Id; "" otherwise */
  char error_code[32];     /* provider's code ("131026", "21211"), transport's ("timeout"),
                              "http_<status>" when an answer carried no code,
                              "no_message_id" for a 2xx without one; "" when ACCEPTED */
  char message[160];       /* short description, free of personal data */
} ct_verdict_t;

/* What the worker has gathered for a delivery when it builds one of its parts. */
typedef struct {
  const uint8_t *document; /* the PDF to send, already protected; NULL when none */
  size_t document_len;
  const char *media_id;    /* whatsapp: the id the upload part was answered with, or NULL */
} ct_build_ctx_t;

/* True when `job` is an invoice with a document (inline bytes, a path or a URL) to deliver. */
bool ct_job_has_document(const ct_job_t *job);

/* ---- webhooks ------------------------------------------------------------------------- */

/* A request header as the listener received it: name in lower case, value as sent. */
typedef struct {
  const char *name;
  size_t name_len;
  const char *value;
  size_t value_len;
} ct_webhook_header_t;

/* A request to an account's webhook route, as received. */
typedef struct {
  bool post;                          /* POST; false for GET or HEAD */
  const char *url;                    /* the URL the provider called: webhook_public_url with
                                         the path and query as received (Twilio signs it) */
  size_t url_len;
  const char *query;                  /* the raw query string without '?', "" when none */
  size_t query_len;
  const uint8_t *body;                /* exactly the bytes received (signatures cover them) */
  size_t body_len;
  const ct_webhook_header_t *headers;
  size_t n_headers;
} ct_webhook_request_t;

/* How verify_webhook judged a request. Each has an HTTP status (ct_webhook_check_status) and
 * a metric label (ct_webhook_check_name). */
#define CT_WEBHOOK_CHECK_MAP(X)                                                                \
  X(ACCEPT, 200, "accepted")                  /* authentic: parse it */                        \
  X(CHALLENGE, 200, "challenge")              /* handshake passed: answer the challenge */     \
  X(UNSIGNED, 401, "missing_signature")       /* no signature (or timestamp) header */         \
  X(FORGED, 403, "bad_signature")             /* a signature that does not verify */           \
  X(STALE, 403, "stale_timestamp")            /* signed, but too old or from the future */     \
  X(VERIFY_TOKEN, 403, "bad_verify_token")    /* handshake with another verify token */       \
  X(NOT_CONFIGURED, 403, "not_configured")    /* the account has no webhook keys */            \
  X(BAD_HANDSHAKE, 400, "bad_handshake")      /* a GET that is no verification handshake */    \
  X(METHOD, 405, "method")                    /* a method this provider never uses */

typedef enum {
#define CT__WEBHOOK_CHECK_ENUM(name, status, text) CT_WEBHOOK_##name,
  CT_WEBHOOK_CHECK_MAP(CT__WEBHOOK_CHECK_ENUM)
#undef CT__WEBHOOK_CHECK_ENUM
      CT_WEBHOOK_CHECK_COUNT
} ct_webhook_check_t;

const char *ct_webhook_check_name(ct_webhook_check_t c);
int ct_webhook_check_status(ct_webhook_check_t c);

/* The value of header `name` (lower case) in `req`, or NULL; *len its length. */
const char *ct_webhook_header(const ct_webhook_request_t *req, const char *name, size_t *len);

/* Twilio's request signature (X-Twilio-Signature): base64 of HMAC-SHA1, keyed with the auth
 * token, over the URL followed by every POST parameter sorted by name, each as name then
 * value, decoded, with no separators. `form` is the raw application/x-www-form-urlencoded
 * body. Writes the NUL-terminated base64 (28 characters) into out (cap >= 29). Returns 0,
 * CT_EDECODE (a malformed form: a bad escape), CT_ENOMEM. Also used by the tests and by
 * anything that must sign like Twilio. */
int ct_webhook_twilio_signature(const char *token, const char *url, size_t url_len,
                                const char *form, size_t form_len, char *out, size_t cap);

/* True when `b64` is a usable SendGrid verification key: base64 of the DER
 * SubjectPublicKeyInfo of a P-256 public key (the listener checks each account's at start). */
bool ct_webhook_sendgrid_key_ok(const char *b64);

/* The correlation a message carries so that its statuses find the job: "ct:<part>:<job id>"
 * (WhatsApp biz_opaque_callback_data). Returns false when `s` is not one. */
bool ct_correlation_parse(const char *s, size_t n, char *job_id, size_t cap, uint32_t *part);

typedef struct {
  const char *name;
  ct_channel_t channel;

  /* How many messages one delivery of `job` takes on this channel (>= 1). */
  unsigned (*parts)(const ct_job_t *job);

  /* Whether building `part` of `job` needs the document bytes (the worker prepares them —
   * reads, checks, password-protects — before it builds such a part, and records their
   * SHA-256 in the receipt once the part is accepted). */
  bool (*needs_document)(const ct_job_t *job, unsigned part);

  /* Builds the request for message `part` (0-based) of `job` on account `conf`, with texts
   * from `t` and what the worker gathered in `ctx` (never NULL). Returns 0 and fills *out
   * (freed with ct_http_request_free), or CT_EINVAL when the job lacks what this channel
   * needs (no phone, no e-mail, a document too large; `err` says so), or CT_ENOMEM. *out
   * is written only on success. `err` never holds personal data: it names the field, not
   * its value. */
  int (*build)(const ct_provider_conf_t *conf, const ct_templates_t *t, const ct_job_t *job,
               unsigned part, const ct_build_ctx_t *ctx, ct_http_request_t *out, char *err,
               size_t errcap);

  /* Classifies a response (or a transport failure). Never fails; every field of *out is
   * written. ACCEPTED only with a message id (printable ASCII, at most 127 bytes): a 2xx
   * without one is TRANSIENT. The provider's error code decides when it is known, else the
   * HTTP status does (429 THROTTLED, 401/403 AUTH, 408 and 5xx TRANSIENT, other 4xx
   * PERMANENT, anything else TRANSIENT). The message is a fixed description per code: the
   * provider's own text is never copied, because it echoes recipients. */
  void (*classify)(const ct_http_response_t *resp, ct_verdict_t *out);

  /* Webhooks (see ct_webhook_request_t below). NULL: the channel has none. */
  /* Whether `req`, received on this account's route, is authentic: a POST by its signature
   * over the raw body (and, where the scheme has one, its timestamp within
   * conf->webhook_tolerance_ms of now_ms); a GET by the provider's verification handshake,
   * whose answer it writes into `challenge` (cap bytes). Never fails otherwise. */
  ct_webhook_check_t (*verify_webhook)(const ct_provider_conf_t *conf,
                                       const ct_webhook_request_t *req, int64_t now_ms,
                                       char *challenge, size_t cap);
  /* Turns an authentic POST into events appended to `out` (account, channel and received_ms
   * set from conf and now_ms). Elements of a batch that lack what an event needs (an id, a
   * status) are skipped and counted in *skipped. Returns 0; CT_EDECODE when the body is not
   * the provider's format at all (`err` names what is wrong, never a value); CT_ETOOBIG past
   * CT_EVENT_BATCH_MAX events; CT_ENOMEM. Events appended before an error stay in `out`. */
  int (*parse_webhook)(const ct_provider_conf_t *conf, const ct_webhook_request_t *req,
                       int64_t now_ms, ct_event_list_t *out, size_t *skipped, char *err,
                       size_t errcap);
  /* The body and Content-Type of the 200 once the events are stored (Twilio wants TwiML). */
  const char *webhook_ok_body;
  const char *webhook_ok_type;
} ct_provider_t;

extern const ct_provider_t ct_provider_whatsapp;
extern const ct_provider_t ct_provider_sms;
extern const ct_provider_t ct_provider_email;

/* The adapter for a channel, or NULL. */
const ct_provider_t *ct_provider_for(ct_channel_t channel);

/* Renders a message template: {name} {number} {amount} {due_date} {barcode} {pix} are
 * replaced from `job` (amount as "R$ 1.234,56", due date as dd/mm/yyyy); an unknown
 * placeholder is left as it is. A notification job's params are placeholders too ({key}),
 * and win over the names above. Placeholders whose source the job lacks (no invoice) become
 * "". Invalid UTF-8, in the template or in a value, comes out as U+FFFD, so the result is
 * always valid UTF-8. Returns a malloc'd string or NULL (ENOMEM). */
char *ct_render(const char *tmpl, const ct_job_t *job);

/* ct_render for HTML templates: the values put in are HTML-escaped (& < > " '), the template
 * text itself is not. Returns a malloc'd string or NULL (ENOMEM). */
char *ct_render_html(const char *tmpl, const ct_job_t *job);

/* What a text may depend on besides the job. A template's sections are kept or dropped by
 * them: {#attached}...{/attached} only when the invoice PDF goes with the message,
 * {#protected}...{/protected} only when it does and has a password, and {^attached} /
 * {^protected} ... {/name} in the other case. So the pt-BR e-mail says "O PDF da fatura segue
 * anexo" only when it does. Tags of other names, and a section never closed, stay as text. */
#define CT_RENDER_HTML 1u      /* escape values for HTML (ct_render_html) */
#define CT_RENDER_ATTACHED 2u  /* the message carries the invoice PDF */
#define CT_RENDER_PROTECTED 4u /* ... and that PDF is password-protected */

/* ct_render / ct_render_html with sections. Returns a malloc'd string or NULL (ENOMEM). */
char *ct_render_with(const char *tmpl, const ct_job_t *job, unsigned flags);

/* "R$ 1.234,56" for 123456 cents; `out` at least 32 bytes. */
char *ct_format_brl(int64_t cents, char *out, size_t cap);

/* SMS length rules: whether `text` fits the GSM-7 default alphabet (with its extension
 * table), and how many segments it takes (GSM-7: 160 single / 153 per part; UCS-2: 70 / 67;
 * extension characters count double). The alphabet is 3GPP TS 23.038's: 'Ç' is in it, 'ç',
 * 'ã', 'á', 'õ' are not. A character is never split across two parts (an escape and its
 * extension character, a surrogate pair), so a long text may take more parts than units
 * divided by 153 (or 67) and rounded up. Invalid UTF-8 counts as U+FFFD. The empty text takes 0 segments. */
typedef struct {
  int gsm7;       /* 1 when every character is in GSM-7 */
  unsigned units; /* septets (GSM-7) or UTF-16 code units (UCS-2) */
  unsigned segments;
} ct_sms_length_t;
void ct_sms_length(const char *utf8, ct_sms_length_t *out);

/* The most segments one SMS may take; a longer text is refused by the sms adapter's build
 * (CT_EINVAL), since carriers reassemble long chains unreliably and each part is billed. */
#define CT_SMS_MAX_SEGMENTS 4

#endif
