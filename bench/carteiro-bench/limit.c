/* The machine's HTTP/2 limit, measured in the same run: h2load against a mock-provider with
 * no latency and no faults, with the request carteiro sends first for the profile's first
 * channel. Every report states our rate as a fraction of it. */
#include "bench.h"

#include <stdlib.h>
#include <string.h>

#define TW_SID "AC0123456789abcdef0123456789abcdef"

int cb_limit_measure(cb_env_t *e, const cb_profile_t *p, uint64_t requests, cb_limit_t *out)
{
  memset(out, 0, sizeof *out);
  cb_env_t le = *e; /* a second mock: the run's own keeps its counters and faults */
  le.mock_pid = 0;
  le.mock_curl = NULL;
  if (cb_mock_start(&le, p, true) != 0)
    return -1;
  int ch = p->nchannels > 0 ? p->channels[0] : CB_SMS;
  char url[256], body[600], out_file[600], h1[128], h2[160];
  cb_env_path(e, "h2load.body", body, sizeof body);
  cb_env_path(e, "h2load.out", out_file, sizeof out_file);
  FILE *f = fopen(body, "w");
  if (f == NULL) {
    cb_mock_stop(&le);
    return -1;
  }
  switch (ch) {
  case CB_WHATSAPP:
    snprintf(url, sizeof url, "%s/v24.0/1000000001/messages", le.mock_base);
    fputs("{\"messaging_product\":\"whatsapp\",\"to\":\"5511987654321\",\"type\":\"template\","
          "\"template\":{\"name\":\"fatura_disponivel\",\"language\":{\"code\":\"pt_BR\"}}}",
          f);
    snprintf(h1, sizeof h1, "content-type: application/json");
    snprintf(h2, sizeof h2, "authorization: Bearer wa");
    break;
  case CB_EMAIL:
    snprintf(url, sizeof url, "%s/v3/mail/send", le.mock_base);
    fputs("{\"personalizations\":[{\"to\":[{\"email\":\"a@example.com\"}]}],\"from\":{\"email\":"
          "\"f@example.com\"},\"subject\":\"Fatura\",\"content\":[{\"type\":\"text/plain\","
          "\"value\":\"Fatura\"}]}",
          f);
    snprintf(h1, sizeof h1, "content-type: application/json");
    snprintf(h2, sizeof h2, "authorization: Bearer sg");
    break;
  default:
    snprintf(url, sizeof url, "%s/2010-04-01/Accounts/" TW_SID "/Messages.json", le.mock_base);
    fputs("To=%2B5511987654321&From=%2B5511300000000&Body=Fatura+FAT-1+de+R%24+123%2C45+vence+"
          "em+10%2F12%2F2026",
          f);
    snprintf(h1, sizeof h1, "content-type: application/x-www-form-urlencoded");
    /* base64 of TW_SID ":tw" */
    snprintf(h2, sizeof h2, "authorization: Basic "
                            "QUMwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZjp0dw==");
    break;
  }
  fclose(f);
  char n[32];
  snprintf(n, sizeof n, "%llu", (unsigned long long)requests);
  const char *h2load = getenv("CARTEIRO_BENCH_H2LOAD");
  char *argv[] = {(char *)(h2load != NULL ? h2load : "/usr/bin/h2load"), "-n", n, "-c", "2",
                  "-m", "100", "-d", body, "-H", h1, "-H", h2, url, NULL};
  if (!e->quiet)
    fprintf(stderr, "carteiro-bench: h2load, %s requests against the mock's %s endpoint\n", n,
            cb_channel_names[ch]);
  int rc = cb_run(argv, out_file, out_file);
  cb_mock_stop(&le);
  char *text = cb_slurp(out_file);
  const char *fin = text != NULL ? strstr(text, "finished in ") : NULL;
  const char *comma = fin != NULL ? strchr(fin, ',') : NULL;
  const char *ok = text != NULL ? strstr(text, "requests: ") : NULL;
  if (rc != 0 || comma == NULL) {
    fprintf(stderr, "carteiro-bench: h2load failed (exit %d), see %s\n", rc, out_file);
    e->keep = true;
    free(text);
    return -1;
  }
  out->requests_per_s = strtod(comma + 1, NULL);
  out->requests = requests;
  /* "requests: N total, N started, N done, N succeeded, ..." : count only successes */
  const char *succ = ok != NULL ? strstr(ok, " done, ") : NULL;
  if (succ != NULL) {
    unsigned long long s = strtoull(succ + 7, NULL, 10);
    if (s < requests)
      fprintf(stderr, "carteiro-bench: h2load: only %llu of %s requests succeeded\n", s, n);
  }
  out->ok = true;
  free(text);
  return 0;
}

int cb_limit(cb_env_t *e, cb_profile_t *p, uint64_t requests, const char *out,
             const char *html, int argc, char **argv)
{
  cb_limit_t l;
  if (cb_limit_measure(e, p, requests, &l) != 0)
    return CB_EX_SOFTWARE;
  json_t *doc = cb_result_new("limit", argc, argv);
  json_object_set_new(doc, "profile", cb_profile_json(p));
  json_object_set_new(doc, "limit", cb_limit_json(&l, -1));
  int rc = cb_result_finish(doc, out, html);
  json_decref(doc);
  return rc;
}
