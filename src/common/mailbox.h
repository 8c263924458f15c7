/* A cross-thread mailbox: any thread posts messages; the owning loop receives them in batches
 * on its own thread (mutex + intrusive list + uv_async, as h2o's multithread receivers do).
 * uv_async_send coalesces, so a burst of posts costs the receiver one wake-up.
 *
 * Messages embed a ct_list_t; the mailbox never allocates. */
#ifndef CT_COMMON_MAILBOX_H
#define CT_COMMON_MAILBOX_H

#include "common/list.h"

#include <pthread.h>
#include <uv.h>

typedef struct ct_mailbox ct_mailbox_t;

/* Called on the owning loop with every message posted since the last call, oldest first.
 * The callee takes the messages (it must remove each from `batch` or leave them to be
 * dropped from it: the list head is reset after the call). */
typedef void (*ct_mailbox_cb)(ct_mailbox_t *mb, ct_list_t *batch);

struct ct_mailbox {
  uv_async_t async;
  pthread_mutex_t mu;
  ct_list_t queue;
  ct_mailbox_cb cb;
  void *data;
};

/* Initialises `mb` on `loop` (call on the loop's thread). Returns 0 or a libuv error. */
int ct_mailbox_init(uv_loop_t *loop, ct_mailbox_t *mb, ct_mailbox_cb cb, void *data);

/* Posts one message from any thread. */
void ct_mailbox_post(ct_mailbox_t *mb, ct_list_t *msg);

/* Posts a whole list of messages at once, leaving `msgs` empty. */
void ct_mailbox_post_all(ct_mailbox_t *mb, ct_list_t *msgs);

/* Closes the async handle (on the loop's thread); `close_cb` gets the handle and must call
 * ct_mailbox_dispose before the mailbox's memory is freed. Messages still queued are not
 * delivered: whoever owns them must have drained them before. */
void ct_mailbox_close(ct_mailbox_t *mb, uv_close_cb close_cb);

/* Releases the mutex; call from the close callback. */
void ct_mailbox_dispose(ct_mailbox_t *mb);

#endif
