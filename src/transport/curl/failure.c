/* From what libcurl reports to the failure classes a provider classifies. A pure function of
 * its input, so the unit tests cover it without a network. */
#include "transport/curl/curl_int.h"

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

