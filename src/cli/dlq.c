/* carteiro dlq: the dead-letter queue, for the engineer on call.
 *
 *   list     dead letters matching the filters, oldest first, as a table or JSON
 *   show ID  one dead letter with its full attempt history
 *   stats    matching dead letters counted by reason, tenant, channel and provider
 *   replay   matching dead letters back to ready (--dry-run shows what would move), paced
 *            with --rate; a job whose every delivery was already accepted is skipped unless
 *            --force, as replaying it could only send duplicates
 *   purge    matching dead letters deleted for good
 *   export   matching dead letters to a file of carteiro.v1.DeadLetter records (dlq_io.c)
 *   import   such a file into this spool, as dead letters (dlq_io.c)
 *
 * replay and purge act on the same filters as list, ask for confirmation on a terminal unless
 * --yes, and refuse to act without --yes when nobody is there to answer. They work while the
 * daemon runs: the spool serialises writers, and the daemon's next take sees replayed jobs.
 */
#include "cli/cli.h"
#include "cli/dlq_io.h"

#include "common/clock.h"
#include "common/error.h"
#include "worker/progress.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

/* Replay moves jobs in batches, one transaction each; --rate makes the batches smaller and
 * spaces them out. */
#define REPLAY_BATCH 1000
#define MAX_RATE 1000000

typedef struct {
  const char *spool_flag;
  ct_dlq_filter_t filter;
  bool json, dry_run, yes, reveal, force;
  uint64_t rate; /* replay: jobs per second, 0 = unpaced */
} dlq_opts_t;

/* Every option any dlq subcommand takes, with its --help line. The getopt table is made from
 * it, so the two cannot drift apart. */
static const struct {
  const char *name;
  int has_arg;
  int val;
  const char *arg; /* what the value looks like, for --help */
  const char *help;
} options[] = {
    {"reason", required_argument, 'r', "R", "dead letters with this reason, e.g. permanent_failure"},
    {"tenant", required_argument, 't', "T", "dead letters of this tenant"},
    {"channel", required_argument, 'c', "C", "last failed attempt on whatsapp, sms or email"},
    {"provider", required_argument, 'p', "P", "last failed attempt on this provider account"},
    {"since", required_argument, 'S', "T", "dead at or after T: RFC 3339, YYYY-MM-DD or an age (30m, 6h, 2d)"},
    {"until", required_argument, 'U', "T", "dead before T (same forms as --since)"},
    {"id", required_argument, 'i', "ID", "exactly this job"},
    {"limit", required_argument, 'l', "N", "at most N dead letters, oldest first"},
    {"dry-run", no_argument, 'n', NULL, "count what would change, by reason, and change nothing"},
    {"yes", no_argument, 'y', NULL, "do not ask for confirmation (needed without a terminal)"},
    {"rate", required_argument, 'q', "N/s", "replay at most N jobs a second (e.g. 50/s), in small batches"},
    {"force", no_argument, 'f', NULL, "also replay jobs whose every delivery was already accepted"},
    {"json", no_argument, 'j', NULL, "print JSON instead of a table"},
    {"reveal", no_argument, 'R', NULL, "show personal data in clear (masked by default)"},
    {"spool", required_argument, 's', "PATH", "spool file (default $CARTEIRO_SPOOL, else " CT_CLI_DEFAULT_SPOOL ")"},
    {"help", no_argument, 'h', NULL, "this text"},
};
#define N_OPTIONS (sizeof options / sizeof options[0])

/* Each subcommand: its arguments, what it does, the options it takes (in the order --help
 * lists them; any other option is refused), and examples. */
static const struct {
  const char *name;
  const char *args;
  const char *about;
  const char *options;
  const char *examples[2];
} subcommands[] = {
    {"list", "[filters] [--json]",
     "Lists the dead letters that match the filters, oldest first.",
     "reason tenant channel provider since until id limit json spool help",
     {"carteiro dlq list --reason permanent_failure --since 6h",
      "carteiro dlq list --channel whatsapp --limit 20 --json"}},
    {"show", "ID [--json] [--reveal]",
     "One dead letter: the job, its reason and its whole attempt history.",
     "json reveal spool help",
     {"carteiro dlq show inv-00000042", NULL}},
    {"stats", "[filters] [--json]",
     "Counts the matching dead letters by reason, tenant, channel and provider of the last\n"
     "failure, with the oldest and the newest.",
     "reason tenant channel provider since until id limit json spool help",
     {"carteiro dlq stats --since 2026-11-23", NULL}},
    {"replay", "[filters] [--dry-run] [--yes] [--rate N/s] [--force]",
     "Moves the matching dead letters back to ready, so the daemon delivers them again. A job\n"
     "whose every delivery was already accepted is skipped unless --force (replaying it could\n"
     "only send duplicates); a partly delivered one sends only its missing parts. Asks before\n"
     "acting unless --yes.",
     "reason tenant channel provider since until id limit dry-run yes rate force spool help",
     {"carteiro dlq replay --reason permanent_failure --dry-run",
      "carteiro dlq replay --reason deadline_exceeded --since 2h --rate 50/s --yes"}},
    {"purge", "[filters] [--dry-run] [--yes]",
     "Deletes the matching dead letters for good. Asks before acting unless --yes.",
     "reason tenant channel provider since until id limit dry-run yes spool help",
     {"carteiro dlq purge --reason document_not_pdf --until 30d --yes", NULL}},
    {"export", "FILE.pbs.zst [filters]",
     "Writes the matching dead letters (job, attempts, reason, dead time) to FILE as\n"
     "carteiro.v1.DeadLetter records, zstd-compressed when the name ends in .zst.",
     "reason tenant channel provider since until id limit spool help",
     {"carteiro dlq export dead-2026-11-23.pbs.zst --since 2026-11-23", NULL}},
    {"import", "FILE",
     "Stores the records of a dlq export as dead letters in this spool; ids already present\n"
     "are reported and skipped.",
     "spool help",
     {"carteiro dlq import --spool /var/lib/carteiro/spool.db dead-2026-11-23.pbs.zst", NULL}},
};
#define N_SUBCOMMANDS (sizeof subcommands / sizeof subcommands[0])

/* True when the space-separated `list` names option `name`. */
static bool takes(const char *list, const char *name) {
  size_t n = strlen(name);
  for (const char *p = list; *p != '\0';) {
    size_t k = strcspn(p, " ");
    if (k == n && memcmp(p, name, n) == 0)
      return true;
    p += k;
    p += strspn(p, " ");
  }
  return false;
}

/* The help of one subcommand, or (sub < 0) the summary of all of them. */
static void usage(FILE *out, int sub) {
  if (sub < 0) {
    fprintf(out, "usage: carteiro dlq <subcommand> [options]\n\n"
                 "The dead-letter queue: what could not be delivered, with its reason and attempt\n"
                 "history. Run 'carteiro dlq <subcommand> --help' for its options.\n\n");
    for (size_t i = 0; i < N_SUBCOMMANDS; i++)
      fprintf(out, "  carteiro dlq %-7s %s\n", subcommands[i].name, subcommands[i].args);
    fprintf(out, "\nExample:\n  %s\n", subcommands[0].examples[0]);
    return;
  }
  fprintf(out, "usage: carteiro dlq %s %s\n\n%s\n\noptions:\n", subcommands[sub].name,
          subcommands[sub].args, subcommands[sub].about);
  for (size_t i = 0; i < N_OPTIONS; i++) {
    if (!takes(subcommands[sub].options, options[i].name))
      continue;
    char head[32];
    snprintf(head, sizeof head, "--%s%s%s", options[i].name, options[i].arg ? " " : "",
             options[i].arg ? options[i].arg : "");
    fprintf(out, "  %-15s %s\n", head, options[i].help);
  }
  fprintf(out, "\nExample:\n");
  for (size_t k = 0; k < 2 && subcommands[sub].examples[k] != NULL; k++)
    fprintf(out, "  %s\n", subcommands[sub].examples[k]);
}

/* "50/s" or "50": jobs per second. Returns 0 or CT_EINVAL. */
static int parse_rate(const char *s, uint64_t *out) {
  char num[32];
  size_t len = strlen(s);
  if (len > 2 && strcmp(s + len - 2, "/s") == 0)
    len -= 2;
  if (len == 0 || len >= sizeof num)
    return CT_EINVAL;
  memcpy(num, s, len);
  num[len] = '\0';
  return ct_cli_parse_count(num, MAX_RATE, out);
}

/* Parses the options of subcommand `sub` (argv[0] is its name): those of another
 * subcommand are refused by name. Returns 0, -1 after printing --help, or an exit code (a
 * usage error has been printed). */
static int parse(int argc, char **argv, int sub, dlq_opts_t *o, int *first_arg) {
  struct option longopts[N_OPTIONS + 1];
  for (size_t i = 0; i < N_OPTIONS; i++)
    longopts[i] = (struct option){options[i].name, options[i].has_arg, NULL, options[i].val};
  longopts[N_OPTIONS] = (struct option){NULL, 0, NULL, 0};
  /* getopt names argv[0] in its messages; static, as argv outlives this call */
  static char prog[32];
  snprintf(prog, sizeof prog, "carteiro dlq %s", subcommands[sub].name);
  argv[0] = prog;
  int64_t now = ct_now_ms();
  optind = 1;
  for (;;) {
    int idx = -1;
    int c = getopt_long(argc, argv, "", longopts, &idx);
    if (c == -1)
      break;
    if (idx >= 0 && !takes(subcommands[sub].options, options[idx].name)) {
      fprintf(stderr, "%s: --%s does not apply to %s (see carteiro dlq %s --help)\n", prog,
              options[idx].name, subcommands[sub].name, subcommands[sub].name);
      return EX_USAGE;
    }
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
    case 'f':
      o->force = true;
      break;
    case 'q':
      if (parse_rate(optarg, &o->rate) != 0) {
        ct_cli_error("dlq", "--rate: '%s' is not a rate like 50/s (1 to %d jobs a second)",
                     optarg, MAX_RATE);
        return EX_USAGE;
      }
      break;
    case 'h':
      usage(stdout, sub);
      return -1;
    default:
      fprintf(stderr, "(see carteiro dlq %s --help)\n", subcommands[sub].name);
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

/* purge: tally, confirm, act. (replay plans job by job instead: cmd_replay.) */
static int cmd_purge(ct_spool_t *sp, const dlq_opts_t *o) {
  walk_t w = {0};
  int ex = count_matching(sp, o, o->dry_run ? "would purge" : "matching", &w);
  if (ex != 0 || o->dry_run || w.count == 0)
    return ex;
  if (!o->yes) {
    if (!isatty(STDIN_FILENO)) {
      ct_cli_error("dlq purge", "refusing to purge %llu dead letters without --yes (no terminal "
                                "to ask)",
                   (unsigned long long)w.count);
      return EX_USAGE;
    }
    char q[128];
    snprintf(q, sizeof q, "Purge for good %llu dead letters?", (unsigned long long)w.count);
    if (!ct_cli_confirm(q)) {
      printf("nothing done\n");
      return 0;
    }
  }
  size_t moved = 0;
  int rc = ct_spool_purge(sp, &o->filter, &moved);
  if (rc != 0) {
    ct_cli_error("dlq purge", "%s (nothing was changed)", ct_strerror(rc));
    return ct_cli_exit_code(rc);
  }
  printf("purged %zu dead letters\n", moved);
  return 0;
}

/* stats */

/* Counts by one key; grows as keys come. */
typedef struct {
  struct counter {
    char *key;
    uint64_t count;
  } *v;
  size_t n, cap;
} counts_t;

static int count_key(counts_t *c, const char *key) {
  for (size_t i = 0; i < c->n; i++) {
    if (strcmp(c->v[i].key, key) == 0) {
      c->v[i].count++;
      return 0;
    }
  }
  if (c->n == c->cap) {
    size_t cap = c->cap ? c->cap * 2 : 16;
    struct counter *v = realloc(c->v, cap * sizeof *v);
    if (v == NULL)
      return CT_ENOMEM;
    c->v = v;
    c->cap = cap;
  }
  char *k = strdup(key);
  if (k == NULL)
    return CT_ENOMEM;
  c->v[c->n++] = (struct counter){.key = k, .count = 1};
  return 0;
}

/* Largest first, then by name, so that the output does not depend on the walk's order. */
static int by_count(const void *a, const void *b) {
  const struct counter *x = a, *y = b;
  if (x->count != y->count)
    return x->count > y->count ? -1 : 1;
  return strcmp(x->key, y->key);
}

static void counts_free(counts_t *c) {
  for (size_t i = 0; i < c->n; i++)
    free(c->v[i].key);
  free(c->v);
}

typedef struct {
  uint64_t total;
  int64_t oldest_ms, newest_ms;
  counts_t by[4]; /* reason, tenant, channel, provider */
} stats_t;

static const char *const stats_names[4] = {"reason", "tenant", "channel", "provider"};

static int add_stat(const ct_dlq_entry_t *e, void *arg) {
  stats_t *st = arg;
  const char *ch = ct_channel_name(e->channel);
  const char *keys[4] = {e->reason, e->tenant, ch != NULL ? ch : "none",
                         e->provider[0] != '\0' ? e->provider : "none"};
  st->total++;
  if (st->oldest_ms == 0 || e->dead_at_ms < st->oldest_ms)
    st->oldest_ms = e->dead_at_ms;
  if (e->dead_at_ms > st->newest_ms)
    st->newest_ms = e->dead_at_ms;
  for (size_t i = 0; i < 4; i++) {
    int rc = count_key(&st->by[i], keys[i]);
    if (rc != 0)
      return rc;
  }
  return 0;
}

static void print_stats_json(const stats_t *st) {
  char t[CT_TIME_BUFSZ];
  json_t *o = json_object();
  json_object_set_new(o, "total", json_integer((json_int_t)st->total));
  json_object_set_new(o, "oldest_dead_at",
                      st->total ? json_string(ct_time_format(st->oldest_ms, t)) : json_null());
  json_object_set_new(o, "newest_dead_at",
                      st->total ? json_string(ct_time_format(st->newest_ms, t)) : json_null());
  for (size_t i = 0; i < 4; i++) {
    char name[32];
    snprintf(name, sizeof name, "by_%s", stats_names[i]);
    json_t *m = json_object();
    for (size_t k = 0; k < st->by[i].n; k++)
      json_object_set_new(m, st->by[i].v[k].key, json_integer((json_int_t)st->by[i].v[k].count));
    json_object_set_new(o, name, m);
  }
  ct_cli_print_json(o, false);
}

static void print_stats_table(const stats_t *st) {
  char t[CT_TIME_BUFSZ];
  printf("dead letters  %llu\n", (unsigned long long)st->total);
  if (st->total == 0)
    return;
  printf("oldest        %s\n", ct_time_format(st->oldest_ms, t));
  printf("newest        %s\n", ct_time_format(st->newest_ms, t));
  static const char *const headers[4] = {"BY REASON", "BY TENANT", "BY CHANNEL (last failure)",
                                         "BY PROVIDER (last failure)"};
  for (size_t i = 0; i < 4; i++) {
    printf("\n%-40s %10s\n", headers[i], "COUNT");
    for (size_t k = 0; k < st->by[i].n; k++)
      printf("  %-38s %10llu\n", st->by[i].v[k].key, (unsigned long long)st->by[i].v[k].count);
  }
}

static int cmd_stats(ct_spool_t *sp, const dlq_opts_t *o) {
  stats_t st = {0};
  int rc = ct_spool_dlq_list(sp, &o->filter, add_stat, &st);
  if (rc == 0) {
    for (size_t i = 0; i < 4; i++) {
      if (st.by[i].n > 1) /* an empty table has no array to hand qsort */
        qsort(st.by[i].v, st.by[i].n, sizeof st.by[i].v[0], by_count);
    }
    if (o->json)
      print_stats_json(&st);
    else
      print_stats_table(&st);
  } else {
    ct_cli_error("dlq stats", "%s", ct_strerror(rc));
  }
  for (size_t i = 0; i < 4; i++)
    counts_free(&st.by[i]);
  return rc == 0 ? 0 : ct_cli_exit_code(rc);
}

/* replay */

typedef struct {
  walk_t tally;   /* what will be replayed, by reason */
  bool force;
  char **ids;     /* ids to replay */
  size_t n, cap;
  uint64_t skipped; /* nothing left to send, not --force */
  uint64_t partial; /* some parts already accepted: only the rest will be sent */
  int err;
} plan_t;

static int plan_one(const ct_dlq_record_t *r, void *arg) {
  plan_t *p = arg;
  bool done = (r->job != NULL && ct_progress_job_done(r->job, r->progress));
  if (done && !p->force) {
    p->skipped++;
    return 0;
  }
  if (!done && r->progress != NULL && r->progress->n_parts > 0)
    p->partial++;
  if (p->n == p->cap) {
    size_t cap = p->cap ? p->cap * 2 : 256;
    char **ids = realloc(p->ids, cap * sizeof *ids);
    if (ids == NULL)
      return CT_ENOMEM;
    p->ids = ids;
    p->cap = cap;
  }
  p->ids[p->n] = strdup(r->entry.job_id);
  if (p->ids[p->n] == NULL)
    return CT_ENOMEM;
  p->n++;
  return tally(&r->entry, &p->tally);
}

static void plan_free(plan_t *p) {
  for (size_t i = 0; i < p->n; i++)
    free(p->ids[i]);
  free(p->ids);
}

static void sleep_us(int64_t us) {
  struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (long)(us % 1000000) * 1000};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

static void print_plan(const plan_t *p, bool dry_run) {
  const walk_t *w = &p->tally;
  printf("%s %llu dead letters\n", dry_run ? "would replay" : "matching",
         (unsigned long long)w->count);
  for (size_t i = 0; i < w->n_reasons; i++)
    printf("  %-28s %llu\n", w->by_reason[i].reason, (unsigned long long)w->by_reason[i].count);
  if (w->other > 0)
    printf("  %-28s %llu\n", "(other reasons)", (unsigned long long)w->other);
  if (p->partial > 0)
    printf("%llu of them have parts already delivered; only the missing parts will be sent\n",
           (unsigned long long)p->partial);
  if (p->skipped > 0)
    printf("%s %llu dead letters already delivered on every delivery (replaying them would "
           "send duplicates; --force replays them anyway)\n",
           dry_run ? "would skip" : "skipping", (unsigned long long)p->skipped);
}

/* Moves the planned ids back to READY in batches; with a rate, batch k starts no sooner than
 * k * batch / rate seconds after the first, so no second sees more than `rate` jobs. */
static int replay_batches(ct_spool_t *sp, const dlq_opts_t *o, const plan_t *p, size_t *moved) {
  size_t batch = REPLAY_BATCH;
  if (o->rate > 0) {
    /* Ten batches a second smooth the flow; a slow rate goes one job at a time. */
    uint64_t b = o->rate / 10;
    batch = b == 0 ? 1 : b < REPLAY_BATCH ? (size_t)b : REPLAY_BATCH;
  }
  ct_progress_t bar;
  ct_progress_start(&bar, "replay", p->n >= 2 * batch || o->rate > 0);
  int64_t start = ct_mono_us();
  int rc = 0;
  for (size_t i = 0; i < p->n; i += batch) {
    if (o->rate > 0 && i > 0) {
      int64_t due = start + (int64_t)(i * 1000000 / o->rate);
      int64_t now = ct_mono_us();
      if (due > now)
        sleep_us(due - now);
    }
    size_t n = p->n - i < batch ? p->n - i : batch, count = 0;
    rc = ct_spool_replay_ids(sp, (const char *const *)p->ids + i, n, ct_now_ms(), &count);
    if (rc != 0)
      break;
    *moved += count;
    ct_progress_update(&bar, i + n, p->n, *moved);
  }
  ct_progress_finish(&bar);
  return rc;
}

static int cmd_replay(ct_spool_t *sp, const dlq_opts_t *o) {
  plan_t p = {.force = o->force};
  int rc = ct_spool_dlq_read(sp, &o->filter, false, plan_one, &p);
  if (rc != 0) {
    ct_cli_error("dlq replay", "%s", ct_strerror(rc));
    plan_free(&p);
    return ct_cli_exit_code(rc);
  }
  print_plan(&p, o->dry_run);
  int ex = 0;
  if (o->dry_run || p.n == 0)
    goto done;
  if (!o->yes) {
    if (!isatty(STDIN_FILENO)) {
      ct_cli_error("dlq replay",
                   "refusing to replay %zu dead letters without --yes (no terminal to ask)", p.n);
      ex = EX_USAGE;
      goto done;
    }
    char q[128];
    snprintf(q, sizeof q, "Replay %zu dead letters?", p.n);
    if (!ct_cli_confirm(q)) {
      printf("nothing done\n");
      goto done;
    }
  }
  size_t moved = 0;
  rc = replay_batches(sp, o, &p, &moved);
  if (rc != 0) {
    if (moved == 0)
      ct_cli_error("dlq replay", "%s (nothing was changed)", ct_strerror(rc));
    else
      ct_cli_error("dlq replay", "%s (%zu dead letters were replayed before it)",
                   ct_strerror(rc), moved);
    ex = ct_cli_exit_code(rc);
    goto done;
  }
  printf("replayed %zu dead letters\n", moved);
  if (p.skipped > 0)
    printf("skipped %llu dead letters already delivered on every delivery (--force replays "
           "them)\n",
           (unsigned long long)p.skipped);
done:
  plan_free(&p);
  return ex;
}

int ct_cmd_dlq(int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    usage(argc < 2 ? stderr : stdout, -1);
    return argc < 2 ? EX_USAGE : 0;
  }
  const char *sub = argv[1];
  int si = -1;
  for (size_t i = 0; i < N_SUBCOMMANDS; i++)
    if (strcmp(sub, subcommands[i].name) == 0)
      si = (int)i;
  if (si < 0) {
    ct_cli_error("dlq",
                 "unknown subcommand '%s' (expected: list, show, stats, replay, purge, export,"
                 " import)",
                 sub);
    return EX_USAGE;
  }
  bool is_list = strcmp(sub, "list") == 0, is_show = strcmp(sub, "show") == 0;
  bool is_replay = strcmp(sub, "replay") == 0, is_stats = strcmp(sub, "stats") == 0;
  bool is_export = strcmp(sub, "export") == 0, is_import = strcmp(sub, "import") == 0;
  dlq_opts_t o = {0};
  int first;
  int ex = parse(argc - 1, argv + 1, si, &o, &first);
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
  if (is_export || is_import) {
    if (nargs != 1) {
      ct_cli_error(sub, "expected exactly one file");
      return EX_USAGE;
    }
  } else if (nargs != 0) {
    ct_cli_error(sub, "unexpected argument '%s' (use --id to select one job)", argv[1 + first]);
    return EX_USAGE;
  }
  ct_spool_t *sp;
  ex = ct_cli_open_spool(path, is_list || is_stats || is_export, &sp);
  if (ex != 0)
    return ex;
  if (is_list)
    ex = cmd_list(sp, &o);
  else if (is_stats)
    ex = cmd_stats(sp, &o);
  else if (is_replay)
    ex = cmd_replay(sp, &o);
  else if (is_export)
    ex = ct_cli_dlq_export(sp, &o.filter, argv[1 + first]);
  else if (is_import)
    ex = ct_cli_dlq_import(sp, argv[1 + first]);
  else
    ex = cmd_purge(sp, &o);
  ct_spool_close(sp);
  return ex;
}
