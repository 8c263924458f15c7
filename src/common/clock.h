/* Wall-clock and monotonic time in milliseconds. */
#ifndef CT_COMMON_CLOCK_H
#define CT_COMMON_CLOCK_H

#include <stdint.h>

/* Unix epoch milliseconds (CLOCK_REALTIME). */
int64_t ct_now_ms(void);

/* Milliseconds from an arbitrary fixed point (CLOCK_MONOTONIC), for durations. */
int64_t ct_mono_ms(void);

/* Microseconds, CLOCK_MONOTONIC. */
int64_t ct_mono_us(void);

/* Formats `ms` (Unix epoch milliseconds) as RFC 3339 UTC with milliseconds,
 * "2026-11-23T18:26:52.123Z", into `buf` (at least CT_TIME_BUFSZ bytes). Returns `buf`. */
#define CT_TIME_BUFSZ 48
char *ct_time_format(int64_t ms, char *buf);

/* Parses an RFC 3339 timestamp ("2026-12-01T09:00:00Z", "...-03:00", optional fraction) into
 * Unix epoch milliseconds. Returns 0 or CT_EINVAL; *out is set only on success. */
int ct_time_parse(const char *s, int64_t *out);

/* Days since 1970-01-01 of the proleptic Gregorian date y-m-d, or INT32_MIN when the date
 * does not exist (2026-02-30) or is out of 1..9999. */
int32_t ct_days_from_civil(int y, int m, int d);

/* Parses "YYYY-MM-DD" (a real calendar date) into days since 1970-01-01.
 * Returns 0 or CT_EINVAL. */
int ct_date_parse(const char *s, int32_t *days);

#endif
