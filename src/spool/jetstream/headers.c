/* The headers of a dead letter in the DLQ stream, written and read back. See jetstream.c.
 *
 * The headers carry what `dlq list` shows, so a list never decodes a payload. Numbers are
 * decimal. A value that would be empty is left out (libnats 3.4 reads an empty header value
 * as the next header line) and a missing header reads as "" or 0. */
#include "spool/jetstream/jetstream_int.h"

#include "common/error.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

const char *ct__js_hdr(natsMsg *m, const char *key) {
  const char *v = NULL;
  if (natsMsgHeader_Get(m, key, &v) != NATS_OK || v == NULL)
    return "";
  return v;
}

static int64_t hdr_i64(natsMsg *m, const char *key) {
  const char *v = ct__js_hdr(m, key);
  char *end;
  long long n = strtoll(v, &end, 10);
  return end == v || *end != '\0' ? 0 : (int64_t)n;
}

static int put(natsMsg *m, const char *key, const char *value) {
  if (value == NULL || value[0] == '\0')
    return 0;
  natsStatus s = natsMsgHeader_Set(m, key, value);
  return s == NATS_OK ? 0 : s == NATS_NO_MEMORY ? CT_ENOMEM : CT_EINVAL;
}

int ct__js_dead_headers(natsMsg *m, const ct__js_dead_t *d) {
  char channel[16], attempts[16], dead_at[32];
  snprintf(channel, sizeof channel, "%d", d->channel);
  snprintf(attempts, sizeof attempts, "%" PRIu32, d->attempts);
  snprintf(dead_at, sizeof dead_at, "%" PRId64, d->dead_at_ms);
  int rc = put(m, "Ct-Job-Id", d->job_id);
  if (rc == 0)
    rc = put(m, "Ct-Tenant", d->tenant);
  if (rc == 0)
    rc = put(m, "Ct-Reason", d->reason);
  if (rc == 0)
    rc = put(m, "Ct-Channel", channel);
  if (rc == 0)
    rc = put(m, "Ct-Provider", d->provider);
  if (rc == 0)
    rc = put(m, "Ct-Attempts", attempts);
  if (rc == 0)
    rc = put(m, "Ct-Dead-At", dead_at);
  if (rc == 0)
    rc = put(m, "Ct-Progress", d->progress64);
  if (rc == 0 && d->raw)
    rc = put(m, "Ct-Raw-Job", "1");
  return rc;
}

void ct__js_dead_entry(natsMsg *m, ct_dlq_entry_t *e) {
  e->seq = (int64_t)natsMsg_GetSequence(m);
  e->job_id = ct__js_hdr(m, "Ct-Job-Id");
  e->tenant = ct__js_hdr(m, "Ct-Tenant");
  e->reason = ct__js_hdr(m, "Ct-Reason");
  e->provider = ct__js_hdr(m, "Ct-Provider");
  e->channel = (ct_channel_t)hdr_i64(m, "Ct-Channel");
  e->dead_at_ms = hdr_i64(m, "Ct-Dead-At");
  e->attempts = (uint32_t)hdr_i64(m, "Ct-Attempts");
}

bool ct__js_dead_is_raw(natsMsg *m) { return ct__js_hdr(m, "Ct-Raw-Job")[0] != '\0'; }
