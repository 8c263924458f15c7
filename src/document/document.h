/* Invoice documents: where the PDF comes from, checking it is one, locking it with the
 * recipient's password, and the evidence hash of what was sent.
 *
 * Everything here is blocking (file reads, qpdf) and runs off the event loops, on the libuv
 * thread pool; the fetch of an https URL is the exception (it runs on a worker's loop through
 * its transport), so this module only checks the bytes such a fetch returned. The functions
 * keep no state between calls and may run on several threads at once.
 *
 * Failure reasons are stable strings that end up as DLQ reasons and attempt messages:
 *   "document_not_found", "document_path_refused", "document_not_pdf",
 *   "document_encrypted", "document_damaged", "document_too_large",
 *   "document_fetch_failed", "document_protection_failed"
 * (also as the CT_DOC_* macros below). Every failing function returns CT_EINVAL with *err
 * set, whatever the cause; err->transient tells a retry apart from a dead letter (an I/O
 * error or memory running out is transient, a bad document never is).
 *
 * What counts as damaged (ct_document_check, ct_document_protect): qpdf reads the file with
 * its recovery mode off, then every object reachable from the trailer is parsed and every
 * stream among them decoded (all of qpdf's lossless filters: Flate, LZW, ASCII85, ASCIIHex,
 * RunLength; JPEG, JPEG 2000, JBIG2 and CCITT images are not decoded). Any error or any
 * warning from either step makes the document "document_damaged". qpdf can rebuild a broken
 * cross-reference table, guess a stream's length or read a malformed token as a string, but
 * a file it repaired may lack what the producer meant to send (a truncated page is still a
 * page), and this is a bill: the producer fixes the PDF and replays the job instead.
 *
 * What counts as too large (ct_doc_limits_t): a few MB of Flate can inflate to gigabytes, and
 * qpdf keeps some decoded streams whole in memory (object and cross-reference streams), so a
 * document is refused with "document_too_large" when one stream decodes to more than
 * `stream_max` bytes or to more than `ratio_max` times its encoded size (once past
 * CT_DOC_RATIO_FLOOR), when all its streams together decode to more than `decoded_max`, or
 * when opening, checking and locking it would need more than `memory_max` bytes of memory.
 * The decoded bytes are counted as they stream past, never kept; the memory is every byte
 * qpdf allocates for the document on the calling thread, with the document itself and the
 * result (see pdf.cc). None of this is retried: the same bytes fail the same way.
 */
#ifndef CT_DOCUMENT_DOCUMENT_H
#define CT_DOCUMENT_DOCUMENT_H

#include "common/ipaddr.h"
#include "job/job.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest document accepted from any source (WhatsApp allows 100 MB, SendGrid 30 MB in all;
 * invoices are tens of kB). */
#define CT_DOCUMENT_MAX ((size_t)20 << 20)

/* The failure reasons, for callers that compare them. */
#define CT_DOC_NOT_FOUND "document_not_found"
#define CT_DOC_PATH_REFUSED "document_path_refused"
#define CT_DOC_NOT_PDF "document_not_pdf"
#define CT_DOC_ENCRYPTED "document_encrypted"
#define CT_DOC_DAMAGED "document_damaged"
#define CT_DOC_TOO_LARGE "document_too_large"
#define CT_DOC_FETCH_FAILED "document_fetch_failed"
#define CT_DOC_PROTECTION_FAILED "document_protection_failed"

/* A buffer for ct_document_password() that holds any password a valid job can carry:
 * 32 UTF-8 characters of up to 4 bytes each, and the NUL. */
#define CT_DOCUMENT_PASSWORD_CAP 129

typedef struct {
  uint8_t *data;  /* malloc'd */
  size_t len;
} ct_bytes_t;

/* Frees b->data and empties *b. NULL and an empty ct_bytes_t are no-ops. */
void ct_bytes_free(ct_bytes_t *b);

/* Why a document step failed: one of the reasons above, plus a detail free of personal data
 * (never a password, never document bytes). */
typedef struct {
  const char *reason;     /* static string, NULL on success */
  bool transient;         /* worth retrying later (an I/O error, a timeout), else permanent */
  char detail[160];
} ct_doc_error_t;

/* Reads `rel` (a job's document.path) under `root`. Refuses, with reason
 * "document_path_refused", absolute paths, any ".." component, and anything that resolves
 * outside `root` (a symlink out of it, checked on the real path); "document_not_found" when
 * missing (permanent); "document_too_large" over CT_DOCUMENT_MAX. Returns 0 or CT_EINVAL
 * (with *err set); *out only on success.
 * Also refused: an empty path, one too long for the system, a symlink loop, anything but a
 * regular file (a directory, a FIFO, a device). Symlinks that stay inside `root` are
 * followed. An unreadable root or file (permission, I/O error) is "document_fetch_failed",
 * transient, so that the job waits for an operator to fix the mount. The file opened is
 * the one whose real path was checked (verified through /proc/self/fd where mounted), so a
 * rename racing the check cannot lead outside `root`. */
int ct_document_read_path(const char *root, const char *rel, ct_bytes_t *out,
                          ct_doc_error_t *err);

/* Document URLs (source.c). A job's invoice.document.url is outside input: without rules it
 * would let a producer make the daemon fetch from the internal network and send what it got
 * to a customer. The rules are the job's tenant's (config: [tenant.NAME]):
 *   - https only, redirects included;
 *   - the host must be in `hosts` when that list is not empty ("*.example.com" stands for its
 *     subdomains, not for example.com itself; IP addresses are compared as addresses);
 *   - every address the host resolves to must be public (common/ipaddr.h says what is not),
 *     unless it lies in one of `networks` (the operator's opt-in for an internal document
 *     server); unspecified, multicast and broadcast addresses are never fetched;
 *   - the connection goes to a checked address and nowhere else: the addresses checked are
 *     handed to libcurl (CURLOPT_RESOLVE) and every socket it opens is checked again against
 *     them (CURLOPT_OPENSOCKETFUNCTION), so a DNS answer that changes in between is useless;
 *   - redirects are followed here, not by libcurl, each one checked like the first URL, at
 *     most CT_DOC_URL_MAX_REDIRECTS, and a URL seen before in the chain is a loop;
 *   - no proxy from the environment (http_proxy and the like are ignored).
 * A refusal is permanent with reason "document_url_refused" and a detail that names the rule
 * only ("document URL refused: address is loopback", "... redirect to a refused address
 * (private)", "... redirect loop", "... too many redirects", "... host not in
 * document_url_hosts"), never the address, the port or anything the server said. */
#define CT_DOC_URL_REFUSED "document_url_refused"
#define CT_DOC_URL_MAX_REDIRECTS 5

typedef struct {
  const char *hosts;          /* document_url_hosts; NULL or "" = any host */
  const ct_cidr_t *networks;  /* document_url_allow_networks: non-public addresses allowed */
  size_t n_networks;
  const char *ca_file;        /* CA bundle; NULL or "" = the system's */
  int64_t timeout_ms;         /* the whole fetch, redirects included; a name lookup under
                                 way ends by the system resolver's own timeouts, and the
                                 time it took counts */
} ct_doc_url_policy_t;

/* Fetches `url` under `policy` into *out (a new buffer, on success only). Returns 0, or
 * CT_EINVAL with *err:
 *   document_url_refused (permanent): a rule above refused the URL or a redirect;
 *   document_not_found (permanent): HTTP 404 or 410;
 *   document_too_large (permanent): more than CT_DOCUMENT_MAX bytes;
 *   document_fetch_failed: permanent when the host name does not exist or the connection is
 *     refused or unreachable; transient for a timeout (the detail says "timeout"), a failed
 *     name lookup, TLS, a broken connection, any other HTTP status, or memory running out.
 * Blocking (name lookup, transfer): call it from a thread pool, never from an event loop. */
int ct_document_fetch_url(const ct_doc_url_policy_t *policy, const char *url, ct_bytes_t *out,
                          ct_doc_error_t *err);

/* True when `host` (a name, an IP address, an IPv6 address in brackets) is in `hosts`, a
 * document_url_hosts list; an empty or NULL list holds every host. Case and a final '.' do
 * not matter. */
bool ct_document_url_host_listed(const char *hosts, const char *host);
/* How much a document may make qpdf decode and hold (the rule at the top of this file). */
typedef struct {
  uint64_t stream_max;  /* decoded bytes of one stream */
  uint64_t decoded_max; /* decoded bytes of all the document's streams together */
  uint32_t ratio_max;   /* decoded / encoded bytes of one stream; 0 = no ratio limit */
  uint64_t memory_max;  /* bytes one document's check and lock may hold at once */
} ct_doc_limits_t;

/* Below this many decoded bytes a stream is not held to `ratio_max`: a page of text in a
 * few hundred bytes of Flate is not a bomb. */
#define CT_DOC_RATIO_FLOOR ((uint64_t)1 << 20)

/* The defaults of the configuration keys document_stream_max_mb (64), document_decoded_max_mb
 * (256), document_max_ratio (100) and document_memory_mb (128). */
#define CT_DOC_LIMITS_DEFAULT                                                                 \
  ((ct_doc_limits_t){.stream_max = (uint64_t)64 << 20,                                       \
                     .decoded_max = (uint64_t)256 << 20,                                     \
                     .ratio_max = 100,                                                       \
                     .memory_max = (uint64_t)128 << 20})

/* Checks that `pdf` is a PDF that can be protected: starts with "%PDF-", parses (qpdf), is not
 * already encrypted, stays within CT_DOC_LIMITS_DEFAULT. Returns 0 or CT_EINVAL with reason
 * document_not_pdf, document_damaged, document_encrypted or document_too_large.
 * "Damaged" and "too large" are the rules at the top of this file. Encrypted includes a file
 * that opens without a password but carries owner restrictions. Also "document_too_large"
 * over CT_DOCUMENT_MAX, and "document_protection_failed" (transient) when memory runs out
 * (the system's, not a limit's). */
int ct_document_check(const ct_bytes_t *pdf, ct_doc_error_t *err);

/* ct_document_check() under `limits` (NULL: CT_DOC_LIMITS_DEFAULT). */
int ct_document_check_limits(const ct_bytes_t *pdf, const ct_doc_limits_t *limits,
                             ct_doc_error_t *err);

/* The user password a job's policy asks for, into `out` (at least 40 bytes): cpf_first4 ->
 * the first 4 digits of recipient.cpf; card_last4 -> recipient.card_last4; explicit ->
 * document.password; none/unspecified -> "" (no protection). Returns 0, or CT_EINVAL with
 * reason document_protection_failed when the job lacks what its policy needs.
 * Needs: a CPF of 11 digits (punctuation as in "123.456.789-09" allowed), a card_last4 of
 * exactly 4 digits, an explicit password of 4 to 32 UTF-8 characters. A policy value this
 * build does not know also fails: better a dead letter than an unlocked invoice. A job with
 * no invoice or no document gives "". An explicit password longer than `cap` - 1 bytes fails;
 * CT_DOCUMENT_PASSWORD_CAP always fits. `out` is written only on success. */
int ct_document_password(const ct_job_t *job, char *out, size_t cap, ct_doc_error_t *err);

/* Encrypts `pdf` with AES-256 (PDF 2.0, revision 6): user password `password`, a random owner
 * password (from the OS CSPRNG, never stored), printing allowed, modification and extraction
 * for modification forbidden. Returns 0 with the protected bytes in *out, or CT_EINVAL with
 * reason document_protection_failed (or damaged/encrypted when qpdf says so).
 * Checks `pdf` first exactly as ct_document_check() does (same reasons), so a caller need not
 * check before protecting. Permissions as qpdf names them: print full, extract for
 * accessibility allowed; extract for any other purpose, assemble, annotate, fill forms and
 * modify forbidden. An empty password is refused (document_protection_failed): it would lock
 * nothing. The password is used as given (UTF-8); readers, like qpdf, use its first 127
 * bytes. */
int ct_document_protect(const ct_bytes_t *pdf, const char *password, ct_bytes_t *out,
                        ct_doc_error_t *err);

/* Key material for locking documents (AES-256, R6), kept between documents.
 *
 * Revision 6 hashes each password through Algorithm 2.B four times (for /U, /UE, /O, /OE):
 * about 5 ms of CPU that depends on the password, not on the document. The cache keeps the
 * result (the file key and the /O, /U, /OE, /UE, /Perms values made with a random owner
 * password) for documents locked with the same password, in the same scope: one tenant, one
 * UTC day, one password policy. An entry is found by an HMAC-SHA-256 of (tenant, day, policy,
 * password) under a secret drawn from the OS CSPRNG when the cache is made and never kept
 * anywhere else, so a lookup key reveals no password, and entries never cross tenants or days.
 * README.md ("Locking invoice PDFs") gives the security argument.
 *
 * Bounded: at most `max_entries` entries and `max_bytes` bytes of entries (an entry is
 * ct_keycache_entry_size() bytes; the cache adds one page of bookkeeping and a hash table of
 * a pointer per entry), least recently used first out. Entries live in one mapping
 * excluded from core dumps (MADV_DONTDUMP) and locked in RAM when the system allows it
 * (mlock); an entry is wiped (explicit_bzero) when evicted and the whole mapping when the
 * cache is freed. Nothing of it is logged. Safe to use from any thread: entries are copied out
 * under a mutex, so none is ever shared while it may be overwritten. */
typedef struct ct_keycache ct_keycache_t;

typedef struct {
  uint64_t hits;      /* lookups that found key material */
  uint64_t misses;    /* lookups that did not (each is followed by a derivation) */
  uint64_t evictions; /* entries dropped for room */
  uint64_t entries;   /* entries held now */
  uint64_t capacity;  /* most entries it can hold */
  bool locked;        /* its memory is locked in RAM (mlock) */
} ct_keycache_stats_t;

/* A cache of at most `max_entries` entries in at most `max_bytes` bytes. Returns 0 with *out
 * set; CT_EINVAL when not even one entry fits; CT_ENOMEM; CT_EIO when the system random
 * generator fails. */
int ct_keycache_new(size_t max_entries, size_t max_bytes, ct_keycache_t **out);

/* Wipes and frees the cache. NULL is a no-op. */
void ct_keycache_free(ct_keycache_t *c);

/* Bytes one entry takes in the cache. */
size_t ct_keycache_entry_size(void);

/* The counters, as of now. A NULL cache gives zeros. */
void ct_keycache_stats(ct_keycache_t *c, ct_keycache_stats_t *out);

/* How ct_document_lock() locks: its limits, and where its key material comes from. */
typedef struct {
  ct_doc_limits_t limits;
  ct_keycache_t *cache; /* NULL: key material derived for this document alone */
  const char *tenant;   /* the cache's scope: tenant, UTC day (days since 1970-01-01), */
  int64_t day;          /* and password policy (CARTEIRO__V1__PASSWORD_POLICY__*) */
  int policy;
} ct_doc_lock_t;

/* ct_document_protect() under `how`: the same checks, reasons and permissions, within
 * how->limits, with key material from how->cache when it holds an entry for (tenant, day,
 * policy, password), else derived and stored there. Every document gets its own /ID (both
 * halves random) and its own AES IVs whatever the cache holds. `how` NULL is
 * ct_document_protect(). */
int ct_document_lock(const ct_bytes_t *pdf, const char *password, const ct_doc_lock_t *how,
                     ct_bytes_t *out, ct_doc_error_t *err);

/* SHA-256 of data[0..len) as 64 lower-case hex digits + NUL into `hex` (65 bytes). */
void ct_document_sha256(const uint8_t *data, size_t len, char hex[65]);

/* What ct_document_prepare() needs besides the job. */
typedef struct {
  const char *root;           /* document root, for a path source */
  const ct_bytes_t *fetched;  /* the fetched body, for a URL source */
  ct_doc_limits_t limits;
  ct_keycache_t *keys;        /* NULL: key material derived per document */
  int64_t now_ms;             /* wall clock (ms since 1970): the key cache's day */
} ct_doc_prepare_t;

/* The whole preparation for a job whose document is inline or a path: read, check, protect
 * when the policy says so. The URL source is fetched by the caller and passed as
 * how->fetched. Returns 0 with the bytes to send in *out, else CT_EINVAL with *err.
 * *out is always a new buffer the caller frees with ct_bytes_free(): the bytes unchanged
 * under policy none (after ct_document_check_limits), the protected PDF otherwise (with
 * ct_document_lock, scoped by the job's tenant, the UTC day of now_ms and its policy). A job
 * with no document (a notification, an invoice without a document or with no source set)
 * gives 0 and an empty *out. `root` is needed only for a path source, `fetched` only for a
 * URL source: a URL source without `fetched` is "document_fetch_failed" (permanent: the
 * caller skipped the fetch). */
int ct_document_prepare(const ct_job_t *job, const ct_doc_prepare_t *how, ct_bytes_t *out,
                        ct_doc_error_t *err);

#endif
