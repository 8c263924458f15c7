/* carteiro run: the delivery daemon; carteiro config check: validate a configuration file. */
#include "cli/cli.h"

#include "common/error.h"
#include "common/log.h"
#include "config/config.h"
#include "worker/pool.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#define DEFAULT_CONFIG "/etc/carteiro/carteiro.ini"

static void run_usage(FILE *out) {
  fprintf(out,
          "usage: carteiro run [--config FILE] [--spool PATH] [--drain] [--report]\n\n"
          "Delivers the jobs in the spool until SIGTERM or SIGINT (which finish the requests in\n"
          "flight, record every outcome and exit 0). SIGHUP reloads credentials, rates and\n"
          "templates. With http_listen set it serves the HTTP API (carteiro status reads it).\n\n"
          "options:\n"
          "  --config FILE  configuration (default $CARTEIRO_CONFIG, else %s)\n"
          "  --spool PATH   use this spool instead of the configuration's\n"
          "  --drain        exit once nothing is left to deliver\n"
          "  --report       print a one-line JSON summary on stdout at exit\n"
          "  --help         this text\n\n"
          "Exit status: 0 after a clean stop; 78 a bad configuration (every problem is logged);\n"
          "75 the spool is owned by another carteiro run.\n\n"
          "Example:\n"
          "  carteiro run --config /etc/carteiro/carteiro.ini\n"
          "  carteiro run --config carteiro.ini --spool /tmp/spool.db --drain --report\n",
          DEFAULT_CONFIG);
}

static const char *config_path(const char *flag) {
  if (flag != NULL)
    return flag;
  const char *env = getenv("CARTEIRO_CONFIG");
  return env != NULL && env[0] != '\0' ? env : DEFAULT_CONFIG;
}

int ct_cmd_run(int argc, char **argv) {
  static const struct option longopts[] = {
      {"config", required_argument, NULL, 'c'}, {"spool", required_argument, NULL, 's'},
      {"drain", no_argument, NULL, 'd'},        {"report", no_argument, NULL, 'r'},
      {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
  ct_pool_options_t o = {0};
  const char *config_flag = NULL;
  argv[0] = "carteiro run"; /* getopt names argv[0] in its messages */
  optind = 1;
  for (;;) {
    int c = getopt_long(argc, argv, "", longopts, NULL);
    if (c == -1)
      break;
    switch (c) {
    case 'c':
      config_flag = optarg;
      break;
    case 's':
      o.spool_path = optarg;
      break;
    case 'd':
      o.drain = true;
      break;
    case 'r':
      o.report = stdout;
      break;
    case 'h':
      run_usage(stdout);
      return 0;
    default:
      run_usage(stderr);
      return EX_USAGE;
    }
  }
  if (optind < argc) {
    ct_cli_error("run", "unexpected argument '%s'", argv[optind]);
    return EX_USAGE;
  }
  o.config_path = config_path(config_flag);
  int rc = ct_pool_run(&o);
  if (rc == CT_EINVAL || rc == CT_ENOENT)
    return EX_CONFIG;
  return ct_cli_exit_code(rc);
}

static void config_usage(FILE *out) {
  fprintf(out,
          "usage: carteiro config check [FILE]\n\n"
          "Loads FILE (default $CARTEIRO_CONFIG, else %s) with the environment's overrides,\n"
          "reads the secret files it names, and names every bad section, key or value.\n"
          "A secret file every user may write is refused, and one every user may read is\n"
          "refused unless this user owns it (then a warning on stderr).\n\n"
          "options:\n"
          "  --help         this text\n\n"
          "Exit status: 0 when it is usable; 66 no such file; 78 a problem (each one printed).\n\n"
          "Example:\n"
          "  carteiro config check /etc/carteiro/carteiro.ini\n",
          DEFAULT_CONFIG);
}

int ct_cmd_config(int argc, char **argv) {
  bool help = false;
  for (int i = 1; i < argc; i++)
    help = help || strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0;
  if (argc < 2 || help) {
    config_usage(help ? stdout : stderr);
    return help ? 0 : EX_USAGE;
  }
  if (strcmp(argv[1], "check") != 0 || argc > 3) {
    ct_cli_error("config", "expected: config check [FILE]");
    return EX_USAGE;
  }
  if (argc == 3 && argv[2][0] == '-' && argv[2][1] != '\0') {
    ct_cli_error("config check", "unknown option '%s' (see carteiro config check --help)",
                 argv[2]);
    return EX_USAGE;
  }
  const char *path = config_path(argc == 3 ? argv[2] : NULL);
  ct_config_t *cfg = NULL;
  ct_config_error_t errs[CT_CONFIG_MAX_ERRORS];
  size_t nerr = 0;
  int rc = ct_config_load(path, &cfg, errs, &nerr);
  if (rc == CT_ENOENT) {
    ct_cli_error("config check", "%s: no such file", path);
    return EX_NOINPUT;
  }
  if (rc == CT_EINVAL) {
    for (size_t i = 0; i < nerr && i < CT_CONFIG_MAX_ERRORS; i++)
      fprintf(stderr, "%s: %s: %s\n", path, errs[i].where, errs[i].what);
    if (nerr > CT_CONFIG_MAX_ERRORS)
      fprintf(stderr, "%s: and %zu more problems\n", path, nerr - CT_CONFIG_MAX_ERRORS);
    fprintf(stderr, "%s: %zu problem%s\n", path, nerr, nerr == 1 ? "" : "s");
    return EX_CONFIG;
  }
  if (rc != 0) {
    ct_cli_error("config check", "%s: %s", path, ct_strerror(rc));
    return ct_cli_exit_code(rc);
  }
  for (size_t i = 0; i < cfg->n_warnings; i++)
    fprintf(stderr, "%s: warning: %s: %s\n", path, cfg->warnings[i].where,
            cfg->warnings[i].what);
  printf("%s: ok (%zu providers, %zu tenants, %zu template locales)\n", path, cfg->n_providers,
         cfg->n_tenants, cfg->n_templates);
  ct_config_free(cfg);
  return 0;
}
