/* An https URL split into what the native client needs: the origin that picks a connection
 * pool, the host to resolve and to verify the certificate against, the port, and the path
 * for :path. Providers build these URLs from configuration (base_url, account ids), so the
 * parser is strict and small rather than general: no user info, no fragment, no blanks. */
#include "transport/transport_int.h"

#include "common/error.h"

#include <string.h>
#include <strings.h>

int ct__url_parse(const char *url, ct__url_t *out) {
  static const char scheme[] = "https://";
  const size_t slen = sizeof scheme - 1;
  if (strncasecmp(url, scheme, slen) != 0) {
    return CT_EINVAL;
  }
  for (const char *p = url; *p != '\0'; p++) {
    unsigned char c = (unsigned char)*p;
    if (c <= 0x20 || c == 0x7f || c == '#') {
      return CT_EINVAL;
    }
  }
  const char *auth = url + slen;
  size_t auth_len = strcspn(auth, "/?");
  if (auth_len == 0 || memchr(auth, '@', auth_len) != NULL) {
    return CT_EINVAL;
  }
  const char *auth_end = auth + auth_len;

  ct__url_t u = {0};
  const char *port_start = NULL;
  if (auth[0] == '[') { /* an IPv6 literal */
    const char *close = memchr(auth, ']', auth_len);
    if (close == NULL || close == auth + 1) {
      return CT_EINVAL;
    }
    u.host = auth + 1;
    u.host_len = (size_t)(close - u.host);
    if (close + 1 < auth_end) {
      if (close[1] != ':') {
        return CT_EINVAL;
      }
      port_start = close + 2;
    }
  } else {
    const char *colon = memchr(auth, ':', auth_len);
    u.host = auth;
    u.host_len = colon != NULL ? (size_t)(colon - auth) : auth_len;
    if (colon != NULL) {
      port_start = colon + 1;
    }
  }
  if (u.host_len == 0) {
    return CT_EINVAL;
  }
  u.port = 443;
  if (port_start != NULL) {
    if (port_start == auth_end || auth_end - port_start > 5) {
      return CT_EINVAL;
    }
    unsigned long port = 0;
    for (const char *p = port_start; p < auth_end; p++) {
      if (*p < '0' || *p > '9') {
        return CT_EINVAL;
      }
      port = port * 10 + (unsigned long)(*p - '0');
    }
    if (port == 0 || port > 65535) {
      return CT_EINVAL;
    }
    u.port = (uint16_t)port;
  }
  u.origin = url;
  u.origin_len = (size_t)(auth_end - url);
  u.authority = auth;
  u.authority_len = auth_len;
  if (*auth_end == '\0') {
    u.path = "/";
    u.path_len = 1;
  } else if (*auth_end == '?') {
    /* "https://h?q" has an empty path; HTTP/2 wants "/?q", which the caller must build. A
     * provider never makes such a URL, so it is refused rather than rewritten. */
    return CT_EINVAL;
  } else {
    u.path = auth_end;
    u.path_len = strlen(auth_end);
  }
  *out = u;
  return 0;
}
