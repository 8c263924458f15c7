/* Reading a job's document.path under the configured document root.
 *
 * The path comes from a producer, so it is outside input: the checks below stop it from
 * naming anything but a regular file under the root. They are made in two passes. The path
 * is first refused on its text (absolute, "..", empty), which needs no file system and gives
 * the producer a clear reason. Then realpath() resolves every symlink and the result must lie
 * under the root's own real path; only then is the file opened, with O_NOFOLLOW and
 * O_NONBLOCK so that neither a symlink swapped in at the last moment nor a FIFO can hold us.
 * Where /proc is mounted, the path of the descriptor we actually hold is compared with the
 * checked one, which closes the window between realpath() and open() for a rename racing us.
 *
 * Errors never repeat the path: file names of invoices often carry a CPF or an account number.
 */
#include "document/document_int.h"

#include "common/error.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* True when some '/'-separated component of `rel` is exactly "..". */
static bool has_dotdot(const char *rel) {
  const char *p = rel;
  while (*p != '\0') {
    size_t n = strcspn(p, "/");
    if (n == 2 && p[0] == '.' && p[1] == '.')
      return true;
    p += n;
    while (*p == '/')
      p++;
  }
  return false;
}

/* True when the resolved `real` lies strictly under the resolved `root`. */
static bool is_under(const char *root, const char *real) {
  size_t n = strlen(root);
  if (n == 1 && root[0] == '/')
    return real[0] == '/' && real[1] != '\0';
  return strncmp(real, root, n) == 0 && real[n] == '/' && real[n + 1] != '\0';
}

/* Maps the errno of a failed resolve or open of the document to its reason. */
static int fail_errno(ct_doc_error_t *err, int e, const char *what) {
  switch (e) {
  case ENOENT:
  case ENOTDIR:
    return ct__doc_fail(err, CT_DOC_NOT_FOUND, false, "%s: no such file", what);
  case ELOOP:
    return ct__doc_fail(err, CT_DOC_PATH_REFUSED, false, "%s: too many levels of symlinks",
                        what);
  case ENAMETOOLONG:
    return ct__doc_fail(err, CT_DOC_PATH_REFUSED, false, "%s: name too long", what);
  default:
    break;
  }
  int code = ct_err_from_errno(e);
  return ct__doc_fail(err, CT_DOC_FETCH_FAILED, true, "%s: %s (errno %d)", what,
                      ct_strerror(code), e);
}

/* Compares the path of the open descriptor `fd` with `want`. Returns 0 when they match or
 * when /proc cannot tell (not mounted), else CT_EINVAL with *err. */
static int same_file_path(int fd, const char *want, ct_doc_error_t *err) {
  char link[64];
  char got[PATH_MAX];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, got, sizeof got - 1);
  if (n < 0)
    return 0;
  got[n] = '\0';
  if (strcmp(got, want) != 0)
    return ct__doc_fail(err, CT_DOC_PATH_REFUSED, false,
                        "document path changed while it was opened");
  return 0;
}

/* Reads all of `fd` (a regular file of `size` bytes at open) into a new buffer. A file that
 * grows past CT_DOCUMENT_MAX while being read is too large like one that started so. */
static int read_all(int fd, size_t size, ct_bytes_t *out, ct_doc_error_t *err) {
  size_t cap = size + 1; /* one more byte, to see growth; never 0 for malloc */
  uint8_t *buf = malloc(cap);
  if (buf == NULL)
    return ct__doc_fail(err, CT_DOC_FETCH_FAILED, true, "out of memory reading the document");
  size_t len = 0;
  for (;;) {
    if (len == cap) {
      if (cap > CT_DOCUMENT_MAX) {
        free(buf);
        return ct__doc_fail(err, CT_DOC_TOO_LARGE, false,
                            "document grew past %zu bytes while being read", CT_DOCUMENT_MAX);
      }
      size_t ncap = cap * 2 > CT_DOCUMENT_MAX + 1 ? CT_DOCUMENT_MAX + 1 : cap * 2;
      uint8_t *nbuf = realloc(buf, ncap);
      if (nbuf == NULL) {
        free(buf);
        return ct__doc_fail(err, CT_DOC_FETCH_FAILED, true,
                            "out of memory reading the document");
      }
      buf = nbuf;
      cap = ncap;
    }
    ssize_t n = read(fd, buf + len, cap - len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      int e = errno;
      free(buf);
      return ct__doc_fail(err, CT_DOC_FETCH_FAILED, true, "reading the document: %s (errno %d)",
                          ct_strerror(ct_err_from_errno(e)), e);
    }
    if (n == 0)
      break;
    len += (size_t)n;
  }
  if (len > CT_DOCUMENT_MAX) {
    free(buf);
    return ct__doc_fail(err, CT_DOC_TOO_LARGE, false,
                        "document grew past %zu bytes while being read", CT_DOCUMENT_MAX);
  }
  out->data = buf;
  out->len = len;
  return 0;
}

int ct_document_read_path(const char *root, const char *rel, ct_bytes_t *out,
                          ct_doc_error_t *err) {
  if (rel == NULL || rel[0] == '\0')
    return ct__doc_fail(err, CT_DOC_PATH_REFUSED, false, "document path is empty");
  if (rel[0] == '/')
    return ct__doc_fail(err, CT_DOC_PATH_REFUSED, false, "document path is absolute");
  if (has_dotdot(rel))
    return ct__doc_fail(err, CT_DOC_PATH_REFUSED, false,
                        "document path has a '..' component");
  if (root == NULL || root[0] == '\0')
    return ct__doc_fail(err, CT_DOC_FETCH_FAILED, false, "no document root is configured");

  char real_root[PATH_MAX];
  if (realpath(root, real_root) == NULL) {
    int e = errno;
    /* A missing root is the operator's to fix, not the job's fault: wait for it. */
    return ct__doc_fail(err, CT_DOC_FETCH_FAILED, true, "document root: %s (errno %d)",
                        ct_strerror(ct_err_from_errno(e)), e);
  }

  char joined[PATH_MAX];
  int n = snprintf(joined, sizeof joined, "%s/%s", real_root, rel);
  if (n < 0 || (size_t)n >= sizeof joined)
    return ct__doc_fail(err, CT_DOC_PATH_REFUSED, false, "document path is too long");

  char real[PATH_MAX];
  if (realpath(joined, real) == NULL)
    return fail_errno(err, errno, "document path");
  if (!is_under(real_root, real))
    return ct__doc_fail(err, CT_DOC_PATH_REFUSED, false,
                        "document path resolves outside the document root");

  int fd = open(real, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0)
    return fail_errno(err, errno, "opening the document");
  int rc = same_file_path(fd, real, err);
  if (rc != 0)
    goto out;
  struct stat st;
  if (fstat(fd, &st) != 0) {
    rc = fail_errno(err, errno, "opening the document");
    goto out;
  }
  if (!S_ISREG(st.st_mode)) {
    rc = ct__doc_fail(err, CT_DOC_PATH_REFUSED, false, "document path is not a regular file");
    goto out;
  }
  if (st.st_size < 0 || (uint64_t)st.st_size > CT_DOCUMENT_MAX) {
    rc = ct__doc_fail(err, CT_DOC_TOO_LARGE, false,
                      "document has %lld bytes, more than the %zu allowed",
                      (long long)st.st_size, CT_DOCUMENT_MAX);
    goto out;
  }
  ct_bytes_t got;
  rc = read_all(fd, (size_t)st.st_size, &got, err);
  if (rc == 0) {
    *out = got;
    ct__doc_ok(err);
  }
out:
  close(fd);
  return rc;
}
