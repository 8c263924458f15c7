/* Time zones: the UTC offset of an IANA zone ("America/Sao_Paulo") at a given instant, read
 * from the system's compiled zone files (/usr/share/zoneinfo, Debian package tzdata) without
 * touching the process-wide TZ variable, so any thread may ask at any time.
 *
 * A zone file (RFC 8536, "TZif") lists the zone's past transitions; instants after the last one
 * follow the file's footer, a POSIX TZ rule such as "<-03>3" or "EST5EDT,M3.2.0,M11.1.0",
 * which this module evaluates too. Zones are loaded once and kept for the process's life. */
#ifndef CT_COMMON_TZ_H
#define CT_COMMON_TZ_H

#include <stdint.h>

/* Sets where zone files are read from (default /usr/share/zoneinfo); for tests. Call before
 * any lookup. */
void ct_tz_set_dir(const char *dir);

/* The offset from UTC, in seconds east (Sao Paulo: -10800), of zone `name` at Unix time
 * `t` (seconds). Returns 0 and sets *offset_s, or CT_ENOENT (no such zone, or a name that is
 * not a zone name: empty, absolute, with ".."), CT_ECORRUPT (not a zone file), CT_ENOMEM. */
int ct_tz_offset(const char *name, int64_t t, int32_t *offset_s);

/* Quiet hours: given the local clock window [start_min, end_min) in minutes after midnight
 * (it may wrap midnight, e.g. 21:00-08:00), returns the Unix time in ms at which the window
 * ends if `now_ms` falls inside it, or 0 if it does not (or the zone cannot be read: then the
 * caller decides; *err gets the error). */
int64_t ct_tz_quiet_until(const char *zone, int start_min, int end_min, int64_t now_ms,
                          int *err);

#endif
