/* The outcome journal of the SQLite backend: a side file where the owner keeps outcomes that
 * the database could not commit (disk full, I/O errors), until they can be. See "WHEN A
 * COMMIT FAILS" in sqlite.c for why it exists and how it is used; this file is only the file
 * format and its I/O, with no SQLite in it.
 *
 * FORMAT (PATH.outcomes, 0600, integers little-endian)
 *
 *   [0, 512)      header slot A      sum[8] | "ctspjrn1" | generation u64 | zero u64
 *   [512, 1024)   header slot B      the same; the valid slot with the higher generation wins
 *   [4096, size)  records, back to back, each padded to 8 bytes:
 *                   sum[8] | magic "ctro" | len u32 | generation u64 | index u64 | payload[len]
 *
 * sum is the first 8 bytes of the SHA-256 of the bytes after it (header: 24 bytes; record:
 * 24 + len). Records of the current generation are read from the start while each one is
 * whole, of this generation and numbered 0, 1, 2, ...: the first that is not ends the journal,
 * so a record torn by a crash and anything left behind it by an older generation are ignored.
 * Emptying the journal writes a header with the next generation into the other slot; a torn
 * header write leaves the older slot, and so the older records, in force.
 *
 * The payload of a record is one settle op: seq, the time it was settled, due_ms, kind, the
 * job id (checked when the record is applied, see sqlite.c), reason, and the attempt, the
 * earlier attempts and the receipt as their protobuf encodings.
 *
 * The whole file is allocated when it is created (posix_fallocate), so writing records later
 * overwrites blocks the file already owns and needs no free space on the file system.
 */
#ifndef CT_SPOOL_SQLITE_JOURNAL_H
#define CT_SPOOL_SQLITE_JOURNAL_H

#include "spool/spool.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Room reserved per outcome. A WhatsApp invoice's outcome (three parts, two attempts before
 * the last) encodes to well under 1 KiB; twice that covers long provider messages. */
#define CT__JOURNAL_BYTES_PER_OUTCOME 2048

typedef struct ct__journal ct__journal_t;

/* One record to write: the op as given to settle, the id of its job and the settle time. */
typedef struct {
  const ct_settle_t *op;
  const char *job_id;
  int64_t now_ms;
} ct__journal_entry_t;

/* One record read back. Everything points into memory owned by the journal and is valid
 * during the visit only. `last`/`last_len` are the encoded bytes of the last attempt the op
 * appends to the job's history (the attempt, else the last earlier one), NULL when none. */
typedef struct {
  ct_settle_t op;
  const char *job_id;
  int64_t now_ms;
  const uint8_t *last;
  size_t last_len;
} ct__journal_record_t;

/* Opens the journal at `path`, creating it 0600 with `capacity` bytes of room for records
 * (allocated now), or growing an existing smaller one to that (if the file system has no
 * room for the growth, the existing size is kept and a warning logged). Reads the records it
 * holds. Errors: CT_ENOSPC (the file cannot be created with its room: nothing is left
 * behind), CT_ECORRUPT (the file exists and neither header slot is valid), CT_EPERM, CT_EIO,
 * CT_ENOMEM. *out is set only on success. */
int ct__journal_open(ct__journal_t **out, const char *path, size_t capacity);

/* Closes the file. The records stay in it. NULL is a no-op. */
void ct__journal_close(ct__journal_t *j);

/* Calls `visit` for each record, in the order written; a non-zero return stops the walk and
 * is returned. Errors: CT_EIO, CT_ENOMEM, CT_ECORRUPT (a record whose checksum holds but
 * whose payload does not decode). */
int ct__journal_read(ct__journal_t *j, int (*visit)(const ct__journal_record_t *r, void *arg),
                     void *arg);

/* Appends one record per entry with one write and one fdatasync; either all of them are
 * durable when it returns 0, or (on error) none counts. Errors: CT_ENOSPC (not enough room
 * left in the journal), CT_EIO (the write or the sync failed: the journal takes no more
 * records until it is reopened), CT_ENOMEM. */
int ct__journal_append(ct__journal_t *j, const ct__journal_entry_t *entries, size_t n);

/* Empties the journal (the next generation), durably. Errors: CT_EIO (as append). */
int ct__journal_reset(ct__journal_t *j);

size_t ct__journal_count(const ct__journal_t *j);    /* records held */
uint64_t ct__journal_used(const ct__journal_t *j);   /* bytes of records held */
uint64_t ct__journal_capacity(const ct__journal_t *j); /* bytes of room for records */

#endif
