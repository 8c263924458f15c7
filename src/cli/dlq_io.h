/* carteiro dlq export / import: dead letters to and from record files, so that they can move
 * between environments (production to staging, for analysis). Used by dlq.c only. */
#ifndef CT_CLI_DLQ_IO_H
#define CT_CLI_DLQ_IO_H

#include "spool/spool.h"

/* Writes every dead letter matching `f` to `path` as carteiro.v1.DeadLetter records (.pbs
 * framing; zstd when the name ends in ".zst"), then prints how many. On failure the partial
 * file is removed. Returns the sysexits code to exit with. */
int ct_cli_dlq_export(ct_spool_t *sp, const ct_dlq_filter_t *f, const char *path);

/* Reads carteiro.v1.DeadLetter records from `path` and stores them as dead letters in `sp`,
 * in batches of one transaction each; a job id already in the spool is reported and skipped.
 * A record that does not decode or validate is reported by number and skipped; a truncated
 * or corrupt file stops the import at that record (what came before it is stored). Returns
 * the sysexits code to exit with: 0, or EX_DATAERR when any record was refused. */
int ct_cli_dlq_import(ct_spool_t *sp, const char *path);

#endif
