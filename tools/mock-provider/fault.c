/* Faults, latency and permanent recipient rules.
 *
 * Reproducibility is the point of this file. A test that injects 5 % of 429s must see the
 * same requests fail on every run, whatever the interleaving of concurrent requests on
 * HTTP/2 connections. So nothing here draws from a sequential random stream: the fate of a
 * request is a hash of (seed, message key, attempt number). The first attempt of message K
 * meets the same fault in every run with the same seed; its retry (attempt 1) draws anew, so
 * a retrying client eventually gets through exactly as it would against a flaky provider.
 */
#include <math.h>
#include <string.h>

#include "mock.h"

uint64_t mock_mix64(uint64_t x)
{
  /* splitmix64's finalizer: every input bit reaches every output bit */
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

uint64_t mock_hash_bytes(uint64_t h, const void *p, size_t n)
{
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) {
    h ^= b[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}

uint64_t mock_hash_field(uint64_t h, const char *s, size_t n)
{
  uint64_t len = n;
  h = mock_hash_bytes(h, &len, sizeof(len));
  return mock_hash_bytes(h, s, n);
}

/* A double in [0, 1) from the top 53 bits. */
static double unit(uint64_t h)
{
  return (double)(h >> 11) * (1.0 / 9007199254740992.0);
}

/* z of the standard normal distribution at the 99th percentile */
#define Z99 2.3263478740408408

uint32_t mock_latency_sample(const mock_prov_conf_t *pc, uint64_t h)
{
  double p50 = pc->latency_p50_ms, p99 = pc->latency_p99_ms;
  if (p50 <= 0 && p99 <= 0)
    return 0;
  if (p99 <= p50 || p50 <= 0)
    return (uint32_t)(p50 > 0 ? p50 : p99);
  /* log-normal: median p50 and 99th percentile p99 give mu and sigma; Box-Muller gives z */
  double mu = log(p50);
  double sigma = (log(p99) - mu) / Z99;
  double u1 = 1.0 - unit(mock_mix64(h ^ 0x51)); /* (0, 1]: log(0) never happens */
  double u2 = unit(mock_mix64(h ^ 0x52));
  double z = sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
  double ms = exp(mu + sigma * z);
  /* a tail longer than ten minutes is no latency any client waits for */
  if (ms > 600000.0)
    ms = 600000.0;
  return (uint32_t)(ms + 0.5);
}

mock_fate_t mock_fault_decide(const mock_prov_conf_t *pc, uint64_t seed, uint64_t key,
                              uint32_t attempt)
{
  mock_fate_t f = {MOCK_FAULT_NONE, false, 0};
  uint64_t h = mock_mix64(seed ^ mock_mix64(key ^ mock_mix64(attempt)));
  double u = unit(mock_mix64(h ^ 0x01));

  /* one draw against cumulative thresholds: the rates stay exact and exclusive */
  double t_drop = pc->p_drop;
  double t_reset = t_drop + pc->p_reset;
  double t_5xx = t_reset + pc->p_server_error;
  double t_429 = t_5xx + pc->p_rate_limit;
  double t_pair = t_429 + pc->p_pair_rate_limit;
  if (u < t_drop)
    f.fault = MOCK_FAULT_DROP;
  else if (u < t_reset)
    f.fault = MOCK_FAULT_RESET;
  else if (u < t_5xx)
    f.fault = MOCK_FAULT_SERVER_ERROR;
  else if (u < t_429)
    f.fault = MOCK_FAULT_RATE_LIMIT;
  else if (u < t_pair)
    f.fault = MOCK_FAULT_PAIR_RATE_LIMIT;
  f.slow = pc->p_slow > 0 && unit(mock_mix64(h ^ 0x02)) < pc->p_slow;
  f.delay_ms = mock_latency_sample(pc, h);
  if (f.slow)
    f.delay_ms += pc->slow_ms;
  return f;
}

bool mock_reject_draw(const mock_prov_conf_t *pc, uint64_t seed, const char *recipient)
{
  if (pc->p_reject <= 0)
    return false;
  uint64_t h = mock_hash_field(MOCK_HASH_INIT, recipient, strlen(recipient));
  return unit(mock_mix64(seed ^ mock_mix64(h ^ 0x03))) < pc->p_reject;
}

bool mock_rule_match(const mock_prov_conf_t *pc, const char *recipient)
{
  size_t n = strlen(recipient);
  for (size_t i = 0; i < pc->nrules; i++) {
    const mock_rule_t *r = &pc->rules[i];
    size_t k = strlen(r->text);
    switch (r->kind) {
    case MOCK_RULE_EXACT:
      if (k == n && memcmp(r->text, recipient, n) == 0)
        return true;
      break;
    case MOCK_RULE_PREFIX:
      if (k <= n && memcmp(r->text, recipient, k) == 0)
        return true;
      break;
    case MOCK_RULE_SUFFIX:
      if (k <= n && memcmp(r->text, recipient + n - k, k) == 0)
        return true;
      break;
    }
  }
  return false;
}
