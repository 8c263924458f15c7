/* The job model: carteiro's view of the protobuf schema in proto/carteiro/v1/job.proto.
 *
 * This header is the one includer of the generated protobuf-c code; the rest of carteiro uses
 * the ct_* names below. A ct_job_t owns all of its strings and sub-messages (as protobuf-c's
 * unpack makes them) and is released with ct_job_free().
 */
#ifndef CT_JOB_JOB_H
#define CT_JOB_JOB_H

#include "carteiro/v1/job.pb-c.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef Carteiro__V1__Job ct_job_t;
typedef Carteiro__V1__Recipient ct_recipient_t;
typedef Carteiro__V1__Delivery ct_delivery_t;
typedef Carteiro__V1__Invoice ct_invoice_t;
typedef Carteiro__V1__Document ct_document_t;
typedef Carteiro__V1__Notification ct_notification_t;
typedef Carteiro__V1__Attempt ct_attempt_t;
typedef Carteiro__V1__ReceiptPart ct_receipt_part_t;
typedef Carteiro__V1__Receipt ct_receipt_t;
typedef Carteiro__V1__DeadLetter ct_dead_letter_t;

typedef enum {
  CT_CHANNEL_NONE = CARTEIRO__V1__CHANNEL__CHANNEL_UNSPECIFIED,
  CT_CHANNEL_WHATSAPP = CARTEIRO__V1__CHANNEL__CHANNEL_WHATSAPP,
  CT_CHANNEL_SMS = CARTEIRO__V1__CHANNEL__CHANNEL_SMS,
  CT_CHANNEL_EMAIL = CARTEIRO__V1__CHANNEL__CHANNEL_EMAIL,
} ct_channel_t;

/* Longest record any decoder accepts (a job with an inline 8 MiB PDF, base64 in JSON). */
#define CT_RECORD_MAX ((size_t)16 << 20)

/* Short lower-case names used in JSON, the CLI and the spool: "whatsapp", "sms", "email";
 * NULL for values outside the enum. The parsers return 0 or CT_EINVAL. */
const char *ct_channel_name(int channel);
int ct_channel_parse(const char *name, ct_channel_t *out);
const char *ct_outcome_name(int outcome);  /* "accepted", "transient", ... */
const char *ct_kind_name(int kind);        /* "invoice", "notification" */
const char *ct_password_policy_name(int policy); /* "none", "cpf_first4", ... */

/* Frees a job made by any ct_job_* constructor or decoder. NULL is a no-op. */
void ct_job_free(ct_job_t *job);

/* Decodes one protobuf-encoded Job (without a length prefix).
 * Errors: CT_EDECODE (not a valid Job message; `err` says why), CT_ETOOBIG (len >
 * CT_RECORD_MAX), CT_ENOMEM. */
int ct_job_decode_pb(const uint8_t *buf, size_t len, ct_job_t **out, char *err, size_t errcap);

/* Encodes `job` into a new malloc'd buffer. Errors: CT_ENOMEM. */
int ct_job_encode_pb(const ct_job_t *job, uint8_t **out, size_t *outlen);

/* Decodes one JSON object (the JSON mapping documented in the README: proto field names,
 * enum short names, times as integers in ms or RFC 3339 strings, inline_pdf as base64).
 * null means absent; an enum also accepts its number; deliveries may be written as bare
 * channel arrays ([["whatsapp", "sms"]]); duplicate keys are refused. On success the job is
 * built like protobuf-c's unpack builds one, so ct_job_free() releases it.
 * On CT_EDECODE, `err` names the field path and the problem, e.g.
 * "recipient.phone: expected a string" or "line is not a JSON object", and never repeats a
 * value: a key is named only when it looks like a field name (ct_json_key_is_plain), map
 * keys are named by their position ("notification.params[2]"), and a text that is not JSON
 * is "not JSON: " and what ct_json_error_describe() says.
 * Unknown fields are rejected. Errors: CT_EDECODE, CT_ETOOBIG, CT_ENOMEM. */
int ct_job_decode_json(const char *text, size_t len, ct_job_t **out, char *err, size_t errcap);

/* Why jansson could not parse a text, in carteiro's own words, and where: "invalid UTF-8 at
 * column 190", "duplicate key at line 3, column 12", "number out of range at column 40",
 * "expected ':' after a key at column 7". jansson's own messages quote the input next to
 * the error ("near '\"12345678909'"), which may be personal data, so they are never shown;
 * the enqueue command, the HTTP API and `carteiro status` all describe errors with this one
 * function. Writes a NUL-terminated text of at most `cap` bytes (cap > 0). */
void ct_json_error_describe(const json_error_t *e, char *out, size_t cap);

/* True when `key` may be repeated in an error text: 1 to 40 bytes of [a-z0-9_], starting
 * with a letter or '_', with at most 2 digits (so that no identifier, phone or card number
 * fits), like the schema's own field names. */
bool ct_json_key_is_plain(const char *key);

/* The JSON mapping of `job`. With CT_JSON_MASK_PII, personal data is masked (common/mask.h)
 * and document bytes are replaced by their size. Returns a new reference or NULL (ENOMEM).
 * Fields holding their default are left out; times are integers. Bytes that are not UTF-8 in
 * a string (protobuf-c does not check) become U+FFFD. For a job without unknown protobuf
 * fields or repeated map keys, ct_job_decode_json() of the output encodes to the same bytes. */
#define CT_JSON_MASK_PII 1u
json_t *ct_job_to_json(const ct_job_t *job, unsigned flags);
json_t *ct_attempt_to_json(const ct_attempt_t *attempt);
json_t *ct_receipt_to_json(const ct_receipt_t *receipt);

/* Fills the defaults a producer may leave out: created_at_ms (= now_ms), currency "BRL",
 * locale "pt-BR", time zone "America/Sao_Paulo"; and puts CPF and barcode line in canonical
 * form (digits only). Call before validation and storage. Errors: CT_ENOMEM. */
int ct_job_normalize(ct_job_t *job, int64_t now_ms);

#endif
