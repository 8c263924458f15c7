/* Shared between the files of the libcurl transport (and its unit tests); not a public
 * interface. transport.c drives libcurl on libuv; failure.c turns libcurl's result codes into
 * failure classes, without I/O. What the headers say is parsed by ../response.c, for both
 * clients. */
#ifndef CT_TRANSPORT_CURL_CURL_INT_H
#define CT_TRANSPORT_CURL_CURL_INT_H

#include "transport/transport_int.h"

#include <curl/curl.h>

/* Reused easy handles kept per transport: max_host_connections * max_streams (what can run
 * at once), clamped to this range so that memory stays bounded whatever the options say. */
#define CT__CURL_IDLE_MIN 16u
#define CT__CURL_IDLE_MAX 1024u

/* The failure class of a finished transfer's result code (CURLE_OK gives CT_HTTP_OK). */
ct_http_failure_t ct__curl_failure(CURLcode code);

#endif
