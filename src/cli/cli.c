/* The command table and the helpers every subcommand shares. */
#include "cli/cli.h"

#include "common/clock.h"
#include "common/error.h"
#include "common/version.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "version.h" /* generated: CARTEIRO_VERSION, CARTEIRO_COMMIT */

static const struct {
  const char *name;
  ct_cli_fn fn;
  const char *summary;
} commands[] = {
    {"run", ct_cmd_run, "deliver the jobs in the spool (the daemon)"},
    {"config", ct_cmd_config, "check a configuration file (config check FILE)"},
    {"enqueue", ct_cmd_enqueue, "validate job files and store the good jobs in the spool"},
    {"spool", ct_cmd_spool, "spool statistics (spool stats)"},
    {"job", ct_cmd_job, "everything known about one job (job show ID)"},
    {"dlq", ct_cmd_dlq, "dead letters: list, show, replay, purge"},
    {"status", ct_cmd_status, "the running daemon at a glance, from its HTTP API"},
};

/* Every command line a user can ask --help of, as `carteiro --help` lists them (the help
 * test walks this list). */
static const struct {
  const char *form;
  const char *summary;
} forms[] = {
    {"run", "deliver the jobs in the spool (the daemon)"},
    {"config check", "check a configuration file and name every problem"},
    {"enqueue", "validate job files and store the good jobs in the spool"},
    {"spool stats", "jobs by state, the oldest due job, dead letters by reason"},
    {"job show", "everything known about one job"},
    {"dlq list", "dead letters matching filters"},
    {"dlq show", "one dead letter with its attempt history"},
    {"dlq stats", "dead letters counted by reason, tenant, channel, provider"},
    {"dlq replay", "dead letters back to ready, paced, without duplicates"},
    {"dlq purge", "dead letters deleted for good"},
    {"dlq export", "dead letters to a file of DeadLetter records"},
    {"dlq import", "such a file into this spool"},
    {"status", "the running daemon at a glance, from its HTTP API"},
};

static void usage(FILE *out) {
  fprintf(out, "usage: carteiro <command> [options]\n\n"
               "carteiro delivers invoices over WhatsApp, SMS and e-mail.\n\ncommands:\n");
  for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++)
    fprintf(out, "  %-14s %s\n", forms[i].form, forms[i].summary);
  fprintf(out, "\noptions:\n"
               "  --help         this text; 'carteiro <command> --help' for a command's options\n"
               "  --version      the version and the commit it was built from\n\n"
               "Commands that read the spool take --spool PATH (default $CARTEIRO_SPOOL,\n"
               "else %s).\n"
               "Exit codes follow sysexits.h: 64 usage, 65 bad data, 66 missing input,\n"
               "69 daemon unreachable, 74 I/O error, 75 spool busy, 76 bad answer from the\n"
               "daemon, 77 permission or token refused, 78 configuration.\n\n"
               "Example:\n"
               "  carteiro enqueue jobs.pbs.zst && carteiro status --config carteiro.ini\n",
          CT_CLI_DEFAULT_SPOOL);
}

int ct_cli_main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return EX_USAGE;
  }
  const char *cmd = argv[1];
  if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
    usage(stdout);
    return 0;
  }
  if (strcmp(cmd, "--version") == 0) {
    printf("carteiro %s (commit %s)\n", CARTEIRO_VERSION, CARTEIRO_COMMIT);
    return 0;
  }
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (strcmp(cmd, commands[i].name) == 0)
      return commands[i].fn(argc - 1, argv + 1);
  fprintf(stderr, "carteiro: unknown command '%s'\n\n", cmd);
  usage(stderr);
  return EX_USAGE;
}

const char *ct_cli_spool_path(const char *flag) {
  if (flag != NULL)
    return flag;
  const char *env = getenv("CARTEIRO_SPOOL");
  if (env != NULL && env[0] != '\0')
    return env;
  return CT_CLI_DEFAULT_SPOOL;
}

void ct_cli_error(const char *cmd, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fprintf(stderr, "carteiro %s: %s\n", cmd, msg);
}

int ct_cli_exit_code(int err) {
  switch (err) {
  case 0:
    return 0;
  case CT_EINVAL:
    return EX_USAGE;
  case CT_EDECODE:
  case CT_EINVALID:
  case CT_ETRUNCATED:
  case CT_ETOOBIG:
    return EX_DATAERR;
  case CT_ENOENT:
  case CT_ENOTFOUND:
    return EX_NOINPUT;
  case CT_EBUSY:
  case CT_ELOCKED:
    return EX_TEMPFAIL;
  case CT_EPERM:
    return EX_NOPERM;
  case CT_ENOSPC:
  case CT_EIO:
  case CT_ECORRUPT:
    return EX_IOERR;
  case CT_ESCHEMA:
    return EX_CONFIG;
  case CT_ENOMEM:
    return EX_OSERR;
  default:
    return EX_SOFTWARE;
  }
}

int ct_cli_open_spool(const char *path, bool readonly, ct_spool_t **out) {
  ct_spool_options_t opts = {.path = path, .readonly = readonly};
  int rc = ct_spool_open(out, &opts);
  if (rc == 0)
    return 0;
  if (rc == CT_ENOENT)
    fprintf(stderr, "carteiro: spool %s does not exist (set --spool or CARTEIRO_SPOOL)\n", path);
  else
    fprintf(stderr, "carteiro: cannot open spool %s: %s\n", path, ct_strerror(rc));
  return ct_cli_exit_code(rc);
}

int ct_cli_parse_time(const char *s, int64_t now_ms, int64_t *out) {
  int64_t t;
  int32_t days;
  if (ct_time_parse(s, &t) == 0) {
    *out = t;
    return 0;
  }
  if (ct_date_parse(s, &days) == 0) {
    *out = (int64_t)days * 86400000;
    return 0;
  }
  /* An age: digits then one unit letter. */
  char *end;
  errno = 0;
  long long n = strtoll(s, &end, 10);
  if (end == s || errno != 0 || n < 0 || end[0] == '\0' || end[1] != '\0')
    return CT_EINVAL;
  int64_t unit;
  switch (end[0]) {
  case 's':
    unit = 1000;
    break;
  case 'm':
    unit = 60 * 1000;
    break;
  case 'h':
    unit = 3600 * 1000;
    break;
  case 'd':
    unit = 86400 * 1000;
    break;
  default:
    return CT_EINVAL;
  }
  if (n > INT64_MAX / unit / 2)
    return CT_EINVAL;
  *out = now_ms - n * unit;
  return 0;
}

int ct_cli_parse_count(const char *s, uint64_t max, uint64_t *out) {
  if (!isdigit((unsigned char)s[0]))
    return CT_EINVAL;
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (*end != '\0' || errno != 0 || v == 0 || v > max)
    return CT_EINVAL;
  *out = v;
  return 0;
}

void ct_cli_print_json(json_t *j, bool pretty) {
  if (j == NULL) {
    fprintf(stderr, "carteiro: out of memory\n");
    return;
  }
  size_t flags = JSON_ENSURE_ASCII | (pretty ? JSON_INDENT(2) : JSON_COMPACT);
  json_dumpf(j, stdout, flags);
  fputc('\n', stdout);
  json_decref(j);
}

bool ct_cli_confirm(const char *question) {
  fprintf(stderr, "%s [y/N] ", question);
  fflush(stderr);
  char line[16];
  if (fgets(line, sizeof line, stdin) == NULL)
    return false;
  return strcmp(line, "y\n") == 0 || strcmp(line, "yes\n") == 0 || strcmp(line, "Y\n") == 0;
}
