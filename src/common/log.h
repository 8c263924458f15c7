/* Logging: one line per event on stderr, filtered by level before anything is formatted.
 *
 * Format. By default each line is one JSON object (journald and log shippers read it as is):
 *   {"ts":"2026-11-23T18:26:52.123Z","level":"info","msg":"...","job":"inv-1","attempts":2}
 * With CARTEIRO_LOG_FORMAT=text in the environment (read at the first line) lines are for
 * people at a terminal: "2026-11-23T18:26:52.123Z info ... job=inv-1 attempts=2".
 * A line is at most CT_LOG_LINE_MAX bytes; a longer one is cut at a character boundary and
 * says so ("truncated":true, or " [truncated]" in text), staying valid JSON.
 *
 * Repeats. A message template (the format string or the ct_log_kv message, by address) logged
 * more than CT_LOG_BURST times within one wall-clock second is dropped for the rest of that
 * second; the first line logged after the second ends (or ct_log_flush) is preceded by one
 * line with the template as "msg" and the number dropped ("suppressed":123). Debug lines are
 * never dropped: they are asked for.
 *
 * Personal data. Never pass personal data (CPF, phone, e-mail, card digits, document bytes)
 * unmasked: use common/mask.h first. As a safety net the logger masks, in messages and string
 * values, what looks like an e-mail address ("j***@example.com"), a Brazilian E.164 phone,
 * "+55" and 10 or 11 digits ("+55 11 9****-4321"), or a CPF, "ddd.ddd.ddd-dd" or a run of
 * exactly 11 digits ("***.***.***-09"); a CPF must not touch a letter or digit on either
 * side, so longer digit runs (epoch milliseconds, barcode lines) and hex hashes stay as they
 * are.
 *
 * All functions are thread-safe; a line is written with one write(2).
 */
#ifndef CT_COMMON_LOG_H
#define CT_COMMON_LOG_H

#include <stdint.h>

typedef enum { CT_LOG_DEBUG, CT_LOG_INFO, CT_LOG_WARN, CT_LOG_ERROR } ct_log_level_t;

typedef enum { CT_LOG_JSON, CT_LOG_TEXT } ct_log_format_t;

#define CT_LOG_LINE_MAX 2048
#define CT_LOG_BURST 10

extern ct_log_level_t ct__log_min;

/* Sets the lowest level that is written (default CT_LOG_INFO). */
void ct_log_set_level(ct_log_level_t level);

/* Parses "debug", "info", "warn" or "error". Returns 0 or CT_EINVAL. */
int ct_log_level_parse(const char *s, ct_log_level_t *out);

/* Chooses the line format, overriding CARTEIRO_LOG_FORMAT. */
void ct_log_set_format(ct_log_format_t format);

/* Writes the "suppressed" lines still pending, now rather than when their second ends, and
 * forgets all counts. Registered with atexit at the first line. */
void ct_log_flush(void);

/* Test hook: the wall clock for "ts" and for the repeat windows (NULL: ct_now_ms). */
void ct__log_set_clock(int64_t (*now_ms)(void));

/* One context field of ct_log_kv: build with CT_KV_S (a string, NULL is written as null) or
 * CT_KV_I (an integer, written as a JSON number). */
typedef struct {
  const char *key;
  const char *s;
  long long i;
  int is_int;
} ct_kv_t;

#define CT_KV_S(k, v) ((ct_kv_t){.key = (k), .s = (v), .is_int = 0})
#define CT_KV_I(k, v) ((ct_kv_t){.key = (k), .i = (long long)(v), .is_int = 1})

void ct__log(ct_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void ct__log_kv(ct_log_level_t level, const char *msg, const ct_kv_t *kv, int n);

/* The level test comes first so that filtered-out calls evaluate none of their arguments. */
#define ct_log(level, ...)                                                     \
  do {                                                                         \
    if ((level) >= ct__log_min)                                                \
      ct__log((level), __VA_ARGS__);                                           \
  } while (0)

/* A line with a fixed message and context fields, e.g.
 *   ct_log_kv(CT_LOG_INFO, "job dead", CT_KV_S("job", id), CT_KV_I("attempts", n));
 * `msg` should be a literal: its address keys the repeat limit. At least one field. */
#define ct_log_kv(level, msg, ...)                                             \
  do {                                                                         \
    if ((level) >= ct__log_min) {                                              \
      const ct_kv_t ct__kv[] = {__VA_ARGS__};                                  \
      ct__log_kv((level), (msg), ct__kv, (int)(sizeof ct__kv / sizeof ct__kv[0])); \
    }                                                                          \
  } while (0)

#define ct_debug(...) ct_log(CT_LOG_DEBUG, __VA_ARGS__)
#define ct_info(...) ct_log(CT_LOG_INFO, __VA_ARGS__)
#define ct_warn(...) ct_log(CT_LOG_WARN, __VA_ARGS__)
#define ct_error(...) ct_log(CT_LOG_ERROR, __VA_ARGS__)

#endif
