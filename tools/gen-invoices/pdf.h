/* Invoice PDFs for gen-invoices: one A4 page per job, drawn with libharu.
 *
 * The page carries what a Brazilian bill really shows (issuer, customer, invoice number,
 * amount "R$ 1.234,56", due date dd/mm/yyyy, the boleto line and bar code, the PIX code) plus
 * the bulk that makes real ones weigh tens of kB (a vector logo, usage or instalment tables,
 * the payment slip's grid), so that demos and benchmarks move documents of a realistic size.
 */
#ifndef GEN_INVOICES_PDF_H
#define GEN_INVOICES_PDF_H

#include "job/job.h"

#include <stddef.h>
#include <stdint.h>

/* Which kind of bill the page looks like. */
typedef enum {
  GEN_PDF_TELCO, /* phone bill: plan and services, usage detail */
  GEN_PDF_BANK,  /* credit-card statement: purchases, instalment options */
} gen_pdf_kind_t;

/* Renders the invoice of `job` (which must carry an invoice with number, amount_cents > 0,
 * due_date "YYYY-MM-DD" and a 47- or 48-digit barcode_line, digits only, as gen-invoices makes
 * them) as a one-page PDF in a new malloc'd buffer, *out (*outlen bytes).
 *
 * Everything the job does not say (line items, usage, issuer's address and colours) is drawn
 * from `seed`: the same job, kind and seed give the same bytes, run after run. The document's
 * creation date is the job's created_at_ms, and libharu writes no file ID for an unencrypted
 * document, so nothing depends on the clock.
 *
 * Errors: CT_ENOMEM; CT_EINVAL when the job lacks an invoice field above or libharu refused a
 * call (a bug here), with the reason in `err`. *out and *outlen are set only on success. */
int gen_pdf_render(const ct_job_t *job, gen_pdf_kind_t kind, uint64_t seed, uint8_t **out,
                   size_t *outlen, char *err, size_t errcap);

/* Formats `cents` as Brazilian reais, "R$ 1.234,56" (negative: "-R$ 1,00"), into `out`
 * (at least GEN_BRL_BUFSZ bytes). Returns `out`. */
#define GEN_BRL_BUFSZ 32
char *gen_format_brl(int64_t cents, char *out);

/* Converts UTF-8 to Windows-1252, the WinAnsiEncoding of PDF's standard fonts; characters
 * it lacks (and invalid UTF-8) become '?'. Always NUL-terminates `out` (cap > 0), truncating
 * at a character boundary. Returns `out`. */
char *gen_utf8_to_cp1252(const char *in, char *out, size_t cap);

#endif
