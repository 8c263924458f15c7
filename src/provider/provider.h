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
 */
#ifndef CT_PROVIDER_PROVIDER_H
#define CT_PROVIDER_PROVIDER_H

#include "config/config.h"
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
  char message_id[128];    /* ACCEPTED: wamid / SID / X-Message-Id */
  char error_code[32];     /* provider's code ("131026", "21211") or transport's ("timeout") */
  char message[160];       /* short description, free of personal data */
} ct_verdict_t;

typedef struct {
  const char *name;
  ct_channel_t channel;

  /* How many messages one delivery of `job` takes on this channel (>= 1). */
  unsigned (*parts)(const ct_job_t *job);

  /* Builds the request for message `part` (0-based) of `job` on account `conf`, with texts
   * from `t`. Returns 0 and fills *out (freed with ct_http_request_free), or CT_EINVAL when
   * the job lacks what this channel needs (no phone, no e-mail; the message says so in
   * `err`), or CT_ENOMEM. */
  int (*build)(const ct_provider_conf_t *conf, const ct_templates_t *t, const ct_job_t *job,
               unsigned part, ct_http_request_t *out, char *err, size_t errcap);

  /* Classifies a response (or a transport failure). Never fails. */
  void (*classify)(const ct_http_response_t *resp, ct_verdict_t *out);
} ct_provider_t;

extern const ct_provider_t ct_provider_whatsapp;
extern const ct_provider_t ct_provider_sms;
extern const ct_provider_t ct_provider_email;

/* The adapter for a channel, or NULL. */
const ct_provider_t *ct_provider_for(ct_channel_t channel);

/* Renders a message template: {name} {number} {amount} {due_date} {barcode} {pix} are
 * replaced from `job` (amount as "R$ 1.234,56", due date as dd/mm/yyyy); an unknown
 * placeholder is left as it is. Returns a malloc'd string or NULL (ENOMEM). */
char *ct_render(const char *tmpl, const ct_job_t *job);

/* "R$ 1.234,56" for 123456 cents; `out` at least 32 bytes. */
char *ct_format_brl(int64_t cents, char *out, size_t cap);

/* SMS length rules: whether `text` fits the GSM-7 default alphabet (with its extension
 * table), and how many segments it takes (GSM-7: 160 single / 153 per part; UCS-2: 70 / 67;
 * extension characters count double). */
typedef struct {
  int gsm7;       /* 1 when every character is in GSM-7 */
  unsigned units; /* septets (GSM-7) or UTF-16 code units (UCS-2) */
  unsigned segments;
} ct_sms_length_t;
void ct_sms_length(const char *utf8, ct_sms_length_t *out);

#endif
