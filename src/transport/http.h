/* HTTP requests and responses as providers build and classify them, and as a transport
 * sends and receives them. Plain value types: no I/O here. */
#ifndef CT_TRANSPORT_HTTP_H
#define CT_TRANSPORT_HTTP_H

#include <stddef.h>
#include <stdint.h>

#define CT_HTTP_MAX_HEADERS 8

/* A request to send. Every pointer is owned by the request (malloc'd) and released by
 * ct_http_request_free. */
typedef struct {
  char *url;                             /* absolute https:// URL */
  char *headers[CT_HTTP_MAX_HEADERS];    /* "Name: value" lines, without CRLF */
  size_t n_headers;
  char *body;                            /* POST body (the method is always POST) */
  size_t body_len;
} ct_http_request_t;

/* Frees what `req` owns and zeroes it; the struct itself is the caller's. Secrets in headers
 * are wiped before they are freed. */
void ct_http_request_free(ct_http_request_t *req);

/* Adds a header line "name: value". Returns 0, CT_ENOMEM, or CT_EINVAL when full. */
int ct_http_request_add_header(ct_http_request_t *req, const char *name, const char *value);

/* Why no HTTP answer came (ct_http_response_t.failure). */
typedef enum {
  CT_HTTP_OK = 0,        /* a response arrived (any status) */
  CT_HTTP_TIMEOUT,       /* connect or total timeout */
  CT_HTTP_RESET,         /* connection reset or closed before the answer, GOAWAY */
  CT_HTTP_STREAM_ERROR,  /* HTTP/2 stream or framing error (curl 16, 92) */
  CT_HTTP_CONNECT,       /* could not connect (refused, DNS) */
  CT_HTTP_TLS,           /* TLS handshake or certificate verification failed */
  CT_HTTP_OTHER,         /* anything else the transport could not do */
} ct_http_failure_t;

/* "timeout", "reset", "stream_error", "connect", "tls", "other" ("ok" for CT_HTTP_OK). */
const char *ct_http_failure_name(ct_http_failure_t f);

/* What came back. Pointers are valid during the completion callback only. */
typedef struct {
  ct_http_failure_t failure;
  int status;                 /* HTTP status when failure == CT_HTTP_OK, else 0 */
  const char *body;           /* NUL-terminated, may be "" */
  size_t body_len;
  int64_t retry_after_ms;     /* Retry-After header (seconds or HTTP date), -1 when absent */
  const char *message_id;     /* X-Message-Id header value, or NULL */
  uint32_t latency_ms;        /* from send to completion */
  const char *detail;         /* transport error text for failures, free of personal data */
} ct_http_response_t;

#endif
