/* From what libcurl reports to what a provider classifies: failure classes, Retry-After and
 * X-Message-Id. Pure functions of their inputs (the clock is a parameter), so the unit tests
 * cover them without a network. */
#include "transport/curl/curl_int.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>
#include <time.h>

ct_http_failure_t ct__curl_failure(CURLcode code) {
  switch (code) {
  case CURLE_OK:
    return CT_HTTP_OK;
  case CURLE_OPERATION_TIMEDOUT:
    return CT_HTTP_TIMEOUT;
  /* The connection went away under the request, before a complete answer. */
  case CURLE_RECV_ERROR:
  case CURLE_SEND_ERROR:
  case CURLE_GOT_NOTHING:
  case CURLE_PARTIAL_FILE:
    return CT_HTTP_RESET;
  /* HTTP/2 framing or a stream reset (GOAWAY, RST_STREAM); transient, seen under load. */
  case CURLE_HTTP2:
  case CURLE_HTTP2_STREAM:
    return CT_HTTP_STREAM_ERROR;
  case CURLE_COULDNT_CONNECT:
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_RESOLVE_PROXY:
    return CT_HTTP_CONNECT;
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_CIPHER:
  case CURLE_SSL_CACERT_BADFILE:
  case CURLE_SSL_SHUTDOWN_FAILED:
  case CURLE_SSL_CRL_BADFILE:
  case CURLE_SSL_ISSUER_ERROR:
  case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
  case CURLE_SSL_INVALIDCERTSTATUS:
  case CURLE_SSL_ENGINE_NOTFOUND:
  case CURLE_SSL_ENGINE_SETFAILED:
  case CURLE_SSL_ENGINE_INITFAILED:
  case CURLE_SSL_CLIENTCERT:
  case CURLE_USE_SSL_FAILED:
    return CT_HTTP_TLS;
  default:
    return CT_HTTP_OTHER;
  }
}

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

/* HTTP-dates are short ("Sun, 06 Nov 1994 08:49:37 GMT" is 29 bytes); anything longer is not
 * one, and bounding it lets the parser work on a stack copy. */
#define DATE_CAP 64

int64_t ct__curl_retry_after(const char *value, size_t len, int64_t now_ms) {
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

void ct__curl_headers_reset(ct__curl_headers_t *h) {
  h->retry_after_ms = -1;
  h->message_id[0] = '\0';
  h->message_id_len = 0;
}

static bool name_is(const char *line, size_t name_len, const char *name) {
  return strlen(name) == name_len && strncasecmp(line, name, name_len) == 0;
}

void ct__curl_headers_line(ct__curl_headers_t *h, const char *line, size_t len, int64_t now_ms) {
  if (len >= 5 && memcmp(line, "HTTP/", 5) == 0) {
    ct__curl_headers_reset(h);
    return;
  }
  const char *colon = memchr(line, ':', len);
  if (colon == NULL) {
    return; /* the blank line that ends the block, or a malformed line */
  }
  size_t name_len = (size_t)(colon - line);
  const char *v = colon + 1;
  const char *end = line + len;
  while (v < end && is_space(*v)) {
    v++;
  }
  while (end > v && is_space(end[-1])) {
    end--;
  }
  size_t vlen = (size_t)(end - v);

  if (name_is(line, name_len, "retry-after")) {
    h->retry_after_ms = ct__curl_retry_after(v, vlen, now_ms);
  } else if (name_is(line, name_len, "x-message-id")) {
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
