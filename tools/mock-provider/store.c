/* The files the mock received, kept so that a test can take a delivered PDF back out and open
 * it: WhatsApp media uploads under their media id, SendGrid attachments under
 * "<X-Message-Id>/<index>".
 *
 * Bounds. At most keep_files files and keep_bytes bytes of file content are kept (plus about
 * 650 bytes of bookkeeping per file). A new file first evicts the oldest ones until it fits;
 * a file larger than keep_bytes on its own is not kept at all. The limits arrive with every
 * call rather than being stored here, so POST /config can change them and trim at once.
 *
 * Layout. Each file is one allocation: its header, then its bytes. Files sit on an intrusive
 * FIFO (oldest first, so eviction pops the head) and on an intrusive hash chain for lookups,
 * which the WhatsApp messages endpoint makes for every message naming a media id. Nothing
 * here does I/O; the pages that serve files copy the bytes into the request's pool, since the
 * next upload may evict a file while its bytes are still being written to a socket.
 */
#include <stdlib.h>
#include <string.h>

#include "mock.h"

#define BUCKETS 4096 /* a power of two; chains stay short up to the 100000-file cap */

struct mock_store {
  mock_file_t *oldest, *newest;
  mock_file_t *bucket[BUCKETS];
  size_t files;
  uint64_t bytes;
  uint64_t stored;  /* files ever kept */
  uint64_t evicted; /* files pushed out by newer ones or by lower limits */
  uint64_t refused; /* files not kept: larger than keep_bytes, keep_files 0, no memory */
};

static uint64_t key_hash(const char *key)
{
  return mock_mix64(mock_hash_bytes(MOCK_HASH_INIT, key, strlen(key)));
}

mock_store_t *mock_store_new(void)
{
  return calloc(1, sizeof(mock_store_t));
}

static mock_file_t *find(const mock_store_t *s, const char *key, uint64_t h)
{
  for (mock_file_t *f = s->bucket[h & (BUCKETS - 1)]; f != NULL; f = f->hnext)
    if (f->hash == h && strcmp(f->info.key, key) == 0)
      return f;
  return NULL;
}

/* Takes `f` off both lists and frees it. */
static void drop(mock_store_t *s, mock_file_t *f)
{
  mock_file_t **link = &s->bucket[f->hash & (BUCKETS - 1)];
  while (*link != f)
    link = &(*link)->hnext;
  *link = f->hnext;
  if (f->older != NULL)
    f->older->newer = f->newer;
  else
    s->oldest = f->newer;
  if (f->newer != NULL)
    f->newer->older = f->older;
  else
    s->newest = f->older;
  s->files--;
  s->bytes -= f->len;
  free(f);
}

void mock_store_free(mock_store_t *s)
{
  if (s == NULL)
    return;
  while (s->oldest != NULL)
    drop(s, s->oldest);
  free(s);
}

void mock_store_trim(mock_store_t *s, size_t max_files, uint64_t max_bytes)
{
  while (s->oldest != NULL && (s->files > max_files || s->bytes > max_bytes)) {
    drop(s, s->oldest);
    s->evicted++;
  }
}

const mock_file_t *mock_store_get(const mock_store_t *s, const char *key)
{
  return find(s, key, key_hash(key));
}

int mock_store_put(mock_store_t *s, const mock_file_info_t *info, const void *data, size_t len,
                   size_t max_files, uint64_t max_bytes)
{
  if (max_files == 0 || len > max_bytes) {
    s->refused++;
    return -1;
  }
  mock_file_t *f = malloc(sizeof(*f) + len);
  if (f == NULL) {
    s->refused++;
    return -1;
  }
  f->info = *info;
  f->hash = key_hash(info->key);
  f->len = len;
  if (len > 0)
    memcpy(f->data, data, len);
  /* ids are never issued twice, so a key already present means a replacement: the newer
   * bytes win, and the older file is not counted as evicted */
  mock_file_t *old = find(s, info->key, f->hash);
  if (old != NULL)
    drop(s, old);
  mock_store_trim(s, max_files - 1, max_bytes - len);

  f->older = s->newest;
  f->newer = NULL;
  if (s->newest != NULL)
    s->newest->newer = f;
  else
    s->oldest = f;
  s->newest = f;
  mock_file_t **head = &s->bucket[f->hash & (BUCKETS - 1)];
  f->hnext = *head;
  *head = f;
  s->files++;
  s->bytes += len;
  s->stored++;
  return 0;
}

json_t *mock_store_to_json(const mock_store_t *s, size_t max_files, uint64_t max_bytes)
{
  return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "files", (json_int_t)s->files,
                   "bytes", (json_int_t)s->bytes, "capacity_files", (json_int_t)max_files,
                   "capacity_bytes", (json_int_t)max_bytes, "stored", (json_int_t)s->stored,
                   "evicted", (json_int_t)s->evicted, "refused", (json_int_t)s->refused);
}
