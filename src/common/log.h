/* Logging: one line per event on stderr, filtered by level before anything is formatted.
 *
 * Never pass personal data (CPF, phone, e-mail, card digits, document bytes) to these
 * functions unmasked: use common/mask.h first.
 */
#ifndef CT_COMMON_LOG_H
#define CT_COMMON_LOG_H

typedef enum { CT_LOG_DEBUG, CT_LOG_INFO, CT_LOG_WARN, CT_LOG_ERROR } ct_log_level_t;

extern ct_log_level_t ct__log_min;

/* Sets the lowest level that is written (default CT_LOG_INFO). */
void ct_log_set_level(ct_log_level_t level);

/* Parses "debug", "info", "warn" or "error". Returns 0 or CT_EINVAL. */
int ct_log_level_parse(const char *s, ct_log_level_t *out);

void ct__log(ct_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The level test comes first so that filtered-out calls evaluate none of their arguments. */
#define ct_log(level, ...)                                                     \
  do {                                                                         \
    if ((level) >= ct__log_min)                                                \
      ct__log((level), __VA_ARGS__);                                           \
  } while (0)

#define ct_debug(...) ct_log(CT_LOG_DEBUG, __VA_ARGS__)
#define ct_info(...) ct_log(CT_LOG_INFO, __VA_ARGS__)
#define ct_warn(...) ct_log(CT_LOG_WARN, __VA_ARGS__)
#define ct_error(...) ct_log(CT_LOG_ERROR, __VA_ARGS__)

#endif
