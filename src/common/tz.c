#include "common/tz.h"

#include "common/error.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_ZONE_FILE (1 << 20)
#define MAX_ZONES 512

typedef struct {
  int32_t std_off, dst_off; /* seconds east */
  bool has_dst;
  /* Mm.w.d/time for the starts of DST and of standard time */
  int rule_m[2], rule_w[2], rule_d[2];
  int32_t rule_time[2];     /* seconds after local midnight */
} posix_rule_t;

typedef struct {
  char name[96];
  int64_t *when;            /* transition instants, ascending */
  int32_t *off_after;       /* offset in force from when[i] */
  size_t n;
  int32_t initial_off;      /* before the first transition */
  bool has_rule;
  posix_rule_t rule;
} zone_t;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static zone_t *zones[MAX_ZONES];
static size_t n_zones;
static char zone_dir[256] = "/usr/share/zoneinfo";

void ct_tz_set_dir(const char *dir) { snprintf(zone_dir, sizeof zone_dir, "%s", dir); }

static bool valid_name(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n >= 96 || s[0] == '/' || strstr(s, "..") != NULL)
    return false;
  for (const char *p = s; *p; p++)
    if (!isalnum((unsigned char)*p) && *p != '/' && *p != '_' && *p != '-' && *p != '+')
      return false;
  return true;
}

static int64_t be(const unsigned char *p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; i++)
    v = v << 8 | p[i];
  if (bytes == 4)
    return (int32_t)(uint32_t)v;
  return (int64_t)v;
}

/* POSIX TZ footer */

/* Parses [+-]hh[:mm[:ss]] into seconds; POSIX offsets count west, so the caller negates. */
static const char *parse_hms(const char *p, int32_t *out) {
  int sign = 1;
  if (*p == '+' || *p == '-')
    sign = *p++ == '-' ? -1 : 1;
  if (!isdigit((unsigned char)*p))
    return NULL;
  int32_t v[3] = {0, 0, 0};
  for (int i = 0; i < 3; i++) {
    if (!isdigit((unsigned char)*p))
      return NULL;
    while (isdigit((unsigned char)*p))
      v[i] = v[i] * 10 + (*p++ - '0');
    if (*p != ':' || i == 2)
      break;
    p++;
  }
  *out = sign * (v[0] * 3600 + v[1] * 60 + v[2]);
  return p;
}

static const char *skip_abbr(const char *p) {
  if (*p == '<') {
    const char *e = strchr(p, '>');
    return e != NULL ? e + 1 : NULL;
  }
  const char *s = p;
  while (isalpha((unsigned char)*p))
    p++;
  return p - s >= 3 ? p : NULL;
}

static const char *parse_mrule(const char *p, posix_rule_t *r, int i) {
  if (*p++ != 'M')
    return NULL; /* Julian-day forms are not used by current zones */
  char *end;
  long m = strtol(p, &end, 10);
  if (end == p || *end != '.')
    return NULL;
  p = end + 1;
  long w = strtol(p, &end, 10);
  if (end == p || *end != '.')
    return NULL;
  p = end + 1;
  long d = strtol(p, &end, 10);
  if (end == p || m < 1 || m > 12 || w < 1 || w > 5 || d < 0 || d > 6)
    return NULL;
  p = end;
  r->rule_m[i] = (int)m;
  r->rule_w[i] = (int)w;
  r->rule_d[i] = (int)d;
  r->rule_time[i] = 7200;
  if (*p == '/') {
    p = parse_hms(p + 1, &r->rule_time[i]);
    if (p == NULL)
      return NULL;
  }
  return p;
}

static bool parse_posix(const char *s, posix_rule_t *r) {
  memset(r, 0, sizeof *r);
  const char *p = skip_abbr(s);
  int32_t off;
  if (p == NULL || (p = parse_hms(p, &off)) == NULL)
    return false;
  r->std_off = -off;
  if (*p == '\0')
    return true;
  p = skip_abbr(p);
  if (p == NULL)
    return false;
  r->has_dst = true;
  r->dst_off = r->std_off + 3600;
  if (*p != ',' && *p != '\0') {
    p = parse_hms(p, &off);
    if (p == NULL)
      return false;
    r->dst_off = -off;
  }
  if (*p != ',')
    return false; /* DST without a rule: no current zone does this */
  p = parse_mrule(p + 1, r, 0);
  if (p == NULL || *p != ',')
    return false;
  p = parse_mrule(p + 1, r, 1);
  return p != NULL && *p == '\0';
}

static int64_t days_from_civil(int y, int m, int d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

static int year_of(int64_t t) {
  int64_t z = (t >= 0 ? t : t - 86399) / 86400 + 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  int m = (int)(mp < 10 ? mp + 3 : mp - 9);
  return (int)(yoe + era * 400 + (m <= 2));
}

/* The UTC instant of rule i in year y ("day d of week w of month m at local time"). */
static int64_t rule_instant(const posix_rule_t *r, int i, int y, int32_t off_before) {
  int m = r->rule_m[i];
  int64_t first = days_from_civil(y, m, 1);
  int wday_first = (int)((first % 7 + 11) % 7); /* 1970-01-01 was a Thursday (4) */
  int day = 1 + (r->rule_d[i] - wday_first + 7) % 7 + (r->rule_w[i] - 1) * 7;
  static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int last = dim[m - 1] + (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
  while (day > last)
    day -= 7;
  return (days_from_civil(y, m, day)) * 86400 + r->rule_time[i] - off_before;
}

static int32_t posix_offset(const posix_rule_t *r, int64_t t) {
  if (!r->has_dst)
    return r->std_off;
  int y = year_of(t + r->std_off);
  int64_t start = rule_instant(r, 0, y, r->std_off);
  int64_t end = rule_instant(r, 1, y, r->dst_off);
  bool in_dst = start < end ? (t >= start && t < end) : (t >= start || t < end);
  return in_dst ? r->dst_off : r->std_off;
}

/* Zone files */

static int parse_tzif(const unsigned char *b, size_t len, zone_t *z) {
  if (len < 44 || memcmp(b, "TZif", 4) != 0)
    return CT_ECORRUPT;
  int version = b[4] == 0 ? 1 : b[4] - '0';
  size_t off = 0;
  int tsize = 4;
  for (int pass = 0; pass < 2; pass++) {
    if (len < off + 44 || memcmp(b + off, "TZif", 4) != 0)
      return CT_ECORRUPT;
    const unsigned char *h = b + off + 20;
    size_t isut = (size_t)be(h, 4), isstd = (size_t)be(h + 4, 4), leap = (size_t)be(h + 8, 4);
    size_t timecnt = (size_t)be(h + 12, 4), typecnt = (size_t)be(h + 16, 4);
    size_t charcnt = (size_t)be(h + 20, 4);
    size_t body = timecnt * (size_t)tsize + timecnt + typecnt * 6 + charcnt +
                  leap * (size_t)(tsize + 4) + isstd + isut;
    if (typecnt == 0 || timecnt > 100000 || typecnt > 256 || len < off + 44 + body)
      return CT_ECORRUPT;
    if (pass == 0 && version >= 2) {
      off += 44 + body; /* skip the 32-bit block: the 64-bit one follows */
      tsize = 8;
      continue;
    }
    const unsigned char *p = b + off + 44;
    const unsigned char *idx = p + timecnt * (size_t)tsize;
    const unsigned char *types = idx + timecnt;
    z->n = timecnt;
    z->when = malloc((timecnt ? timecnt : 1) * sizeof *z->when);
    z->off_after = malloc((timecnt ? timecnt : 1) * sizeof *z->off_after);
    if (z->when == NULL || z->off_after == NULL)
      return CT_ENOMEM;
    for (size_t i = 0; i < timecnt; i++) {
      if (idx[i] >= typecnt)
        return CT_ECORRUPT;
      z->when[i] = be(p + i * (size_t)tsize, tsize);
      z->off_after[i] = (int32_t)be(types + idx[i] * 6, 4);
    }
    /* Before the first transition: the first standard-time type (RFC 8536 3.2). */
    z->initial_off = (int32_t)be(types, 4);
    for (size_t i = 0; i < typecnt; i++) {
      if (types[i * 6 + 4] == 0) {
        z->initial_off = (int32_t)be(types + i * 6, 4);
        break;
      }
    }
    off += 44 + body;
    break;
  }
  if (version >= 2 && off < len && b[off] == '\n') {
    const char *f = (const char *)b + off + 1;
    const char *nl = memchr(f, '\n', len - off - 1);
    if (nl != NULL && nl - f < 128) {
      char rule[128];
      memcpy(rule, f, (size_t)(nl - f));
      rule[nl - f] = '\0';
      z->has_rule = rule[0] != '\0' && parse_posix(rule, &z->rule);
    }
  }
  return 0;
}

static void zone_free(zone_t *z) {
  if (z == NULL)
    return;
  free(z->when);
  free(z->off_after);
  free(z);
}

static int load(const char *name, zone_t **out) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", zone_dir, name);
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    return errno == ENOENT || errno == ENOTDIR || errno == EISDIR ? CT_ENOENT
                                                                  : ct_err_from_errno(errno);
  struct stat st;
  if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
    fclose(f); /* a directory such as "America" is not a zone */
    return CT_ENOENT;
  }
  unsigned char *buf = malloc(MAX_ZONE_FILE);
  zone_t *z = calloc(1, sizeof *z);
  int rc = CT_ENOMEM;
  if (buf != NULL && z != NULL) {
    size_t len = fread(buf, 1, MAX_ZONE_FILE, f);
    rc = ferror(f) ? CT_EIO : parse_tzif(buf, len, z);
  }
  fclose(f);
  free(buf);
  if (rc != 0) {
    zone_free(z);
    return rc;
  }
  snprintf(z->name, sizeof z->name, "%s", name);
  *out = z;
  return 0;
}

static int find(const char *name, const zone_t **out) {
  if (!valid_name(name))
    return CT_ENOENT;
  pthread_mutex_lock(&mu);
  for (size_t i = 0; i < n_zones; i++) {
    if (strcmp(zones[i]->name, name) == 0) {
      *out = zones[i];
      pthread_mutex_unlock(&mu);
      return 0;
    }
  }
  zone_t *z = NULL;
  int rc = load(name, &z);
  if (rc == 0) {
    if (n_zones < MAX_ZONES) {
      zones[n_zones++] = z;
    } else {
      /* A full cache means zone names come from untrusted input; keep memory bounded by
       * replacing the oldest entry's slot is unsafe while others hold pointers, so refuse. */
      zone_free(z);
      rc = CT_ENOMEM;
    }
  }
  pthread_mutex_unlock(&mu);
  if (rc == 0)
    *out = z;
  return rc;
}

int ct_tz_offset(const char *name, int64_t t, int32_t *offset_s) {
  const zone_t *z;
  int rc = find(name, &z);
  if (rc != 0)
    return rc;
  if (z->n == 0 || t < z->when[0]) {
    *offset_s = z->n == 0 && z->has_rule ? posix_offset(&z->rule, t) : z->initial_off;
    return 0;
  }
  if (t >= z->when[z->n - 1] && z->has_rule) {
    *offset_s = posix_offset(&z->rule, t);
    return 0;
  }
  size_t lo = 0, hi = z->n; /* last transition <= t */
  while (hi - lo > 1) {
    size_t mid = (lo + hi) / 2;
    if (z->when[mid] <= t)
      lo = mid;
    else
      hi = mid;
  }
  *offset_s = z->off_after[lo];
  return 0;
}

int64_t ct_tz_quiet_until(const char *zone, int start_min, int end_min, int64_t now_ms,
                          int *err) {
  *err = 0;
  if (start_min < 0 || end_min < 0 || start_min == end_min)
    return 0;
  int32_t off;
  int64_t now_s = now_ms / 1000;
  int rc = ct_tz_offset(zone, now_s, &off);
  if (rc != 0) {
    *err = rc;
    return 0;
  }
  int64_t local = now_s + off;
  int64_t day = (local >= 0 ? local : local - 86399) / 86400;
  int minute = (int)((local - day * 86400) / 60);
  bool wraps = start_min > end_min;
  bool quiet = wraps ? (minute >= start_min || minute < end_min)
                     : (minute >= start_min && minute < end_min);
  if (!quiet)
    return 0;
  /* The end of the window in local time, today or tomorrow. */
  int64_t end_local = day * 86400 + (int64_t)end_min * 60;
  if (end_local <= local)
    end_local += 86400;
  /* Convert back with the offset in force then (a change inside the window shifts it). */
  int32_t off_end = off;
  if (ct_tz_offset(zone, end_local - off, &off_end) != 0)
    off_end = off;
  return (end_local - off_end) * 1000;
}
