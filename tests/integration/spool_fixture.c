/* spool-fixture: puts a spool into states the CLI tests need, through the real spool API,
 * acting as the owning daemon would.
 *
 *   spool-fixture SPOOL dead REASON CHANNEL PROVIDER [MAX]
 *       takes up to MAX due jobs (default all) and dead-letters each with one permanent
 *       attempt on CHANNEL/PROVIDER
 *   spool-fixture SPOOL ack [MAX]
 *       takes up to MAX due jobs and acknowledges each with a one-part receipt
 *
 * Prints the number of jobs it settled. */
#include "common/clock.h"
#include "common/error.h"
#include "spool/spool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK 256

static int usage(void) {
  fprintf(stderr, "usage: spool-fixture SPOOL dead REASON CHANNEL PROVIDER [MAX]\n"
                  "       spool-fixture SPOOL ack [MAX]\n");
  return 64;
}

int main(int argc, char **argv) {
  if (argc < 3)
    return usage();
  bool dead = strcmp(argv[2], "dead") == 0;
  if (!dead && strcmp(argv[2], "ack") != 0)
    return usage();
  if (dead && argc < 6)
    return usage();
  int max_arg = dead ? 6 : 3;
  size_t max = argc > max_arg ? strtoul(argv[max_arg], NULL, 10) : SIZE_MAX;
  ct_channel_t channel = CT_CHANNEL_NONE;
  if (dead && ct_channel_parse(argv[4], &channel) != 0)
    return usage();

  ct_spool_options_t opts = {.path = argv[1], .owner = true};
  ct_spool_t *sp;
  int rc = ct_spool_open(&sp, &opts);
  if (rc != 0) {
    fprintf(stderr, "spool-fixture: %s: %s\n", argv[1], ct_strerror(rc));
    return 1;
  }
  size_t settled = 0;
  while (settled < max) {
    ct_lease_t leases[CHUNK];
    ct_settle_t ops[CHUNK];
    size_t want = max - settled < CHUNK ? max - settled : CHUNK, n = 0;
    int64_t now = ct_now_ms();
    rc = ct_spool_take(sp, now, want, leases, &n);
    if (rc != 0 || n == 0)
      break;
    ct_attempt_t attempt = CARTEIRO__V1__ATTEMPT__INIT;
    attempt.at_ms = now;
    attempt.channel = (Carteiro__V1__Channel)channel;
    attempt.provider = dead ? argv[5] : "fixture";
    attempt.outcome = dead ? CARTEIRO__V1__OUTCOME__OUTCOME_PERMANENT
                           : CARTEIRO__V1__OUTCOME__OUTCOME_ACCEPTED;
    attempt.http_status = dead ? 400 : 200;
    attempt.error_code = dead ? "131026" : "";
    attempt.message = dead ? "recipient cannot receive this message" : "accepted";
    attempt.latency_ms = 12;
    ct_receipt_part_t part = CARTEIRO__V1__RECEIPT_PART__INIT;
    part.channel = CARTEIRO__V1__CHANNEL__CHANNEL_SMS;
    part.provider = "fixture";
    part.message_id = "SM0123456789abcdef";
    part.at_ms = now;
    ct_receipt_part_t *parts[] = {&part};
    ct_receipt_t receipts[CHUNK];
    for (size_t i = 0; i < n; i++) {
      ct_receipt_t *receipt = &receipts[i];
      carteiro__v1__receipt__init(receipt);
      receipt->job_id = leases[i].job->id;
      receipt->n_parts = 1;
      receipt->parts = parts;
      receipt->delivered_at_ms = now;
      ops[i] = (ct_settle_t){.seq = leases[i].seq,
                             .kind = dead ? CT_SETTLE_DEAD : CT_SETTLE_ACK,
                             .attempt = &attempt,
                             .receipt = dead ? NULL : receipt,
                             .reason = dead ? argv[3] : NULL};
    }
    rc = ct_spool_settle(sp, ops, n, now);
    for (size_t i = 0; i < n; i++)
      ct_lease_free(&leases[i]);
    if (rc != 0)
      break;
    settled += n;
  }
  ct_spool_close(sp);
  if (rc != 0) {
    fprintf(stderr, "spool-fixture: %s\n", ct_strerror(rc));
    return 1;
  }
  printf("%zu\n", settled);
  return 0;
}
