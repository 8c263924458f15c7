#include "common/log.h"

#include "common/clock.h"
#include "common/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

ct_log_level_t ct__log_min = CT_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void ct_log_set_level(ct_log_level_t level) { ct__log_min = level; }

int ct_log_level_parse(const char *s, ct_log_level_t *out) {
  for (int i = 0; i < 4; i++) {
    if (strcmp(s, level_names[i]) == 0) {
      *out = (ct_log_level_t)i;
      return 0;
    }
  }
  return CT_EINVAL;
}

void ct__log(ct_log_level_t level, const char *fmt, ...) {
  char ts[CT_TIME_BUFSZ];
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  /* One fprintf per line so that lines from several threads do not interleave. */
  fprintf(stderr, "%s %s %s\n", ct_time_format(ct_now_ms(), ts), level_names[level], msg);
}
