/* libFuzzer target for src/job/validate.c.
 *
 * Every checker reads text that comes from outside (producers, files, NATS), so each one gets
 * the raw input as a C string. Beyond "does not crash", the target asserts the invariants the
 * rest of carteiro relies on, so a wrong answer aborts like a crash would:
 *   - a parsed bank slip's due date maps back to its own factor, and lies within 4,500 days
 *     of the reference date (or is 2000-07-03 or later when the reference is earlier);
 *   - a CPF the checker accepts is reproduced by ct_cpf_complete();
 *   - the builders, fed digits taken from the input, make lines the parser accepts with the
 *     same due date and amount;
 *   - ct_job_validate never reports more errors than it has room for, and agrees with the
 *     single-field checkers on a job made of the input.
 */
#include "job/validate.h"

#include "common/error.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);                 \
      abort();                                                                                     \
    }                                                                                              \
  } while (0)

static int32_t read_i32(const uint8_t *data, size_t size) {
  uint32_t v = 0;
  for (size_t i = 0; i < 4 && i < size; i++)
    v |= (uint32_t)data[i] << (8 * i);
  return (int32_t)v;
}

/* Takes `n` digits from the input bytes (cycling), so the builders see input-driven values. */
static void digits_from(const uint8_t *data, size_t size, size_t skip, char *out, size_t n) {
  for (size_t i = 0; i < n; i++)
    out[i] = (char)('0' + (size ? data[(skip + i) % size] : i) % 10);
  out[n] = '\0';
}

static void check_parse(const char *s, int32_t ref) {
  ct_boleto_t b;
  if (ct_boleto_parse(s, ref, &b) != NULL)
    return;
  CHECK(b.amount_cents == -1 || b.amount_cents > 0);
  if (b.utility) {
    CHECK(b.due_days == -1 && b.due_factor == 0);
    return;
  }
  if (b.due_factor == 0) {
    CHECK(b.due_days == -1);
    return;
  }
  CHECK(b.due_factor >= 1000 && b.due_factor <= 9999);
  CHECK(ct_boleto_due_factor(b.due_days) == b.due_factor);
  /* The closest date, except where there is none on one side: nothing before the 2000-2025
   * series, nothing past INT32_MAX. */
  int64_t dist = (int64_t)b.due_days - ref;
  CHECK(dist <= 4500 || b.due_days < 11141 + 9000);
  CHECK(dist >= -4500 || (int64_t)b.due_days + 9000 > INT32_MAX);
}

static void check_builders(const uint8_t *data, size_t size) {
  char bank[4], free_field[26], company[5], line[49];
  digits_from(data, size, 0, bank, 3);
  digits_from(data, size, 3, free_field, 25);
  digits_from(data, size, 28, company, 4);
  int32_t due = 11141 + (int32_t)((uint32_t)read_i32(data, size) % 30000u);
  uint64_t raw = (uint32_t)read_i32(data + (size > 4 ? 4 : 0), size > 4 ? size - 4 : 0);
  int64_t amount = (int64_t)(raw * 7u % 10000000000u); /* up to the bank slip's 10 digits */
  CHECK(ct_boleto_make_bank(bank, due, amount, free_field, line) == 0);
  ct_boleto_t b;
  CHECK(ct_boleto_parse(line, due, &b) == NULL);
  CHECK(!b.utility && b.due_days == due && b.amount_cents == (amount ? amount : -1));
  CHECK(ct_boleto_make_bank(bank, -1, amount, free_field, line) == 0);
  CHECK(ct_boleto_parse(line, due, &b) == NULL && b.due_days == -1);

  char segment = (char)('1' + (size ? data[0] : 0) % 9);
  char value_id = (char)('6' + (size > 1 ? data[1] : 0) % 4);
  CHECK(ct_boleto_make_utility(segment, value_id, amount * 9, company, free_field, line) == 0);
  CHECK(ct_boleto_parse(line, due, &b) == NULL && b.utility);
  bool cents = value_id == '6' || value_id == '8';
  CHECK(b.amount_cents == (cents && amount > 0 ? amount * 9 : -1));

  char cpf[12];
  digits_from(data, size, 7, cpf, 9);
  ct_cpf_complete(cpf);
  cpf[11] = '\0';
  const char *why = ct_check_cpf(cpf);
  CHECK(why == NULL || strcmp(why, "all digits are the same") == 0);
}

static void check_job(const char *s) {
  ct_job_t job;
  ct_recipient_t r;
  ct_invoice_t inv;
  ct_document_t doc;
  ct_delivery_t del;
  ct_delivery_t *dels[1] = {&del};
  Carteiro__V1__Channel ch[3] = {CARTEIRO__V1__CHANNEL__CHANNEL_WHATSAPP,
                                 CARTEIRO__V1__CHANNEL__CHANNEL_EMAIL,
                                 CARTEIRO__V1__CHANNEL__CHANNEL_SMS};
  carteiro__v1__job__init(&job);
  carteiro__v1__recipient__init(&r);
  carteiro__v1__invoice__init(&inv);
  carteiro__v1__document__init(&doc);
  carteiro__v1__delivery__init(&del);
  /* Every string field holds the input; the checkers decide what each one thinks of it. */
  char *m = (char *)s;
  job.id = job.tenant = m;
  job.kind = CARTEIRO__V1__JOB_KIND__JOB_KIND_INVOICE;
  job.recipient = &r;
  r.phone = r.email = r.cpf = r.card_last4 = m;
  del.n_channels = 3;
  del.channels = ch;
  job.n_deliveries = 1;
  job.deliveries = dels;
  job.invoice = &inv;
  inv.number = inv.due_date = inv.barcode_line = inv.pix_code = inv.currency = m;
  inv.amount_cents = 1;
  inv.document = &doc;
  doc.source_case = CARTEIRO__V1__DOCUMENT__SOURCE_URL;
  doc.url = doc.password = m;
  doc.password_policy = CARTEIRO__V1__PASSWORD_POLICY__PASSWORD_POLICY_EXPLICIT;

  ct_field_error_t errs[4];
  size_t nerr = 0;
  int rc = ct_job_validate(&job, errs, 4, &nerr);
  CHECK((rc == 0) == (nerr == 0));
  CHECK(rc == 0 || rc == CT_EINVALID);
  size_t total = nerr;
  CHECK(ct_job_validate(&job, NULL, 0, &nerr) == rc && nerr == total);
  for (size_t i = 0; i < nerr && i < 4; i++) {
    CHECK(memchr(errs[i].field, '\0', sizeof errs[i].field) != NULL);
    CHECK(memchr(errs[i].reason, '\0', sizeof errs[i].reason) != NULL);
  }
  /* The job reports a phone error exactly when the checker does; it comes third at the
   * latest (after id and tenant), so it is always within the first four. */
  bool phone_err = false;
  for (size_t i = 0; i < nerr && i < 4; i++)
    phone_err = phone_err || strcmp(errs[i].field, "recipient.phone") == 0;
  if (s[0] != '\0')
    CHECK(phone_err == (ct_check_phone(s) != NULL));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *s = malloc(size + 1);
  if (s == NULL)
    return 0;
  memcpy(s, data, size);
  s[size] = '\0';

  (void)ct_check_cpf(s);
  (void)ct_check_phone(s);
  (void)ct_check_email(s);
  (void)ct_check_pix(s);
  (void)ct_crc16_ccitt(data, size);
  check_parse(s, read_i32(data, size));
  check_parse(s, 20000); /* 2024-10-04 */
  check_parse(s, INT32_MAX);
  check_parse(s, INT32_MIN);
  check_builders(data, size);
  check_job(s);

  free(s);
  return 0;
}
