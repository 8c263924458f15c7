/* HTTP request and response values.
 *
 * A request is built by a provider adapter on a worker thread and handed to the transport,
 * which frees it once the answer (or the failure) is in. Its headers carry the provider
 * account's credentials, so freeing wipes them first: a freed block keeps its bytes until the
 * allocator reuses it, and a core dump or a heap read past the end must not find a token.
 */
#include "transport/http.h"

#include "common/error.h"

#include <stdlib.h>
#include <string.h>

void ct_http_request_free(ct_http_request_t *req) {
  if (req == NULL)
    return;
  for (size_t i = 0; i < req->n_headers && i < CT_HTTP_MAX_HEADERS; i++) {
    if (req->headers[i] != NULL) {
      explicit_bzero(req->headers[i], strlen(req->headers[i]));
      free(req->headers[i]);
    }
  }
  free(req->url);
  free(req->body);
  memset(req, 0, sizeof *req);
}

/* RFC 9110 token characters: what a field name may be made of. */
static int is_tchar(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
    return 1;
  return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

int ct_http_request_add_header(ct_http_request_t *req, const char *name, const char *value) {
  if (req->n_headers >= CT_HTTP_MAX_HEADERS)
    return CT_EINVAL;
  size_t nlen = strlen(name);
  if (nlen == 0)
    return CT_EINVAL;
  for (size_t i = 0; i < nlen; i++)
    if (!is_tchar((unsigned char)name[i]))
      return CT_EINVAL;
  /* A CR or LF in a value would end the header line early and let the rest of the value
   * (a secret file with a stray line, a template name from config) become a header of its
   * own on HTTP/1.1; HTTP/2 refuses it outright. */
  size_t vlen = strlen(value);
  if (memchr(value, '\r', vlen) != NULL || memchr(value, '\n', vlen) != NULL)
    return CT_EINVAL;
  char *line = malloc(nlen + 2 + vlen + 1);
  if (line == NULL)
    return CT_ENOMEM;
  memcpy(line, name, nlen);
  memcpy(line + nlen, ": ", 2);
  memcpy(line + nlen + 2, value, vlen + 1);
  req->headers[req->n_headers++] = line;
  return 0;
}

const char *ct_http_failure_name(ct_http_failure_t f) {
  switch (f) {
  case CT_HTTP_OK:
    return "ok";
  case CT_HTTP_TIMEOUT:
    return "timeout";
  case CT_HTTP_RESET:
    return "reset";
  case CT_HTTP_STREAM_ERROR:
    return "stream_error";
  case CT_HTTP_CONNECT:
    return "connect";
  case CT_HTTP_TLS:
    return "tls";
  case CT_HTTP_OTHER:
    return "other";
  }
  return "other";
}
