/* The reports of carteiro-bench: a terminal summary and a self-contained HTML page, both drawn
 * from one result document (schema "carteiro-bench/1", bench/SCHEMA.md).
 *
 * Each function reads the whole document and checks every field it will use before it writes
 * anything, so a bad document never leaves half a report behind. The caller keeps ownership of
 * `result`; nothing here keeps a pointer into it after returning.
 */
#ifndef CB_REPORT_H
#define CB_REPORT_H

#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

/* The schema this renderer reads; any other "schema" value is refused. */
#define CB_REPORT_SCHEMA "carteiro-bench/1"

/* Checks `result` against the schema. Returns 0, or CT_EINVAL with a message in `err` naming
 * the field and what is wrong with it ("cycles[2].drain_s: missing", "schema: this report reads
 * \"carteiro-bench/1\", not \"carteiro-bench/2\""), or CT_ENOMEM. `err` (if `errcap` > 0) is
 * always NUL-terminated; it is "" on success. */
int cb_report_check(const json_t *result, char *err, size_t errcap);

/* Writes the plain-text summary of `result` to `out`: what was run and at what scale, the
 * profile, the per-cycle table (month), the grid sorted by throughput (sweep), the h2load
 * figures, the totals, and last the capacity sentence. Returns 0, CT_EINVAL when the document
 * does not pass cb_report_check() (nothing is written; call cb_report_check() for the
 * message), CT_ENOMEM, or CT_EIO when writing to `out` failed. */
int cb_report_terminal(const json_t *result, FILE *out);

/* Writes one self-contained HTML page (inline CSS and inline SVG charts; no scripts, no
 * external references) for `result` to `out`. Every string taken from the document is
 * HTML-escaped; long series are downsampled to at most CB_REPORT_MAX_POINTS points per line.
 * Errors as for cb_report_terminal(). */
int cb_report_html(const json_t *result, FILE *out);

#define CB_REPORT_MAX_POINTS 1000

#endif
