/* Validation of jobs and of the Brazilian identifiers they carry.
 *
 * One module, used by every entry point (CLI import, HTTP ingest, NATS). It does no I/O and
 * allocates nothing. Errors name the field path and the reason, e.g.
 * "recipient.cpf: check digits do not match".
 */
#ifndef CT_JOB_VALIDATE_H
#define CT_JOB_VALIDATE_H

#include "job/job.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct {
  char field[64];   /* "recipient.cpf", "deliveries[1].channels[0]", "invoice.barcode_line" */
  char reason[160]; /* "check digits do not match" */
} ct_field_error_t;

/* Checks every rule on `job` (see the .proto comments): id and tenant syntax, kind and the
 * matching payload, recipient fields present are well-formed, every delivery has channels
 * the recipient can receive on, window start before end, priority range, invoice number,
 * positive amount, real due date, boleto check digits with due-date factor and amount
 * cross-checks, PIX CRC, document/password policy consistency.
 * Writes up to `cap` errors to `errs` and the total count to *nerr (0 when valid).
 * Returns 0 when valid, CT_EINVALID otherwise. */
int ct_job_validate(const ct_job_t *job, ct_field_error_t *errs, size_t cap, size_t *nerr);

/* Each checker below returns NULL when `s` is valid, or a static reason string. */

/* CPF: 11 digits, optionally punctuated "123.456.789-09"; rejects repeated-digit CPFs
 * ("111.111.111-11") and wrong check digits ("check digits do not match"). */
const char *ct_check_cpf(const char *s);

/* A Brazilian mobile number in E.164: "+55", a valid 2-digit area code (DDD 11..99 that
 * ANATEL assigns), then 9 digits starting with 9. */
const char *ct_check_phone(const char *s);

/* An e-mail address: a dot-atom local part (RFC 5322, no quoted strings), '@', a domain of
 * LDH labels with at least one dot, total length <= 254, local part <= 64. */
const char *ct_check_email(const char *s);

/* A PIX BR Code: EMV TLV fields ending with tag 63 (length 04) holding the CRC16/CCITT-FALSE
 * of everything before the CRC value, in upper-case hex. */
const char *ct_check_pix(const char *s);

/* What a boleto line says about itself. */
typedef struct {
  bool utility;            /* 48-digit "arrecadação" slip (starts with 8) */
  int64_t amount_cents;    /* -1 when the slip leaves the amount open (all zero) */
  int32_t due_days;        /* bank slips: due date as days since 1970-01-01 resolved from
                              the factor, or -1 when the factor is 0000 */
  uint16_t due_factor;     /* bank slips: the raw 4-digit factor */
} ct_boleto_t;

/* Parses a linha digitável (47 or 48 digits; spaces and dots ignored) and verifies every check
 * digit: bank slips (mod 10 per field, mod 11 general digit), utility slips (mod 10 or mod 11
 * per block by the value identifier, and the general digit). `ref_days` (days since
 * 1970-01-01) chooses among the dates a repeating due factor can mean: the one closest to it.
 * Returns NULL and fills *out, or a static reason. */
const char *ct_boleto_parse(const char *line, int32_t ref_days, ct_boleto_t *out);

/* The due-date factor for days since 1970-01-01: days since 1997-10-07 up to 9999
 * (2025-02-21), then 1000 again from 2025-02-22, repeating every 9,000 days. Returns 0 for dates
 * before 2000-07-03 (factor 1000 in the first series). */
uint16_t ct_boleto_due_factor(int32_t days);

/* Builders for valid identifiers, used by the invoice generator and the tests. */

/* Computes the two check digits of d[0..8] into d[9], d[10] (ASCII digits). */
void ct_cpf_complete(char d[11]);

/* Builds a 47-digit bank-slip line (NUL-terminated, out[48]) from a 3-digit bank code, a
 * currency digit ('9' = real), a due date (days since 1970-01-01, or -1 for none), an amount in
 * cents (< 10^10) and a 25-digit free field. Returns 0 or CT_EINVAL. */
int ct_boleto_make_bank(const char *bank, int32_t due_days, int64_t amount_cents,
                        const char *free_field, char out[48]);

/* Builds a 48-digit utility-slip line (out[49]): product '8', segment digit '1'..'9', value
 * identifier '6'/'8' (mod 10) or '7'/'9' (mod 11), amount in cents (< 10^11), a 4-digit company
 * id and 25 digits of free data. Returns 0 or CT_EINVAL. */
int ct_boleto_make_utility(char segment, char value_id, int64_t amount_cents,
                           const char *company, const char *free_data, char out[49]);

/* CRC16/CCITT-FALSE (poly 0x1021, init 0xFFFF), as PIX uses. */
uint16_t ct_crc16_ccitt(const uint8_t *data, size_t len);

#endif
