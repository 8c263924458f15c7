/* Masking of personal data for logs, metrics and operator output (LGPD).
 *
 * Each function writes a NUL-terminated masked copy of `in` into `out` (capacity `cap`,
 * CT_MASK_BUFSZ is always enough) and returns `out`. Input that does not look like the
 * expected kind is masked completely ("***"), never echoed.
 */
#ifndef CT_COMMON_MASK_H
#define CT_COMMON_MASK_H

#include <stddef.h>

#define CT_MASK_BUFSZ 96

/* "12345678909" or "123.456.789-09" -> "***.***.***-09" */
char *ct_mask_cpf(const char *in, char *out, size_t cap);

/* "+5511987654321" -> "+55 11 9****-4321" */
char *ct_mask_phone(const char *in, char *out, size_t cap);

/* "joana@example.com" -> "j***@example.com" */
char *ct_mask_email(const char *in, char *out, size_t cap);

/* Any other secret: keeps nothing but its length class, "***". */
char *ct_mask_all(const char *in, char *out, size_t cap);

#endif
