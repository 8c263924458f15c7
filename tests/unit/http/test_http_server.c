/* The HTTP server (src/http) against a test double of the engine.
 *
 * The server runs on a uv loop in its own thread, as the daemon's control loop would; the
 * test thread talks to it over real sockets with libcurl. The engine double records what it
 * was handed and calls done from a uv timer, later, on the loop thread, as the real engine
 * does once the jobs are durable. Its state is shared with the test thread under a mutex. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <uv.h>
#include <zstd.h>

#include "common/error.h"
#include "http/http.h"
#include "job/job.h"

#define TOKEN "s3cret-token"
#define MAX_BODY (64 * 1024)

/* A valid job (gen-invoices --seed 1, job 1), with the id and CPF left open. */
#define JOB_FMT                                                                                   \
  "{\"id\":\"%s\",\"tenant\":\"tim\",\"kind\":\"invoice\",\"recipient\":{\"name\":\"Fernanda "   \
  "Araujo\",\"phone\":\"+5574963232123\",\"cpf\":\"%s\",\"time_zone\":\"America/Bahia\"},"        \
  "\"deliveries\":[{\"channels\":[\"whatsapp\",\"sms\"]}],\"created_at_ms\":1796094000000,"       \
  "\"invoice\":{\"number\":\"FAT-202612-00000001\",\"amount_cents\":60273,\"currency\":\"BRL\","  \
  "\"due_date\":\"2026-12-17\",\"barcode_line\":\"00190725869430299330123932472675316630000060273" \
  "\"}}"
#define GOOD_CPF "67102360487"
#define BAD_CPF "67102360488" /* last check digit off by one */

/* ---- the engine's test double ---- */

#define FAKE_MAX_IDS 64

typedef struct {
  pthread_mutex_t mu;
  uv_loop_t *loop;
  size_t enqueue_calls;
  size_t njobs;                  /* jobs received over all calls */
  char ids[FAKE_MAX_IDS][64];    /* ids received, in order (first FAKE_MAX_IDS) */
  ct_job_t *stored;              /* the last job received, returned by job_get */
  bool saturated;
  int retry_after;
  bool ready;
  char why[64];
  int enqueue_rc;                /* what done reports */
  int delay_ms;                  /* how long the "durable write" takes */
  size_t dones;                  /* done callbacks made */
  size_t rejected;               /* records the server reported rejected */
} fake_engine_t;

static fake_engine_t fake;

typedef struct {
  uv_timer_t timer;
  ct_job_t **jobs;
  size_t n;
  ct_http_enqueue_done_cb done;
  void *arg;
  int dup[FAKE_MAX_IDS]; /* what the spool would answer for each job */
} fake_call_t;

static void fake_call_closed(uv_handle_t *h)
{
  free(h->data);
}

static void fake_call_fire(uv_timer_t *t)
{
  fake_call_t *c = t->data;
  int *results = calloc(c->n, sizeof(int));
  assert_non_null(results);
  pthread_mutex_lock(&fake.mu);
  int rc = fake.enqueue_rc;
  memcpy(results, c->dup, c->n * sizeof(int));
  for (size_t i = 0; i < c->n; i++) {
    if (rc == 0 && i == c->n - 1) {
      ct_job_free(fake.stored);
      fake.stored = c->jobs[i];
    } else {
      ct_job_free(c->jobs[i]);
    }
  }
  fake.dones++;
  pthread_mutex_unlock(&fake.mu);
  free(c->jobs);
  c->done(c->arg, rc, results);
  free(results);
  uv_close((uv_handle_t *)t, fake_call_closed);
}

static void fake_enqueue(void *ctx, ct_job_t **jobs, size_t n, ct_http_enqueue_done_cb done,
                         void *arg)
{
  (void)ctx;
  fake_call_t *c = calloc(1, sizeof(*c));
  assert_non_null(c);
  assert_true(n <= FAKE_MAX_IDS);
  pthread_mutex_lock(&fake.mu);
  fake.enqueue_calls++;
  for (size_t i = 0; i < n; i++) {
    /* an id seen before (in this test) is a duplicate, as the spool would say */
    for (size_t k = 0; k < fake.njobs && k < FAKE_MAX_IDS; k++)
      if (strcmp(fake.ids[k], jobs[i]->id) == 0)
        c->dup[i] = CT_EDUPLICATE;
    if (fake.njobs < FAKE_MAX_IDS)
      snprintf(fake.ids[fake.njobs], sizeof(fake.ids[0]), "%s", jobs[i]->id);
    fake.njobs++;
  }
  int delay = fake.delay_ms;
  pthread_mutex_unlock(&fake.mu);
  c->jobs = jobs;
  c->n = n;
  c->done = done;
  c->arg = arg;
  uv_timer_init(fake.loop, &c->timer);
  c->timer.data = c;
  uv_timer_start(&c->timer, fake_call_fire, (uint64_t)delay, 0);
}

static bool fake_saturated(void *ctx, int *retry_after_s)
{
  (void)ctx;
  pthread_mutex_lock(&fake.mu);
  bool s = fake.saturated;
  *retry_after_s = fake.retry_after;
  pthread_mutex_unlock(&fake.mu);
  return s;
}

static int fake_job_get(void *ctx, const char *id, ct_job_info_t *out)
{
  (void)ctx;
  pthread_mutex_lock(&fake.mu);
  int rc = CT_ENOTFOUND;
  if (fake.stored != NULL && strcmp(fake.stored->id, id) == 0) {
    /* a copy through the codec: the info owns its job, like the spool's does */
    uint8_t *pb = NULL;
    size_t len = 0;
    ct_job_t *copy = NULL;
    char err[128];
    assert_int_equal(ct_job_encode_pb(fake.stored, &pb, &len), 0);
    assert_int_equal(ct_job_decode_pb(pb, len, &copy, err, sizeof(err)), 0);
    free(pb);
    memset(out, 0, sizeof(*out));
    out->state = CT_STATE_READY;
    out->job = copy;
    out->enqueued_ms = 1000;
    rc = 0;
  }
  pthread_mutex_unlock(&fake.mu);
  return rc;
}

static bool fake_ready(void *ctx, char *why, size_t cap)
{
  (void)ctx;
  pthread_mutex_lock(&fake.mu);
  bool r = fake.ready;
  snprintf(why, cap, "%s", fake.why);
  pthread_mutex_unlock(&fake.mu);
  return r;
}

static void fake_rejected(void *ctx, size_t n)
{
  (void)ctx;
  pthread_mutex_lock(&fake.mu);
  fake.rejected += n;
  pthread_mutex_unlock(&fake.mu);
}

static size_t fake_rejected_count(void)
{
  pthread_mutex_lock(&fake.mu);
  size_t n = fake.rejected;
  pthread_mutex_unlock(&fake.mu);
  return n;
}

static void fake_metrics(void *ctx, void (*write)(void *wctx, const char *s, size_t n),
                         void *wctx)
{
  (void)ctx;
  write(wctx, "carteiro_up 1\n", 14);
  write(wctx, "carteiro_spool_ready 7\n", 23);
}

/* The engine's document; the server adds enqueue.rejected to it. */
static json_t *fake_status(void *ctx)
{
  (void)ctx;
  return json_pack("{s:{s:i, s:i}, s:[]}", "enqueue", "accepted", 5, "duplicates", 1,
                   "providers");
}

static void fake_reset(void)
{
  pthread_mutex_lock(&fake.mu);
  fake.enqueue_calls = 0;
  fake.njobs = 0;
  memset(fake.ids, 0, sizeof(fake.ids));
  fake.saturated = false;
  fake.retry_after = 0;
  fake.ready = true;
  fake.why[0] = '\0';
  fake.enqueue_rc = 0;
  fake.delay_ms = 10;
  fake.rejected = 0;
  pthread_mutex_unlock(&fake.mu);
}

static size_t fake_jobs(void)
{
  pthread_mutex_lock(&fake.mu);
  size_t n = fake.njobs;
  pthread_mutex_unlock(&fake.mu);
  return n;
}

/* ---- the server on its loop thread ---- */

static uv_loop_t loop;
static uv_async_t stop_async;
static pthread_t loop_thread;
static ct_http_server_t *server;
static uint16_t port;
static bool stopped;

static void on_stopped(void *arg)
{
  (void)arg;
  stopped = true;
}

static void on_stop_async(uv_async_t *a)
{
  ct_http_stop(server, on_stopped, NULL);
  uv_close((uv_handle_t *)a, NULL);
}

static pthread_mutex_t loop_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t loop_cv = PTHREAD_COND_INITIALIZER;
static bool loop_ended;

/* The loop thread never exits: h2o keeps per-thread allocation caches that only a live
 * thread's TLS points to, and LeakSanitizer would report them once the thread is gone. */
static void *loop_main(void *arg)
{
  (void)arg;
  uv_run(&loop, UV_RUN_DEFAULT);
  pthread_mutex_lock(&loop_mu);
  loop_ended = true;
  pthread_cond_broadcast(&loop_cv);
  for (;;)
    pthread_cond_wait(&loop_cv, &loop_mu);
  return NULL;
}

static int group_setup(void **state)
{
  (void)state;
  curl_global_init(CURL_GLOBAL_DEFAULT);
  pthread_mutex_init(&fake.mu, NULL);
  fake.loop = &loop;
  fake_reset();
  assert_int_equal(uv_loop_init(&loop), 0);
  assert_int_equal(uv_async_init(&loop, &stop_async, on_stop_async), 0);
  static const ct_http_engine_t engine = {.enqueue = fake_enqueue,
                                          .rejected = fake_rejected,
                                          .saturated = fake_saturated,
                                          .job_get = fake_job_get,
                                          .ready = fake_ready,
                                          .metrics = fake_metrics,
                                          .status = fake_status};
  ct_http_options_t o = {.host = "127.0.0.1", .port = 0, .token = TOKEN, .max_body = MAX_BODY};
  assert_int_equal(ct_http_start(&loop, &o, &engine, &server), 0);
  port = ct_http_port(server);
  assert_true(port != 0);
  assert_int_equal(pthread_create(&loop_thread, NULL, loop_main, NULL), 0);
  pthread_detach(loop_thread);
  return 0;
}

static int group_teardown(void **state)
{
  (void)state;
  uv_async_send(&stop_async);
  pthread_mutex_lock(&loop_mu);
  while (!loop_ended)
    pthread_cond_wait(&loop_cv, &loop_mu);
  pthread_mutex_unlock(&loop_mu);
  assert_true(stopped);
  /* every handle the server opened is closed: nothing left on the loop */
  assert_int_equal(uv_loop_close(&loop), 0);
  ct_job_free(fake.stored);
  pthread_mutex_destroy(&fake.mu);
  curl_global_cleanup();
  return 0;
}

static int test_setup(void **state)
{
  (void)state;
  fake_reset();
  return 0;
}

/* ---- the client ---- */

typedef struct {
  long status;
  char body[1 << 16];
  size_t len;
  char retry_after[16];
  char content_type[128];
} resp_t;

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
  resp_t *r = ud;
  size_t k = sz * n;
  size_t room = sizeof(r->body) - 1 - r->len;
  memcpy(r->body + r->len, p, k < room ? k : room);
  r->len += k < room ? k : room;
  r->body[r->len] = '\0';
  return k;
}

static void copy_header_value(char *dst, size_t cap, const char *p, size_t k, size_t skip)
{
  size_t vl = k - skip;
  while (vl > 0 && (p[skip + vl - 1] == '\r' || p[skip + vl - 1] == '\n'))
    vl--;
  if (vl >= cap)
    vl = cap - 1;
  memcpy(dst, p + skip, vl);
  dst[vl] = '\0';
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
  resp_t *r = ud;
  size_t k = sz * n;
  if (k > 13 && strncasecmp(p, "retry-after: ", 13) == 0)
    copy_header_value(r->retry_after, sizeof(r->retry_after), p, k, 13);
  if (k > 14 && strncasecmp(p, "content-type: ", 14) == 0)
    copy_header_value(r->content_type, sizeof(r->content_type), p, k, 14);
  return k;
}

/* One request; returns the status (0 when the transfer failed). headers: NULL-terminated. */
static long request(resp_t *r, const char *method, const char *path, const char *token,
                    const char *const *headers, const void *body, size_t len)
{
  memset(r, 0, sizeof(*r));
  CURL *c = curl_easy_init();
  assert_non_null(c);
  char url[256];
  snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", port, path);
  struct curl_slist *hl = NULL;
  char auth[128];
  if (token != NULL) {
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
    hl = curl_slist_append(hl, auth);
  }
  hl = curl_slist_append(hl, "Expect:");
  for (size_t i = 0; headers != NULL && headers[i] != NULL; i++)
    hl = curl_slist_append(hl, headers[i]);
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
  if (body != NULL) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
  }
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
  if (curl_easy_perform(c) == CURLE_OK)
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
  curl_slist_free_all(hl);
  curl_easy_cleanup(c);
  return r->status;
}

static json_t *parse(const resp_t *r)
{
  json_error_t e;
  json_t *j = json_loadb(r->body, r->len, 0, &e);
  if (j == NULL)
    fail_msg("reply is not JSON: %s", r->body);
  return j;
}

static json_int_t jint(json_t *o, const char *key)
{
  json_t *v = json_object_get(o, key);
  if (!json_is_integer(v))
    fail_msg("%s is not an integer", key);
  return json_integer_value(v);
}

static const char *jstr(json_t *o, const char *key)
{
  json_t *v = json_object_get(o, key);
  if (!json_is_string(v))
    fail_msg("%s is not a string", key);
  return json_string_value(v);
}

static const char *const CT_JSON[] = {"Content-Type: application/json", NULL};

static char *job_json(const char *id, const char *cpf)
{
  char *s = malloc(2048);
  assert_non_null(s);
  snprintf(s, 2048, JOB_FMT, id, cpf);
  return s;
}

static void post_json(resp_t *r, const char *path, const char *body)
{
  request(r, "POST", path, TOKEN, CT_JSON, body, strlen(body));
}

/* ---- tests ---- */

static void test_token_required(void **state)
{
  (void)state;
  resp_t r;
  char *job = job_json("inv-tok", GOOD_CPF);
  assert_int_equal(request(&r, "POST", "/v1/jobs", NULL, CT_JSON, job, strlen(job)), 401);
  json_t *j = parse(&r);
  assert_string_equal(jstr(j, "error"), "missing or wrong bearer token");
  json_decref(j);
  assert_int_equal(request(&r, "POST", "/v1/jobs", "wrong", CT_JSON, job, strlen(job)), 401);
  assert_int_equal(request(&r, "POST", "/v1/jobs", TOKEN "x", CT_JSON, job, strlen(job)), 401);
  assert_int_equal(request(&r, "GET", "/v1/jobs/inv-tok", NULL, NULL, NULL, 0), 401);
  assert_int_equal(fake_jobs(), 0);
  free(job);
}

/* Every Authorization header that is not exactly "Bearer <the token>" (the scheme in any
 * case) gets 401 on every /v1 route, and nothing reaches the engine. */
static void test_every_bad_token(void **state)
{
  (void)state;
  static const char *const bad[] = {
      NULL, /* no header at all */
      "Authorization:",
      "Authorization: Bearer",
      "Authorization: Bearer ",
      "Authorization: " TOKEN,
      "Authorization: Basic " TOKEN,
      "Authorization: Basic czNjcmV0LXRva2VuOg==",
      "Authorization: Bearer  " TOKEN,
      "Authorization: Bearer " TOKEN " ",
      "Authorization: Bearer " TOKEN "x",
      "Authorization: Bearer s3cret-toke",
      "Authorization: Bearer S3CRET-TOKEN",
      "Authorization: Bearer s3cret-tokeN",
      "Authorization: Bearer\t" TOKEN,
      "Authorization: Bearer wrong",
      "Authorization: Token " TOKEN,
  };
  char *job = job_json("inv-badtok", GOOD_CPF);
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    const char *h[] = {"Content-Type: application/json", bad[i], NULL};
    resp_t r;
    long st[3];
    st[0] = request(&r, "POST", "/v1/jobs", NULL, h, job, strlen(job));
    st[1] = request(&r, "GET", "/v1/jobs/inv-badtok", NULL, h, NULL, 0);
    st[2] = request(&r, "GET", "/v1/status", NULL, h, NULL, 0);
    for (int k = 0; k < 3; k++)
      if (st[k] != 401)
        fail_msg("header %zu (%s): route %d answered %ld", i, bad[i] ? bad[i] : "(none)", k,
                 st[k]);
    json_t *j = parse(&r);
    assert_string_equal(jstr(j, "error"), "missing or wrong bearer token");
    json_decref(j);
  }
  /* the scheme is case-insensitive (RFC 7235), the token is not */
  const char *h[] = {"Content-Type: application/json", "Authorization: bEaReR " TOKEN, NULL};
  resp_t r;
  assert_int_equal(request(&r, "POST", "/v1/jobs", NULL, h, job, strlen(job)), 202);
  assert_int_equal(fake_jobs(), 1);
  free(job);
}

/* Paths that climb out of /v1/jobs/ never reach another route or a file: h2o normalizes the
 * path first, and a job id is only ever looked up, never opened. */
static void test_path_traversal(void **state)
{
  (void)state;
  resp_t r;
  static const struct {
    const char *path;
    long status;
  } cases[] = {
      {"/v1/jobs/../../etc/passwd", 404},      /* normalized to /etc/passwd: no such route */
      {"/v1/jobs/%2e%2e/%2e%2e/etc/passwd", 404},
      {"/v1/jobs/..%2f..%2fetc%2fpasswd", 404}, /* an id with slashes: no such job */
      {"/v1/jobs/%2e%2e%2fstatus", 200},        /* decoded and normalized: /v1/status */
      {"/v1/jobs/../status", 200},              /* normalized to /v1/status, still behind the token */
      {"/metrics/../v1/status", 200},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    long st = request(&r, "GET", cases[i].path, TOKEN, NULL, NULL, 0);
    if (st != cases[i].status)
      fail_msg("%s: %ld, want %ld (%s)", cases[i].path, st, cases[i].status, r.body);
    assert_null(strstr(r.body, "root:"));
    if (cases[i].status == 200)
      assert_int_equal(request(&r, "GET", cases[i].path, NULL, NULL, NULL, 0), 401);
  }
}

static void test_one_job(void **state)
{
  (void)state;
  resp_t r;
  char *job = job_json("inv-one", GOOD_CPF);
  post_json(&r, "/v1/jobs", job);
  assert_int_equal(r.status, 202);
  json_t *j = parse(&r);
  assert_int_equal(jint(j, "accepted"), 1);
  assert_int_equal(jint(j, "duplicates"), 0);
  assert_int_equal(jint(j, "rejected"), 0);
  json_t *res = json_array_get(json_object_get(j, "results"), 0);
  assert_int_equal(jint(res, "index"), 0);
  assert_string_equal(jstr(res, "id"), "inv-one");
  assert_string_equal(jstr(res, "result"), "accepted");
  assert_int_equal(json_array_size(json_object_get(j, "errors")), 0);
  json_decref(j);
  assert_int_equal(fake_jobs(), 1);
  assert_string_equal(fake.ids[0], "inv-one");
  assert_int_equal(fake.enqueue_calls, 1);

  /* the same id again: the engine says duplicate, the reply says so */
  post_json(&r, "/v1/jobs", job);
  assert_int_equal(r.status, 202);
  j = parse(&r);
  assert_int_equal(jint(j, "accepted"), 0);
  assert_int_equal(jint(j, "duplicates"), 1);
  assert_string_equal(jstr(json_array_get(json_object_get(j, "results"), 0), "result"),
                      "duplicate");
  json_decref(j);
  free(job);
}

static void check_batch_reply(resp_t *r)
{
  assert_int_equal(r->status, 202);
  json_t *j = parse(r);
  assert_int_equal(jint(j, "accepted"), 2);
  assert_int_equal(jint(j, "rejected"), 1);
  json_t *errs = json_object_get(j, "errors");
  assert_int_equal(json_array_size(errs), 1);
  json_t *e = json_array_get(errs, 0);
  assert_int_equal(jint(e, "index"), 1);
  assert_string_equal(jstr(e, "field"), "recipient.cpf");
  assert_string_equal(jstr(e, "reason"), "check digits do not match");
  json_t *res = json_object_get(j, "results");
  assert_int_equal(json_array_size(res), 3);
  assert_string_equal(jstr(json_array_get(res, 0), "result"), "accepted");
  assert_string_equal(jstr(json_array_get(res, 1), "result"), "rejected");
  assert_string_equal(jstr(json_array_get(res, 1), "id"), "inv-b2");
  assert_string_equal(jstr(json_array_get(res, 2), "result"), "accepted");
  /* the reply names fields, never values */
  assert_null(strstr(r->body, BAD_CPF));
  json_decref(j);
  assert_int_equal(fake_jobs(), 2);
  assert_string_equal(fake.ids[0], "inv-b1");
  assert_string_equal(fake.ids[1], "inv-b3");
  /* the engine's metrics count the rejected record as the reply does */
  assert_int_equal(fake_rejected_count(), 1);
}

static char *batch(const char *open, const char *sep, const char *close)
{
  char *a = job_json("inv-b1", GOOD_CPF), *b = job_json("inv-b2", BAD_CPF),
       *c = job_json("inv-b3", GOOD_CPF);
  size_t n = strlen(a) * 3 + 64;
  char *s = malloc(n);
  assert_non_null(s);
  snprintf(s, n, "%s%s%s%s%s%s%s", open, a, sep, b, sep, c, close);
  free(a);
  free(b);
  free(c);
  return s;
}

static void test_batch_array(void **state)
{
  (void)state;
  resp_t r;
  char *s = batch("[", ",", "]");
  post_json(&r, "/v1/jobs", s);
  check_batch_reply(&r);
  free(s);
}

static void test_batch_lines(void **state)
{
  (void)state;
  resp_t r;
  char *s = batch("", "\n", "\n");
  static const char *const nd[] = {"Content-Type: application/x-ndjson", NULL};
  request(&r, "POST", "/v1/jobs", TOKEN, nd, s, strlen(s));
  check_batch_reply(&r);
  free(s);
}

static void test_all_or_nothing(void **state)
{
  (void)state;
  resp_t r;
  char *s = batch("[", ",", "]");
  post_json(&r, "/v1/jobs?all_or_nothing=true", s);
  assert_int_equal(r.status, 422);
  json_t *j = parse(&r);
  /* nothing stored: every record is reported rejected, the errors say which was bad */
  assert_int_equal(jint(j, "accepted"), 0);
  assert_int_equal(jint(j, "rejected"), 3);
  assert_int_equal(json_array_size(json_object_get(j, "errors")), 1);
  json_t *e = json_array_get(json_object_get(j, "errors"), 0);
  assert_int_equal(jint(e, "index"), 1);
  assert_string_equal(jstr(e, "field"), "recipient.cpf");
  json_decref(j);
  assert_int_equal(fake_jobs(), 0);
  assert_int_equal(fake.enqueue_calls, 0);
  assert_int_equal(fake_rejected_count(), 3);
  free(s);
}

static void test_every_record_bad(void **state)
{
  (void)state;
  resp_t r;
  char *job = job_json("inv-bad", BAD_CPF);
  post_json(&r, "/v1/jobs", job);
  assert_int_equal(r.status, 422);
  json_t *j = parse(&r);
  assert_string_equal(jstr(j, "error"), "every record was rejected");
  json_decref(j);
  /* a record the decoder refuses: field "" and the decoder's reason */
  post_json(&r, "/v1/jobs", "{\"id\":\"x\",\"no_such_field\":1}");
  assert_int_equal(r.status, 422);
  j = parse(&r);
  json_t *e = json_array_get(json_object_get(j, "errors"), 0);
  assert_int_equal(jint(e, "index"), 0);
  assert_string_equal(jstr(e, "field"), "");
  assert_true(strlen(jstr(e, "reason")) > 0);
  json_decref(j);
  assert_int_equal(fake_jobs(), 0);
  free(job);
}

static void test_not_json(void **state)
{
  (void)state;
  resp_t r;
  post_json(&r, "/v1/jobs", "this is not json");
  assert_int_equal(r.status, 400);
  json_t *j = parse(&r);
  assert_string_equal(jstr(j, "error"), "body is not JSON: expected '[' or '{' at column 4");
  json_decref(j);
  post_json(&r, "/v1/jobs", "  ");
  assert_int_equal(r.status, 400);
  j = parse(&r);
  assert_string_equal(jstr(j, "error"), "no records in the body");
  json_decref(j);
  static const char *const xml[] = {"Content-Type: text/xml", NULL};
  assert_int_equal(request(&r, "POST", "/v1/jobs", TOKEN, xml, "<a/>", 4), 415);
  assert_int_equal(fake_jobs(), 0);
}

/* A body that is not JSON gets the reason `carteiro enqueue` gives, in the same words, and
 * never the bytes around the error (jansson's own text quotes them: here a CPF). */
static void test_not_json_reasons(void **state)
{
  (void)state;
  static const struct {
    const char *body, *error;
  } cases[] = {
      {"{\"id\":\"inv-1\",\"recipient\":{\"cpf\":\"" GOOD_CPF "\xff\"}}",
       "body is not JSON: invalid UTF-8 at column 45"},
      {"{\"id\":\"inv-1\",\"recipient\":{\"cpf\":\"" GOOD_CPF "\",\"cpf\":\"" GOOD_CPF "\"}}",
       "body is not JSON: duplicate key at column 52"},
      {"[{\"id\":\"inv-1\",\"amount_cents\":100000000000000000000000}]",
       "body is not JSON: number out of range at column 54"},
      {"{\"id\":\"inv-1\",\n\"name\":\"Maria\nSilva\"}",
       "body is not JSON: newline inside a string at line 2, column 13"},
      {"{\"cpf\" \"" GOOD_CPF "\"}", "body is not JSON: expected ':' after a key at column 20"},
      {"{\"cpf\":0" GOOD_CPF "}", "body is not JSON: invalid token (text without quotes?) at column 8"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    resp_t r;
    post_json(&r, "/v1/jobs", cases[i].body);
    if (r.status != 400 || strstr(r.body, GOOD_CPF) != NULL)
      fail_msg("case %zu: %ld %s", i, r.status, r.body);
    json_t *j = parse(&r);
    if (strcmp(jstr(j, "error"), cases[i].error) != 0)
      fail_msg("case %zu:\n  got  %s\n  want %s", i, jstr(j, "error"), cases[i].error);
    json_decref(j);
  }
  /* a later line of JSON lines that does not parse is a bad record, with the same reason */
  char *good = job_json("inv-lines-1", GOOD_CPF);
  char body[4096];
  snprintf(body, sizeof(body), "%s\n{\"id\":\"inv-lines-2\",\"cpf\":\"" GOOD_CPF "\xfe\"}\n", good);
  free(good);
  resp_t r;
  post_json(&r, "/v1/jobs", body);
  assert_int_equal(r.status, 202);
  assert_null(strstr(r.body, GOOD_CPF));
  json_t *j = parse(&r);
  json_t *e = json_array_get(json_object_get(j, "errors"), 0);
  assert_int_equal(jint(e, "index"), 1);
  assert_string_equal(jstr(e, "field"), "");
  assert_string_equal(jstr(e, "reason"), "not JSON: invalid UTF-8 at column 38");
  json_decref(j);
  assert_int_equal(fake_jobs(), 1);
}

/* An id the reply repeats is bounded and printable: a 10 MB id costs a 128-byte echo, marked
 * as cut, and bytes that are not printable ASCII come back as '?'. */
static void test_echo_capped(void **state)
{
  (void)state;
  size_t big = 10u << 20;
  char *id = malloc(big + 1);
  assert_non_null(id);
  memset(id, 'A', big);
  id[big] = '\0';
  size_t cap = big + 4096;
  char *body = malloc(cap);
  assert_non_null(body);
  int n = snprintf(body, cap, JOB_FMT, id, GOOD_CPF);
  assert_true(n > 0 && (size_t)n < cap);
  /* the server's limit is 64 KiB: send it compressed, under a larger limit than the id */
  size_t zcap = ZSTD_compressBound((size_t)n);
  void *z = malloc(zcap);
  size_t zn = ZSTD_compress(z, zcap, body, (size_t)n, 3);
  assert_false(ZSTD_isError(zn));
  static const char *const h[] = {"Content-Type: application/json", "Content-Encoding: zstd",
                                  NULL};
  resp_t r;
  request(&r, "POST", "/v1/jobs", TOKEN, h, z, zn);
  /* decompressed it is over max_body: refused before any record is read */
  assert_int_equal(r.status, 413);
  free(z);
  free(body);

  /* an id just under the body limit, rejected for its length: echoed cut to 128 bytes */
  size_t mid = MAX_BODY - 1024;
  id[mid] = '\0';
  body = malloc(MAX_BODY);
  n = snprintf(body, MAX_BODY, JOB_FMT, id, GOOD_CPF);
  assert_true(n > 0 && n < MAX_BODY);
  post_json(&r, "/v1/jobs", body);
  assert_int_equal(r.status, 422);
  assert_true(r.len < 1024);
  json_t *j = parse(&r);
  json_t *res = json_array_get(json_object_get(j, "results"), 0);
  char want[128 + 1];
  memset(want, 'A', 128);
  want[128] = '\0';
  assert_string_equal(jstr(res, "id"), want);
  assert_true(json_is_true(json_object_get(res, "id_truncated")));
  json_t *e = json_array_get(json_object_get(j, "errors"), 0);
  assert_string_equal(jstr(e, "field"), "id");
  assert_string_equal(jstr(e, "reason"), "longer than 128 characters");
  json_decref(j);
  free(body);
  free(id);

  /* control characters, a backslash, a quote and a letter beyond ASCII in an id (JSON
   * "inv-\r\n\\\"x\u00e9"): the echo is printable ASCII and valid JSON */
  body = job_json("inv-\\r\\n\\\\\\\"x\\u00e9", GOOD_CPF);
  post_json(&r, "/v1/jobs", body);
  assert_int_equal(r.status, 422);
  j = parse(&r);
  res = json_array_get(json_object_get(j, "results"), 0);
  assert_string_equal(jstr(res, "id"), "inv-??\\\"x??");
  assert_null(json_object_get(res, "id_truncated"));
  json_decref(j);
  free(body);
  assert_int_equal(fake_jobs(), 0);
}

static void test_zstd(void **state)
{
  (void)state;
  resp_t r;
  char *job = job_json("inv-zstd", GOOD_CPF);
  size_t cap = ZSTD_compressBound(strlen(job));
  void *z = malloc(cap);
  size_t zn = ZSTD_compress(z, cap, job, strlen(job), 3);
  assert_false(ZSTD_isError(zn));
  static const char *const h[] = {"Content-Type: application/json", "Content-Encoding: zstd",
                                  NULL};
  assert_int_equal(request(&r, "POST", "/v1/jobs", TOKEN, h, z, zn), 202);
  assert_int_equal(fake_jobs(), 1);
  assert_string_equal(fake.ids[0], "inv-zstd");
  free(z);
  free(job);

  /* small on the wire, larger than max_body once decompressed */
  size_t big = MAX_BODY * 4;
  char *spaces = malloc(big);
  memset(spaces, ' ', big);
  cap = ZSTD_compressBound(big);
  z = malloc(cap);
  zn = ZSTD_compress(z, cap, spaces, big, 3);
  assert_true(zn < MAX_BODY);
  assert_int_equal(request(&r, "POST", "/v1/jobs", TOKEN, h, z, zn), 413);
  json_t *j = parse(&r);
  assert_string_equal(jstr(j, "error"), "decompressed body larger than the limit");
  json_decref(j);
  /* not zstd at all */
  assert_int_equal(request(&r, "POST", "/v1/jobs", TOKEN, h, "garbage", 7), 400);
  free(z);
  free(spaces);
}

static uint8_t *job_pb(const char *id, const char *cpf, size_t *len)
{
  char *js = job_json(id, cpf);
  ct_job_t *job = NULL;
  char err[128];
  assert_int_equal(ct_job_decode_json(js, strlen(js), &job, err, sizeof(err)), 0);
  uint8_t *pb = NULL;
  assert_int_equal(ct_job_encode_pb(job, &pb, len), 0);
  ct_job_free(job);
  free(js);
  return pb;
}

static void test_protobuf(void **state)
{
  (void)state;
  resp_t r;
  size_t n1;
  uint8_t *one = job_pb("inv-pb1", GOOD_CPF, &n1);
  static const char *const h[] = {"Content-Type: application/x-protobuf", NULL};
  assert_int_equal(request(&r, "POST", "/v1/jobs", TOKEN, h, one, n1), 202);
  assert_int_equal(fake_jobs(), 1);
  assert_string_equal(fake.ids[0], "inv-pb1");

  /* a delimited batch: varint length, then the message, three times */
  size_t n2, n3;
  uint8_t *two = job_pb("inv-pb2", BAD_CPF, &n2);
  uint8_t *three = job_pb("inv-pb3", GOOD_CPF, &n3);
  uint8_t buf[8192];
  size_t off = 0;
  const uint8_t *msgs[3] = {one, two, three};
  size_t lens[3] = {n1, n2, n3};
  for (int i = 0; i < 3; i++) {
    size_t v = lens[i];
    while (v >= 0x80) {
      buf[off++] = (uint8_t)(v | 0x80);
      v >>= 7;
    }
    buf[off++] = (uint8_t)v;
    memcpy(buf + off, msgs[i], lens[i]);
    off += lens[i];
  }
  static const char *const hb[] = {"Content-Type: application/x-protobuf",
                                    "X-Carteiro-Batch: delimited", NULL};
  assert_int_equal(request(&r, "POST", "/v1/jobs", TOKEN, hb, buf, off), 202);
  json_t *j = parse(&r);
  /* inv-pb1 is already there */
  assert_int_equal(jint(j, "accepted"), 1);
  assert_int_equal(jint(j, "duplicates"), 1);
  assert_int_equal(jint(j, "rejected"), 1);
  json_t *e = json_array_get(json_object_get(j, "errors"), 0);
  assert_int_equal(jint(e, "index"), 1);
  assert_string_equal(jstr(e, "field"), "recipient.cpf");
  json_decref(j);

  /* framing cut short */
  assert_int_equal(request(&r, "POST", "/v1/jobs", TOKEN, hb, buf, off - 1), 400);
  free(one);
  free(two);
  free(three);
}

static void test_too_large(void **state)
{
  (void)state;
  resp_t r;
  size_t n = MAX_BODY + 1;
  char *s = malloc(n);
  memset(s, ' ', n);
  /* h2o refuses it from the Content-Length, before any handler: JSON like every other error */
  assert_int_equal(request(&r, "POST", "/v1/jobs", TOKEN, CT_JSON, s, n), 413);
  assert_string_equal(r.content_type, "application/json");
  assert_string_equal(r.body, "{\"error\":\"body larger than the limit\"}\n");
  /* and so does a chunked body that grows past the limit */
  static const char *const chunked[] = {"Content-Type: application/json",
                                        "Transfer-Encoding: chunked", NULL};
  assert_int_equal(request(&r, "POST", "/v1/jobs", TOKEN, chunked, s, n), 413);
  assert_string_equal(r.content_type, "application/json");
  assert_string_equal(r.body, "{\"error\":\"body larger than the limit\"}\n");
  free(s);
  /* more records than one request may carry: 413 with a message, nothing stored */
  n = 10001 * 3;
  s = malloc(n + 1);
  for (size_t i = 0; i < 10001; i++)
    memcpy(s + i * 3, "{}\n", 3);
  assert_int_equal(request(&r, "POST", "/v1/jobs", TOKEN, CT_JSON, s, n), 413);
  json_t *j = parse(&r);
  assert_string_equal(jstr(j, "error"), "more than 10000 records in one request; split the batch");
  json_decref(j);
  free(s);
  assert_int_equal(fake_jobs(), 0);
}

static void test_saturated(void **state)
{
  (void)state;
  pthread_mutex_lock(&fake.mu);
  fake.saturated = true;
  fake.retry_after = 5;
  pthread_mutex_unlock(&fake.mu);
  resp_t r;
  char *job = job_json("inv-sat", GOOD_CPF);
  post_json(&r, "/v1/jobs", job);
  assert_int_equal(r.status, 503);
  assert_string_equal(r.retry_after, "5");
  assert_int_equal(fake_jobs(), 0);
  free(job);
}

static void test_engine_fails(void **state)
{
  (void)state;
  pthread_mutex_lock(&fake.mu);
  fake.enqueue_rc = CT_ELOCKED;
  pthread_mutex_unlock(&fake.mu);
  resp_t r;
  char *job = job_json("inv-locked", GOOD_CPF);
  post_json(&r, "/v1/jobs", job);
  assert_int_equal(r.status, 503);
  json_t *j = parse(&r);
  assert_string_equal(jstr(j, "error"), "LOCKED");
  json_decref(j);
  assert_string_equal(r.retry_after, "5");
  free(job);
}

static void test_get_job(void **state)
{
  (void)state;
  resp_t r;
  char *job = job_json("inv-get", GOOD_CPF);
  post_json(&r, "/v1/jobs", job);
  assert_int_equal(r.status, 202);
  assert_int_equal(request(&r, "GET", "/v1/jobs/inv-get", TOKEN, NULL, NULL, 0), 200);
  json_t *j = parse(&r);
  assert_string_equal(jstr(j, "id"), "inv-get");
  assert_string_equal(jstr(j, "state"), "ready");
  assert_true(json_is_null(json_object_get(j, "reason")));
  assert_true(json_is_null(json_object_get(j, "receipt")));
  assert_int_equal(json_array_size(json_object_get(j, "attempts")), 0);
  json_t *rcp = json_object_get(json_object_get(j, "job"), "recipient");
  assert_string_equal(jstr(rcp, "cpf"), "***.***.***-87");
  assert_null(strstr(r.body, GOOD_CPF));
  json_decref(j);
  assert_int_equal(request(&r, "GET", "/v1/jobs/inv-nope", TOKEN, NULL, NULL, 0), 404);
  j = parse(&r);
  assert_string_equal(jstr(j, "error"), "no such job");
  json_decref(j);
  free(job);
}

static void test_metrics_and_health(void **state)
{
  (void)state;
  resp_t r;
  assert_int_equal(request(&r, "GET", "/metrics", NULL, NULL, NULL, 0), 200);
  /* The engine's families, then the transport's (ct_transport_metrics). */
  const char *engine = "carteiro_up 1\ncarteiro_spool_ready 7\n";
  assert_memory_equal(r.body, engine, strlen(engine));
  assert_non_null(strstr(r.body + strlen(engine),
                         "\ncarteiro_transport_requests_total{client=\"nghttp2\"} 0\n"));
  assert_string_equal(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
  assert_int_equal(request(&r, "GET", "/healthz", NULL, NULL, NULL, 0), 200);
  assert_string_equal(r.body, "ok");
  assert_int_equal(request(&r, "GET", "/readyz", NULL, NULL, NULL, 0), 200);
  assert_string_equal(r.body, "ready");
  pthread_mutex_lock(&fake.mu);
  fake.ready = false;
  snprintf(fake.why, sizeof(fake.why), "spool not open");
  pthread_mutex_unlock(&fake.mu);
  assert_int_equal(request(&r, "GET", "/readyz", NULL, NULL, NULL, 0), 503);
  assert_string_equal(r.body, "spool not open");
}

/* GET /v1/status: the engine's document behind the token, with the records the server
 * refused counted in. */
static void test_status(void **state)
{
  (void)state;
  resp_t r;
  assert_int_equal(request(&r, "GET", "/v1/status", NULL, NULL, NULL, 0), 401);
  assert_int_equal(request(&r, "GET", "/v1/status", "wrong", NULL, NULL, 0), 401);
  assert_int_equal(request(&r, "POST", "/v1/status", TOKEN, NULL, "", 0), 405);
  assert_int_equal(request(&r, "GET", "/v1/status", TOKEN, NULL, NULL, 0), 200);
  assert_string_equal(r.content_type, "application/json");
  json_t *j = parse(&r);
  json_t *enq = json_object_get(j, "enqueue");
  assert_int_equal(jint(enq, "accepted"), 5);
  assert_int_equal(jint(enq, "duplicates"), 1);
  json_int_t before = jint(enq, "rejected");
  json_decref(j);

  char *s = batch("[", ",", "]"); /* three records, one with a bad CPF */
  post_json(&r, "/v1/jobs", s);
  free(s);
  assert_int_equal(r.status, 202);
  assert_int_equal(request(&r, "GET", "/v1/status", TOKEN, NULL, NULL, 0), 200);
  j = parse(&r);
  assert_int_equal(jint(json_object_get(j, "enqueue"), "rejected"), before + 1);
  json_decref(j);
}

static void test_routes(void **state)
{
  (void)state;
  resp_t r;
  assert_int_equal(request(&r, "GET", "/nope", TOKEN, NULL, NULL, 0), 404);
  assert_int_equal(request(&r, "GET", "/v1/jobs", TOKEN, NULL, NULL, 0), 405);
  assert_int_equal(request(&r, "POST", "/healthz", NULL, NULL, "", 0), 405);
  assert_int_equal(request(&r, "DELETE", "/v1/jobs/inv-one", TOKEN, NULL, NULL, 0), 405);
  assert_int_equal(request(&r, "GET", "/v1/jobs/a/b", TOKEN, NULL, NULL, 0), 404);
}

/* The client gives up while the engine is still storing: the jobs are stored, the reply is
 * dropped, and nothing touches the freed request (ASan watches). */
static void test_client_gone(void **state)
{
  (void)state;
  pthread_mutex_lock(&fake.mu);
  fake.delay_ms = 400;
  size_t dones = fake.dones;
  pthread_mutex_unlock(&fake.mu);
  char *job = job_json("inv-gone", GOOD_CPF);
  CURL *c = curl_easy_init();
  char url[128];
  snprintf(url, sizeof(url), "http://127.0.0.1:%u/v1/jobs", port);
  struct curl_slist *hl = curl_slist_append(NULL, "Authorization: Bearer " TOKEN);
  hl = curl_slist_append(hl, "Content-Type: application/json");
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, job);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 100L);
  assert_int_equal(curl_easy_perform(c), CURLE_OPERATION_TIMEDOUT);
  curl_slist_free_all(hl);
  curl_easy_cleanup(c);
  for (int i = 0; i < 200; i++) {
    pthread_mutex_lock(&fake.mu);
    bool done = fake.dones > dones;
    pthread_mutex_unlock(&fake.mu);
    if (done)
      break;
    usleep(10000);
  }
  assert_int_equal(fake.dones, dones + 1);
  assert_int_equal(fake_jobs(), 1);
  /* the server still answers */
  resp_t r;
  assert_int_equal(request(&r, "GET", "/healthz", NULL, NULL, NULL, 0), 200);
  free(job);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_token_required, test_setup),
      cmocka_unit_test_setup(test_one_job, test_setup),
      cmocka_unit_test_setup(test_batch_array, test_setup),
      cmocka_unit_test_setup(test_batch_lines, test_setup),
      cmocka_unit_test_setup(test_all_or_nothing, test_setup),
      cmocka_unit_test_setup(test_every_record_bad, test_setup),
      cmocka_unit_test_setup(test_not_json, test_setup),
      cmocka_unit_test_setup(test_not_json_reasons, test_setup),
      cmocka_unit_test_setup(test_echo_capped, test_setup),
      cmocka_unit_test_setup(test_every_bad_token, test_setup),
      cmocka_unit_test_setup(test_path_traversal, test_setup),
      cmocka_unit_test_setup(test_zstd, test_setup),
      cmocka_unit_test_setup(test_protobuf, test_setup),
      cmocka_unit_test_setup(test_too_large, test_setup),
      cmocka_unit_test_setup(test_saturated, test_setup),
      cmocka_unit_test_setup(test_engine_fails, test_setup),
      cmocka_unit_test_setup(test_get_job, test_setup),
      cmocka_unit_test_setup(test_metrics_and_health, test_setup),
      cmocka_unit_test_setup(test_status, test_setup),
      cmocka_unit_test_setup(test_routes, test_setup),
      cmocka_unit_test_setup(test_client_gone, test_setup),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
