/* Numbers for people, the downsampling of long series, and the sweep's ranking. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "report_int.h"

/* Copies the digits of `digits` (an optional '-', digits, optional '.' and decimals) into buf
 * with a ',' between each group of three integer digits. */
static const char *group(char *buf, size_t cap, const char *digits) {
  const char *dot = strchr(digits, '.');
  size_t start = digits[0] == '-' ? 1 : 0;
  size_t intlen = (dot != NULL ? (size_t)(dot - digits) : strlen(digits)) - start;
  size_t o = 0;
  if (cap == 0)
    return buf;
  for (size_t i = 0; digits[i] != '\0' && o + 1 < cap; i++) {
    if (i > start && i < start + intlen && (start + intlen - i) % 3 == 0) {
      buf[o++] = ',';
      if (o + 1 >= cap)
        break;
    }
    buf[o++] = digits[i];
  }
  buf[o] = '\0';
  return buf;
}

const char *cb__fmt_dec(char *buf, size_t cap, double v, int decimals) {
  char raw[64];
  snprintf(raw, sizeof raw, "%.*f", decimals, v);
  if (strcmp(raw, "-0") == 0 || (raw[0] == '-' && strspn(raw + 1, "0.") == strlen(raw + 1)))
    memmove(raw, raw + 1, strlen(raw)); /* no "-0.0" */
  return group(buf, cap, raw);
}

const char *cb__fmt_int(char *buf, size_t cap, double v) { return cb__fmt_dec(buf, cap, v, 0); }

const char *cb__fmt_pct(char *buf, size_t cap, double percent) {
  char raw[64];
  if (percent != 0 && fabs(percent) < 0.1)
    snprintf(raw, sizeof raw, "%.2g", percent);
  else
    snprintf(raw, sizeof raw, "%.1f", percent);
  size_t n = strlen(raw);
  if (strchr(raw, '.') != NULL && strchr(raw, 'e') == NULL) {
    while (n > 0 && raw[n - 1] == '0')
      raw[--n] = '\0';
    if (n > 0 && raw[n - 1] == '.')
      raw[--n] = '\0';
  }
  return group(buf, cap, raw);
}

const char *cb__fmt_bytes(char *buf, size_t cap, double bytes) {
  char num[48];
  double gib = bytes / (1024.0 * 1024 * 1024);
  if (gib >= 1)
    snprintf(buf, cap, "%s GiB", cb__fmt_pct(num, sizeof num, round(gib * 10) / 10));
  else
    snprintf(buf, cap, "%s MiB", cb__fmt_dec(num, sizeof num, bytes / (1024.0 * 1024), 1));
  return buf;
}

const char *cb__fmt_plat(char *buf, size_t cap, const cb__plat_t *lat) {
  char a[32], b[32];
  if (lat->fixed)
    snprintf(buf, cap, "fixed %s ms", cb__fmt_pct(a, sizeof a, lat->fixed_ms));
  else
    snprintf(buf, cap, "p50 %s ms, p99 %s ms", cb__fmt_pct(a, sizeof a, lat->p50),
             cb__fmt_pct(b, sizeof b, lat->p99));
  return buf;
}

size_t cb__downsample_max(const double *x, const double *y, size_t n, size_t max, double *ox,
                          double *oy) {
  if (n <= max) {
    memcpy(ox, x, n * sizeof *x);
    memcpy(oy, y, n * sizeof *y);
    return n;
  }
  if (max == 0)
    return 0;
  for (size_t b = 0; b < max; b++) {
    /* Bucket b holds points [b*n/max, (b+1)*n/max): every point falls in exactly one. */
    size_t lo = b * n / max, hi = (b + 1) * n / max, best = lo;
    for (size_t i = lo + 1; i < hi; i++)
      if (y[i] > y[best])
        best = i;
    ox[b] = x[best];
    oy[b] = y[best];
  }
  return max;
}

static int by_rate(const void *a, const void *b) {
  const cb__point_t *p = *(const cb__point_t *const *)a, *q = *(const cb__point_t *const *)b;
  if (p->deliveries_per_s != q->deliveries_per_s)
    return p->deliveries_per_s > q->deliveries_per_s ? -1 : 1;
  return (p > q) - (p < q); /* pointers into one array: document order */
}

const cb__point_t **cb__sweep_by_rate(const cb__sweep_t *s) {
  const cb__point_t **order = malloc(s->npoints * sizeof *order);
  if (order == NULL)
    return NULL;
  for (size_t i = 0; i < s->npoints; i++)
    order[i] = &s->points[i];
  qsort(order, s->npoints, sizeof *order, by_rate);
  return order;
}

const char *cb__fmt_bottleneck(char *buf, size_t cap, const cb__doc_t *d) {
  const char *b = d->has_capacity ? d->capacity.bottleneck : NULL;
  if (b == NULL) {
    snprintf(buf, cap, "none found");
  } else if (strcmp(b, "in-flight cap") == 0 && d->has_profile && d->profile.has_knobs) {
    char n[32];
    snprintf(buf, cap, "%s (max_inflight %s)", b,
             cb__fmt_int(n, sizeof n, d->profile.knobs.max_inflight));
  } else {
    snprintf(buf, cap, "%s", b);
  }
  return buf;
}
