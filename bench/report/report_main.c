/* carteiro-bench-report: prints the terminal summary of a carteiro-bench result document and,
 * with --html, writes its HTML report. The same functions serve `carteiro-bench report`.
 *
 *   carteiro-bench-report RESULT.json [--html OUT.html]
 *
 * Exit codes follow sysexits.h: 64 usage, 65 a document that is not a valid result, 66 a
 * result file that cannot be read, 73 an HTML file that cannot be created, 74 a failed write.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "report.h"

static int usage(FILE *to, int code) {
  fputs("usage: carteiro-bench-report RESULT.json [--html OUT.html]\n"
        "Prints the summary of a carteiro-bench result (schema " CB_REPORT_SCHEMA ");\n"
        "--html also writes the self-contained HTML report.\n",
        to);
  return code;
}

int main(int argc, char **argv) {
  const char *in = NULL, *html = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
      return usage(stdout, 0);
    if (strcmp(argv[i], "--html") == 0) {
      if (i + 1 >= argc || html != NULL)
        return usage(stderr, 64);
      html = argv[++i];
    } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
      fprintf(stderr, "carteiro-bench-report: unknown option %s\n", argv[i]);
      return usage(stderr, 64);
    } else if (in == NULL) {
      in = argv[i];
    } else {
      return usage(stderr, 64);
    }
  }
  if (in == NULL)
    return usage(stderr, 64);

  json_error_t jerr;
  json_t *doc = strcmp(in, "-") == 0 ? json_loadf(stdin, JSON_REJECT_DUPLICATES, &jerr)
                                     : json_load_file(in, JSON_REJECT_DUPLICATES, &jerr);
  if (doc == NULL) {
    bool unreadable = json_error_code(&jerr) == json_error_cannot_open_file;
    if (unreadable)
      fprintf(stderr, "carteiro-bench-report: %s\n", jerr.text);
    else
      fprintf(stderr, "carteiro-bench-report: %s: line %d column %d: %s\n", in, jerr.line,
              jerr.column, jerr.text);
    return unreadable ? 66 : 65;
  }
  char err[256];
  int rc = cb_report_check(doc, err, sizeof err);
  if (rc != 0) {
    fprintf(stderr, "carteiro-bench-report: %s: %s\n", in, rc == CT_EINVAL ? err : ct_strerror(rc));
    json_decref(doc);
    return 65;
  }
  int code = 0;
  if (cb_report_terminal(doc, stdout) != 0) {
    fprintf(stderr, "carteiro-bench-report: writing the summary failed\n");
    code = 74;
  }
  if (code == 0 && html != NULL) {
    FILE *f = fopen(html, "w");
    if (f == NULL) {
      perror(html);
      code = 73;
    } else {
      rc = cb_report_html(doc, f);
      if (fclose(f) != 0 && rc == 0)
        rc = CT_EIO;
      if (rc != 0) {
        fprintf(stderr, "carteiro-bench-report: %s: %s\n", html, ct_strerror(rc));
        code = 74;
      }
    }
  }
  json_decref(doc);
  return code;
}
