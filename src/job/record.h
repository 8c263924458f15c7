/* Record files: streams of jobs (or dead letters) as the billing platform hands them over.
 *
 * Formats:
 *   .pbs   length-delimited protobuf: each record is a base-128 varint byte length followed by
 *          that many bytes of an encoded message (protobuf's writeDelimitedTo framing).
 *   .jsonl one JSON object per line (blank lines are skipped but still counted).
 * Either may be zstd-compressed (.pbs.zst, .jsonl.zst); compression is detected from the
 * zstd magic number, not trusted from the name. "-" means standard input/output.
 *
 * Memory stays bounded whatever the file size: the reader holds one record at a time.
 */
#ifndef CT_JOB_RECORD_H
#define CT_JOB_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { CT_FMT_AUTO = 0, CT_FMT_PBS, CT_FMT_JSONL } ct_record_format_t;

typedef struct ct_record_reader ct_record_reader_t;
typedef struct ct_record_writer ct_record_writer_t;

/* Guesses the format from a file name: "*.pbs[.zst]" -> PBS, "*.jsonl[.zst]" / "*.json[.zst]"
 * -> JSONL, anything else -> AUTO. */
ct_record_format_t ct_record_format_from_name(const char *path);

/* Opens `path` ("-" for stdin). With CT_FMT_AUTO the format is sniffed from the first
 * decompressed byte: '{' or whitespace -> JSONL, else PBS.
 * Errors: CT_ENOENT, CT_EPERM, CT_EIO, CT_ENOMEM. */
int ct_record_reader_open(ct_record_reader_t **out, const char *path, ct_record_format_t fmt);

/* Reads the next record. On 0, *data and *len hold its bytes (for JSONL without the newline, and
 * NUL-terminated), valid until the next call. A JSONL line's trailing '\r' is dropped too, and
 * the last line needs no newline. Errors:
 *   CT_EEOF        no more records (not an error for the caller)
 *   CT_ETOOBIG     record longer than CT_RECORD_MAX: it is skipped, reading may go on
 *   CT_ETRUNCATED  the input ends inside a record: nothing more can be read
 *   CT_EDECODE     corrupt zstd frame or a bad varint: nothing more can be read
 *   CT_EIO, CT_ENOMEM */
int ct_record_next(ct_record_reader_t *r, const uint8_t **data, size_t *len);

/* 1-based number of the record last returned (or skipped); for JSONL, the line number. After
 * CT_ETRUNCATED or CT_EDECODE, the number of the record that was cut or could not be framed
 * (or of the last whole record, when a zstd frame was cut between records). */
uint64_t ct_record_number(const ct_record_reader_t *r);

/* Compressed bytes consumed so far and the input's total size (0 when unknown, e.g. a pipe),
 * for progress bars. */
uint64_t ct_record_bytes_read(const ct_record_reader_t *r);
uint64_t ct_record_bytes_total(const ct_record_reader_t *r);

/* The format being read (after sniffing, once a record was read). */
ct_record_format_t ct_record_format(const ct_record_reader_t *r);

void ct_record_reader_close(ct_record_reader_t *r);

/* Creates `path` ("-" for stdout), mode 0600, writing `fmt` records, zstd-compressed at
 * `zstd_level` (1..19) or plain when 0. An existing file is truncated and made 0600. With
 * CT_FMT_AUTO the format comes from the name (ct_record_format_from_name()).
 * Errors: CT_EPERM, CT_ENOENT, CT_EIO, CT_ENOMEM, CT_EINVAL (level out of range, or no format
 * from an AUTO name). */
int ct_record_writer_open(ct_record_writer_t **out, const char *path, ct_record_format_t fmt,
                          int zstd_level);

/* Appends one record (PBS: the varint prefix is added; JSONL: a newline is added, and `data`
 * must not contain one). Errors: CT_EIO, CT_ENOSPC, CT_ENOMEM, CT_EINVAL (a newline in a JSONL
 * record, or a record over CT_RECORD_MAX, which every reader would skip). An I/O error sticks:
 * every later call and close return it; CT_EINVAL does not. */
int ct_record_write(ct_record_writer_t *w, const uint8_t *data, size_t len);

/* Flushes, fsyncs a regular file, and frees `w` in every case. Returns the first error met
 * while writing or closing, so a writer whose close returns 0 wrote everything. */
int ct_record_writer_close(ct_record_writer_t *w);

#endif
