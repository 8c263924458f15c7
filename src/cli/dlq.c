/* carteiro dlq: the dead-letter queue, for the engineer on call.
 *
 *   list     dead letters matching the filters, oldest first, as a table or JSON
 *   show ID  one dead letter with its full attempt history
 *   replay   matching dead letters back to ready (--dry-run shows what would move)
 *   purge    matching dead letters deleted for good
 *
 * replay and purge act on the same filters as list, ask for confirmation on a terminal unless
 * --yes, and refuse to act without --yes when nobody is there to answer. They work while the
 * daemon runs: the spool serialises writers, and the daemon's next take sees replayed jobs.
 */
#include "cli/cli.h"

#include "common/clock.h"
#include "common/error.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

typedef struct {
  const char *spool_flag;
  ct_dlq_filter_t filter;
  bool json, dry_run, yes, reveal;
} dlq_opts_t;

static void usage(FILE *out) {
  fprintf(out,
          "usage: carteiro dlq list    [filters] [--json]\n"
          "       carteiro dlq show ID [--json] [--reveal]\n"
          "       carteiro dlq replay  [filters] [--dry-run] [--yes]\n"
          "       carteiro dlq purge   [filters] [--dry-run] [--yes]\n\n"
          "filters (all optional, combined with AND):\n"
          "  --reason R      e.g. permanent_failure, deadline_exceeded\n"
          "  --tenant T\n"
          "  --channel C     whatsapp, sms or email (of the last attempt)\n"
          "  --provider P    provider account of the last attempt\n"
          "  --since T       dead at or after T: RFC 3339, YYYY-MM-DD, or an age (30m, 6h, 2d)\n"
          "  --until T       dead before T\n"
          "  --id ID         exactly this job\n"
          "  --limit N       at most N dead letters, oldest first\n\n"
          "  --spool PATH    spool file (default $CARTEIRO_SPOOL, else %s)\n",
          CT_CLI_DEFAULT_SPOOL);
}

/* Parses options shared by every dlq subcommand. argv[0] is the subcommand. Returns 0, or an
 * exit code (a usage error has been printed). */
static int parse(int argc, char **argv, dlq_opts_t *o, int *first_arg) {
  static const struct option longopts[] = {
      {"spool", required_argument, NULL, 's'},  {"reason", required_argument, NULL, 'r'},
      {"tenant", required_argument, NULL, 't'}, {"channel", required_argument, NULL, 'c'},
      {"provider", required_argument, NULL, 'p'}, {"since", required_argument, NULL, 'S'},
      {"until", required_argument, NULL, 'U'},  {"id", required_argument, NULL, 'i'},
      {"limit", required_argument, NULL, 'l'},  {"json", no_argument, NULL, 'j'},
      {"dry-run", no_argument, NULL, 'n'},      {"yes", no_argument, NULL, 'y'},
      {"reveal", no_argument, NULL, 'R'},       {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  int64_t now = ct_now_ms();
  optind = 1;
  for (;;) {
    int c = getopt_long(argc, argv, "", longopts, NULL);
    if (c == -1)
      break;
    switch (c) {
    case 's':
      o->spool_flag = optarg;
      break;
    case 'r':
      o->filter.reason = optarg;
      break;
    case 't':
      o->filter.tenant = optarg;
      break;
    case 'p':
      o->filter.provider = optarg;
      break;
    case 'i':
      o->filter.job_id = optarg;
      break;
    case 'c':
      if (ct_channel_parse(optarg, &o->filter.channel) != 0) {
        ct_cli_error("dlq", "--channel: '%s' is not whatsapp, sms or email", optarg);
        return EX_USAGE;
      }
      break;
    case 'S':
    case 'U': {
      int64_t t;
      if (ct_cli_parse_time(optarg, now, &t) != 0) {
        ct_cli_error("dlq", "--%s: '%s' is not a time (RFC 3339, YYYY-MM-DD, or 30m/6h/2d)",
                     c == 'S' ? "since" : "until", optarg);
        return EX_USAGE;
      }
      if (c == 'S')
        o->filter.since_ms = t;
      else
        o->filter.until_ms = t;
      break;
    }
    case 'l': {
      uint64_t v;
      if (ct_cli_parse_count(optarg, SIZE_MAX, &v) != 0) {
        ct_cli_error("dlq", "--limit: '%s' is not a positive number", optarg);
        return EX_USAGE;
      }
      o->filter.limit = (size_t)v;
      break;
    }
    case 'j':
      o->json = true;
      break;
    case 'n':
      o->dry_run = true;
      break;
    case 'y':
      o->yes = true;
      break;
    case 'R':
      o->reveal = true;
      break;
    case 'h':
      usage(stdout);
      return -1;
    default:
      usage(stderr);
      return EX_USAGE;
    }
  }
  *first_arg = optind;
  return 0;
}

typedef struct {
  bool json;
  json_t *rows;
  uint64_t count;
  /* dry-run tallies by reason */
  struct {
    char reason[64];
    uint64_t count;
  } by_reason[64];
  size_t n_reasons;
  uint64_t other;
} walk_t;

static int print_row(const ct_dlq_entry_t *e, void *arg) {
  walk_t *w = arg;
  char t[CT_TIME_BUFSZ];
  const char *ch = ct_channel_name(e->channel);
  w->count++;
  if (w->json) {
    json_array_append_new(
        w->rows, json_pack("{s:s, s:s, s:s, s:s?, s:s, s:I, s:s}", "id", e->job_id, "tenant",
                           e->tenant, "reason", e->reason, "channel", ch, "provider",
                           e->provider, "attempts", (json_int_t)e->attempts, "dead_at",
                           ct_time_format(e->dead_at_ms, t)));
    return 0;
  }
  if (w->count == 1)
    printf("%-24s %-12s %-26s %-8s %-20s %8s  %s\n", "JOB ID", "TENANT", "REASON", "CHANNEL",
           "PROVIDER", "ATTEMPTS", "DEAD AT");
  printf("%-24s %-12s %-26s %-8s %-20s %8u  %s\n", e->job_id, e->tenant, e->reason,
         ch ? ch : "-", e->provider[0] ? e->provider : "-", e->attempts,
         ct_time_format(e->dead_at_ms, t));
  return 0;
}

static int tally(const ct_dlq_entry_t *e, void *arg) {
  walk_t *w = arg;
  w->count++;
  for (size_t i = 0; i < w->n_reasons; i++) {
    if (strcmp(w->by_reason[i].reason, e->reason) == 0) {
      w->by_reason[i].count++;
      return 0;
    }
  }
  if (w->n_reasons < sizeof w->by_reason / sizeof w->by_reason[0]) {
    snprintf(w->by_reason[w->n_reasons].reason, sizeof w->by_reason[0].reason, "%s",
             e->reason);
    w->by_reason[w->n_reasons++].count = 1;
  } else {
    w->other++;
  }
  return 0;
}

static int cmd_list(ct_spool_t *sp, const dlq_opts_t *o) {
  walk_t w = {.json = o->json, .rows = o->json ? json_array() : NULL};
  int rc = ct_spool_dlq_list(sp, &o->filter, print_row, &w);
  if (rc != 0) {
    json_decref(w.rows);
    ct_cli_error("dlq list", "%s", ct_strerror(rc));
    return ct_cli_exit_code(rc);
  }
  if (o->json)
    ct_cli_print_json(w.rows, false);
  else if (w.count == 0)
    printf("no dead letters match\n");
  return 0;
}

/* Counts the matching dead letters by reason and prints the tally. */
static int count_matching(ct_spool_t *sp, const dlq_opts_t *o, const char *verb, walk_t *w) {
  int rc = ct_spool_dlq_list(sp, &o->filter, tally, w);
  if (rc != 0) {
    ct_cli_error("dlq", "%s", ct_strerror(rc));
    return ct_cli_exit_code(rc);
  }
  printf("%s %llu dead letters\n", verb, (unsigned long long)w->count);
  for (size_t i = 0; i < w->n_reasons; i++)
    printf("  %-28s %llu\n", w->by_reason[i].reason, (unsigned long long)w->by_reason[i].count);
  if (w->other > 0)
    printf("  %-28s %llu\n", "(other reasons)", (unsigned long long)w->other);
  return 0;
}

/* replay and purge: tally, confirm, act. */
static int cmd_move(ct_spool_t *sp, const dlq_opts_t *o, bool replay) {
  const char *name = replay ? "dlq replay" : "dlq purge";
  walk_t w = {0};
  int ex = count_matching(sp, o, o->dry_run ? (replay ? "would replay" : "would purge")
                                            : "matching",
                          &w);
  if (ex != 0 || o->dry_run || w.count == 0)
    return ex;
  if (!o->yes) {
    if (!isatty(STDIN_FILENO)) {
      ct_cli_error(name, "refusing to %s %llu dead letters without --yes (no terminal to ask)",
                   replay ? "replay" : "purge", (unsigned long long)w.count);
      return EX_USAGE;
    }
    char q[128];
    snprintf(q, sizeof q, "%s %llu dead letters?", replay ? "Replay" : "Purge for good",
             (unsigned long long)w.count);
    if (!ct_cli_confirm(q)) {
      printf("nothing done\n");
      return 0;
    }
  }
  size_t moved = 0;
  int rc = replay ? ct_spool_replay(sp, &o->filter, ct_now_ms(), &moved)
                  : ct_spool_purge(sp, &o->filter, &moved);
  if (rc != 0) {
    ct_cli_error(name, "%s (nothing was changed)", ct_strerror(rc));
    return ct_cli_exit_code(rc);
  }
  printf("%s %zu dead letters\n", replay ? "replayed" : "purged", moved);
  return 0;
}

int ct_cmd_dlq(int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? EX_USAGE : 0;
  }
  const char *sub = argv[1];
  bool is_list = strcmp(sub, "list") == 0, is_show = strcmp(sub, "show") == 0;
  bool is_replay = strcmp(sub, "replay") == 0, is_purge = strcmp(sub, "purge") == 0;
  if (!is_list && !is_show && !is_replay && !is_purge) {
    ct_cli_error("dlq", "unknown subcommand '%s' (expected: list, show, replay, purge)", sub);
    return EX_USAGE;
  }
  dlq_opts_t o = {0};
  int first;
  int ex = parse(argc - 1, argv + 1, &o, &first);
  if (ex != 0)
    return ex < 0 ? 0 : ex;
  int nargs = argc - 1 - first;
  const char *path = ct_cli_spool_path(o.spool_flag);
  if (is_show) {
    if (nargs != 1) {
      ct_cli_error("dlq show", "expected exactly one job id");
      return EX_USAGE;
    }
    return ct_cli_show_job("dlq show", path, argv[1 + first], o.json, o.reveal);
  }
  if (nargs != 0) {
    ct_cli_error(sub, "unexpected argument '%s' (use --id to select one job)", argv[1 + first]);
    return EX_USAGE;
  }
  ct_spool_t *sp;
  ex = ct_cli_open_spool(path, is_list, &sp);
  if (ex != 0)
    return ex;
  ex = is_list ? cmd_list(sp, &o) : cmd_move(sp, &o, is_replay);
  ct_spool_close(sp);
  return ex;
}
