/* The outcome journal's file format and I/O (the format is described in journal.h). */
#include "spool/sqlite/journal.h"

#include "common/error.h"
#include "common/log.h"
#include "spool/spool_int.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SLOT_SIZE 512
#define HEADER_LEN 32
#define DATA_START 4096
#define REC_HEAD 32
#define REC_MAGIC 0x6f727463u /* "ctro" */
/* No record is larger: a settle op is a few KiB. A larger length is damage. */
#define MAX_RECORD ((size_t)16 << 20)
#define ABSENT UINT32_MAX

static const char header_magic[8] = {'c', 't', 's', 'p', 'j', 'r', 'n', '1'};

struct ct__journal {
  int fd;
  char *path;
  uint64_t generation;
  uint64_t size;  /* of the file: DATA_START + room for records */
  uint64_t end;   /* where the next record goes */
  size_t count;   /* records of this generation */
  bool broken;    /* a write or sync failed: what the file holds is unknown */
  uint8_t *buf;   /* records being written or read */
  size_t cap;
  ct__spool_buf_t pack; /* one attempt or receipt being encoded */
};

/* Little-endian integers, whatever the machine. */
static void put_u32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}
static void put_u64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get_u32(const uint8_t *p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; i++)
    v |= (uint32_t)p[i] << (8 * i);
  return v;
}
static uint64_t get_u64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v |= (uint64_t)p[i] << (8 * i);
  return v;
}

/* The first 8 bytes of SHA-256(data). */
static int sum8(const uint8_t *data, size_t len, uint8_t out[8]) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  if (EVP_Digest(data, len, md, &md_len, EVP_sha256(), NULL) != 1 || md_len < 8)
    return CT_ENOMEM;
  memcpy(out, md, 8);
  return 0;
}

static bool sum_ok(const uint8_t *data, size_t len, const uint8_t want[8]) {
  uint8_t got[8];
  return sum8(data, len, got) == 0 && memcmp(got, want, 8) == 0;
}

static int reserve(ct__journal_t *j, size_t len) {
  if (len <= j->cap)
    return 0;
  size_t cap = j->cap ? j->cap : 4096;
  while (cap < len)
    cap *= 2;
  uint8_t *b = realloc(j->buf, cap);
  if (b == NULL)
    return CT_ENOMEM;
  j->buf = b;
  j->cap = cap;
  return 0;
}

static int pread_full(int fd, uint8_t *p, size_t len, uint64_t off) {
  while (len > 0) {
    ssize_t r = pread(fd, p, len, (off_t)off);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      return ct_err_from_errno(errno);
    if (r == 0)
      return CT_EIO; /* the file is shorter than its own size said */
    p += r;
    len -= (size_t)r;
    off += (uint64_t)r;
  }
  return 0;
}

static int pwrite_full(int fd, const uint8_t *p, size_t len, uint64_t off) {
  while (len > 0) {
    ssize_t w = pwrite(fd, p, len, (off_t)off);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0)
      return ct_err_from_errno(errno);
    p += w;
    len -= (size_t)w;
    off += (uint64_t)w;
  }
  return 0;
}

/* Header */

static int write_header(ct__journal_t *j, uint64_t generation) {
  uint8_t h[HEADER_LEN] = {0};
  memcpy(h + 8, header_magic, 8);
  put_u64(h + 16, generation);
  int rc = sum8(h + 8, HEADER_LEN - 8, h);
  if (rc != 0)
    return rc;
  rc = pwrite_full(j->fd, h, sizeof h, (generation % 2) * SLOT_SIZE);
  if (rc == 0 && fdatasync(j->fd) != 0)
    rc = CT_EIO;
  return rc;
}

static bool read_slot(const uint8_t *h, uint64_t *generation) {
  if (memcmp(h + 8, header_magic, 8) != 0 || !sum_ok(h + 8, HEADER_LEN - 8, h))
    return false;
  *generation = get_u64(h + 16);
  return true;
}

static bool all_zero(const uint8_t *p, size_t len) {
  for (size_t i = 0; i < len; i++)
    if (p[i] != 0)
      return false;
  return true;
}

/* Records */

/* Reads the record at `off` into j->buf if it is a whole record of this generation numbered
 * `index`; *len = its payload length. False when it is not (the end of the journal). */
static int read_record(ct__journal_t *j, uint64_t off, uint64_t index, bool *ok, size_t *len) {
  *ok = false;
  if (off + REC_HEAD > j->size)
    return 0;
  int rc = reserve(j, REC_HEAD);
  if (rc == 0)
    rc = pread_full(j->fd, j->buf, REC_HEAD, off);
  if (rc != 0)
    return rc;
  size_t l = get_u32(j->buf + 12);
  if (get_u32(j->buf + 8) != REC_MAGIC || get_u64(j->buf + 16) != j->generation ||
      get_u64(j->buf + 24) != index || l > MAX_RECORD || off + REC_HEAD + l > j->size)
    return 0;
  rc = reserve(j, REC_HEAD + l);
  if (rc == 0)
    rc = pread_full(j->fd, j->buf + REC_HEAD, l, off + REC_HEAD);
  if (rc != 0)
    return rc;
  *ok = sum_ok(j->buf + 8, REC_HEAD - 8 + l, j->buf);
  *len = l;
  return 0;
}

static uint64_t padded(uint64_t len) { return (len + 7) & ~(uint64_t)7; }

/* Finds the end of the records of this generation. */
static int scan(ct__journal_t *j) {
  uint64_t off = DATA_START;
  size_t count = 0;
  for (;;) {
    bool ok;
    size_t len = 0;
    int rc = read_record(j, off, count, &ok, &len);
    if (rc != 0)
      return rc;
    if (!ok)
      break;
    off += padded(REC_HEAD + len);
    count++;
  }
  j->end = off;
  j->count = count;
  return 0;
}

/* Open and close */

static int sync_dir(const char *path) {
  char *dir = strdup(path);
  if (dir == NULL)
    return CT_ENOMEM;
  char *slash = strrchr(dir, '/');
  if (slash == NULL)
    snprintf(dir, strlen(dir) + 1, ".");
  else if (slash == dir)
    slash[1] = '\0';
  else
    *slash = '\0';
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  free(dir);
  if (fd < 0)
    return ct_err_from_errno(errno);
  int rc = fsync(fd) == 0 ? 0 : CT_EIO;
  close(fd);
  return rc;
}

/* A new journal: all of its room allocated, then an empty generation 1. */
static int create(ct__journal_t *j, size_t capacity) {
  int rc = fchmod(j->fd, 0600) == 0 ? 0 : ct_err_from_errno(errno);
  if (rc == 0) {
    int err = posix_fallocate(j->fd, 0, (off_t)(DATA_START + capacity));
    rc = err == 0 ? 0 : ct_err_from_errno(err);
  }
  if (rc == 0)
    rc = write_header(j, 1);
  if (rc == 0)
    rc = sync_dir(j->path);
  if (rc != 0)
    return rc;
  j->generation = 1;
  j->size = DATA_START + capacity;
  j->end = DATA_START;
  j->count = 0;
  return 0;
}

static int load(ct__journal_t *j, size_t capacity) {
  struct stat sb;
  if (fstat(j->fd, &sb) != 0)
    return ct_err_from_errno(errno);
  j->size = (uint64_t)sb.st_size;
  uint8_t slots[2 * SLOT_SIZE] = {0};
  int rc = pread_full(j->fd, slots, j->size < sizeof slots ? (size_t)j->size : sizeof slots, 0);
  if (rc != 0)
    return rc;
  uint64_t ga = 0, gb = 0;
  bool a = read_slot(slots, &ga), b = read_slot(slots + SLOT_SIZE, &gb);
  if (!a && !b) {
    /* A crash while creating it leaves it all zeros: nothing was ever written to it. */
    if (!all_zero(slots, sizeof slots))
      return CT_ECORRUPT;
    if (j->size < DATA_START + capacity) {
      int err = posix_fallocate(j->fd, 0, (off_t)(DATA_START + capacity));
      if (err != 0)
        return ct_err_from_errno(err);
      j->size = DATA_START + capacity;
    }
    rc = write_header(j, 1);
    if (rc != 0)
      return rc;
    j->generation = 1;
    j->end = DATA_START;
    j->count = 0;
    return 0;
  }
  j->generation = a && (!b || ga > gb) ? ga : gb;
  rc = scan(j);
  if (rc != 0)
    return rc;
  if (j->size < DATA_START + capacity) {
    int err = posix_fallocate(j->fd, 0, (off_t)(DATA_START + capacity));
    if (err == 0) {
      j->size = DATA_START + capacity;
    } else if (j->size > DATA_START) {
      ct_warn("spool: the outcome journal cannot grow to %zu bytes (%s); it keeps %llu",
              capacity, strerror(err), (unsigned long long)(j->size - DATA_START));
    } else {
      return ct_err_from_errno(err);
    }
  }
  return 0;
}

int ct__journal_open(ct__journal_t **out, const char *path, size_t capacity) {
  ct__journal_t *j = calloc(1, sizeof *j);
  if (j == NULL)
    return CT_ENOMEM;
  j->fd = -1;
  j->path = strdup(path);
  int rc = j->path == NULL ? CT_ENOMEM : 0;
  bool created = false;
  if (rc == 0) {
    j->fd = open(path, O_RDWR | O_CLOEXEC);
    if (j->fd < 0 && errno == ENOENT) {
      j->fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
      created = j->fd >= 0;
    }
    if (j->fd < 0)
      rc = ct_err_from_errno(errno);
  }
  if (rc == 0)
    rc = created ? create(j, capacity) : load(j, capacity);
  if (rc != 0) {
    if (created)
      unlink(path); /* never leave a journal without its room behind */
    ct__journal_close(j);
    return rc;
  }
  *out = j;
  return 0;
}

void ct__journal_close(ct__journal_t *j) {
  if (j == NULL)
    return;
  if (j->fd >= 0)
    close(j->fd);
  ct__spool_buf_free(&j->pack);
  free(j->buf);
  free(j->path);
  free(j);
}

size_t ct__journal_count(const ct__journal_t *j) { return j->count; }
uint64_t ct__journal_used(const ct__journal_t *j) { return j->end - DATA_START; }
uint64_t ct__journal_capacity(const ct__journal_t *j) { return j->size - DATA_START; }

/* Encoding a settle op */

typedef struct {
  ct__journal_t *j;
  size_t len; /* bytes used in j->buf */
  int rc;
} enc_t;

static uint8_t *enc_room(enc_t *e, size_t n) {
  if (e->rc != 0)
    return NULL;
  e->rc = reserve(e->j, e->len + n);
  if (e->rc != 0)
    return NULL;
  uint8_t *p = e->j->buf + e->len;
  e->len += n;
  return p;
}

static void enc_u32(enc_t *e, uint32_t v) {
  uint8_t *p = enc_room(e, 4);
  if (p != NULL)
    put_u32(p, v);
}

static void enc_u64(enc_t *e, uint64_t v) {
  uint8_t *p = enc_room(e, 8);
  if (p != NULL)
    put_u64(p, v);
}

static void enc_blob(enc_t *e, const void *data, size_t len) {
  if (data == NULL) {
    enc_u32(e, ABSENT);
    return;
  }
  enc_u32(e, (uint32_t)len);
  uint8_t *p = enc_room(e, len);
  if (p != NULL && len > 0)
    memcpy(p, data, len);
}

/* A string with its NUL, so that a reader can point into the record. */
static void enc_str(enc_t *e, const char *s) { enc_blob(e, s, s != NULL ? strlen(s) + 1 : 0); }

static void enc_attempt(enc_t *e, const ct_attempt_t *a) {
  if (a == NULL || e->rc != 0) {
    enc_blob(e, NULL, 0);
    return;
  }
  size_t len;
  e->rc = ct__spool_pack_attempt(&e->j->pack, a, &len);
  if (e->rc == 0)
    enc_blob(e, e->j->pack.data, len);
}

static void enc_record(enc_t *e, const ct__journal_entry_t *en, uint64_t index) {
  size_t start = e->len;
  const ct_settle_t *op = en->op;
  enc_room(e, REC_HEAD);
  enc_u64(e, (uint64_t)op->seq);
  enc_u64(e, (uint64_t)en->now_ms);
  enc_u64(e, (uint64_t)op->due_ms);
  enc_u32(e, (uint32_t)op->kind);
  enc_u32(e, (uint32_t)op->n_earlier);
  enc_str(e, en->job_id);
  enc_str(e, op->reason);
  enc_attempt(e, op->attempt);
  if (op->receipt != NULL && e->rc == 0) {
    size_t len;
    e->rc = ct__spool_pack_receipt(&e->j->pack, op->receipt, &len);
    if (e->rc == 0)
      enc_blob(e, e->j->pack.data, len);
  } else {
    enc_blob(e, NULL, 0);
  }
  for (size_t i = 0; i < op->n_earlier; i++)
    enc_attempt(e, op->earlier[i]);
  if (e->rc != 0)
    return;
  size_t payload = e->len - start - REC_HEAD;
  size_t pad = (size_t)padded(REC_HEAD + payload) - REC_HEAD - payload;
  uint8_t *p = enc_room(e, pad);
  if (p != NULL)
    memset(p, 0, pad);
  if (e->rc != 0)
    return;
  uint8_t *h = e->j->buf + start;
  put_u32(h + 8, REC_MAGIC);
  put_u32(h + 12, (uint32_t)payload);
  put_u64(h + 16, e->j->generation);
  put_u64(h + 24, index);
  e->rc = sum8(h + 8, REC_HEAD - 8 + payload, h);
}

int ct__journal_append(ct__journal_t *j, const ct__journal_entry_t *entries, size_t n) {
  if (j->broken)
    return CT_EIO;
  enc_t e = {.j = j};
  for (size_t i = 0; i < n && e.rc == 0; i++)
    enc_record(&e, &entries[i], j->count + i);
  if (e.rc != 0)
    return e.rc;
  if (j->end + e.len > j->size)
    return CT_ENOSPC;
  int rc = pwrite_full(j->fd, j->buf, e.len, j->end);
  if (rc == 0 && fdatasync(j->fd) != 0)
    rc = CT_EIO;
  if (rc != 0) {
    /* After a failed write or sync the kernel may have dropped the pages: nothing written
     * from now on could be trusted to sit behind a valid record. */
    j->broken = true;
    ct_error("spool: writing the outcome journal failed (%s); it takes no more records",
             ct_strerror(rc));
    return CT_EIO;
  }
  j->end += e.len;
  j->count += n;
  return 0;
}

int ct__journal_reset(ct__journal_t *j) {
  if (j->broken)
    return CT_EIO;
  int rc = write_header(j, j->generation + 1);
  if (rc != 0) {
    j->broken = true;
    ct_error("spool: emptying the outcome journal failed (%s)", ct_strerror(rc));
    return CT_EIO;
  }
  j->generation++;
  j->end = DATA_START;
  j->count = 0;
  return 0;
}

/* Decoding */

typedef struct {
  const uint8_t *p;
  size_t left;
  bool bad;
} dec_t;

static uint32_t dec_u32(dec_t *d) {
  if (d->left < 4) {
    d->bad = true;
    return 0;
  }
  uint32_t v = get_u32(d->p);
  d->p += 4;
  d->left -= 4;
  return v;
}

static uint64_t dec_u64(dec_t *d) {
  if (d->left < 8) {
    d->bad = true;
    return 0;
  }
  uint64_t v = get_u64(d->p);
  d->p += 8;
  d->left -= 8;
  return v;
}

static const uint8_t *dec_blob(dec_t *d, size_t *len) {
  uint32_t l = dec_u32(d);
  *len = 0;
  if (d->bad || l == ABSENT)
    return NULL;
  if (l > d->left) {
    d->bad = true;
    return NULL;
  }
  const uint8_t *p = d->p;
  d->p += l;
  d->left -= l;
  *len = l;
  return p;
}

static const char *dec_str(dec_t *d) {
  size_t len;
  const uint8_t *p = dec_blob(d, &len);
  if (p != NULL && (len == 0 || p[len - 1] != '\0' || memchr(p, '\0', len) != p + len - 1)) {
    d->bad = true;
    return NULL;
  }
  return (const char *)p;
}

static int dec_attempt(dec_t *d, ct_attempt_t **out, const uint8_t **raw, size_t *raw_len) {
  size_t len;
  const uint8_t *p = dec_blob(d, &len);
  *out = NULL;
  if (d->bad)
    return CT_ECORRUPT;
  if (p == NULL)
    return 0;
  *raw = p;
  *raw_len = len;
  return ct__spool_unpack_attempt(p, len, out);
}

/* Decodes the payload in j->buf and visits it. */
static int visit_record(ct__journal_t *j, size_t len,
                        int (*visit)(const ct__journal_record_t *r, void *arg), void *arg) {
  dec_t d = {.p = j->buf + REC_HEAD, .left = len};
  ct__journal_record_t r = {0};
  r.op.seq = (int64_t)dec_u64(&d);
  r.now_ms = (int64_t)dec_u64(&d);
  r.op.due_ms = (int64_t)dec_u64(&d);
  uint32_t kind = dec_u32(&d);
  uint32_t n_earlier = dec_u32(&d);
  r.job_id = dec_str(&d);
  r.op.reason = dec_str(&d);
  if (d.bad || kind > CT_SETTLE_RELEASE || r.job_id == NULL || n_earlier > len / 4)
    return CT_ECORRUPT;
  r.op.kind = (ct_settle_kind_t)kind;

  ct_attempt_t *attempt = NULL;
  ct_receipt_t *receipt = NULL;
  ct_attempt_t **earlier = n_earlier > 0 ? calloc(n_earlier, sizeof *earlier) : NULL;
  const uint8_t *attempt_raw = NULL, *last_earlier_raw = NULL;
  size_t attempt_len = 0, last_earlier_len = 0;
  int rc = n_earlier > 0 && earlier == NULL ? CT_ENOMEM : 0;
  if (rc == 0)
    rc = dec_attempt(&d, &attempt, &attempt_raw, &attempt_len);
  if (rc == 0) {
    size_t rlen;
    const uint8_t *rp = dec_blob(&d, &rlen);
    if (d.bad)
      rc = CT_ECORRUPT;
    else if (rp != NULL)
      rc = ct__spool_unpack_receipt(rp, rlen, &receipt);
  }
  for (uint32_t i = 0; rc == 0 && i < n_earlier; i++) {
    rc = dec_attempt(&d, &earlier[i], &last_earlier_raw, &last_earlier_len);
    if (rc == 0 && earlier[i] == NULL)
      rc = CT_ECORRUPT; /* an earlier attempt is never absent */
  }
  if (rc == 0) {
    r.op.attempt = attempt;
    r.op.receipt = receipt;
    r.op.earlier = (const ct_attempt_t *const *)earlier;
    r.op.n_earlier = n_earlier;
    r.last = attempt_raw != NULL ? attempt_raw : last_earlier_raw;
    r.last_len = attempt_raw != NULL ? attempt_len : last_earlier_len;
    rc = visit(&r, arg);
  }
  ct__spool_attempt_free(attempt);
  ct__spool_receipt_free(receipt);
  for (uint32_t i = 0; earlier != NULL && i < n_earlier; i++)
    ct__spool_attempt_free(earlier[i]);
  free(earlier);
  return rc;
}

int ct__journal_read(ct__journal_t *j, int (*visit)(const ct__journal_record_t *r, void *arg),
                     void *arg) {
  uint64_t off = DATA_START;
  for (size_t i = 0; i < j->count; i++) {
    bool ok;
    size_t len = 0;
    int rc = read_record(j, off, i, &ok, &len);
    if (rc == 0 && !ok)
      rc = CT_EIO; /* it was whole when counted: the file changed under us */
    if (rc == 0)
      rc = visit_record(j, len, visit, arg);
    if (rc != 0)
      return rc;
    off += padded(REC_HEAD + len);
  }
  return 0;
}
