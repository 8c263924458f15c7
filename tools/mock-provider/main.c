/* mock-provider: entry point. Reads the options, starts the server on one uv loop, runs it
 * until SIGTERM/SIGINT, and exits 0 after a clean stop. mock.h describes the data flow.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "mock.h"

/* Static storage on purpose: h2o keeps pointers into both for as long as connections live,
 * which can be until the process exits. */
static uv_loop_t loop;
static mock_t mock;

static void warn_missing_credentials(const mock_config_t *c)
{
  for (int p = 0; p < MOCK_PROV_COUNT; p++)
    if (c->prov[p].ncreds == 0)
      fprintf(stderr, "mock-provider: no %s credentials configured: every %s request gets "
                      "401\n",
              mock_prov_name((mock_prov_t)p), mock_prov_name((mock_prov_t)p));
}

int main(int argc, char **argv)
{
  /* a peer that closes mid-write must cost an EPIPE, not the process */
  signal(SIGPIPE, SIG_IGN);

  mock_config_defaults(&mock.conf);
  int rc = mock_config_from_args(&mock.conf, argc, argv);
  if (rc != 0)
    return rc > 0 ? 0 : 64;
  if (!mock.conf.quiet)
    warn_missing_credentials(&mock.conf);

  if (uv_loop_init(&loop) != 0) {
    fprintf(stderr, "mock-provider: cannot create the event loop\n");
    return 70;
  }
  mock.loop = &loop;
  unsigned char rnd[8];
  if (uv_random(NULL, NULL, rnd, sizeof(rnd), 0, NULL) != 0)
    memset(rnd, 0x5a, sizeof(rnd));
  for (int i = 0; i < 8; i++)
    mock.instance = (mock.instance << 8) | rnd[i];
  mock.started_ms = mock_wall_ms();
  mock.stats = mock_stats_new(mock.conf.records, mock.conf.max_keys);
  if (mock.stats == NULL) {
    fprintf(stderr, "mock-provider: out of memory for %zu records\n", mock.conf.records);
    return 70;
  }
  mock.store = mock_store_new();
  if (mock.store == NULL) {
    fprintf(stderr, "mock-provider: out of memory for the file store\n");
    mock_stats_free(mock.stats);
    return 70;
  }
  if (mock_callbacks_start(&mock) != 0) {
    mock_store_free(mock.store);
    mock_stats_free(mock.stats);
    return 70;
  }
  if (mock_server_start(&mock) != 0) {
    mock_callbacks_dispose(&mock);
    mock_store_free(mock.store);
    mock_stats_free(mock.stats);
    return 1;
  }

  uv_run(&loop, UV_RUN_DEFAULT);

  mock_callbacks_dispose(&mock);
  mock_server_dispose(&mock);
  if (!mock.conf.quiet)
    fprintf(stderr, "mock-provider: stopped (%zu replies were still waiting)\n", mock.pending);
  mock_store_free(mock.store);
  mock.store = NULL;
  mock_stats_free(mock.stats);
  mock.stats = NULL;
  return 0;
}
