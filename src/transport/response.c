/* What a response's headers say, for both clients: Retry-After (seconds or an HTTP-date) and
 * X-Message-Id. Pure functions of their inputs (the clock is a parameter), so the unit tests
 * cover them without a network. */
#include "transport/transport_int.h"

#include <curl/curl.h>

#include <stdbool.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

/* HTTP-dates are short ("Sun, 06 Nov 1994 08:49:37 GMT" is 29 bytes); anything longer is not
 * one, and bounding it lets the parser work on a stack copy. */
#define DATE_CAP 64

int64_t ct__retry_after(const char *value, size_t len, int64_t now_ms) {
  if (len == 0) {
    return -1;
  }
  bool digits = true;
  bool alpha = false;
  for (size_t i = 0; i < len; i++) {
    char c = value[i];
    if (c < '0' || c > '9') {
      digits = false;
    }
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
      alpha = true;
    }
  }
  if (digits) {
    /* Delay-seconds. 18 digits keep seconds * 1000 inside int64_t; a longer number is
     * nonsense from the server, reported as "much later" rather than dropped. */
    const int64_t max_s = INT64_MAX / 1000;
    int64_t s = 0;
    for (size_t i = 0; i < len; i++) {
      int d = value[i] - '0';
      if (s > (max_s - d) / 10) {
        return max_s * 1000;
      }
      s = s * 10 + d;
    }
    return s * 1000;
  }
  /* An HTTP-date always names a month or weekday; requiring a letter keeps curl_getdate's
   * lenient parser from reading "1.5" or "-3" as a date. */
  if (!alpha || len >= DATE_CAP) {
    return -1;
  }
  char buf[DATE_CAP];
  memcpy(buf, value, len);
  buf[len] = '\0';
  time_t when = curl_getdate(buf, NULL);
  if (when == (time_t)-1) {
    return -1;
  }
  int64_t delta = (int64_t)when * 1000 - now_ms;
  return delta > 0 ? delta : 0;
}

void ct__resp_headers_reset(ct__resp_headers_t *h) {
  h->retry_after_ms = -1;
  h->message_id[0] = '\0';
  h->message_id_len = 0;
}

static bool name_is(const char *name, size_t name_len, const char *want) {
  return strlen(want) == name_len && strncasecmp(name, want, name_len) == 0;
}

void ct__resp_headers_field(ct__resp_headers_t *h, const char *name, size_t name_len,
                            const char *value, size_t value_len, int64_t now_ms) {
  const char *v = value;
  const char *end = value + value_len;
  while (v < end && is_space(*v)) {
    v++;
  }
  while (end > v && is_space(end[-1])) {
    end--;
  }
  size_t vlen = (size_t)(end - v);

  if (name_is(name, name_len, "retry-after")) {
    h->retry_after_ms = ct__retry_after(v, vlen, now_ms);
  } else if (name_is(name, name_len, "x-message-id")) {
    h->message_id[0] = '\0';
    h->message_id_len = 0;
    if (vlen == 0 || vlen >= sizeof h->message_id) {
      return;
    }
    for (size_t i = 0; i < vlen; i++) {
      unsigned char c = (unsigned char)v[i];
      if (c < 0x21 || c > 0x7e) {
        return; /* ids are visible ASCII; anything else is not an id we can match later */
      }
    }
    memcpy(h->message_id, v, vlen);
    h->message_id[vlen] = '\0';
    h->message_id_len = vlen;
  }
}

void ct__resp_headers_line(ct__resp_headers_t *h, const char *line, size_t len, int64_t now_ms) {
  if (len >= 5 && memcmp(line, "HTTP/", 5) == 0) {
    ct__resp_headers_reset(h);
    return;
  }
  const char *colon = memchr(line, ':', len);
  if (colon == NULL) {
    return; /* the blank line that ends the block, or a malformed line */
  }
  size_t name_len = (size_t)(colon - line);
  ct__resp_headers_field(h, line, name_len, colon + 1, (size_t)(line + len - (colon + 1)),
                         now_ms);
}
