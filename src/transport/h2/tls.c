/* TLS for the native transport: the client context and a memory BIO of our own.
 *
 * Verification is never optional: the peer's chain must lead to the configured CA file (or
 * the system's CAs), and the certificate must name the origin's host — as a DNS name
 * (X509_VERIFY_PARAM_set1_host, no partial wildcards) or, for an IP literal, as an IP address
 * (X509_VERIFY_PARAM_set1_ip_asc). ALPN offers h2 first and http/1.1 second, so a server
 * without h2 answers http/1.1 and the origin goes to libcurl instead of failing.
 *
 * The BIO. OpenSSL's BIO_s_mem would copy every received byte into its own buffer before
 * SSL_read copies it again, and keep that buffer at its high-water size per connection. Ours
 * reads straight from the bytes libuv just read (c->in, valid during on_read) and appends
 * what OpenSSL writes to the connection's output buffer (c->out), which conn.c hands to the
 * socket once per loop turn. Neither side blocks: an empty c->in is "retry read".
 *
 * Session resumption: the client cache is off and each origin keeps the last session its
 * server gave (new-session callback), so the next connection to the same origin resumes
 * rather than verifying a chain again.
 */
#include "transport/h2/h2_int.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

static pthread_once_t method_once = PTHREAD_ONCE_INIT;
static BIO_METHOD *method;

static int bio_write(BIO *b, const char *data, int len) {
  ct__h2_conn_t *c = BIO_get_data(b);
  BIO_clear_retry_flags(b);
  if (len <= 0) {
    return 0;
  }
  return ct__h2_buf_add(&c->out, data, (size_t)len) == 0 ? len : -1;
}

static int bio_read(BIO *b, char *out, int len) {
  ct__h2_conn_t *c = BIO_get_data(b);
  BIO_clear_retry_flags(b);
  if (len <= 0) {
    return 0;
  }
  if (c->in_len == 0) {
    BIO_set_retry_read(b);
    return -1;
  }
  size_t n = c->in_len < (size_t)len ? c->in_len : (size_t)len;
  memcpy(out, c->in, n);
  c->in += n;
  c->in_len -= n;
  return (int)n;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr) {
  (void)b;
  (void)num;
  (void)ptr;
  return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int bio_create(BIO *b) {
  BIO_set_init(b, 1);
  return 1;
}

static int bio_destroy(BIO *b) {
  (void)b; /* the data is the connection, which the BIO does not own */
  return 1;
}

static void make_method(void) {
  BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "carteiro h2");
  if (m != NULL && BIO_meth_set_write(m, bio_write) == 1 && BIO_meth_set_read(m, bio_read) == 1 &&
      BIO_meth_set_ctrl(m, bio_ctrl) == 1 && BIO_meth_set_create(m, bio_create) == 1 &&
      BIO_meth_set_destroy(m, bio_destroy) == 1) {
    method = m;
    return;
  }
  BIO_meth_free(m);
}

static int on_new_session(SSL *ssl, SSL_SESSION *sess) {
  ct__h2_conn_t *c = SSL_get_app_data(ssl);
  if (c == NULL || c->origin == NULL) {
    return 0;
  }
  if (c->origin->session != NULL) {
    SSL_SESSION_free(c->origin->session);
  }
  c->origin->session = sess;
  return 1; /* we keep the reference */
}

SSL_CTX *ct__h2_tls_ctx(const char *ca_file) {
  pthread_once(&method_once, make_method);
  if (method == NULL) {
    return NULL;
  }
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == NULL) {
    return NULL;
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
  /* A CA file that cannot be read leaves the store empty: every handshake then fails
   * verification, and every request says so (CT_HTTP_TLS), as with libcurl — the daemon
   * still starts and the jobs wait for the file to be fixed. */
  if (ca_file != NULL) {
    SSL_CTX_load_verify_locations(ctx, ca_file, NULL);
  } else {
    SSL_CTX_set_default_verify_paths(ctx);
  }
  ERR_clear_error();
  static const unsigned char alpn[] = "\x02h2\x08http/1.1";
  SSL_CTX_set_alpn_protos(ctx, alpn, sizeof alpn - 1);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  /* Record buffers (~34 KiB a connection) are returned while a connection is quiet: with a
   * few hundred connections at high in-flight counts that is most of TLS's memory. */
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_sess_set_new_cb(ctx, on_new_session);
  return ctx;
}

SSL *ct__h2_tls_new(ct__h2_conn_t *c) {
  SSL *ssl = SSL_new(c->h->ssl_ctx);
  if (ssl == NULL) {
    return NULL;
  }
  BIO *bio = BIO_new(method);
  if (bio == NULL) {
    SSL_free(ssl);
    return NULL;
  }
  BIO_set_data(bio, c);
  SSL_set_bio(ssl, bio, bio); /* one BIO both ways: SSL takes the one reference */
  SSL_set_app_data(ssl, c);
  SSL_set_connect_state(ssl);
  const ct__h2_origin_t *o = c->origin;
  X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
  int ok;
  if (o->host_is_ip) {
    ok = X509_VERIFY_PARAM_set1_ip_asc(param, o->host);
  } else {
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    ok = X509_VERIFY_PARAM_set1_host(param, o->host, 0) == 1 &&
         SSL_set_tlsext_host_name(ssl, o->host) == 1;
  }
  if (ok != 1) {
    SSL_free(ssl);
    ERR_clear_error();
    return NULL;
  }
  if (o->session != NULL) {
    SSL_set_session(ssl, o->session);
  }
  return ssl;
}

const char *ct__h2_tls_error(SSL *ssl, char *buf, size_t cap) {
  long v = SSL_get_verify_result(ssl);
  if (v != X509_V_OK) {
    snprintf(buf, cap, "certificate verification failed: %s", X509_verify_cert_error_string(v));
    return buf;
  }
  unsigned long e = ERR_peek_last_error();
  const char *reason = e != 0 ? ERR_reason_error_string(e) : NULL;
  snprintf(buf, cap, "%s", reason != NULL ? reason : "the server ended the handshake");
  return buf;
}
