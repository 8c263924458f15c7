#include "common/log.h"

#include "common/clock.h"
#include "common/error.h"
#include "common/mask.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

ct_log_level_t ct__log_min = CT_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

static atomic_int format = CT_LOG_JSON;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int64_t (*_Atomic clock_fn)(void) = ct_now_ms;

/* Room kept at the end of a line for what closes it: the quote of a cut message,
 * ,"truncated":true or " [truncated]", "}" and the newline. */
#define RESERVE 32

void ct_log_set_level(ct_log_level_t level) { ct__log_min = level; }

int ct_log_level_parse(const char *s, ct_log_level_t *out) {
  for (int i = 0; i < 4; i++) {
    if (strcmp(s, level_names[i]) == 0) {
      *out = (ct_log_level_t)i;
      return 0;
    }
  }
  return CT_EINVAL;
}

static void init(void) {
  const char *f = getenv("CARTEIRO_LOG_FORMAT");
  if (f != NULL && strcmp(f, "text") == 0)
    atomic_store(&format, CT_LOG_TEXT);
  atexit(ct_log_flush);
}

void ct_log_set_format(ct_log_format_t f) {
  pthread_once(&once, init);
  atomic_store(&format, (int)f);
}

void ct__log_set_clock(int64_t (*now_ms)(void)) {
  atomic_store(&clock_fn, now_ms != NULL ? now_ms : ct_now_ms);
}

/* ---- the line buffer ---------------------------------------------------------------- */

/* Appends stop for good at the first piece that does not fit under `lim`, so a line is cut
 * between whole characters, escapes and fields; `raw` appends may use the reserve. */
typedef struct {
  char buf[CT_LOG_LINE_MAX];
  size_t len;
  size_t lim;
  bool full;
} line_t;

static void put(line_t *l, const char *s, size_t n) {
  if (l->full)
    return;
  if (n > l->lim - l->len) {
    l->full = true;
    return;
  }
  memcpy(l->buf + l->len, s, n);
  l->len += n;
}

static void puts_(line_t *l, const char *s) { put(l, s, strlen(s)); }

static void raw(line_t *l, const char *s) {
  size_t n = strlen(s);
  if (n > sizeof l->buf - l->len)
    n = sizeof l->buf - l->len;
  memcpy(l->buf + l->len, s, n);
  l->len += n;
}

/* ---- escaping ----------------------------------------------------------------------- */

/* Length of the well-formed UTF-8 sequence at p (at most `avail` bytes), or 0. */
static size_t utf8_len(const unsigned char *p, size_t avail) {
  unsigned char c = p[0];
  size_t n;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0)
      lo = 0xA0;
    else if (c == 0xED)
      hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0)
      lo = 0x90;
    else if (c == 0xF4)
      hi = 0x8F;
  } else {
    return 0;
  }
  if (n > avail || p[1] < lo || p[1] > hi)
    return 0;
  for (size_t i = 2; i < n; i++)
    if (p[i] < 0x80 || p[i] > 0xBF)
      return 0;
  return n;
}

/* Writes the one character at s (of `avail` bytes) escaped for JSON, or for a text line
 * (control characters only). Returns the bytes consumed. */
static size_t put_char(line_t *l, const char *s, size_t avail, bool json) {
  unsigned char c = (unsigned char)s[0];
  char esc[8];
  if (c < 0x20 || c == 0x7F) {
    const char *e = NULL;
    switch (c) {
    case '\n':
      e = "\\n";
      break;
    case '\r':
      e = "\\r";
      break;
    case '\t':
      e = "\\t";
      break;
    case '\b':
      e = "\\b";
      break;
    case '\f':
      e = "\\f";
      break;
    default:
      break;
    }
    if (e == NULL) {
      snprintf(esc, sizeof esc, json ? "\\u%04x" : "\\x%02x", c);
      e = esc;
    }
    puts_(l, e);
    return 1;
  }
  if (c < 0x80) {
    if (json && (c == '"' || c == '\\')) {
      esc[0] = '\\';
      esc[1] = (char)c;
      put(l, esc, 2);
    } else {
      put(l, s, 1);
    }
    return 1;
  }
  size_t n = utf8_len((const unsigned char *)s, avail);
  if (n == 0) {
    puts_(l, "\xEF\xBF\xBD"); /* U+FFFD for each byte that is not part of a character */
    return 1;
  }
  put(l, s, n);
  return n;
}

/* ---- the personal-data scrubber ------------------------------------------------------ */

static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static bool is_alnum(char c) { return is_digit(c) || is_alpha(c); }
static bool is_local(char c) {
  return is_alnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-';
}
static bool is_domain(char c) { return is_alnum(c) || c == '.' || c == '-'; }

static size_t digits(const char *s, size_t n, size_t i) {
  size_t j = i;
  while (j < n && is_digit(s[j]))
    j++;
  return j - i;
}

/* Copies s[i, i+len) into `tok` (capacity CT_MASK_BUFSZ) and returns it, or NULL when it does
 * not fit (the caller then hides it completely). */
static const char *token(const char *s, size_t i, size_t len, char *tok) {
  if (len >= CT_MASK_BUFSZ)
    return NULL;
  memcpy(tok, s + i, len);
  tok[len] = '\0';
  return tok;
}

static size_t email_at(const char *s, size_t n, size_t i) {
  if (i > 0 && is_local(s[i - 1]))
    return 0;
  size_t at = i;
  while (at < n && is_local(s[at]))
    at++;
  if (at == i || at >= n || s[at] != '@')
    return 0;
  size_t end = at + 1;
  while (end < n && is_domain(s[end]))
    end++;
  while (end > at + 1 && (s[end - 1] == '.' || s[end - 1] == '-'))
    end--;
  bool dot = false;
  for (size_t k = at + 1; k < end; k++) {
    if (s[k] == '.') {
      if (k == at + 1 || s[k - 1] == '.')
        return 0;
      dot = true;
    }
  }
  return dot ? end - i : 0;
}

static size_t phone_at(const char *s, size_t n, size_t i) {
  if (s[i] != '+' || (i > 0 && is_alnum(s[i - 1])) || n - i < 3 || s[i + 1] != '5' ||
      s[i + 2] != '5')
    return 0;
  size_t d = digits(s, n, i + 3);
  size_t end = i + 3 + d;
  if ((d != 10 && d != 11) || (end < n && is_alpha(s[end])))
    return 0;
  return end - i;
}

/* A decimal point or comma between digits at s[k]: "0.12345678909" is a number. */
static bool decimal_mark(const char *s, size_t n, size_t k, int dir) {
  if (s[k] != '.' && s[k] != ',')
    return false;
  if (dir < 0)
    return k > 0 && is_digit(s[k - 1]);
  return k + 1 < n && is_digit(s[k + 1]);
}

static size_t cpf_at(const char *s, size_t n, size_t i) {
  if (!is_digit(s[i]) || (i > 0 && (is_alnum(s[i - 1]) || decimal_mark(s, n, i - 1, -1))))
    return 0;
  size_t len = 0;
  size_t run = digits(s, n, i);
  if (run == 11) {
    len = 11;
  } else if (run == 3 && n - i >= 14 && s[i + 3] == '.' && digits(s, n, i + 4) == 3 &&
             s[i + 7] == '.' && digits(s, n, i + 8) == 3 && s[i + 11] == '-' &&
             digits(s, n, i + 12) == 2) {
    len = 14;
  }
  if (len == 0)
    return 0;
  size_t end = i + len;
  if (end < n && (is_alnum(s[end]) || decimal_mark(s, n, end, 1)))
    return 0;
  return len;
}

/* When personal data starts at s[i], writes its mask into `m` (CT_MASK_BUFSZ bytes) and
 * returns its length; otherwise returns 0. */
static size_t pii_at(const char *s, size_t n, size_t i, char *m) {
  char tok[CT_MASK_BUFSZ];
  size_t len = email_at(s, n, i);
  if (len > 0) {
    const char *t = token(s, i, len, tok);
    if (t != NULL)
      ct_mask_email(t, m, CT_MASK_BUFSZ);
    else
      ct_mask_all(NULL, m, CT_MASK_BUFSZ);
    return len;
  }
  /* Phones and CPFs are at most 14 bytes: their tokens always fit. */
  len = phone_at(s, n, i);
  if (len > 0) {
    ct_mask_phone(token(s, i, len, tok), m, CT_MASK_BUFSZ);
    return len;
  }
  len = cpf_at(s, n, i);
  if (len > 0)
    ct_mask_cpf(token(s, i, len, tok), m, CT_MASK_BUFSZ);
  return len;
}

/* Writes s[0, n) escaped; with `scrub`, personal data in it is written masked. */
static void put_text(line_t *l, const char *s, size_t n, bool json, bool scrub) {
  size_t i = 0;
  while (i < n && !l->full) {
    char m[CT_MASK_BUFSZ];
    size_t len = scrub ? pii_at(s, n, i, m) : 0;
    if (len > 0) {
      puts_(l, m); /* masks are plain ASCII: nothing to escape */
      i += len;
    } else {
      i += put_char(l, s + i, n - i, json);
    }
  }
}

/* ---- lines ---------------------------------------------------------------------------- */

/* Builds the whole line for `msg` (msg_len bytes; `cut` when the caller already had to cut
 * it) and its fields into `l`. */
static void build(line_t *l, int64_t now, ct_log_level_t level, const char *msg,
                  size_t msg_len, bool cut, const ct_kv_t *kv, int n) {
  bool json = atomic_load(&format) == CT_LOG_JSON;
  char ts[CT_TIME_BUFSZ];
  l->len = 0;
  l->lim = sizeof l->buf - RESERVE;
  l->full = false;
  ct_time_format(now, ts);
  if (json) {
    puts_(l, "{\"ts\":\"");
    puts_(l, ts);
    puts_(l, "\",\"level\":\"");
    puts_(l, level_names[level]);
    puts_(l, "\",\"msg\":\"");
  } else {
    puts_(l, ts);
    puts_(l, " ");
    puts_(l, level_names[level]);
    puts_(l, " ");
  }
  put_text(l, msg, msg_len, json, true);
  if (cut)
    l->full = true;
  if (json)
    raw(l, "\"");
  for (int i = 0; i < n && !l->full; i++) {
    size_t mark = l->len;
    char num[24];
    puts_(l, json ? ",\"" : " ");
    put_text(l, kv[i].key, strlen(kv[i].key), json, false);
    puts_(l, json ? "\":" : "=");
    if (kv[i].is_int) {
      snprintf(num, sizeof num, "%lld", kv[i].i);
      puts_(l, num);
    } else if (kv[i].s == NULL) {
      puts_(l, json ? "null" : "-");
    } else {
      if (json)
        puts_(l, "\"");
      put_text(l, kv[i].s, strlen(kv[i].s), json, true);
      if (json)
        puts_(l, "\"");
    }
    if (l->full)
      l->len = mark; /* a field is written whole or not at all */
  }
  if (l->full)
    raw(l, json ? ",\"truncated\":true" : " [truncated]");
  raw(l, json ? "}\n" : "\n");
}

static void emit(const line_t *l) {
  size_t off = 0;
  while (off < l->len) {
    ssize_t w = write(STDERR_FILENO, l->buf + off, l->len - off);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return; /* nowhere to report a failing stderr */
    off += (size_t)w;
  }
}

/* ---- repeats -------------------------------------------------------------------------- */

#define SLOTS 128 /* a power of two */

/* One message template's count in the current second. A template hashes to one slot; one
 * that collides takes the slot over (after reporting what the previous one dropped), so a
 * collision can only let more lines through, never lose a count. */
typedef struct {
  const char *key;
  int64_t sec;
  uint32_t count;
  uint32_t dropped;
  ct_log_level_t level;
} slot_t;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static slot_t slots[SLOTS];
static int pending; /* slots with dropped > 0 */

/* Reports and clears what `s` dropped. Called with `lock` held. */
static void report(slot_t *s, int64_t now) {
  line_t l;
  const ct_kv_t kv[] = {CT_KV_I("suppressed", s->dropped)};
  build(&l, now, s->level, s->key, strlen(s->key), false, kv, 1);
  emit(&l);
  s->dropped = 0;
  pending--;
}

static int64_t second_of(int64_t ms) { return ms >= 0 ? ms / 1000 : (ms - 999) / 1000; }

/* Reports the windows that have ended, then counts one line of template `key`. Returns
 * whether to write it. */
static bool admit(ct_log_level_t level, const char *key, int64_t now) {
  int64_t sec = second_of(now);
  bool ok = true;
  pthread_mutex_lock(&lock);
  for (size_t i = 0; i < SLOTS && pending > 0; i++)
    if (slots[i].dropped > 0 && slots[i].sec != sec)
      report(&slots[i], now);
  if (level != CT_LOG_DEBUG) {
    uint64_t h = (uint64_t)(uintptr_t)key * UINT64_C(0x9E3779B97F4A7C15);
    slot_t *s = &slots[h >> 57];
    if (s->key != key) {
      if (s->dropped > 0)
        report(s, now);
      *s = (slot_t){.key = key, .sec = sec, .level = level};
    } else if (s->sec != sec) {
      s->sec = sec;
      s->count = 0;
    }
    if (s->count < CT_LOG_BURST) {
      s->count++;
    } else {
      if (s->dropped == 0)
        pending++;
      s->dropped++;
      s->level = level;
      ok = false;
    }
  }
  pthread_mutex_unlock(&lock);
  return ok;
}

void ct_log_flush(void) {
  int64_t now = atomic_load(&clock_fn)();
  pthread_mutex_lock(&lock);
  for (size_t i = 0; i < SLOTS && pending > 0; i++)
    if (slots[i].dropped > 0)
      report(&slots[i], now);
  memset(slots, 0, sizeof slots);
  pending = 0;
  pthread_mutex_unlock(&lock);
}

/* ---- entry points --------------------------------------------------------------------- */

void ct__log(ct_log_level_t level, const char *fmt, ...) {
  pthread_once(&once, init);
  int64_t now = atomic_load(&clock_fn)();
  if (!admit(level, fmt, now))
    return;
  char msg[CT_LOG_LINE_MAX];
  va_list ap;
  va_start(ap, fmt);
  int r = vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  size_t n = r < 0 ? 0 : (size_t)r;
  bool cut = n >= sizeof msg;
  if (cut)
    n = sizeof msg - 1;
  line_t l;
  build(&l, now, level, msg, n, cut, NULL, 0);
  emit(&l);
}

void ct__log_kv(ct_log_level_t level, const char *msg, const ct_kv_t *kv, int n) {
  pthread_once(&once, init);
  int64_t now = atomic_load(&clock_fn)();
  if (!admit(level, msg, now))
    return;
  line_t l;
  build(&l, now, level, msg, strlen(msg), false, kv, n);
  emit(&l);
}
