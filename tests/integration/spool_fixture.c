/* spool-fixture: puts a spool into states the CLI tests need, through the real spool API,
 * acting as the owning daemon would.
 *
 *   spool-fixture SPOOL dead REASON CHANNEL PROVIDER [MAX]
 *       takes up to MAX due jobs (default all) and dead-letters each with one permanent
 *       attempt on CHANNEL/PROVIDER
 *   spool-fixture SPOOL ack [MAX]
 *       takes up to MAX due jobs and acknowledges each with a one-part receipt
 *   spool-fixture SPOOL delivered-dead REASON all|some [MAX]
 *       takes up to MAX due jobs and dead-letters each with progress: "all" has parts 0..3
 *       accepted on the first channel of every delivery (nothing left to send), "some" the
 *       same for every delivery but the last (jobs need two deliveries or more, e.g.
 *       gen-invoices --channels email+sms); one permanent attempt on the last delivery's
 *       first channel
 *
 *   spool-fixture SPOOL retry CHANNEL PROVIDER [MAX]
 *       takes up to MAX due jobs and retries each, due again in 500 ms, with one transient
 *       attempt on CHANNEL/PROVIDER (a failed try: on JetStream, one delivery used)
 *
 * Prints the number of jobs it settled. */
#include "common/clock.h"
#include "common/error.h"
#include "spool/spool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK 256
#define MAX_PARTS 64 /* progress parts per job: 16 deliveries x 4 parts */

/* A progress receipt for "delivered-dead", pointing into its own arrays. */
typedef struct {
  ct_receipt_t receipt;
  ct_receipt_part_t parts[MAX_PARTS];
  ct_receipt_part_t *ptrs[MAX_PARTS];
} progress_t;

static void fill_progress(progress_t *p, const ct_job_t *job, bool all, int64_t now) {
  carteiro__v1__receipt__init(&p->receipt);
  p->receipt.job_id = job->id;
  p->receipt.parts = p->ptrs;
  size_t deliveries = all ? job->n_deliveries : job->n_deliveries - 1;
  if (job->n_deliveries == 0)
    deliveries = 0;
  for (size_t d = 0; d < deliveries && p->receipt.n_parts + 4 <= MAX_PARTS; d++) {
    if (job->deliveries[d]->n_channels == 0)
      continue;
    for (unsigned k = 0; k < 4; k++) {
      ct_receipt_part_t *part = &p->parts[p->receipt.n_parts];
      carteiro__v1__receipt_part__init(part);
      part->channel = job->deliveries[d]->channels[0];
      part->provider = "fixture";
      part->message_id = "fixture-message";
      part->at_ms = now;
      part->part = k;
      p->ptrs[p->receipt.n_parts++] = part;
    }
  }
}

static int usage(void) {
  fprintf(stderr, "usage: spool-fixture SPOOL dead REASON CHANNEL PROVIDER [MAX]\n"
                  "       spool-fixture SPOOL ack [MAX]\n"
                  "       spool-fixture SPOOL retry CHANNEL PROVIDER [MAX]\n"
                  "       spool-fixture SPOOL delivered-dead REASON all|some [MAX]\n");
  return 64;
}

int main(int argc, char **argv) {
  if (argc < 3)
    return usage();
  bool delivered_dead = strcmp(argv[2], "delivered-dead") == 0;
  bool retry = strcmp(argv[2], "retry") == 0;
  bool dead = delivered_dead || strcmp(argv[2], "dead") == 0;
  if (!dead && !retry && strcmp(argv[2], "ack") != 0)
    return usage();
  if ((delivered_dead && argc < 5) || (!delivered_dead && dead && argc < 6) ||
      (retry && argc < 5))
    return usage();
  bool all = delivered_dead && strcmp(argv[4], "all") == 0;
  if (delivered_dead && !all && strcmp(argv[4], "some") != 0)
    return usage();
  int max_arg = delivered_dead ? 5 : dead ? 6 : retry ? 5 : 3;
  size_t max = argc > max_arg ? strtoul(argv[max_arg], NULL, 10) : SIZE_MAX;
  ct_channel_t channel = CT_CHANNEL_NONE;
  if (retry && ct_channel_parse(argv[3], &channel) != 0)
    return usage();
  if (dead && !delivered_dead && ct_channel_parse(argv[4], &channel) != 0)
    return usage();
  progress_t *progress = delivered_dead ? calloc(CHUNK, sizeof *progress) : NULL;
  if (delivered_dead && progress == NULL)
    return 1;

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
    attempt.provider = dead && !delivered_dead ? argv[5] : retry ? argv[4] : "fixture";
    attempt.outcome = dead    ? CARTEIRO__V1__OUTCOME__OUTCOME_PERMANENT
                      : retry ? CARTEIRO__V1__OUTCOME__OUTCOME_TRANSIENT
                              : CARTEIRO__V1__OUTCOME__OUTCOME_ACCEPTED;
    attempt.http_status = dead ? 400 : retry ? 503 : 200;
    attempt.error_code = dead ? "131026" : "";
    attempt.message = dead    ? "recipient cannot receive this message"
                      : retry ? "service unavailable"
                              : "accepted";
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
                             .kind = dead    ? CT_SETTLE_DEAD
                                     : retry ? CT_SETTLE_RETRY
                                             : CT_SETTLE_ACK,
                             .attempt = &attempt,
                             .receipt = dead || retry ? NULL : receipt,
                             .due_ms = retry ? now + 500 : 0,
                             .reason = dead ? argv[3] : NULL};
      if (delivered_dead) {
        const ct_job_t *job = leases[i].job;
        fill_progress(&progress[i], job, all, now);
        ops[i].receipt = &progress[i].receipt;
      }
    }
    /* delivered-dead: the one failed attempt of every job of the chunk is on the last
     * delivery's first channel of the chunk's first job (the jobs a test makes share it). */
    if (delivered_dead && n > 0) {
      const ct_job_t *job = leases[0].job;
      if (job->n_deliveries > 0 && job->deliveries[job->n_deliveries - 1]->n_channels > 0)
        attempt.channel = job->deliveries[job->n_deliveries - 1]->channels[0];
    }
    rc = ct_spool_settle(sp, ops, n, now);
    for (size_t i = 0; i < n; i++)
      ct_lease_free(&leases[i]);
    if (rc != 0)
      break;
    settled += n;
  }
  ct_spool_close(sp);
  free(progress);
  if (rc != 0) {
    fprintf(stderr, "spool-fixture: %s\n", ct_strerror(rc));
    return 1;
  }
  printf("%zu\n", settled);
  return 0;
}
