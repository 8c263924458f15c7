/* webhook_bench: status events a running `carteiro run` accepts per second, durably, on its
 * webhook listener, in batches shaped like Meta's (several statuses per POST).
 *
 *   webhook_bench --url https://127.0.0.1:PORT/webhooks/ACCOUNT --ca CA.crt --secret APP_SECRET
 *                 [-n REQUESTS] [-k STATUSES_PER_REQUEST] [-c CONCURRENCY] [--run TAG]
 *
 * Builds REQUESTS WhatsApp notification bodies, each with K statuses of distinct messages
 * (wamid.bench.TAG.<request>.<status>), signs each as Meta does (X-Hub-Signature-256, HMAC-SHA256
 * of the body with the app secret), and sends them over HTTP/2 (TLS, one connection, streams
 * multiplexed) with at most CONCURRENCY in flight. carteiro answers each 200 only once its
 * events are committed, so the events answered 200 per second of wall time is the durable
 * rate. Prints one JSON line: requests, events, seconds, events_per_s, requests_per_s, and how
 * many answers were not 200 (which must be 0 for the figure to count).
 */
#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
  CURL *easy;
  struct curl_slist *headers;
  char *body;
  size_t len;
} req_t;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t discard(char *p, size_t size, size_t n, void *arg) {
  (void)p;
  (void)arg;
  return size * n;
}

/* The body of request i: one notification with k statuses. */
static char *make_body(const char *run, size_t i, int k, size_t *len) {
  size_t cap = 512 + (size_t)k * 220;
  char *b = malloc(cap);
  if (b == NULL)
    return NULL;
  size_t at = (size_t)snprintf(b, cap,
                               "{\"object\":\"whatsapp_business_account\",\"entry\":[{\"id\":"
                               "\"102290129340398\",\"changes\":[{\"field\":\"messages\","
                               "\"value\":{\"messaging_product\":\"whatsapp\",\"metadata\":{"
                               "\"display_phone_number\":\"15550783881\",\"phone_number_id\":"
                               "\"1234567890\"},\"statuses\":[");
  for (int j = 0; j < k; j++)
    at += (size_t)snprintf(b + at, cap - at,
                           "%s{\"id\":\"wamid.bench.%s.%zu.%d\",\"status\":\"delivered\","
                           "\"timestamp\":\"1750857384\",\"recipient_id\":\"5511900000000\","
                           "\"biz_opaque_callback_data\":\"ct:0:bench-%zu-%d\"}",
                           j > 0 ? "," : "", run, i, j, i, j);
  at += (size_t)snprintf(b + at, cap - at, "]}}]}]}");
  *len = at;
  return b;
}

int main(int argc, char **argv) {
  const char *url = NULL, *ca = NULL, *secret = NULL;
  char run[32];
  snprintf(run, sizeof run, "%ld", (long)time(NULL));
  long n = 2000, conc = 64;
  int k = 10;
  static const struct option opts[] = {{"url", required_argument, NULL, 'u'},
                                       {"ca", required_argument, NULL, 'a'},
                                       {"secret", required_argument, NULL, 's'},
                                       {"run", required_argument, NULL, 'r'},
                                       {NULL, 0, NULL, 0}};
  int o;
  while ((o = getopt_long(argc, argv, "n:k:c:", opts, NULL)) != -1) {
    switch (o) {
    case 'u': url = optarg; break;
    case 'a': ca = optarg; break;
    case 's': secret = optarg; break;
    case 'r': snprintf(run, sizeof run, "%s", optarg); break;
    case 'n': n = strtol(optarg, NULL, 10); break;
    case 'k': k = (int)strtol(optarg, NULL, 10); break;
    case 'c': conc = strtol(optarg, NULL, 10); break;
    default:
      fprintf(stderr, "usage: webhook_bench --url URL --ca CA --secret S [-n N] [-k K] [-c C] "
                      "[--run TAG]\n");
      return 64;
    }
  }
  if (url == NULL || secret == NULL || n <= 0 || k <= 0 || k > 1000 || conc <= 0) {
    fprintf(stderr, "webhook_bench: --url and --secret are required; n, k (1..1000), c > 0\n");
    return 64;
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  req_t *reqs = calloc((size_t)n, sizeof *reqs);
  if (reqs == NULL)
    return 70;
  /* every body made and signed before the clock starts */
  for (long i = 0; i < n; i++) {
    req_t *r = &reqs[i];
    r->body = make_body(run, (size_t)i, k, &r->len);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int ml = 0;
    if (r->body == NULL ||
        HMAC(EVP_sha256(), secret, (int)strlen(secret), (unsigned char *)r->body, r->len, mac,
             &ml) == NULL)
      return 70;
    char line[128] = "X-Hub-Signature-256: sha256=";
    size_t at = strlen(line);
    for (unsigned j = 0; j < ml; j++)
      at += (size_t)snprintf(line + at, sizeof line - at, "%02x", mac[j]);
    r->headers = curl_slist_append(NULL, line);
    r->headers = curl_slist_append(r->headers, "Content-Type: application/json");
    r->headers = curl_slist_append(r->headers, "Expect:");
    CURL *e = curl_easy_init();
    r->easy = e;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->len);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 60000L);
    curl_easy_setopt(e, CURLOPT_PRIVATE, r);
    if (ca != NULL)
      curl_easy_setopt(e, CURLOPT_CAINFO, ca);
  }
  CURLM *m = curl_multi_init();
  curl_multi_setopt(m, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
  curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, 1L);
  curl_multi_setopt(m, CURLMOPT_MAX_CONCURRENT_STREAMS, conc);
  long next = 0, done = 0, not200 = 0, failed = 0;
  int running = 0;
  double t0 = now_s();
  while (done < n) {
    while (next < n && next - done < conc)
      curl_multi_add_handle(m, reqs[next++].easy);
    curl_multi_perform(m, &running);
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(m, &left)) != NULL) {
      if (msg->msg != CURLMSG_DONE)
        continue;
      long code = 0;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &code);
      if (msg->data.result != CURLE_OK)
        failed++;
      else if (code != 200)
        not200++;
      curl_multi_remove_handle(m, msg->easy_handle);
      done++;
    }
    if (done < n)
      curl_multi_poll(m, NULL, 0, 100, NULL);
  }
  double secs = now_s() - t0;
  printf("{\"requests\":%ld,\"statuses_per_request\":%d,\"events\":%ld,\"concurrency\":%ld,"
         "\"seconds\":%.3f,\"events_per_s\":%.0f,\"requests_per_s\":%.0f,\"not_200\":%ld,"
         "\"failed\":%ld}\n",
         n, k, n * k, conc, secs, (double)(n * k) / secs, (double)n / secs, not200, failed);
  for (long i = 0; i < n; i++) {
    curl_easy_cleanup(reqs[i].easy);
    curl_slist_free_all(reqs[i].headers);
    free(reqs[i].body);
  }
  free(reqs);
  curl_multi_cleanup(m);
  curl_global_cleanup();
  return not200 == 0 && failed == 0 ? 0 : 1;
}
