#include "common/mailbox.h"

static void on_async(uv_async_t *handle) {
  ct_mailbox_t *mb = ct_container_of(handle, ct_mailbox_t, async);
  ct_list_t batch;
  ct_list_init(&batch);
  pthread_mutex_lock(&mb->mu);
  ct_list_splice_tail(&batch, &mb->queue);
  pthread_mutex_unlock(&mb->mu);
  if (!ct_list_empty(&batch))
    mb->cb(mb, &batch);
}

int ct_mailbox_init(uv_loop_t *loop, ct_mailbox_t *mb, ct_mailbox_cb cb, void *data) {
  pthread_mutex_init(&mb->mu, NULL);
  ct_list_init(&mb->queue);
  mb->cb = cb;
  mb->data = data;
  int rc = uv_async_init(loop, &mb->async, on_async);
  if (rc != 0)
    pthread_mutex_destroy(&mb->mu);
  return rc;
}

void ct_mailbox_post(ct_mailbox_t *mb, ct_list_t *msg) {
  pthread_mutex_lock(&mb->mu);
  ct_list_insert_tail(&mb->queue, msg);
  pthread_mutex_unlock(&mb->mu);
  uv_async_send(&mb->async);
}

void ct_mailbox_post_all(ct_mailbox_t *mb, ct_list_t *msgs) {
  if (ct_list_empty(msgs))
    return;
  pthread_mutex_lock(&mb->mu);
  ct_list_splice_tail(&mb->queue, msgs);
  pthread_mutex_unlock(&mb->mu);
  uv_async_send(&mb->async);
}

void ct_mailbox_close(ct_mailbox_t *mb, uv_close_cb close_cb) {
  uv_close((uv_handle_t *)&mb->async, close_cb);
}

void ct_mailbox_dispose(ct_mailbox_t *mb) { pthread_mutex_destroy(&mb->mu); }
