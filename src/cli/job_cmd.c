/* carteiro job show ID: everything the spool knows about one job. Personal data is masked
 * unless --reveal is given: this output ends up in tickets and chat. */
#include "cli/cli.h"

#include "common/clock.h"
#include "common/error.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

static void usage(FILE *out) {
  fprintf(out,
          "usage: carteiro job show ID [--spool PATH] [--json] [--reveal]\n\n"
          "State, the job itself, every attempt and the receipt of one job.\n"
          "Personal data is masked unless --reveal is given.\n\n"
          "options:\n"
          "  --spool PATH   spool file (default $CARTEIRO_SPOOL, else %s)\n"
          "  --json         print one JSON object\n"
          "  --reveal       show personal data in clear (this output ends up in tickets)\n"
          "  --help         this text\n\n"
          "Exit status: 0; 66 no job with that id.\n\n"
          "Example:\n"
          "  carteiro job show inv-00000042\n",
          CT_CLI_DEFAULT_SPOOL);
}

static json_t *info_json(const ct_job_info_t *info, bool reveal) {
  char a[CT_TIME_BUFSZ], b[CT_TIME_BUFSZ], c[CT_TIME_BUFSZ];
  json_t *attempts = json_array();
  for (size_t i = 0; i < info->n_attempts; i++)
    json_array_append_new(attempts, ct_attempt_to_json(info->attempts[i]));
  return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s?, s:o, s:o, s:o}", "id", info->job->id,
                   "state", ct_job_state_name(info->state), "enqueued_at",
                   ct_time_format(info->enqueued_ms, a), "updated_at",
                   ct_time_format(info->updated_ms, b), "due_at",
                   ct_time_format(info->due_ms, c), "reason", info->reason, "job",
                   ct_job_to_json(info->job, reveal ? 0 : CT_JSON_MASK_PII), "attempts",
                   attempts, "receipt",
                   info->receipt ? ct_receipt_to_json(info->receipt) : json_null());
}

static void info_print(const ct_job_info_t *info, bool reveal) {
  char t[CT_TIME_BUFSZ];
  printf("job        %s\n", info->job->id);
  printf("tenant     %s\n", info->job->tenant);
  printf("state      %s\n", ct_job_state_name(info->state));
  if (info->reason != NULL)
    printf("reason     %s\n", info->reason);
  printf("enqueued   %s\n", ct_time_format(info->enqueued_ms, t));
  printf("updated    %s\n", ct_time_format(info->updated_ms, t));
  if (info->state == CT_STATE_READY || info->state == CT_STATE_INFLIGHT)
    printf("due        %s\n", ct_time_format(info->due_ms, t));
  printf("attempts   %zu\n", info->n_attempts);
  for (size_t i = 0; i < info->n_attempts; i++) {
    const ct_attempt_t *at = info->attempts[i];
    const char *ch = ct_channel_name(at->channel);
    const char *out = ct_outcome_name(at->outcome);
    printf("  %2zu %s %-8s %-20s %-9s http=%d code=%s %ums %s\n", i + 1,
           ct_time_format(at->at_ms, t), ch ? ch : "-", at->provider[0] ? at->provider : "-",
           out ? out : "-", at->http_status, at->error_code[0] ? at->error_code : "-",
           at->latency_ms, at->message);
  }
  if (info->receipt != NULL) {
    printf("receipt    %zu parts\n", info->receipt->n_parts);
    for (size_t i = 0; i < info->receipt->n_parts; i++) {
      const ct_receipt_part_t *p = info->receipt->parts[i];
      const char *ch = ct_channel_name(p->channel);
      printf("  %2zu %s %-8s %-20s %s%s%s\n", i + 1, ct_time_format(p->at_ms, t),
             ch ? ch : "-", p->provider, p->message_id, p->document_sha256[0] ? " sha256=" : "",
             p->document_sha256);
    }
  }
  /* The job itself, as JSON: the same mapping producers write. */
  json_t *j = ct_job_to_json(info->job, reveal ? 0 : CT_JSON_MASK_PII);
  printf("job record:\n");
  ct_cli_print_json(j, true);
}

int ct_cli_show_job(const char *cmd, const char *spool_path, const char *id, bool json,
                    bool reveal) {
  ct_spool_t *sp;
  int ex = ct_cli_open_spool(spool_path, true, &sp);
  if (ex != 0)
    return ex;
  ct_job_info_t info;
  int rc = ct_spool_job_get(sp, id, &info);
  ct_spool_close(sp);
  if (rc == CT_ENOTFOUND) {
    ct_cli_error(cmd, "no job with id '%s' in %s", id, spool_path);
    return EX_NOINPUT;
  }
  if (rc != 0) {
    ct_cli_error(cmd, "%s: %s", spool_path, ct_strerror(rc));
    return ct_cli_exit_code(rc);
  }
  if (json)
    ct_cli_print_json(info_json(&info, reveal), false);
  else
    info_print(&info, reveal);
  ct_job_info_free(&info);
  return 0;
}

int ct_cmd_job(int argc, char **argv) {
  static const struct option longopts[] = {
      {"spool", required_argument, NULL, 's'}, {"json", no_argument, NULL, 'j'},
      {"reveal", no_argument, NULL, 'r'},      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  if (argc < 2 || strcmp(argv[1], "--help") == 0) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? EX_USAGE : 0;
  }
  if (strcmp(argv[1], "show") != 0) {
    ct_cli_error("job", "unknown subcommand '%s' (expected: show)", argv[1]);
    return EX_USAGE;
  }
  const char *spool_flag = NULL;
  bool json = false, reveal = false;
  argv[1] = "carteiro job show"; /* getopt names argv[0] in its messages */
  optind = 1;
  for (;;) {
    int c = getopt_long(argc - 1, argv + 1, "", longopts, NULL);
    if (c == -1)
      break;
    if (c == 's') {
      spool_flag = optarg;
    } else if (c == 'j') {
      json = true;
    } else if (c == 'r') {
      reveal = true;
    } else if (c == 'h') {
      usage(stdout);
      return 0;
    } else {
      usage(stderr);
      return EX_USAGE;
    }
  }
  if (optind + 1 != argc - 1) {
    ct_cli_error("job show", "expected exactly one job id");
    return EX_USAGE;
  }
  return ct_cli_show_job("job show", ct_cli_spool_path(spool_flag), argv[optind + 1], json,
                         reveal);
}
