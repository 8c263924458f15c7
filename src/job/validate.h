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
 * Writes up to `cap` errors to `errs` and the total count to *nerr (0 when valid); `errs` may
 * be NULL when `cap` is 0, `nerr` may be NULL. Errors come in a fixed order (id, tenant, kind,
 * recipient, deliveries, window, priority, invoice, notification), so a caller that keeps only
 * the first one always reports the same one.
 * The due-date factor of a bank slip is resolved against invoice.due_date itself (no clock):
 * the job passes when the factor can mean that date.
 * Rules beyond the .proto text, chosen here: invoice.number is at most 64 bytes without
 * control characters; invoice.currency, when set, is 3 upper-case letters; the e-mail syntax
 * is ASCII only; a document path is relative without ".." segments; a document url starts with
 * "https://" and has a host.
 * Returns 0 when valid, CT_EINVALID otherwise. */
int ct_job_validate(const ct_job_t *job, ct_field_error_t *errs, size_t cap, size_t *nerr);

/* Each checker below returns NULL when `s` (a NUL-terminated string, never NULL) is valid, or
 * a static reason string without the field name, e.g. "check digits do not match". */

/* CPF: 11 digits, plain or punctuated exactly as "123.456.789-09"; rejects repeated-digit CPFs
 * ("all digits are the same", e.g. "111.111.111-11", whose check digits are otherwise right)
 * and wrong check digits ("check digits do not match"). */
const char *ct_check_cpf(const char *s);

/* A Brazilian mobile number in E.164: "+55", a valid 2-digit area code (one of the 67 DDDs
 * ANATEL assigns: 11-19, 21, 22, 24, 27, 28, 31-35, 37, 38, 41-49, 51, 53-55, 61-69, 71, 73-75,
 * 77, 79, 81-89, 91-99), then 9 digits starting with 9. No spaces or punctuation. */
const char *ct_check_phone(const char *s);

/* An e-mail address: a dot-atom local part (RFC 5322, no quoted strings), '@', a domain of
 * LDH labels (1..63 each, no leading or trailing hyphen, last one not all digits) with at least
 * one dot, total length <= 254, local part <= 64. ASCII only. */
const char *ct_check_email(const char *s);

/* A PIX BR Code: EMV TLV fields (lengths in bytes) starting with "000201" and ending with tag
 * 63 (length 04) holding the CRC16/CCITT-FALSE of everything before the CRC value, in
 * upper-case hex. Templates 26-51 and 62 must hold well-formed TLV fields, and one of 26-51
 * must carry the PIX GUI "br.gov.bcb.pix" (any case). */
const char *ct_check_pix(const char *s);

/* What a boleto line says about itself. */
typedef struct {
  bool utility;         /* 48-digit "arrecadação" slip (starts with 8) */
  int64_t amount_cents; /* -1 when the slip leaves the amount open (all zero), and for
                           utility slips with value identifier 7 or 9, whose value field
                           is a quantity of a reference currency rather than cents */
  int32_t due_days;     /* bank slips: due date as days since 1970-01-01 resolved from
                           the factor, or -1 when the factor is 0000; utility: -1 */
  uint16_t due_factor;  /* bank slips: the raw 4-digit factor; utility: 0 */
} ct_boleto_t;

/* Parses a linha digitável (47 or 48 digits; spaces and dots ignored, any other character
 * refused) and verifies every check digit: bank slips (mod 10 per field, mod 11 general digit),
 * utility slips (mod 10 or mod 11 per block by the value identifier, and the general digit).
 * Bank slips must also carry currency 9 and a factor of 0000 or 1000..9999 (0001..0999 were
 * last used in 2000). `ref_days` (days since 1970-01-01) chooses among the dates a repeating
 * due factor can mean: the one closest to it, the later one on a tie, never one before
 * 2000-07-03. Returns NULL and fills *out, or a static reason (*out untouched). */
const char *ct_boleto_parse(const char *line, int32_t ref_days, ct_boleto_t *out);

/* The due-date factor for days since 1970-01-01: days since 1997-10-07 up to 9999
 * (2025-02-21), then 1000 again from 2025-02-22, repeating every 9,000 days. Returns 0 for dates
 * before 2000-07-03 (factor 1000 in the first series). */
uint16_t ct_boleto_due_factor(int32_t days);

/* Builders for valid identifiers, used by the invoice generator and the tests. */

/* Computes the two check digits of d[0..8] (ASCII digits) into d[9], d[10]. Writes no NUL.
 * Nine equal digits give a CPF whose check digits are right but which ct_check_cpf still
 * refuses ("all digits are the same"). */
void ct_cpf_complete(char d[11]);

/* Builds a 47-digit bank-slip line (digits only, NUL-terminated, out[48]) from a 3-digit bank
 * code, optionally followed by the currency digit, which must be '9' (real): "001" and "0019"
 * are the same; a due date (days since 1970-01-01 from 2000-07-03 on, or -1 for none); an amount
 * in cents (0 = open, < 10^10) and a 25-digit free field. Returns 0 or CT_EINVAL (out
 * untouched). */
int ct_boleto_make_bank(const char *bank, int32_t due_days, int64_t amount_cents,
                        const char *free_field, char out[48]);

/* Builds a 48-digit utility-slip line (digits only, NUL-terminated, out[49]): product '8',
 * segment digit '1'..'9', value identifier '6'/'7' (mod 10) or '8'/'9' (mod 11), per FEBRABAN's
 * arrecadação layout ('6'/'8': amount in cents of real; '7'/'9': a reference-currency
 * quantity), amount (0 = open, < 10^11), a 4-digit company id and 25 digits of free data.
 * Returns 0 or CT_EINVAL (out untouched). */
int ct_boleto_make_utility(char segment, char value_id, int64_t amount_cents, const char *company,
                           const char *free_data, char out[49]);

/* CRC16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final xor), as PIX uses;
 * "123456789" gives 0x29B1. */
uint16_t ct_crc16_ccitt(const uint8_t *data, size_t len);

#endif
