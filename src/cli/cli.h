/* The carteiro command line: one function per subcommand, and what they share.
 *
 * Every command parses its own options with getopt_long, prints --help, writes results to
 * stdout (a table, or JSON with --json) and diagnostics to stderr, and exits with a sysexits.h
 * code: 0 success, EX_USAGE bad options, EX_DATAERR rejected input, EX_NOINPUT missing input,
 * EX_TEMPFAIL spool busy or locked, EX_IOERR / EX_CANTCREAT / EX_NOPERM from the spool.
 */
#ifndef CT_CLI_CLI_H
#define CT_CLI_CLI_H

#include "spool/spool.h"

#include <stdbool.h>
#include <stdint.h>

/* Where the spool is when neither --spool nor $CARTEIRO_SPOOL says. */
#define CT_CLI_DEFAULT_SPOOL "/var/lib/carteiro/spool.db"

/* The command table entry point: argv[0] is the command name ("enqueue"). */
typedef int (*ct_cli_fn)(int argc, char **argv);

int ct_cli_main(int argc, char **argv);

int ct_cmd_enqueue(int argc, char **argv);
int ct_cmd_spool(int argc, char **argv);
int ct_cmd_job(int argc, char **argv);
int ct_cmd_dlq(int argc, char **argv);
int ct_cmd_run(int argc, char **argv);
int ct_cmd_config(int argc, char **argv);
int ct_cmd_status(int argc, char **argv);

/* The spool path from --spool (when not NULL), else $CARTEIRO_SPOOL, else the default. */
const char *ct_cli_spool_path(const char *flag);

/* Opens the spool for a CLI command (never as owner), printing a clear error naming the path
 * on failure. Returns 0 or the sysexits code to exit with. */
int ct_cli_open_spool(const char *path, bool readonly, ct_spool_t **out);

/* Maps a CT_E* code to the sysexits.h code a command exits with. */
int ct_cli_exit_code(int err);

/* Prints "carteiro <cmd>: <message>" to stderr. */
void ct_cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parses a point in time for filters: RFC 3339 ("2026-11-23T03:00:00-03:00"), a date
 * ("2026-11-23", midnight UTC) or an age before now ("90s", "30m", "6h", "2d").
 * Returns 0 or CT_EINVAL. */
int ct_cli_parse_time(const char *s, int64_t now_ms, int64_t *out);

/* Parses a positive count ("1000") up to `max`. Returns 0 or CT_EINVAL. */
int ct_cli_parse_count(const char *s, uint64_t max, uint64_t *out);

/* Prints `j` to stdout as one line (compact) or indented, then a newline; frees it. */
void ct_cli_print_json(json_t *j, bool pretty);

/* Asks "<question> [y/N] " on the terminal. True only for an explicit yes. */
bool ct_cli_confirm(const char *question);

/* Renders everything known about a job (job show, dlq show). PII is masked unless `reveal`. */
int ct_cli_show_job(const char *cmd, const char *spool_path, const char *id, bool json,
                    bool reveal);

/* A progress bar on stderr for long imports; silent when stderr is not a terminal. */
typedef struct {
  bool enabled;
  const char *label;
  int64_t started_us;
  int64_t last_draw_us;
} ct_progress_t;

void ct_progress_start(ct_progress_t *p, const char *label, bool enabled);
/* Redraws at most every 200 ms: `done`/`total` bytes (total 0 = unknown), `records` so far. */
void ct_progress_update(ct_progress_t *p, uint64_t done, uint64_t total, uint64_t records);
/* Clears the bar's line. */
void ct_progress_finish(ct_progress_t *p);

#endif
