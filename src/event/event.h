/* Webhook events: what a provider tells carteiro after a send (a delivery status) and what a
 * customer sends (an inbound message), as plain values.
 *
 *   provider ──signed POST──▶ http (verify) ──▶ provider parse_webhook ──▶ ct_event_t[]
 *            ──▶ spool (events_put: durable, deduplicated by event_id) ──▶ 200
 *   spool events_take ──▶ the event processor (receipts, fallback, conversations) ──▶ events_ack
 *
 * An event is a fixed-size struct (every string bounded, cut at a UTF-8 character boundary)
 * plus one malloc'd text, so a parser fills it without an allocation per field and a batch is
 * one array. The stored form is the protobuf message carteiro.v1.Event (proto/carteiro/v1/
 * event.proto); this module is its only user.
 *
 * Personal data: `from`, `to`, `text` and `profile_name` are personal data (phone numbers,
 * e-mail addresses, what a customer wrote). They are stored (spool files are 0600, like jobs)
 * and never logged or shown unmasked.
 */
#ifndef CT_EVENT_EVENT_H
#define CT_EVENT_EVENT_H

#include "job/job.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
  CT_EVENT_NONE = 0,
  CT_EVENT_STATUS = 1,  /* a delivery status of a message carteiro sent */
  CT_EVENT_INBOUND = 2, /* a message a customer sent */
} ct_event_kind_t;

/* "status", "inbound"; NULL for other values. */
const char *ct_event_kind_name(int kind);

/* Delivery statuses, carteiro's names for what the providers report. The provider's own word
 * is kept beside it (provider_status). Values are stored: only ever append.
 *   accepted     Twilio accepted/queued/scheduled, SendGrid processed
 *   sending      Twilio sending
 *   sent         WhatsApp and Twilio sent (handed to the network / carrier)
 *   delivered    WhatsApp, Twilio, SendGrid delivered
 *   read         WhatsApp and Twilio read (read receipts on)
 *   failed       WhatsApp and Twilio failed
 *   undelivered  Twilio undelivered (the carrier could not deliver)
 *   deferred     SendGrid deferred (the receiving server asked to try later)
 *   bounce       SendGrid bounce, type "bounce" (hard bounce)
 *   blocked      SendGrid bounce, type "blocked" (the receiving server refused, for now)
 *   dropped      SendGrid dropped (suppressed or invalid; never sent)
 *   spamreport, unsubscribe, group_unsubscribe, group_resubscribe, open, click   SendGrid
 *   canceled     Twilio canceled
 *   received     an inbound message (Twilio receiving/received)
 *   other        a word carteiro does not know (provider_status has it) */
#define CT_EVENT_STATUS_MAP(X)                                                                 \
  X(UNKNOWN, "unknown")                                                                        \
  X(ACCEPTED, "accepted")                                                                      \
  X(SENDING, "sending")                                                                        \
  X(SENT, "sent")                                                                              \
  X(DELIVERED, "delivered")                                                                    \
  X(READ, "read")                                                                              \
  X(FAILED, "failed")                                                                          \
  X(UNDELIVERED, "undelivered")                                                                \
  X(DEFERRED, "deferred")                                                                      \
  X(BOUNCE, "bounce")                                                                          \
  X(BLOCKED, "blocked")                                                                        \
  X(DROPPED, "dropped")                                                                        \
  X(SPAMREPORT, "spamreport")                                                                  \
  X(UNSUBSCRIBE, "unsubscribe")                                                                \
  X(GROUP_UNSUBSCRIBE, "group_unsubscribe")                                                    \
  X(GROUP_RESUBSCRIBE, "group_resubscribe")                                                    \
  X(OPEN, "open")                                                                              \
  X(CLICK, "click")                                                                            \
  X(CANCELED, "canceled")                                                                      \
  X(RECEIVED, "received")                                                                      \
  X(OTHER, "other")

typedef enum {
#define CT__EVENT_STATUS_ENUM(name, text) CT_EVENT_STATUS_##name,
  CT_EVENT_STATUS_MAP(CT__EVENT_STATUS_ENUM)
#undef CT__EVENT_STATUS_ENUM
      CT_EVENT_STATUS_COUNT
} ct_event_status_t;

/* The status's name ("delivered"); "unknown" for values outside the map. */
const char *ct_event_status_name(int status);
/* Returns 0 and sets *out, or CT_EINVAL for a name not in the map. */
int ct_event_status_parse(const char *name, ct_event_status_t *out);

/* Field capacities, NUL included. */
#define CT_EVENT_ACCOUNT_LEN 64
#define CT_EVENT_ID_LEN 192
#define CT_EVENT_MSGID_LEN 160
#define CT_EVENT_WORD_LEN 40
#define CT_EVENT_TITLE_LEN 128
#define CT_EVENT_JOB_LEN 136 /* job ids are at most 128 bytes (job.proto) */
#define CT_EVENT_PEER_LEN 256
#define CT_EVENT_NAME_LEN 128
/* The longest inbound text kept, in bytes (WhatsApp allows 4096 characters). */
#define CT_EVENT_TEXT_MAX 16384
/* The most events one webhook request may carry (WhatsApp batches up to 1000 changes). */
#define CT_EVENT_BATCH_MAX 5000

typedef struct {
  ct_event_kind_t kind;
  ct_channel_t channel;
  char account[CT_EVENT_ACCOUNT_LEN];   /* [provider.NAME] the webhook came in on */
  char event_id[CT_EVENT_ID_LEN];       /* the dedupe key (see event.proto) */
  char message_id[CT_EVENT_MSGID_LEN];  /* wamid, MessageSid, sg_message_id */
  ct_event_status_t status;             /* STATUS; RECEIVED for INBOUND */
  char provider_status[CT_EVENT_WORD_LEN];
  char error_code[CT_EVENT_WORD_LEN];
  char error_title[CT_EVENT_TITLE_LEN];
  int64_t at_ms;                        /* the provider's timestamp, 0 when none */
  char job_id[CT_EVENT_JOB_LEN];        /* correlation; "" when none */
  uint32_t part;                        /* with job_id */
  char from[CT_EVENT_PEER_LEN];         /* personal data (see event.proto) */
  char to[CT_EVENT_PEER_LEN];           /* personal data */
  char *text;                           /* INBOUND: malloc'd, or NULL; personal data */
  char message_type[CT_EVENT_WORD_LEN];
  char reply_id[CT_EVENT_PEER_LEN];
  char context_id[CT_EVENT_MSGID_LEN];
  char profile_name[CT_EVENT_NAME_LEN]; /* personal data */
  int64_t received_ms;
} ct_event_t;

/* Frees what `e` owns (its text) and zeroes it. */
void ct_event_clear(ct_event_t *e);

/* Copies s[0..n) into the char array `dst` of capacity `cap`, cut at a UTF-8 character
 * boundary so that it fits with its NUL; control characters (< 0x20, 0x7f) become spaces.
 * Returns true when it fitted whole. */
bool ct_event_copy(char *dst, size_t cap, const char *s, size_t n);

/* Sets e->event_id to the concatenation of the `n` parts (NULL parts are skipped). An id that
 * does not fit, or holds a control character, becomes "h:" + the hex SHA-256 of the whole id,
 * so that two ids never become one by being cut or cleaned. */
void ct_event_set_id(ct_event_t *e, const char *const *parts, size_t n);

/* Sets e->text to a malloc'd copy of s[0..n), cut at CT_EVENT_TEXT_MAX bytes on a character
 * boundary (control characters other than newline and tab kept as they are). Returns 0 or
 * CT_ENOMEM (the text is then left NULL). */
int ct_event_set_text(ct_event_t *e, const char *s, size_t n);

/* Encodes `e` (carteiro.v1.Event) into a new malloc'd buffer. Errors: CT_ENOMEM. */
int ct_event_encode(const ct_event_t *e, uint8_t **out, size_t *len);

/* Decodes a stored event into *out (cleared first on success). Strings longer than the fields
 * are cut. Errors: CT_EDECODE (not an Event), CT_ENOMEM. *out is untouched on error. */
int ct_event_decode(const uint8_t *buf, size_t len, ct_event_t *out);

/* A growing array of events, at most CT_EVENT_BATCH_MAX. */
typedef struct {
  ct_event_t *v;
  size_t n, cap;
} ct_event_list_t;

/* Appends a zeroed event and sets *out to it (valid until the next add). Errors: CT_ETOOBIG
 * (CT_EVENT_BATCH_MAX events already), CT_ENOMEM. */
int ct_event_list_add(ct_event_list_t *l, ct_event_t **out);
/* Drops the last event (after a parser gave up on it). */
void ct_event_list_pop(ct_event_list_t *l);
/* Clears every event and frees the array; the list is empty afterwards. */
void ct_event_list_free(ct_event_list_t *l);

/* The JSON view of an event for operators and tests: every field, with `from`, `to` masked
 * (phone or e-mail), `profile_name` masked and `text` replaced by its length in bytes, unless
 * CT_EVENT_JSON_CLEAR. New reference, or NULL (ENOMEM). */
#define CT_EVENT_JSON_CLEAR 1u
json_t *ct_event_to_json(const ct_event_t *e, unsigned flags);

#endif
