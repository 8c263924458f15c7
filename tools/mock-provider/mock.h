/* mock-provider: the other side of the network for carteiro's tests, demo and benchmarks.
 *
 * One process, one libuv loop, one h2o context: TLS with HTTP/2 by ALPN and HTTP/1.1 as the
 * fallback. A request flows through the files of this folder in this order:
 *
 *   server.c    accept, TLS, h2o context; sends, delays, drops or resets the reply
 *   route.c     path -> endpoint or admin page; runs the pipeline below for endpoints
 *   whatsapp.c  twilio.c  sendgrid.c   credentials, validation, provider-shaped replies
 *   fault.c     recipient rules, latency and injected faults, all pure functions of the seed
 *   stats.c     counters, message keys (duplicates), per-second peaks, the record ring
 *   store.c     the files received (media uploads, e-mail attachments), oldest evicted first
 *   admin.c     /stats, /stats/reset, /received, /config, /health, /attachments, /callbacks
 *   config.c    command line + JSON file -> mock_config_t; runtime changes by POST /config
 *   wire.c      byte-level helpers: forms, multipart, base64, phones, e-mails, ids, JSON replies
 *   callback.c  the other direction: signed status callbacks (and inbound messages) sent to
 *               the client's webhook URL after a 2xx, with delay, duplicates, reordering,
 *               asynchronous failures, and re-sends of what was not answered 200
 *
 * The pipeline for a provider request (route.c) is: count it, authenticate (401), size limit
 * (413), validate (400/404), permanent recipient rules, then the fate of this attempt of this
 * message (drop, reset, 5xx, 429, slow), then the reply after the sampled latency. Stats and
 * the record are written when the reply leaves (or the client gives up), never before.
 *
 * Everything is bounded: fixed-size config arrays, a capped message-key table, a ring of the
 * last N records, a capped account table per endpoint, h2o's request-body limit, and a file
 * store capped in files and bytes.
 */
#ifndef CT_MOCK_H
#define CT_MOCK_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include <h2o.h>

#define MOCK_MAX_CREDS 16
#define MOCK_CRED_LEN 256
#define MOCK_MAX_RULES 64
#define MOCK_RULE_LEN 128
#define MOCK_MAX_TEMPLATES 64
#define MOCK_NAME_LEN 128
#define MOCK_PATH_LEN 1024
#define MOCK_ACCOUNT_LEN 48
#define MOCK_RECIPIENT_LEN 128
#define MOCK_MSGID_LEN 64
#define MOCK_DETAIL_LEN 1024
#define MOCK_MAX_ACCOUNTS 256
#define MOCK_ERRBUF 256
#define MOCK_MEDIA_ID_LEN 24     /* "1" + 6 + 10 digits, and the NUL */
#define MOCK_FILENAME_LEN 256    /* a kept file's name; records keep the first 128 bytes */
#define MOCK_TYPE_LEN 128        /* a kept file's MIME type */
#define MOCK_FILE_KEY_LEN 96     /* media id, or "<X-Message-Id>/<index>" */
#define MOCK_MAX_KEEP_FILES 100000

/* Providers own configuration (credentials, latency, faults); endpoints own counters. */
typedef enum { MOCK_PROV_WHATSAPP, MOCK_PROV_TWILIO, MOCK_PROV_SENDGRID, MOCK_PROV_COUNT } mock_prov_t;

typedef enum {
  MOCK_EP_WA_MESSAGES,
  MOCK_EP_WA_MEDIA,
  MOCK_EP_TWILIO_MESSAGES,
  MOCK_EP_SENDGRID_MAIL,
  MOCK_EP_COUNT
} mock_ep_t;

/* What happened to one request, as counted in /stats and shown in /received. */
#define MOCK_OUTCOME_MAP(X)                                                    \
  X(OK, "ok")                                                                  \
  X(AUTH, "auth")                                                              \
  X(INVALID, "invalid")                                                        \
  X(TOO_LARGE, "too_large")                                                    \
  X(REJECTED, "rejected")                                                      \
  X(RATE_LIMITED, "rate_limited")                                              \
  X(SERVER_ERROR, "server_error")                                              \
  X(DROPPED, "dropped")                                                        \
  X(RESET, "reset")                                                            \
  X(CANCELLED, "cancelled")

typedef enum {
#define MOCK__OUT_ENUM(name, text) MOCK_OUT_##name,
  MOCK_OUTCOME_MAP(MOCK__OUT_ENUM)
#undef MOCK__OUT_ENUM
      MOCK_OUT_COUNT
} mock_outcome_t;

const char *mock_outcome_name(mock_outcome_t o);
const char *mock_prov_name(mock_prov_t p);
const char *mock_ep_name(mock_ep_t e);
/* Returns 0 and sets *out, or -1 for an unknown name. */
int mock_prov_parse(const char *name, mock_prov_t *out);
int mock_ep_parse(const char *name, mock_ep_t *out);

/* ---- configuration (config.c) ---------------------------------------------------------- */

typedef enum { MOCK_RULE_EXACT, MOCK_RULE_PREFIX, MOCK_RULE_SUFFIX } mock_rule_kind_t;

/* A permanent-failure rule on the recipient, stored normalized (digits without '+' for
 * phones, lower case for e-mail) so that matching is a plain comparison. */
typedef struct {
  mock_rule_kind_t kind;
  char text[MOCK_RULE_LEN];
} mock_rule_t;

typedef enum {
  MOCK_HDR_NONE,
  MOCK_HDR_TEXT,
  MOCK_HDR_DOCUMENT,
  MOCK_HDR_IMAGE,
  MOCK_HDR_VIDEO
} mock_header_kind_t;

/* An approved WhatsApp template. When any is configured, templates are checked against the
 * list the way the Cloud API checks them against the approved ones (132001/132000/132012). */
typedef struct {
  char name[MOCK_NAME_LEN];
  char language[16];
  mock_header_kind_t header;
  int body_params;
} mock_template_t;

typedef struct {
  /* whatsapp: bearer tokens; twilio: "AccountSid:AuthToken"; sendgrid: API keys */
  char creds[MOCK_MAX_CREDS][MOCK_CRED_LEN];
  size_t ncreds;
  /* latency: none when both are 0, fixed when equal, else log-normal with these quantiles */
  double latency_p50_ms, latency_p99_ms;
  /* injected faults, probabilities per attempt; drop+reset+server_error+rate_limit+
   * pair_rate_limit <= 1, slow is independent of them */
  double p_drop, p_reset, p_server_error, p_rate_limit, p_pair_rate_limit, p_slow;
  /* the share of recipients refused permanently, drawn from (seed, recipient) so that every
   * message and every attempt to one recipient meets the same refusal (a number that is no
   * WhatsApp user stays one); applied like a matching --reject rule */
  double p_reject;
  int server_error_status;
  unsigned retry_after_s;
  unsigned slow_ms;
  mock_rule_t rules[MOCK_MAX_RULES];
  size_t nrules;
  bool revoked;
  mock_template_t templates[MOCK_MAX_TEMPLATES];
  size_t ntemplates;
  /* callbacks (callback.c): what the provider tells the client after a 2xx */
  bool cb_on;
  char cb_url[MOCK_PATH_LEN];     /* WhatsApp, SendGrid: the webhook URL (Twilio: each
                                     message's StatusCallback; cb_url for inbound messages) */
  char cb_secret[MOCK_CRED_LEN];  /* WhatsApp: the app secret; Twilio: the auth token
                                     (default: the account's own) */
  unsigned cb_delay_ms;           /* between the 2xx and the first status, and between statuses */
  double cb_duplicate;            /* share of callbacks sent twice */
  double cb_reorder;              /* share of messages whose statuses go in reverse order */
  double cb_async_fail;           /* share of accepted messages that fail afterwards */
  int cb_fail_code;               /* their error code (WhatsApp 131026, Twilio 30007;
                                     SendGrid: a hard bounce) */
  double cb_read;                 /* WhatsApp: share of delivered messages also read */
  unsigned cb_retries;            /* re-sends of a callback not answered 2xx (WhatsApp: 200) */
  unsigned cb_retry_ms;           /* the first re-send's delay; each next one doubles */
} mock_prov_conf_t;

typedef struct {
  char listen[64];
  unsigned port;
  char port_file[MOCK_PATH_LEN];
  char cert[MOCK_PATH_LEN];
  char key[MOCK_PATH_LEN];
  uint64_t seed;
  size_t records;
  size_t max_keys;
  size_t max_body;
  size_t keep_files;   /* the file store's limits; the only process-wide keys POST /config */
  uint64_t keep_bytes; /* may change, since lowering them only evicts */
  bool quiet;
  bool http1_only; /* ALPN without h2: every client speaks HTTP/1.1 (carteiro's libcurl path) */
  mock_prov_conf_t prov[MOCK_PROV_COUNT];
  /* callbacks, process-wide */
  char cb_ca[MOCK_PATH_LEN];         /* CA the client's webhook certificate is checked with */
  char sg_signing_key[MOCK_PATH_LEN]; /* SendGrid's ECDSA P-256 key (PEM); "": made at start */
  char sg_public_key_out[MOCK_PATH_LEN]; /* where its public key goes (base64 DER, as
                                            SendGrid shows it) */
  size_t cb_queue;                   /* callbacks waiting at most (more are dropped, counted) */
  size_t cb_records;                 /* callback records kept for GET /callbacks */
  unsigned cb_concurrency;           /* callbacks in flight at once */
} mock_config_t;

/* Fills `c` with the defaults (127.0.0.1, port 0, seed 1, 4096 records, 4 Mi keys, 64 MiB
 * bodies, 256 files and 64 MiB kept, no credentials, no latency, no faults). */
void mock_config_defaults(mock_config_t *c);

/* Applies a JSON object to `c`. `runtime` refuses the process-wide keys (listen, port, cert,
 * ...) that cannot change once the server runs; keep_files and keep_bytes can (the caller
 * then trims the store). Arrays replace what was there. Returns 0, or
 * -1 with a message in err (MOCK_ERRBUF bytes); `c` may then be partly changed, so callers
 * apply to a copy. */
int mock_config_apply_json(mock_config_t *c, json_t *obj, bool runtime, char *err);

/* Parses the command line into `c` (after defaults; --config files apply in order with the
 * other options). Returns 0, 1 when --help was printed, or -1 after printing an error. */
int mock_config_from_args(mock_config_t *c, int argc, char **argv);

/* The effective configuration as JSON, credentials reduced to their count. New reference. */
json_t *mock_config_to_json(const mock_config_t *c);

/* ---- faults (fault.c) ------------------------------------------------------------------ */

typedef enum {
  MOCK_FAULT_NONE,
  MOCK_FAULT_DROP,
  MOCK_FAULT_RESET,
  MOCK_FAULT_SERVER_ERROR,
  MOCK_FAULT_RATE_LIMIT,
  MOCK_FAULT_PAIR_RATE_LIMIT
} mock_fault_t;

typedef struct {
  mock_fault_t fault;
  bool slow;
  uint32_t delay_ms;
} mock_fate_t;

uint64_t mock_mix64(uint64_t x);
/* FNV-1a over n bytes, continuing from h (start with MOCK_HASH_INIT). */
#define MOCK_HASH_INIT 0xcbf29ce484222325ULL
uint64_t mock_hash_bytes(uint64_t h, const void *p, size_t n);
/* Hashes a field so that ("ab","c") and ("a","bc") differ: the length goes in first. */
uint64_t mock_hash_field(uint64_t h, const char *s, size_t n);

/* The fate of attempt `attempt` (0 = first) of the message with key `key`: a pure function
 * of (seed, key, attempt) and the provider's rates, so a test run replays exactly whatever
 * the order in which concurrent requests arrive. */
mock_fate_t mock_fault_decide(const mock_prov_conf_t *pc, uint64_t seed, uint64_t key,
                              uint32_t attempt);

/* The latency of a request that has no message key (rejected before validation passed),
 * from the provider's distribution and a hash `h` of its arrival number. */
uint32_t mock_latency_sample(const mock_prov_conf_t *pc, uint64_t h);

/* True when `recipient` falls in the share `p_reject` of recipients refused permanently: a
 * pure function of (seed, recipient). */
bool mock_reject_draw(const mock_prov_conf_t *pc, uint64_t seed, const char *recipient);

/* True when `recipient` (normalized like the rules) matches a permanent-failure rule. */
bool mock_rule_match(const mock_prov_conf_t *pc, const char *recipient);

/* ---- the process ---------------------------------------------------------------------- */

typedef struct mock_stats mock_stats_t;
typedef struct mock_store mock_store_t;
typedef struct mock_callbacks mock_callbacks_t;

typedef struct mock {
  mock_config_t conf;
  mock_stats_t *stats;
  mock_store_t *store;
  mock_callbacks_t *callbacks;
  uv_loop_t *loop;
  h2o_globalconf_t h2o_conf;
  h2o_context_t h2o_ctx;
  h2o_accept_ctx_t accept_ctx;
  SSL_CTX *ssl_ctx;
  uv_tcp_t listener;
  uv_signal_t sigterm, sigint;
  uv_timer_t shutdown_timer;
  uv_timer_t outage_timer; /* an outage: first its start, then its end (server.c) */
  uint64_t outage_ms;      /* length of the outage asked for, while one is on */
  bool down;               /* an outage is on: no listener, every connection cut */
  bool listener_closed;    /* the listener's close callback ran */
  uint64_t outages;        /* outages begun */
  bool stopping;
  uint64_t stop_began; /* uv_now() when the first signal came */
  bool port_file_written;
  unsigned port;
  uint64_t instance;  /* random per process: ids stay unique across restarts */
  uint64_t id_counter;
  uint64_t media_counter; /* media ids have their own, so that an id names its upload */
  uint64_t request_seq;
  size_t pending;     /* replies waiting on a latency timer */
  int64_t started_ms;
} mock_t;

/* ---- one request (route.c, server.c) ---------------------------------------------------- */

typedef enum { MOCK_ACT_SEND, MOCK_ACT_DROP, MOCK_ACT_RESET } mock_action_t;

struct mock_delay;

/* A provider request from arrival to reply. Lives in shared memory linked to the h2o request
 * pool, so its dispose hook learns when h2o lets go of the request (client reset, closed
 * connection) even while a latency timer still points at it. */
typedef struct mock_call {
  mock_t *m;
  h2o_req_t *req; /* NULL once h2o disposed the request */
  mock_ep_t ep;
  mock_prov_t prov;
  const mock_prov_conf_t *pc;
  /* the reply */
  int status;
  const char *reason;
  const char *content_type;
  h2o_iovec_t body;
  struct {
    const char *name; /* lower case, static */
    h2o_iovec_t value;
  } headers[4];
  int nheaders;
  mock_action_t action;
  mock_outcome_t outcome;
  int error_code;
  bool slow;
  uint32_t delay_ms;
  /* what the request was */
  char account[MOCK_ACCOUNT_LEN];
  char recipient[MOCK_RECIPIENT_LEN];
  char msg_id[MOCK_MSGID_LEN];
  char sha256[65]; /* of the file the request carried or named; "" when none or unknown */
  char detail[MOCK_DETAIL_LEN];
  /* a WhatsApp message's document: the media id it names, that upload's SHA-256 (while the
   * store still has it) and the file name the recipient sees */
  char doc_id[MOCK_MEDIA_ID_LEN];
  char doc_sha256[65];
  char doc_filename[128];
  /* what the statuses of an accepted message are sent with (callback.c), in the request's
   * pool: WhatsApp biz_opaque_callback_data, Twilio StatusCallback, SendGrid custom_args (a
   * JSON object); and Twilio's From (or Messaging Service) */
  h2o_iovec_t cb_data;
  h2o_iovec_t cb_from;
  char user_agent[64]; /* the client's User-Agent header, cut */
  uint64_t key;
  bool has_key;
  bool rejected; /* a recipient matched a permanent-failure rule */
  uint32_t attempt;
  int64_t received_ms;
  size_t body_bytes;
  void *priv; /* endpoint-private, in the request pool: what accept() or fail() quote */
  int http_version;
  /* lifetime */
  struct mock_delay *delay;
  bool answered;
} mock_call_t;

/* The provider side of an endpoint: no I/O, only the request in and the reply fields out. */
typedef struct mock_endpoint {
  mock_ep_t ep;
  mock_prov_t prov;
  /* Returns true when the credentials are accepted (and, for the revoked switch, still
   * valid); otherwise fills the provider's 401 reply and returns false. */
  bool (*authenticate)(mock_call_t *call);
  /* Returns true when the request is valid, with key, recipient and detail filled; otherwise
   * fills the provider's 4xx reply (outcome INVALID) and returns false. */
  bool (*validate)(mock_call_t *call);
  /* Fills the provider-shaped reply for an outcome decided outside the endpoint:
   * TOO_LARGE, REJECTED, RATE_LIMITED (pair = the WhatsApp pair limit), SERVER_ERROR. */
  void (*fail)(mock_call_t *call, mock_outcome_t why, bool pair);
  /* Fills the 2xx reply with a new message id. */
  void (*accept)(mock_call_t *call);
} mock_endpoint_t;

extern const mock_endpoint_t mock_whatsapp_messages;
extern const mock_endpoint_t mock_whatsapp_media;
extern const mock_endpoint_t mock_twilio_messages;
extern const mock_endpoint_t mock_sendgrid_mail;

/* route.c: the h2o handler for every path. Always answers (returns 0). */
int mock_route(mock_t *m, h2o_req_t *req);
/* admin.c: answers the admin pages; false when the path is none of them. */
bool mock_admin(mock_t *m, h2o_req_t *req);

/* whatsapp.c: the Cloud API's "retrieve media URL" (GET /{version}/{media_id}) and the
 * download of that URL (GET /media-download/{media_id}), both behind the bearer token, both
 * answered at once: no latency, no faults, not counted in /stats. */
void mock_whatsapp_media_url(mock_t *m, h2o_req_t *req, h2o_iovec_t media_id);
void mock_whatsapp_media_download(mock_t *m, h2o_req_t *req, h2o_iovec_t media_id);

/* server.c */
/* Sets up TLS, the h2o context and the listener; prints "listening on https://ADDR:PORT" and
 * writes the port file. Returns 0, or -1 after printing why. */
int mock_server_start(mock_t *m);
/* Releases what mock_server_start acquired; the loop must have stopped. */
void mock_server_dispose(mock_t *m);
/* A provider outage of `ms` milliseconds (1..86400000), as a crashed server looks from
 * outside: 20 ms from now (so that the admin answer asking for it leaves first) the listener
 * closes, so new connections are refused, and every open connection is shut down with
 * shutdown(2), so requests on them end unanswered (replies waiting on their latency are
 * counted cancelled); `ms` later the same address and port listen again. Counters, keys,
 * records and the store are kept, so duplicates across the outage are still seen. Returns 0;
 * -1 when an outage is already on or the mock is stopping. */
int mock_outage_start(mock_t *m, uint64_t ms);
/* Creates the call for `req` in its pool. Never fails (h2o aborts on out of memory). */
mock_call_t *mock_call_new(mock_t *m, h2o_req_t *req, mock_ep_t ep, mock_prov_t prov);
/* Sends the reply now, or after call->delay_ms on a uv timer; stats and the record are
 * written when it leaves. */
void mock_call_finish(mock_call_t *call);
/* Adds response header `name` (lower case, static storage) with a copy of `value`; at most
 * four per call, later ones are dropped. */
void mock_call_header(mock_call_t *call, const char *name, const char *value);
/* Sends the reply the call holds now: no latency, no stats, no record. For the pages that
 * share an endpoint's credentials check but are no provider request of their own. */
void mock_call_send_now(mock_call_t *call);
/* Sends a complete reply for an admin page (no latency, no stats). */
void mock_send(h2o_req_t *req, int status, const char *reason, const char *content_type,
               h2o_iovec_t body);
/* Serializes `j` (reference stolen) into the request pool and sends it. */
void mock_send_json(h2o_req_t *req, int status, const char *reason, json_t *j);

/* ---- callbacks (callback.c) ------------------------------------------------------------ */

/* Sets up the HTTP client (libcurl multi on the loop) and SendGrid's signing key (loaded or
 * made; its public key written to sg_public_key_out). Returns 0, or -1 after printing why. */
int mock_callbacks_start(mock_t *m);
/* Cancels what is in flight and frees everything; the loop has stopped. */
void mock_callbacks_dispose(mock_t *m);
/* A message was accepted (2xx): schedules its statuses, when the provider's callbacks are on. */
void mock_callbacks_accepted(mock_t *m, const mock_call_t *call);
/* POST /callbacks/inbound: a customer's message sent to the client as the provider would.
 * Returns the new message id (a JSON object) or NULL with a reason in err. New reference. */
json_t *mock_callbacks_inbound(mock_t *m, json_t *req, char *err);
/* /stats "callbacks": counters per provider. New reference. */
json_t *mock_callbacks_stats(const mock_t *m);
/* GET /callbacks: records with seq > since, oldest first, at most limit, of a provider (or
 * any when prov < 0) and a state ("acked", "given_up", "pending", NULL any). New reference. */
json_t *mock_callbacks_records(const mock_t *m, uint64_t since, size_t limit, int prov,
                               const char *state);
/* Forgets the counters and records (POST /stats/reset); callbacks waiting still go. */
void mock_callbacks_reset(mock_t *m);

/* ---- stats (stats.c) ------------------------------------------------------------------- */

typedef struct {
  uint64_t seq;
  int64_t at_ms;
  uint8_t ep;
  uint8_t outcome;
  uint8_t http_version;
  bool slow;
  bool duplicate;
  uint16_t status;
  int32_t error_code;
  uint32_t latency_ms;
  uint32_t attempt;
  uint64_t body_bytes;
  uint64_t key;
  char account[MOCK_ACCOUNT_LEN];
  char recipient[MOCK_RECIPIENT_LEN];
  char msg_id[MOCK_MSGID_LEN];
  char sha256[65];
  char detail[MOCK_DETAIL_LEN];
  char doc_id[MOCK_MEDIA_ID_LEN];
  char doc_sha256[65];
  char doc_filename[128];
  char user_agent[64];
} mock_record_t;

/* Allocates the counters, the key table (grows up to max_keys) and a ring of `records`.
 * Returns NULL when out of memory. */
mock_stats_t *mock_stats_new(size_t records, size_t max_keys);
void mock_stats_free(mock_stats_t *s);
/* Forgets everything counted and recorded, as if the process had just started. */
void mock_stats_reset(mock_stats_t *s);

/* A request arrived for an endpoint and account (both counted at once so that the
 * received-per-second peak sees arrival times). `now_ms` is the loop's monotonic clock. */
void mock_stats_received(mock_stats_t *s, mock_ep_t ep, const char *account, int64_t now_ms,
                         size_t body_bytes);
/* Returns the attempt number (0 for the first) of the message `key` and counts this one. */
uint32_t mock_stats_attempt(mock_stats_t *s, uint64_t key);
/* The reply for `call` left (or the client cancelled): counts the outcome, duplicates and
 * accepted-per-second peaks, and stores the record. */
void mock_stats_answered(mock_stats_t *s, const mock_call_t *call, int64_t now_ms);
/* Requests to paths that are no endpoint (404/405), counted apart. */
void mock_stats_other(mock_stats_t *s);

/* /stats as JSON. New reference. */
json_t *mock_stats_to_json(const mock_stats_t *s, int64_t now_ms);
/* The records with seq > since, oldest first, at most `limit`, filtered by endpoint (or any
 * when ep < 0) and recipient (or any when NULL). New reference. */
json_t *mock_stats_records(const mock_stats_t *s, uint64_t since, size_t limit, int ep,
                           const char *recipient);

/* ---- the files received (store.c) ------------------------------------------------------- */

typedef struct {
  char key[MOCK_FILE_KEY_LEN];
  char account[MOCK_ACCOUNT_LEN]; /* WhatsApp: the phone_number_id it was uploaded on */
  char type[MOCK_TYPE_LEN];       /* served as the Content-Type */
  char filename[MOCK_FILENAME_LEN];
  char sha256[65];
} mock_file_info_t;

typedef struct mock_file {
  struct mock_file *older, *newer; /* the FIFO, oldest first */
  struct mock_file *hnext;         /* the lookup chain */
  uint64_t hash;
  mock_file_info_t info;
  size_t len;
  unsigned char data[];
} mock_file_t;

/* An empty store, or NULL when out of memory. */
mock_store_t *mock_store_new(void);
void mock_store_free(mock_store_t *s);
/* Keeps a copy of data[0..len) under info->key, first evicting the oldest files until at most
 * max_files files and max_bytes bytes remain with this one; a file under the same key is
 * replaced. Returns 0, or -1 (the file is not kept, nothing else changes) when max_files is
 * 0, len exceeds max_bytes, or memory runs out. */
int mock_store_put(mock_store_t *s, const mock_file_info_t *info, const void *data, size_t len,
                   size_t max_files, uint64_t max_bytes);
/* The file under `key`, or NULL. Valid until the next put or trim. */
const mock_file_t *mock_store_get(const mock_store_t *s, const char *key);
/* Evicts the oldest files until at most max_files files and max_bytes bytes remain. */
void mock_store_trim(mock_store_t *s, size_t max_files, uint64_t max_bytes);
/* Counts for /stats. New reference. */
json_t *mock_store_to_json(const mock_store_t *s, size_t max_files, uint64_t max_bytes);

/* ---- wire helpers (wire.c) ------------------------------------------------------------- */

typedef struct {
  h2o_iovec_t name;
  h2o_iovec_t value;
} mock_param_t;

/* Decodes application/x-www-form-urlencoded `in` into at most `max` pairs allocated in
 * `pool`. Returns the number of pairs, or -1 for a malformed escape or too many pairs. */
int mock_form_parse(h2o_mem_pool_t *pool, h2o_iovec_t in, mock_param_t *out, size_t max);
/* The first value named `name`, or NULL. */
const h2o_iovec_t *mock_form_get(const mock_param_t *p, size_t n, const char *name);

typedef struct {
  h2o_iovec_t name;         /* from Content-Disposition */
  h2o_iovec_t filename;     /* from Content-Disposition, base NULL when absent */
  h2o_iovec_t content_type; /* base NULL when absent */
  h2o_iovec_t data;
} mock_part_t;

/* Splits a multipart/form-data body. `content_type` is the request header (the boundary is
 * taken from it). Returns the number of parts, or -1 with a reason in err. */
int mock_multipart_parse(h2o_iovec_t content_type, h2o_iovec_t body, mock_part_t *out,
                         size_t max, const char **err);

/* True when s is canonical base64 (RFC 4648, padded); *decoded gets the decoded length. */
bool mock_base64_valid(const char *s, size_t n, size_t *decoded);
/* Decodes base64 into out (capacity cap). Returns the length, or -1 when malformed or long. */
ssize_t mock_base64_decode(const char *s, size_t n, unsigned char *out, size_t cap);

/* Copies the digits of a phone number written as [+]digits into out (capacity cap). Returns
 * the number of digits, or -1 when anything else is present or the count is not 8..15. */
int mock_phone_digits(const char *s, size_t n, char *out, size_t cap);
/* E.164: '+' and 8..15 digits, the first not 0. */
bool mock_phone_e164(const char *s, size_t n);
/* A practical address check: one '@', non-empty local part, a dotted domain, no spaces or
 * control characters, at most 254 bytes. */
bool mock_email_valid(const char *s, size_t n);
/* Lower-cases an e-mail address into out. */
void mock_email_norm(const char *s, size_t n, char *out, size_t cap);
/* True when s[0..n) is well-formed UTF-8: no overlong forms, surrogates or code points
 * past U+10FFFF. */
bool mock_utf8_valid(const char *s, size_t n);
/* The number of Unicode code points in valid UTF-8 (jansson guarantees validity). */
size_t mock_utf8_len(const char *s, size_t n);

/* Bounded copy that always terminates (truncates). */
void mock_copy(char *dst, size_t cap, const char *src, size_t n);
/* The same for UTF-8 text: a truncation never splits a character, so valid UTF-8 stays valid. */
void mock_copy_utf8(char *dst, size_t cap, const char *src, size_t n);
/* A new identifier: 16 bytes of (instance, counter) in the shape each provider uses. */
typedef enum { MOCK_ID_WAMID, MOCK_ID_TWILIO_SM, MOCK_ID_SENDGRID, MOCK_ID_MEDIA, MOCK_ID_TRACE } mock_id_kind_t;
void mock_new_id(mock_t *m, mock_id_kind_t kind, char *out, size_t cap);
/* True when s[0..n) is a media id this process issued (whether or not its file is still kept):
 * media ids carry the instance and their own counter, so no table is needed. */
bool mock_media_id_issued(const mock_t *m, const char *s, size_t n);

/* The value of request header `name` (lower case), or an iovec with base NULL. */
h2o_iovec_t mock_header(h2o_req_t *req, const h2o_token_t *token);
h2o_iovec_t mock_header_str(h2o_req_t *req, const char *name);
/* When `auth` is "Bearer <token>" (scheme case-insensitive), sets *token and returns true. */
bool mock_bearer(h2o_iovec_t auth, h2o_iovec_t *token);

/* Serializes `j` compactly into `pool` (reference stolen). */
h2o_iovec_t mock_json_dump(h2o_mem_pool_t *pool, json_t *j);
/* Sets the call's reply to `j` (reference stolen) as application/json. */
void mock_reply_json(mock_call_t *call, int status, const char *reason, json_t *j);
/* Compact dump of `j` into call->detail, or a note that it did not fit. Does not steal. */
void mock_set_detail(mock_call_t *call, json_t *j);

/* The reason phrase of an HTTP status. */
const char *mock_reason(int status);

/* Wall-clock milliseconds since the Unix epoch. */
int64_t mock_wall_ms(void);

#endif
