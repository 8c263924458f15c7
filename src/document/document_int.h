/* Shared between the files of src/document: how a step reports its failure. */
#ifndef CT_DOCUMENT_DOCUMENT_INT_H
#define CT_DOCUMENT_DOCUMENT_INT_H

#include "document/document.h"

#include <stdbool.h>

/* Fills `err` (when not NULL) with `reason`, `transient` and a printf-style detail, and
 * returns CT_EINVAL. The detail must stay free of personal data: no password, no path a
 * producer chose, no document bytes. */
int ct__doc_fail(ct_doc_error_t *err, const char *reason, bool transient, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Clears `err` (when not NULL) for a successful call: reason NULL, detail "". */
void ct__doc_ok(ct_doc_error_t *err);

#endif
