/* The delivery engine as a whole (`carteiro run`): the control loop on the calling thread,
 * the spooler thread, and N worker threads.
 *
 * The control loop owns a fixed pool of max_inflight tasks. It asks the spooler to lease due
 * jobs only into free tasks, so the jobs in memory never exceed max_inflight however long the
 * backlog; it spreads leased tasks over the workers; and it recycles a task when the spooler
 * reports its outcome durable. Signals: SIGTERM/SIGINT stop taking work, let requests in
 * flight finish within shutdown_grace, record every outcome and return; SIGHUP reloads the
 * configuration (credentials, rates, templates) without dropping work. */
#ifndef CT_WORKER_POOL_H
#define CT_WORKER_POOL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct {
  const char *config_path;
  const char *spool_path;   /* overrides the configuration's spool when not NULL */
  bool drain;               /* return once nothing is left to deliver (tests, demo, bench) */
  FILE *report;             /* where the final one-line JSON report goes (NULL: nowhere) */
} ct_pool_options_t;

/* Runs until stopped by a signal (or, with `drain`, until the spool has no READY job left and
 * nothing is in flight). Returns 0 after a clean stop, or a CT_E* code when the engine could
 * not start (configuration problems are logged one per line first). */
int ct_pool_run(const ct_pool_options_t *opts);

#endif
