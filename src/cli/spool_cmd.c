/* carteiro spool stats: how much work is where. */
#include "cli/cli.h"

#include "common/clock.h"
#include "common/error.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

static void usage(FILE *out) {
  fprintf(out,
          "usage: carteiro spool stats [--spool PATH] [--json]\n\n"
          "Counts of jobs by state, the oldest due job, and dead letters by reason, read from\n"
          "the spool file (safe while the daemon runs; carteiro status asks the daemon).\n\n"
          "options:\n"
          "  --spool PATH   spool file (default $CARTEIRO_SPOOL, else %s)\n"
          "  --json         print one JSON object\n"
          "  --help         this text\n\n"
          "Example:\n"
          "  carteiro spool stats --spool /var/lib/carteiro/spool.db\n",
          CT_CLI_DEFAULT_SPOOL);
}

static json_t *stats_json(const ct_spool_stats_t *st, int64_t now) {
  json_t *dlq = json_object();
  for (size_t i = 0; i < st->n_dlq; i++)
    json_object_set_new(dlq, st->dlq[i].reason, json_integer((json_int_t)st->dlq[i].count));
  char when[CT_TIME_BUFSZ];
  return json_pack("{s:I, s:I, s:I, s:I, s:I, s:s?, s:I, s:o, s:I}", "ready",
                   (json_int_t)st->ready, "due", (json_int_t)st->due, "inflight",
                   (json_int_t)st->inflight, "delivered", (json_int_t)st->delivered, "dead",
                   (json_int_t)st->dead, "oldest_due",
                   st->oldest_due_ms ? ct_time_format(st->oldest_due_ms, when) : NULL,
                   "oldest_due_age_ms",
                   (json_int_t)(st->oldest_due_ms && st->oldest_due_ms < now
                                    ? now - st->oldest_due_ms
                                    : 0),
                   "dead_by_reason", dlq, "file_bytes", (json_int_t)st->file_bytes);
}

static void stats_print(const char *path, const ct_spool_stats_t *st, int64_t now) {
  char when[CT_TIME_BUFSZ];
  printf("spool      %s (%.1f MiB)\n", path, (double)st->file_bytes / (1 << 20));
  printf("ready      %llu (%llu due now)\n", (unsigned long long)st->ready,
         (unsigned long long)st->due);
  printf("delivered  %llu (receipts retained)\n", (unsigned long long)st->delivered);
  printf("dead       %llu\n", (unsigned long long)st->dead);
  if (st->oldest_due_ms != 0)
    printf("oldest due %s (%llds ago)\n", ct_time_format(st->oldest_due_ms, when),
           (long long)(st->oldest_due_ms < now ? (now - st->oldest_due_ms) / 1000 : 0));
  for (size_t i = 0; i < st->n_dlq; i++)
    printf("  dead: %-28s %llu\n", st->dlq[i].reason, (unsigned long long)st->dlq[i].count);
}

int ct_cmd_spool(int argc, char **argv) {
  static const struct option longopts[] = {{"spool", required_argument, NULL, 's'},
                                           {"json", no_argument, NULL, 'j'},
                                           {"help", no_argument, NULL, 'h'},
                                           {NULL, 0, NULL, 0}};
  if (argc < 2 || strcmp(argv[1], "--help") == 0) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? EX_USAGE : 0;
  }
  if (strcmp(argv[1], "stats") != 0) {
    ct_cli_error("spool", "unknown subcommand '%s' (expected: stats)", argv[1]);
    return EX_USAGE;
  }
  const char *spool_flag = NULL;
  bool json = false;
  argv[1] = "carteiro spool stats"; /* getopt names argv[0] in its messages */
  optind = 1;
  for (;;) {
    int c = getopt_long(argc - 1, argv + 1, "", longopts, NULL);
    if (c == -1)
      break;
    if (c == 's') {
      spool_flag = optarg;
    } else if (c == 'j') {
      json = true;
    } else if (c == 'h') {
      usage(stdout);
      return 0;
    } else {
      usage(stderr);
      return EX_USAGE;
    }
  }
  if (optind < argc - 1) {
    ct_cli_error("spool stats", "unexpected argument '%s'", argv[optind + 1]);
    return EX_USAGE;
  }
  const char *path = ct_cli_spool_path(spool_flag);
  ct_spool_t *sp;
  int ex = ct_cli_open_spool(path, true, &sp);
  if (ex != 0)
    return ex;
  ct_spool_stats_t st;
  int64_t now = ct_now_ms();
  int rc = ct_spool_stats(sp, now, &st);
  ct_spool_close(sp);
  if (rc != 0) {
    ct_cli_error("spool stats", "%s: %s", path, ct_strerror(rc));
    return ct_cli_exit_code(rc);
  }
  if (json)
    ct_cli_print_json(stats_json(&st, now), false);
  else
    stats_print(path, &st, now);
  return 0;
}
