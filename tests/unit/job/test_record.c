/* Record files (src/job/record.c): the four formats written and read back byte for byte,
 * and every way a file can be damaged: truncated, corrupt zstd, bad varints, records over
 * CT_RECORD_MAX, blank lines. Record numbers are asserted at each step because the CLI reports
 * them to producers.
 */
#include "common/error.h"
#include "job/job.h"
#include "job/record.h"

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <zstd.h>

static char dir[64];

static const char *tmp_path(const char *name) {
  static char buf[4][128];
  static int next;
  char *p = buf[next++ % 4];
  snprintf(p, sizeof buf[0], "%s/%s", dir, name);
  return p;
}

/* Deterministic record contents: record i of format fmt. JSONL records are printable and
 * never contain a newline; PBS records are any bytes, including empty ones. */
static uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15u;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
  return x ^ (x >> 31);
}

static size_t record_len(size_t i) {
  if (i % 97 == 13)
    return (size_t)300 << 10; /* crosses the 64 KiB window and the zstd block size */
  return (size_t)(mix(i) % 700);
}

static void make_record(ct_record_format_t fmt, size_t i, uint8_t *buf, size_t *len) {
  size_t n = record_len(i);
  if (fmt == CT_FMT_JSONL && n < 2)
    n = 2;
  for (size_t k = 0; k < n; k++) {
    uint8_t b = (uint8_t)mix(i * 1000003 + k);
    buf[k] = fmt == CT_FMT_JSONL ? (uint8_t)('a' + b % 26) : b;
  }
  if (fmt == CT_FMT_JSONL) {
    buf[0] = '{';
    buf[n - 1] = '}';
  }
  *len = n;
}

static void write_file(const char *path, const void *data, size_t len) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(data, 1, len, f), len);
  assert_int_equal(fclose(f), 0);
}

static uint8_t *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *p = malloc((size_t)n + 1);
  assert_non_null(p);
  assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
  fclose(f);
  *len = (size_t)n;
  return p;
}

static void write_records(const char *path, ct_record_format_t fmt, int level, size_t n) {
  uint8_t *buf = malloc((size_t)300 << 10);
  assert_non_null(buf);
  ct_record_writer_t *w;
  assert_int_equal(ct_record_writer_open(&w, path, fmt, level), 0);
  for (size_t i = 0; i < n; i++) {
    size_t len;
    make_record(fmt, i, buf, &len);
    assert_int_equal(ct_record_write(w, buf, len), 0);
  }
  assert_int_equal(ct_record_writer_close(w), 0);
  free(buf);
}

/* Reads records from `r` and checks they are records first..first+n-1 of `fmt` with
 * consecutive record numbers. */
static void expect_records(ct_record_reader_t *r, ct_record_format_t fmt, size_t first,
                           size_t n) {
  uint8_t *want = malloc((size_t)300 << 10);
  assert_non_null(want);
  for (size_t i = first; i < first + n; i++) {
    const uint8_t *data;
    size_t len, wlen;
    int rc = ct_record_next(r, &data, &len);
    if (rc != 0)
      fail_msg("record %zu: %s", i + 1, ct_errname(rc));
    make_record(fmt, i, want, &wlen);
    assert_int_equal(len, wlen);
    assert_memory_equal(data, want, wlen);
    if (fmt == CT_FMT_JSONL)
      assert_int_equal(data[len], '\0');
    assert_int_equal(ct_record_number(r), i + 1);
  }
  free(want);
}

static void expect_rc(ct_record_reader_t *r, int want, uint64_t number) {
  const uint8_t *data;
  size_t len;
  int rc = ct_record_next(r, &data, &len);
  if (rc != want)
    fail_msg("got %s, want %s (after record %llu)", ct_errname(rc), ct_errname(want),
             (unsigned long long)ct_record_number(r));
  assert_int_equal(ct_record_number(r), number);
}

static ct_record_reader_t *open_reader(const char *path, ct_record_format_t fmt) {
  ct_record_reader_t *r;
  assert_int_equal(ct_record_reader_open(&r, path, fmt), 0);
  return r;
}

/* ---------------------------------------------------------------------------------------- */

static void round_trip_four_formats(void **state) {
  (void)state;
  /* The highest level (19) runs on fewer records, two of them large: it compresses a few
   * hundred kB a second, and 1,500 records (4.6 MB) took seconds of CPU, most of the test. */
  static const struct {
    const char *name;
    ct_record_format_t fmt;
    int level;
    size_t n;
  } cases[] = {
      {"a.pbs", CT_FMT_PBS, 0, 1500},
      {"a.pbs.zst", CT_FMT_PBS, 3, 1500},
      {"a.jsonl", CT_FMT_JSONL, 0, 1500},
      {"a.jsonl.zst", CT_FMT_JSONL, 3, 1500},
      {"b.jsonl.zst", CT_FMT_JSONL, 19, 200},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    const size_t n = cases[c].n;
    const char *path = tmp_path(cases[c].name);
    write_records(path, cases[c].fmt, cases[c].level, n);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    /* Sniffed and named formats read the same. */
    ct_record_format_t fmts[] = {CT_FMT_AUTO, cases[c].fmt};
    for (size_t f = 0; f < 2; f++) {
      ct_record_reader_t *r = open_reader(path, fmts[f]);
      assert_int_equal(ct_record_bytes_total(r), (uint64_t)st.st_size);
      expect_records(r, cases[c].fmt, 0, n);
      assert_int_equal(ct_record_format(r), cases[c].fmt);
      expect_rc(r, CT_EEOF, n);
      expect_rc(r, CT_EEOF, n); /* and stays there */
      assert_int_equal(ct_record_bytes_read(r), (uint64_t)st.st_size);
      ct_record_reader_close(r);
    }
  }
}

static void record_at_the_limit(void **state) {
  (void)state;
  uint8_t *big = malloc(CT_RECORD_MAX);
  assert_non_null(big);
  memset(big, 'x', CT_RECORD_MAX);
  big[0] = '{';
  big[CT_RECORD_MAX - 1] = '}';
  static const char *names[] = {"limit.pbs", "limit.jsonl.zst"};
  static const ct_record_format_t fmts[] = {CT_FMT_PBS, CT_FMT_JSONL};
  for (int c = 0; c < 2; c++) {
    ct_record_writer_t *w;
    assert_int_equal(ct_record_writer_open(&w, tmp_path(names[c]), fmts[c], c), 0);
    assert_int_equal(ct_record_write(w, big, CT_RECORD_MAX), 0);
    assert_int_equal(ct_record_write(w, (const uint8_t *)"{}", 2), 0);
    /* One byte more and every reader would skip it: refused. */
    assert_int_equal(ct_record_write(w, big, CT_RECORD_MAX + 1), CT_EINVAL);
    assert_int_equal(ct_record_writer_close(w), 0);

    ct_record_reader_t *r = open_reader(tmp_path(names[c]), CT_FMT_AUTO);
    const uint8_t *data;
    size_t len;
    assert_int_equal(ct_record_next(r, &data, &len), 0);
    assert_int_equal(len, CT_RECORD_MAX);
    assert_memory_equal(data, big, CT_RECORD_MAX);
    assert_int_equal(ct_record_next(r, &data, &len), 0);
    assert_int_equal(len, 2);
    assert_int_equal(ct_record_number(r), 2);
    expect_rc(r, CT_EEOF, 2);
    ct_record_reader_close(r);
  }
  free(big);
}

static void truncated_pbs(void **state) {
  (void)state;
  /* Enough records that the last one is 128..699 bytes: a two-byte varint to cut into. */
  size_t n = 20;
  while (record_len(n - 1) < 128 || record_len(n - 1) >= 700)
    n++;
  const char *path = tmp_path("t.pbs");
  write_records(path, CT_FMT_PBS, 0, n);
  size_t size;
  uint8_t *all = read_file(path, &size);
  uint8_t last[1024];
  size_t last_len;
  make_record(CT_FMT_PBS, n - 1, last, &last_len);
  size_t cuts[] = {1, last_len / 2, last_len, last_len + 1};
  for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
    const char *cut = tmp_path("cut.pbs");
    write_file(cut, all, size - cuts[c]);
    ct_record_reader_t *r = open_reader(cut, CT_FMT_PBS);
    expect_records(r, CT_FMT_PBS, 0, n - 1);
    expect_rc(r, CT_ETRUNCATED, n);
    expect_rc(r, CT_ETRUNCATED, n); /* nothing more can be read */
    ct_record_reader_close(r);
  }
  /* Cut exactly between records: a shorter file, not a damaged one. */
  write_file(tmp_path("cut.pbs"), all, size - last_len - 2);
  ct_record_reader_t *r = open_reader(tmp_path("cut.pbs"), CT_FMT_PBS);
  expect_records(r, CT_FMT_PBS, 0, n - 1);
  expect_rc(r, CT_EEOF, n - 1);
  ct_record_reader_close(r);
  free(all);
}

static void truncated_zstd(void **state) {
  (void)state;
  static const char *names[] = {"t.pbs.zst", "t.jsonl.zst"};
  static const ct_record_format_t fmts[] = {CT_FMT_PBS, CT_FMT_JSONL};
  for (int c = 0; c < 2; c++) {
    const char *path = tmp_path(names[c]);
    write_records(path, fmts[c], 3, 400);
    size_t size;
    uint8_t *all = read_file(path, &size);
    size_t cuts[] = {4, 100, size / 2, size - 5};
    for (size_t k = 0; k < sizeof cuts / sizeof cuts[0]; k++) {
      write_file(tmp_path("cut.zst"), all, size - cuts[k]);
      ct_record_reader_t *r = open_reader(tmp_path("cut.zst"), fmts[c]);
      /* Whatever was decompressed before the cut is returned intact, then the damage. */
      uint8_t *want = malloc((size_t)300 << 10);
      assert_non_null(want);
      int rc;
      uint64_t got = 0;
      for (;;) {
        const uint8_t *data;
        size_t len, wlen;
        rc = ct_record_next(r, &data, &len);
        if (rc != 0)
          break;
        make_record(fmts[c], got, want, &wlen);
        assert_int_equal(len, wlen);
        assert_memory_equal(data, want, wlen);
        got++;
      }
      assert_int_equal(rc, CT_ETRUNCATED);
      /* Cutting only the 4-byte frame checksum loses no record, but the frame is still cut. */
      assert_true(cuts[k] <= 4 ? got <= 400 : got < 400);
      /* The cut record's number, or the last whole one's when the cut fell between them. */
      assert_true(ct_record_number(r) == got + 1 || ct_record_number(r) == got);
      free(want);
      ct_record_reader_close(r);
    }
    free(all);
  }
}

static void corrupt_zstd(void **state) {
  (void)state;
  const char *path = tmp_path("c.pbs.zst");
  write_records(path, CT_FMT_PBS, 3, 400);
  size_t size;
  uint8_t *all = read_file(path, &size);
  for (size_t k = size / 3; k < size / 3 + 16; k++)
    all[k] ^= 0x5a;
  write_file(path, all, size);
  ct_record_reader_t *r = open_reader(path, CT_FMT_AUTO);
  const uint8_t *data;
  size_t len;
  int rc;
  uint64_t got = 0;
  do {
    rc = ct_record_next(r, &data, &len);
    got += rc == 0;
  } while (rc == 0);
  assert_int_equal(rc, CT_EDECODE);
  assert_true(got < 400);
  rc = ct_record_next(r, &data, &len);
  assert_int_equal(rc, CT_EDECODE); /* sticky */
  ct_record_reader_close(r);

  /* A good frame followed by bytes that are not zstd. */
  write_records(path, CT_FMT_JSONL, 1, 3);
  free(all);
  all = read_file(path, &size);
  uint8_t *more = malloc(size + 8);
  assert_non_null(more);
  memcpy(more, all, size);
  memcpy(more + size, "{\"a\":1}\n", 8);
  write_file(path, more, size + 8);
  r = open_reader(path, CT_FMT_AUTO);
  expect_records(r, CT_FMT_JSONL, 0, 3);
  expect_rc(r, CT_EDECODE, 3);
  ct_record_reader_close(r);
  free(more);
  free(all);
}

static void bad_varints(void **state) {
  (void)state;
  /* 11 continuation bytes, a 10th byte over 1, then a clean record before a bad one. */
  static const uint8_t too_long[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                     0xff, 0xff, 0xff, 0xff, 0x01};
  static const uint8_t overflow[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02};
  static const uint8_t after_good[] = {0x02, 0x08, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff,
                                       0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  write_file(tmp_path("v.pbs"), too_long, sizeof too_long);
  ct_record_reader_t *r = open_reader(tmp_path("v.pbs"), CT_FMT_PBS);
  expect_rc(r, CT_EDECODE, 1);
  expect_rc(r, CT_EDECODE, 1);
  ct_record_reader_close(r);

  write_file(tmp_path("v.pbs"), overflow, sizeof overflow);
  r = open_reader(tmp_path("v.pbs"), CT_FMT_PBS);
  expect_rc(r, CT_EDECODE, 1);
  ct_record_reader_close(r);

  write_file(tmp_path("v.pbs"), after_good, sizeof after_good);
  r = open_reader(tmp_path("v.pbs"), CT_FMT_PBS);
  const uint8_t *data;
  size_t len;
  assert_int_equal(ct_record_next(r, &data, &len), 0);
  assert_int_equal(len, 2);
  assert_memory_equal(data, "\x08\x01", 2);
  expect_rc(r, CT_EDECODE, 2);
  ct_record_reader_close(r);
}

/* Writes a PBS file: a small record, a record of `big` bytes, another small record. */
static void write_big_pbs(const char *path, size_t big, size_t big_present) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  fwrite("\x03one", 1, 4, f);
  uint64_t v = big;
  do {
    uint8_t b = (uint8_t)(v & 0x7f);
    v >>= 7;
    fputc(v != 0 ? b | 0x80 : b, f);
  } while (v != 0);
  for (size_t i = 0; i < big_present; i++)
    fputc('z', f);
  if (big_present == big)
    fwrite("\x05three", 1, 6, f);
  assert_int_equal(fclose(f), 0);
}

static void too_big_skipped(void **state) {
  (void)state;
  const size_t big = CT_RECORD_MAX + 1;
  const uint8_t *data;
  size_t len;

  write_big_pbs(tmp_path("big.pbs"), big, big);
  ct_record_reader_t *r = open_reader(tmp_path("big.pbs"), CT_FMT_AUTO);
  assert_int_equal(ct_record_next(r, &data, &len), 0);
  assert_memory_equal(data, "one", 3);
  expect_rc(r, CT_ETOOBIG, 2);
  assert_int_equal(ct_record_next(r, &data, &len), 0);
  assert_int_equal(len, 5);
  assert_memory_equal(data, "three", 5);
  assert_int_equal(ct_record_number(r), 3);
  expect_rc(r, CT_EEOF, 3);
  ct_record_reader_close(r);

  /* Too big and cut short: the skip runs into the end of the file. */
  write_big_pbs(tmp_path("big.pbs"), (size_t)40 << 20, (size_t)1 << 20);
  r = open_reader(tmp_path("big.pbs"), CT_FMT_PBS);
  assert_int_equal(ct_record_next(r, &data, &len), 0);
  expect_rc(r, CT_ETRUNCATED, 2);
  ct_record_reader_close(r);

  /* JSONL, plain and compressed: an over-long line in the middle and one at the end without
   * its newline. Written by hand: the writer refuses such lines. */
  size_t tlen = 8 + big + 1 + 8 + big;
  char *text = malloc(tlen);
  assert_non_null(text);
  char *p = text;
  memcpy(p, "{\"n\":1}\n", 8);
  p += 8;
  memset(p, 'a', big);
  p += big;
  *p++ = '\n';
  memcpy(p, "{\"n\":3}\n", 8);
  p += 8;
  memset(p, 'b', big);
  write_file(tmp_path("big.jsonl"), text, tlen);
  size_t zcap = ZSTD_compressBound(tlen);
  void *z = malloc(zcap);
  assert_non_null(z);
  size_t zlen = ZSTD_compress(z, zcap, text, tlen, 3);
  assert_false(ZSTD_isError(zlen));
  write_file(tmp_path("big.jsonl.zst"), z, zlen);
  free(z);
  free(text);

  static const char *names[] = {"big.jsonl", "big.jsonl.zst"};
  for (int c = 0; c < 2; c++) {
    r = open_reader(tmp_path(names[c]), CT_FMT_AUTO);
    assert_int_equal(ct_record_next(r, &data, &len), 0);
    assert_string_equal((const char *)data, "{\"n\":1}");
    expect_rc(r, CT_ETOOBIG, 2);
    assert_int_equal(ct_record_next(r, &data, &len), 0);
    assert_string_equal((const char *)data, "{\"n\":3}");
    assert_int_equal(ct_record_number(r), 3);
    expect_rc(r, CT_ETOOBIG, 4);
    expect_rc(r, CT_EEOF, 4);
    ct_record_reader_close(r);
  }
}

static void blank_lines_counted(void **state) {
  (void)state;
  static const char text[] = "\n  \n{\"a\":1}\r\n\n{\"b\":2}\n\t\n\r\n{\"c\":3}";
  write_file(tmp_path("blank.jsonl"), text, sizeof text - 1);
  ct_record_reader_t *r = open_reader(tmp_path("blank.jsonl"), CT_FMT_AUTO);
  const uint8_t *data;
  size_t len;
  assert_int_equal(ct_record_next(r, &data, &len), 0);
  assert_int_equal(ct_record_format(r), CT_FMT_JSONL); /* sniffed from the leading newline */
  assert_string_equal((const char *)data, "{\"a\":1}"); /* CR dropped too */
  assert_int_equal(len, 7);
  assert_int_equal(ct_record_number(r), 3);
  assert_int_equal(ct_record_next(r, &data, &len), 0);
  assert_string_equal((const char *)data, "{\"b\":2}");
  assert_int_equal(ct_record_number(r), 5);
  assert_int_equal(ct_record_next(r, &data, &len), 0);
  assert_string_equal((const char *)data, "{\"c\":3}"); /* last line, no newline */
  assert_int_equal(ct_record_number(r), 8);
  expect_rc(r, CT_EEOF, 8);
  ct_record_reader_close(r);

  /* Only blank lines: no records, but the lines were counted. */
  write_file(tmp_path("blank.jsonl"), "\n \n\n", 4);
  r = open_reader(tmp_path("blank.jsonl"), CT_FMT_JSONL);
  expect_rc(r, CT_EEOF, 3);
  ct_record_reader_close(r);
}

static void empty_inputs(void **state) {
  (void)state;
  write_file(tmp_path("empty"), "", 0);
  ct_record_reader_t *r = open_reader(tmp_path("empty"), CT_FMT_AUTO);
  expect_rc(r, CT_EEOF, 0);
  assert_int_equal(ct_record_format(r), CT_FMT_AUTO);
  ct_record_reader_close(r);

  /* A compressed file with no records is one empty zstd frame. */
  write_records(tmp_path("empty.pbs.zst"), CT_FMT_PBS, 3, 0);
  r = open_reader(tmp_path("empty.pbs.zst"), CT_FMT_AUTO);
  expect_rc(r, CT_EEOF, 0);
  ct_record_reader_close(r);

  /* A zero-length PBS record (an empty Job) is a record. */
  write_file(tmp_path("zero.pbs"), "\x00\x00", 2);
  r = open_reader(tmp_path("zero.pbs"), CT_FMT_PBS);
  const uint8_t *data;
  size_t len = 99;
  assert_int_equal(ct_record_next(r, &data, &len), 0);
  assert_int_equal(len, 0);
  assert_int_equal(ct_record_next(r, &data, &len), 0);
  expect_rc(r, CT_EEOF, 2);
  ct_record_reader_close(r);
}

static void stdin_and_stdout(void **state) {
  (void)state;
  /* Writer on "-": stdout pointed at a file for the duration. */
  fflush(stdout);
  int saved_out = dup(STDOUT_FILENO);
  int fd = open(tmp_path("stdout.jsonl.zst"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  assert_true(fd >= 0);
  dup2(fd, STDOUT_FILENO);
  close(fd);
  ct_record_writer_t *w;
  assert_int_equal(ct_record_writer_open(&w, "-", CT_FMT_JSONL, 5), 0);
  uint8_t *buf = malloc((size_t)300 << 10);
  assert_non_null(buf);
  for (size_t i = 0; i < 50; i++) {
    size_t len;
    make_record(CT_FMT_JSONL, i, buf, &len);
    assert_int_equal(ct_record_write(w, buf, len), 0);
  }
  free(buf);
  assert_int_equal(ct_record_writer_close(w), 0);
  dup2(saved_out, STDOUT_FILENO);
  close(saved_out);
  assert_int_equal(fcntl(STDOUT_FILENO, F_GETFD), 0); /* not closed by the writer */

  /* Reader on "-": first a file, then a pipe (whose size is unknown). */
  int saved_in = dup(STDIN_FILENO);
  fd = open(tmp_path("stdout.jsonl.zst"), O_RDONLY);
  assert_true(fd >= 0);
  dup2(fd, STDIN_FILENO);
  close(fd);
  ct_record_reader_t *r = open_reader("-", CT_FMT_AUTO);
  assert_true(ct_record_bytes_total(r) > 0);
  expect_records(r, CT_FMT_JSONL, 0, 50);
  expect_rc(r, CT_EEOF, 50);
  ct_record_reader_close(r);

  int p[2];
  assert_int_equal(pipe(p), 0);
  assert_int_equal(write(p[1], "\x02hi\x03you", 7), 7);
  close(p[1]);
  dup2(p[0], STDIN_FILENO);
  close(p[0]);
  r = open_reader("-", CT_FMT_AUTO);
  assert_int_equal(ct_record_bytes_total(r), 0);
  const uint8_t *data;
  size_t len;
  assert_int_equal(ct_record_next(r, &data, &len), 0);
  assert_memory_equal(data, "hi", 2);
  assert_int_equal(ct_record_next(r, &data, &len), 0);
  assert_memory_equal(data, "you", 3);
  expect_rc(r, CT_EEOF, 2);
  assert_int_equal(ct_record_bytes_read(r), 7);
  ct_record_reader_close(r);
  dup2(saved_in, STDIN_FILENO);
  close(saved_in);
}

static void writer_errors(void **state) {
  (void)state;
  ct_record_writer_t *w = NULL;
  assert_int_equal(ct_record_writer_open(&w, tmp_path("no/such/dir.pbs"), CT_FMT_PBS, 0),
                   CT_ENOENT);
  assert_int_equal(ct_record_writer_open(&w, tmp_path("x.pbs"), CT_FMT_PBS, 20), CT_EINVAL);
  assert_int_equal(ct_record_writer_open(&w, tmp_path("x.pbs"), CT_FMT_PBS, -1), CT_EINVAL);
  assert_int_equal(ct_record_writer_open(&w, tmp_path("x.txt"), CT_FMT_AUTO, 0), CT_EINVAL);
  assert_null(w);

  /* An existing world-readable file becomes private. */
  write_file(tmp_path("old.jsonl"), "old\n", 4);
  chmod(tmp_path("old.jsonl"), 0644);
  assert_int_equal(ct_record_writer_open(&w, tmp_path("old.jsonl"), CT_FMT_AUTO, 0), 0);
  assert_int_equal(ct_record_write(w, (const uint8_t *)"{\n}", 3), CT_EINVAL);
  assert_int_equal(ct_record_write(w, (const uint8_t *)"{}", 2), 0); /* not sticky */
  assert_int_equal(ct_record_writer_close(w), 0);
  struct stat st;
  assert_int_equal(stat(tmp_path("old.jsonl"), &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  assert_int_equal(st.st_size, 3);

  /* A full device: the error sticks and close reports it. */
  if (access("/dev/full", W_OK) == 0) {
    assert_int_equal(ct_record_writer_open(&w, "/dev/full", CT_FMT_PBS, 0), 0);
    uint8_t buf[4096] = {0};
    int rc = 0;
    for (int i = 0; i < 100 && rc == 0; i++)
      rc = ct_record_write(w, buf, sizeof buf);
    assert_int_equal(rc, CT_ENOSPC);
    assert_int_equal(ct_record_write(w, buf, 1), CT_ENOSPC);
    assert_int_equal(ct_record_writer_close(w), CT_ENOSPC);
  }

  ct_record_reader_t *r = NULL;
  assert_int_equal(ct_record_reader_open(&r, tmp_path("missing.pbs"), CT_FMT_AUTO), CT_ENOENT);
  assert_null(r);
}

static void format_from_name(void **state) {
  (void)state;
  assert_int_equal(ct_record_format_from_name("jobs.pbs"), CT_FMT_PBS);
  assert_int_equal(ct_record_format_from_name("/x/jobs.pbs.zst"), CT_FMT_PBS);
  assert_int_equal(ct_record_format_from_name("jobs.jsonl"), CT_FMT_JSONL);
  assert_int_equal(ct_record_format_from_name("jobs.jsonl.zst"), CT_FMT_JSONL);
  assert_int_equal(ct_record_format_from_name("jobs.json"), CT_FMT_JSONL);
  assert_int_equal(ct_record_format_from_name("jobs.json.zst"), CT_FMT_JSONL);
  assert_int_equal(ct_record_format_from_name("jobs.zst"), CT_FMT_AUTO);
  assert_int_equal(ct_record_format_from_name("-"), CT_FMT_AUTO);
  assert_int_equal(ct_record_format_from_name("pbs"), CT_FMT_AUTO);
}

static int setup(void **state) {
  (void)state;
  /* mkdtemp() wants the template to end in six 'X'. */
  snprintf(dir, sizeof dir, "/tmp/test_record.");
  size_t n = strlen(dir);
  memset(dir + n, 'X', 6);
  dir[n + 6] = '\0';
  return mkdtemp(dir) != NULL ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(round_trip_four_formats),
      cmocka_unit_test(record_at_the_limit),
      cmocka_unit_test(truncated_pbs),
      cmocka_unit_test(truncated_zstd),
      cmocka_unit_test(corrupt_zstd),
      cmocka_unit_test(bad_varints),
      cmocka_unit_test(too_big_skipped),
      cmocka_unit_test(blank_lines_counted),
      cmocka_unit_test(empty_inputs),
      cmocka_unit_test(stdin_and_stdout),
      cmocka_unit_test(writer_errors),
      cmocka_unit_test(format_from_name),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
