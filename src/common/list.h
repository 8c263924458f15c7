/* Intrusive doubly linked lists: the node lives inside the element, so putting an element on
 * a list never allocates. container_of() gets the element back from its node. */
#ifndef CT_COMMON_LIST_H
#define CT_COMMON_LIST_H

#include <stdbool.h>
#include <stddef.h>

#define ct_container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

typedef struct ct_list {
  struct ct_list *next, *prev;
} ct_list_t;

static inline void ct_list_init(ct_list_t *head) { head->next = head->prev = head; }

static inline bool ct_list_empty(const ct_list_t *head) { return head->next == head; }

static inline void ct_list_insert_tail(ct_list_t *head, ct_list_t *node) {
  node->prev = head->prev;
  node->next = head;
  head->prev->next = node;
  head->prev = node;
}

static inline void ct_list_remove(ct_list_t *node) {
  node->prev->next = node->next;
  node->next->prev = node->prev;
  node->next = node->prev = node;
}

/* Moves every node of `from` to the end of `to`, leaving `from` empty. */
static inline void ct_list_splice_tail(ct_list_t *to, ct_list_t *from) {
  if (ct_list_empty(from))
    return;
  from->next->prev = to->prev;
  to->prev->next = from->next;
  from->prev->next = to;
  to->prev = from->prev;
  ct_list_init(from);
}

/* The first node, or NULL when empty. */
static inline ct_list_t *ct_list_first(const ct_list_t *head) {
  return ct_list_empty(head) ? NULL : head->next;
}

#endif
