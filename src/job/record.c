/* Record files: the reader and the writer of record.h.
 *
 * Reader layers, bottom up:
 *   1. the file descriptor (raw, possibly compressed bytes; bytes_read counts them);
 *   2. the source: either those bytes as they are, or their zstd decompression, chosen by
 *      peeking at the first four bytes for a zstd frame (or skippable frame) magic number;
 *   3. the window: one growable buffer holding decompressed bytes [pos, end). A record is
 *      returned as a pointer into it, so a record costs no copy. The window grows to the
 *      largest accepted record plus its framing and no further: CT_RECORD_MAX + 16 bytes.
 *
 * Framing errors and what can follow them:
 *   - PBS length over CT_RECORD_MAX: the length is trusted and that many bytes are skipped
 *     (read and dropped, never buffered), so the next record is found; CT_ETOOBIG.
 *   - JSONL line over CT_RECORD_MAX: dropped up to its newline; CT_ETOOBIG.
 *   - a varint longer than 10 bytes or over 64 bits: the framing is lost; CT_EDECODE, sticky.
 *   - input ending inside a record, or a zstd frame that never ends: CT_ETRUNCATED, sticky.
 *   - zstd reporting corruption: CT_EDECODE, sticky (records before it were returned).
 *
 * Writer: records are framed into an output buffer, compressed with ZSTD_compressStream2
 * when asked, and written with write(2) in buffer-sized pieces. The first error sticks and is
 * what close() returns; close() ends the zstd frame, fsyncs a regular file and closes it.
 */
#include "job/record.h"

#include "common/error.h"
#include "job/job.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

/* Longest PBS framing: a 64-bit varint. */
#define VARINT_MAX 10
/* The window never needs more than one whole record, its framing and a NUL. */
#define WINDOW_MAX (CT_RECORD_MAX + VARINT_MAX + 6)
#define WINDOW_MIN ((size_t)64 << 10)

struct ct_record_reader {
  int fd;
  bool own_fd;
  ct_record_format_t fmt;
  int sticky; /* CT_ETRUNCATED / CT_EDECODE / CT_EIO once reading cannot go on */
  uint64_t number;
  uint64_t bytes_read;
  uint64_t bytes_total;

  /* Source. */
  bool started;    /* the compression sniff has been done */
  bool zstd;
  bool raw_eof;    /* read(2) returned 0 */
  bool src_eof;    /* no more decompressed bytes will come */
  bool frame_open; /* zstd: inside a frame (ZSTD_decompressStream did not return 0) */
  ZSTD_DCtx *dctx;
  uint8_t *in;     /* raw bytes waiting for the decompressor */
  size_t in_cap, in_pos, in_end;

  /* Window of decompressed bytes. */
  uint8_t *buf;
  size_t cap, pos, end;
};

struct ct_record_writer {
  int fd;
  bool own_fd;
  ct_record_format_t fmt;
  int err; /* first error, returned by every later call and by close */
  ZSTD_CCtx *cctx;
  uint8_t *buf; /* framed, uncompressed records */
  size_t cap, len;
  uint8_t *zbuf; /* compressed output */
  size_t zcap;
};

static bool ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

ct_record_format_t ct_record_format_from_name(const char *path) {
  static const struct {
    const char *suffix;
    ct_record_format_t fmt;
  } names[] = {
      {".pbs", CT_FMT_PBS},     {".pbs.zst", CT_FMT_PBS},     {".jsonl", CT_FMT_JSONL},
      {".jsonl.zst", CT_FMT_JSONL}, {".json", CT_FMT_JSONL}, {".json.zst", CT_FMT_JSONL},
  };
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (ends_with(path, names[i].suffix))
      return names[i].fmt;
  return CT_FMT_AUTO;
}

/* ---------------------------------------------------------------------------------------- */
/* Reader: source                                                                            */

/* Reads raw bytes into in[in_end..in_cap). Returns 0 (raw_eof set at end of file) or an
 * error. */
static int raw_fill(ct_record_reader_t *r) {
  if (r->in_pos > 0 && r->in_pos == r->in_end) {
    r->in_pos = 0;
    r->in_end = 0;
  }
  if (r->in_end == r->in_cap) {
    memmove(r->in, r->in + r->in_pos, r->in_end - r->in_pos);
    r->in_end -= r->in_pos;
    r->in_pos = 0;
  }
  if (r->in_end == r->in_cap)
    return 0; /* full: the caller consumes first */
  for (;;) {
    ssize_t n = read(r->fd, r->in + r->in_end, r->in_cap - r->in_end);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return ct_err_from_errno(errno) == CT_ENOMEM ? CT_ENOMEM : CT_EIO;
    if (n == 0)
      r->raw_eof = true;
    r->in_end += (size_t)n;
    r->bytes_read += (uint64_t)n;
    return 0;
  }
}

static bool is_zstd_magic(const uint8_t *p) {
  uint32_t m = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
  return m == ZSTD_MAGICNUMBER || (m & ZSTD_MAGIC_SKIPPABLE_MASK) == ZSTD_MAGIC_SKIPPABLE_START;
}

/* Decides once whether the input is zstd, from its first four bytes. */
static int src_start(ct_record_reader_t *r) {
  while (!r->raw_eof && r->in_end - r->in_pos < 4) {
    int rc = raw_fill(r);
    if (rc != 0)
      return rc;
  }
  r->started = true;
  if (r->in_end - r->in_pos >= 4 && is_zstd_magic(r->in + r->in_pos)) {
    r->zstd = true;
    r->dctx = ZSTD_createDCtx();
    if (r->dctx == NULL)
      return CT_ENOMEM;
  }
  return 0;
}

/* Appends decompressed bytes to the window, at least one unless the source is exhausted
 * (src_eof). The window must have room. */
static int src_read(ct_record_reader_t *r) {
  if (!r->started) {
    int rc = src_start(r);
    if (rc != 0)
      return rc;
  }
  size_t before = r->end;
  while (r->end == before && !r->src_eof) {
    if (r->in_pos == r->in_end) {
      if (r->raw_eof) {
        r->src_eof = true;
        break;
      }
      int rc = raw_fill(r);
      if (rc != 0)
        return rc;
      if (r->in_pos == r->in_end)
        continue;
    }
    if (!r->zstd) {
      size_t n = r->in_end - r->in_pos;
      if (n > r->cap - r->end)
        n = r->cap - r->end;
      memcpy(r->buf + r->end, r->in + r->in_pos, n);
      r->in_pos += n;
      r->end += n;
      continue;
    }
    ZSTD_inBuffer zin = {r->in, r->in_end, r->in_pos};
    ZSTD_outBuffer zout = {r->buf, r->cap, r->end};
    size_t ret = ZSTD_decompressStream(r->dctx, &zout, &zin);
    if (ZSTD_isError(ret))
      return CT_EDECODE;
    r->in_pos = zin.pos;
    r->end = zout.pos;
    /* 0 means a frame ended and was flushed; any other value, that more input is due. */
    r->frame_open = ret != 0;
  }
  return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Reader: window                                                                            */

/* Makes room for at least `want` bytes at pos, moving the data to the front and growing the
 * buffer (never beyond WINDOW_MAX). */
static int window_reserve(ct_record_reader_t *r, size_t want) {
  if (r->pos > 0) {
    memmove(r->buf, r->buf + r->pos, r->end - r->pos);
    r->end -= r->pos;
    r->pos = 0;
  }
  if (want <= r->cap)
    return 0;
  size_t cap = r->cap;
  while (cap < want)
    cap *= 2;
  if (cap > WINDOW_MAX)
    cap = WINDOW_MAX;
  uint8_t *p = realloc(r->buf, cap);
  if (p == NULL)
    return CT_ENOMEM;
  r->buf = p;
  r->cap = cap;
  return 0;
}

/* Ensures `n` bytes are buffered at pos (n <= WINDOW_MAX). Returns 0 with fewer only when the
 * source is exhausted. */
static int window_need(ct_record_reader_t *r, size_t n) {
  while (r->end - r->pos < n && !r->src_eof) {
    if (r->cap - r->end == 0 || r->cap - r->pos < n) {
      int rc = window_reserve(r, n < WINDOW_MIN ? WINDOW_MIN : n);
      if (rc != 0)
        return rc;
    }
    int rc = src_read(r);
    if (rc != 0)
      return rc;
  }
  return 0;
}

/* Drops everything buffered and reads more into an emptied window: used while skipping. */
static int window_refill(ct_record_reader_t *r) {
  r->pos = 0;
  r->end = 0;
  return src_read(r);
}

/* The input ended: cleanly only at a record boundary and outside a zstd frame. */
static int at_end(ct_record_reader_t *r, bool inside_record) {
  if (inside_record || r->frame_open) {
    r->sticky = CT_ETRUNCATED;
    return CT_ETRUNCATED;
  }
  return CT_EEOF;
}

static int next_pbs(ct_record_reader_t *r, const uint8_t **data, size_t *len) {
  int rc = window_need(r, VARINT_MAX);
  if (rc != 0)
    return rc;
  size_t avail = r->end - r->pos;
  if (avail == 0)
    return at_end(r, false);
  /* A record starts here, whatever happens to it: errors carry its number. */
  r->number++;
  uint64_t n = 0;
  size_t k = 0;
  for (;; k++) {
    if (k == avail)
      return at_end(r, true);
    if (k == VARINT_MAX) {
      r->sticky = CT_EDECODE;
      return CT_EDECODE;
    }
    uint8_t b = r->buf[r->pos + k];
    /* The tenth byte may carry only the 64th bit. */
    if (k == VARINT_MAX - 1 && b > 1) {
      r->sticky = CT_EDECODE;
      return CT_EDECODE;
    }
    n |= (uint64_t)(b & 0x7f) << (7 * k);
    if ((b & 0x80) == 0)
      break;
  }
  k++;
  if (n > CT_RECORD_MAX) {
    /* Trust the length and skip the body without buffering it: the next record follows. */
    r->pos += k;
    uint64_t left = n;
    for (;;) {
      size_t have = r->end - r->pos;
      if ((uint64_t)have >= left) {
        r->pos += (size_t)left;
        return CT_ETOOBIG;
      }
      left -= have;
      if (r->src_eof)
        return at_end(r, true);
      rc = window_refill(r);
      if (rc != 0)
        return rc;
    }
  }
  rc = window_need(r, k + (size_t)n);
  if (rc != 0)
    return rc;
  if (r->end - r->pos < k + (size_t)n)
    return at_end(r, true);
  *data = r->buf + r->pos + k;
  *len = (size_t)n;
  r->pos += k + (size_t)n;
  return 0;
}

static bool is_blank(const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
      return false;
  return true;
}

/* Drops the rest of an over-long line, up to and including its newline. */
static int skip_line(ct_record_reader_t *r) {
  for (;;) {
    uint8_t *nl = memchr(r->buf + r->pos, '\n', r->end - r->pos);
    if (nl != NULL) {
      r->pos = (size_t)(nl - r->buf) + 1;
      return 0;
    }
    if (r->src_eof) {
      r->pos = r->end;
      return 0;
    }
    int rc = window_refill(r);
    if (rc != 0)
      return rc;
  }
}

static int next_jsonl(ct_record_reader_t *r, const uint8_t **data, size_t *len) {
  for (;;) {
    size_t scanned = 0;
    uint8_t *nl = NULL;
    /* Find the end of the line, reading more until it is there, the line is over the limit,
     * or the input ends. */
    for (;;) {
      size_t avail = r->end - r->pos;
      nl = memchr(r->buf + r->pos + scanned, '\n', avail - scanned);
      if (nl != NULL || avail > CT_RECORD_MAX || r->src_eof)
        break;
      scanned = avail;
      int rc = window_need(r, avail + 1);
      if (rc != 0)
        return rc;
    }
    size_t avail = r->end - r->pos;
    if (nl == NULL && avail == 0)
      return at_end(r, false);
    size_t n = nl != NULL ? (size_t)(nl - (r->buf + r->pos)) : avail;
    r->number++;
    /* A last line without its newline is a record, unless a zstd frame was cut inside it. */
    if (nl == NULL && r->frame_open)
      return at_end(r, true);
    if (n > CT_RECORD_MAX) {
      int rc = skip_line(r);
      return rc != 0 ? rc : CT_ETOOBIG;
    }
    uint8_t *line = r->buf + r->pos;
    if (nl != NULL) {
      r->pos += n + 1;
    } else {
      /* The last line has no newline: make room for the terminating NUL. */
      int rc = window_reserve(r, avail + 1);
      if (rc != 0)
        return rc;
      line = r->buf;
      r->pos = r->end;
    }
    if (n > 0 && line[n - 1] == '\r')
      n--;
    if (is_blank(line, n))
      continue;
    line[n] = '\0';
    *data = line;
    *len = n;
    return 0;
  }
}

int ct_record_reader_open(ct_record_reader_t **out, const char *path, ct_record_format_t fmt) {
  ct_record_reader_t *r = calloc(1, sizeof *r);
  if (r == NULL)
    return CT_ENOMEM;
  int rc = CT_ENOMEM;
  r->fmt = fmt;
  r->in_cap = ZSTD_DStreamInSize();
  r->in = malloc(r->in_cap);
  if (r->in == NULL)
    goto fail_in;
  r->cap = WINDOW_MIN;
  r->buf = malloc(r->cap);
  if (r->buf == NULL)
    goto fail_buf;
  if (strcmp(path, "-") == 0) {
    r->fd = STDIN_FILENO;
  } else {
    r->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0) {
      rc = ct_err_from_errno(errno);
      goto fail_open;
    }
    r->own_fd = true;
  }
  struct stat st;
  if (fstat(r->fd, &st) == 0 && S_ISREG(st.st_mode))
    r->bytes_total = (uint64_t)st.st_size;
  *out = r;
  return 0;

fail_open:
  free(r->buf);
fail_buf:
  free(r->in);
fail_in:
  free(r);
  return rc;
}

int ct_record_next(ct_record_reader_t *r, const uint8_t **data, size_t *len) {
  if (r->sticky != 0)
    return r->sticky;
  if (r->fmt == CT_FMT_AUTO) {
    int rc = window_need(r, 1);
    if (rc != 0)
      return rc;
    if (r->end == r->pos)
      return at_end(r, false);
    uint8_t c = r->buf[r->pos];
    r->fmt = c == '{' || c == ' ' || c == '\t' || c == '\r' || c == '\n' ? CT_FMT_JSONL
                                                                         : CT_FMT_PBS;
  }
  int rc = r->fmt == CT_FMT_PBS ? next_pbs(r, data, len) : next_jsonl(r, data, len);
  /* I/O and decompression errors leave the stream at an unknown place: stop there. */
  if (rc == CT_EIO || rc == CT_EDECODE)
    r->sticky = rc;
  return rc;
}

uint64_t ct_record_number(const ct_record_reader_t *r) { return r->number; }
uint64_t ct_record_bytes_read(const ct_record_reader_t *r) { return r->bytes_read; }
uint64_t ct_record_bytes_total(const ct_record_reader_t *r) { return r->bytes_total; }
ct_record_format_t ct_record_format(const ct_record_reader_t *r) { return r->fmt; }

void ct_record_reader_close(ct_record_reader_t *r) {
  if (r == NULL)
    return;
  if (r->own_fd)
    close(r->fd);
  ZSTD_freeDCtx(r->dctx);
  free(r->buf);
  free(r->in);
  free(r);
}

/* ---------------------------------------------------------------------------------------- */
/* Writer                                                                                    */

static int write_all(ct_record_writer_t *w, const uint8_t *p, size_t n) {
  while (n > 0) {
    ssize_t k = write(w->fd, p, n);
    if (k < 0 && errno == EINTR)
      continue;
    if (k < 0)
      return ct_err_from_errno(errno);
    p += k;
    n -= (size_t)k;
  }
  return 0;
}

/* Sends buffered records on: compressed with `mode` (ZSTD_e_continue, _flush or _end), or as
 * they are. */
static int writer_drain(ct_record_writer_t *w, ZSTD_EndDirective mode) {
  if (w->cctx == NULL) {
    int rc = write_all(w, w->buf, w->len);
    w->len = 0;
    return rc;
  }
  ZSTD_inBuffer zin = {w->buf, w->len, 0};
  for (;;) {
    ZSTD_outBuffer zout = {w->zbuf, w->zcap, 0};
    size_t left = ZSTD_compressStream2(w->cctx, &zout, &zin, mode);
    if (ZSTD_isError(left))
      return CT_EIO;
    int rc = write_all(w, w->zbuf, zout.pos);
    if (rc != 0)
      return rc;
    /* With e_continue, done once the input is consumed; otherwise once zstd has nothing left
     * to flush. */
    if (mode == ZSTD_e_continue ? zin.pos == zin.size : left == 0)
      break;
  }
  w->len = 0;
  return 0;
}

int ct_record_writer_open(ct_record_writer_t **out, const char *path, ct_record_format_t fmt,
                          int zstd_level) {
  if (fmt == CT_FMT_AUTO)
    fmt = ct_record_format_from_name(path);
  if (fmt != CT_FMT_PBS && fmt != CT_FMT_JSONL)
    return CT_EINVAL;
  if (zstd_level < 0 || zstd_level > 19)
    return CT_EINVAL;
  ct_record_writer_t *w = calloc(1, sizeof *w);
  if (w == NULL)
    return CT_ENOMEM;
  int rc = CT_ENOMEM;
  w->fmt = fmt;
  w->cap = (size_t)128 << 10;
  w->buf = malloc(w->cap);
  if (w->buf == NULL)
    goto fail_buf;
  if (zstd_level > 0) {
    w->zcap = ZSTD_CStreamOutSize();
    w->zbuf = malloc(w->zcap);
    w->cctx = ZSTD_createCCtx();
    if (w->zbuf == NULL || w->cctx == NULL)
      goto fail_zstd;
    if (ZSTD_isError(ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, zstd_level)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_checksumFlag, 1))) {
      rc = CT_EINVAL;
      goto fail_zstd;
    }
  }
  if (strcmp(path, "-") == 0) {
    w->fd = STDOUT_FILENO;
  } else {
    /* Records hold personal data: owner-only, also when an older file is overwritten. */
    w->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (w->fd < 0) {
      rc = ct_err_from_errno(errno);
      goto fail_zstd;
    }
    w->own_fd = true;
    if (fchmod(w->fd, 0600) != 0) {
      rc = ct_err_from_errno(errno);
      goto fail_open;
    }
  }
  *out = w;
  return 0;

fail_open:
  close(w->fd);
fail_zstd:
  ZSTD_freeCCtx(w->cctx);
  free(w->zbuf);
  free(w->buf);
fail_buf:
  free(w);
  return rc;
}

/* Copies bytes into the output buffer, draining it whenever it fills. */
static int writer_put(ct_record_writer_t *w, const uint8_t *p, size_t n) {
  while (n > 0) {
    size_t k = w->cap - w->len;
    if (k > n)
      k = n;
    memcpy(w->buf + w->len, p, k);
    w->len += k;
    p += k;
    n -= k;
    if (w->len == w->cap) {
      int rc = writer_drain(w, ZSTD_e_continue);
      if (rc != 0)
        return rc;
    }
  }
  return 0;
}

int ct_record_write(ct_record_writer_t *w, const uint8_t *data, size_t len) {
  if (w->err != 0)
    return w->err;
  /* Refused rather than written: every reader would skip it. */
  if (len > CT_RECORD_MAX)
    return CT_EINVAL;
  int rc;
  if (w->fmt == CT_FMT_PBS) {
    uint8_t prefix[VARINT_MAX];
    size_t k = 0;
    uint64_t v = len;
    do {
      prefix[k] = (uint8_t)(v & 0x7f);
      v >>= 7;
      if (v != 0)
        prefix[k] |= 0x80;
      k++;
    } while (v != 0);
    rc = writer_put(w, prefix, k);
    if (rc == 0)
      rc = writer_put(w, data, len);
  } else {
    if (memchr(data, '\n', len) != NULL)
      return CT_EINVAL;
    rc = writer_put(w, data, len);
    if (rc == 0)
      rc = writer_put(w, (const uint8_t *)"\n", 1);
  }
  if (rc != 0)
    w->err = rc;
  return rc;
}

int ct_record_writer_close(ct_record_writer_t *w) {
  if (w == NULL)
    return 0;
  int rc = w->err;
  if (rc == 0)
    rc = writer_drain(w, ZSTD_e_end);
  struct stat st;
  if (rc == 0 && fstat(w->fd, &st) == 0 && S_ISREG(st.st_mode) && fsync(w->fd) != 0)
    rc = ct_err_from_errno(errno);
  if (w->own_fd && close(w->fd) != 0 && rc == 0)
    rc = ct_err_from_errno(errno);
  ZSTD_freeCCtx(w->cctx);
  free(w->zbuf);
  free(w->buf);
  free(w);
  return rc;
}
