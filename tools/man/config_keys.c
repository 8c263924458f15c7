/* config-keys: prints every key of the configuration tables, one a line, for the man page
 * carteiro.ini(5) (tools/man/genman.py) and its test:
 *
 *   SECTION <TAB> KEY <TAB> TYPE <TAB> MIN <TAB> MAX <TAB> DEFAULT
 *
 * SECTION is carteiro, provider or cluster; TYPE is text, integer, number, duration (MIN, MAX
 * and DEFAULT in milliseconds), channel or loglevel; DEFAULT is "-" where there is none.
 *
 * It includes src/config/config.c itself, so the keys, types and bounds are the very tables
 * the loader uses, and the defaults are what ct_config_load gives a file that sets nothing
 * (for [provider.NAME], what provider_defaults gives). Nothing here restates them.
 */
#include "../../src/config/config.c"

#include <stdlib.h>

static const char *type_name(key_type_t t) {
  switch (t) {
  case K_STRING:
    return "text";
  case K_UINT:
    return "integer";
  case K_DOUBLE:
    return "number";
  case K_DURATION:
    return "duration";
  case K_CHANNEL:
    return "channel";
  case K_LOGLEVEL:
    return "loglevel";
  }
  return "?";
}

static void print_keys(const char *section, const key_t_ *keys, size_t n, const void *base) {
  for (size_t i = 0; i < n; i++) {
    const key_t_ *k = &keys[i];
    const char *field = (const char *)base + k->offset;
    printf("%s\t%s\t%s\t", section, k->name, type_name(k->type));
    if (k->type == K_UINT || k->type == K_DOUBLE || k->type == K_DURATION)
      printf("%.15g\t%.15g\t", k->min, k->max);
    else
      printf("-\t-\t");
    switch (k->type) {
    case K_STRING:
    case K_LOGLEVEL:
      printf("%s\n", field);
      break;
    case K_UINT:
      printf("%u\n", *(const uint32_t *)(const void *)field);
      break;
    case K_DOUBLE:
      printf("%.15g\n", *(const double *)(const void *)field);
      break;
    case K_DURATION:
      printf("%lld\n", (long long)*(const int64_t *)(const void *)field);
      break;
    case K_CHANNEL: {
      ct_channel_t ch = *(const ct_channel_t *)(const void *)field;
      printf("%s\n", ch == CT_CHANNEL_NONE ? "-" : ct_channel_name(ch));
      break;
    }
    }
  }
}

int main(void) {
  /* The smallest file ct_config_load accepts, with a [cluster] section so that its
   * defaults are filled in too; the values it sets are not printed as defaults. */
  char path[] = "/tmp/carteiro-config-keys.XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) {
    perror("config-keys: mkstemp");
    return 1;
  }
  FILE *f = fdopen(fd, "w");
  if (f == NULL) {
    perror("config-keys: fdopen");
    unlink(path);
    return 1;
  }
  fputs("[provider.p]\nkind = email\nbase_url = https://127.0.0.1\nsender = a@example.com\n"
        "[cluster]\nnats = nats://127.0.0.1:4222\n",
        f);
  fclose(f);
  setenv("CARTEIRO_PROVIDER_P_SECRET", "synthetic", 1);
  ct_config_t *cfg = NULL;
  ct_config_error_t errs[CT_CONFIG_MAX_ERRORS];
  size_t nerr = 0;
  int rc = ct_config_load(path, &cfg, errs, &nerr);
  unlink(path);
  if (rc != 0) {
    fprintf(stderr, "config-keys: the minimal configuration does not load: %s\n",
            ct_strerror(rc));
    for (size_t i = 0; i < nerr && i < CT_CONFIG_MAX_ERRORS; i++)
      fprintf(stderr, "  %s: %s\n", errs[i].where, errs[i].what);
    return 1;
  }
  /* the file set nats; its default is empty (and the key required with [cluster]) */
  cfg->cluster_nats[0] = '\0';
  ct_provider_conf_t p;
  provider_defaults(&p, "p");
  print_keys("carteiro", daemon_keys, sizeof daemon_keys / sizeof daemon_keys[0], cfg);
  print_keys("provider", provider_keys, sizeof provider_keys / sizeof provider_keys[0], &p);
  print_keys("cluster", cluster_keys, sizeof cluster_keys / sizeof cluster_keys[0], cfg);
  ct_config_free(cfg);
  return 0;
}
