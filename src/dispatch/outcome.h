/* A job's fate: what one event in its delivery does to the job, and to the provider account
 * it went through. The one place that decides it, whichever door the news came in by: a
 * provider's answer to a request (worker/worker.c), the engine's own gates (a window, quiet
 * hours, a paused account, an open breaker, a stop), and, later, a provider's status webhook
 * reporting an asynchronous result (WhatsApp's "failed, 131026" minutes after a 2xx).
 *
 * Pure: plain values in, a plain decision out; no I/O, no clock, no randomness of its own
 * (the caller passes a random draw), no worker or account pointers. The caller applies the
 * decision: counts it, tells the breaker and the concurrency limit, records the attempt,
 * and puts the job where the decision says.
 *
 * THE TABLE (outcome.c, one row per event):
 *
 *   event            counter    breaker  concurrency  attempt recorded    next
 *   accepted         accepted   success  ok           accepted            continue
 *   permanent        permanent  success  neutral      permanent (counts)  next channel | dead
 *   throttled        throttled  success  cut          transient (counts)  retry
 *   recipient_busy   throttled  success  neutral      transient (counts)  retry (>= the gap)
 *   auth             refused    -        neutral      skipped             pause account, release
 *   failed           transient  failure  neutral      transient (counts)  retry
 *   unreachable      transient  failure  neutral      skipped             retry
 *   aborted          -          -        neutral      -                   release now
 *   unsendable       -          -        neutral      permanent (counts)  next channel | dead
 *   local_error      -          -        neutral      transient (counts)  retry
 *   doc_transient    -          -        -            transient (counts)  retry
 *   doc_permanent    -          -        -            permanent (counts)  dead (its reason)
 *   done             -          -        -            -                   ack
 *   exhausted        -          -        -            -                   dead permanent_failure
 *   expired          -          -        -            -                   dead deadline_exceeded
 *   wait             -          -        -            -                   release at the time given
 *   paused           -          -        -            -                   release after a recheck
 *   provider_down    -          -        -            -                   release after the probe
 *   stopping         -          -        -            -                   release now
 *
 * and these rules over it:
 *   - A failure the breaker blames on the provider (in.provider_down: the breaker is open
 *     after recording it, so this request opened it, was its probe, or was in flight when it
 *     opened), and a request that never reached the provider (unreachable: connection refused,
 *     TLS failed), does not count toward max_attempts: it is recorded as skipped. An outage
 *     must not dead-letter jobs; only their deadline can.
 *   - retry: a counted failure that reaches max_attempts is dead ("max_attempts"); otherwise
 *     the job is due after the backoff (full jitter, capped, never under Retry-After or the
 *     floor). While the breaker is open it is due as a provider_down release is.
 *   - provider_down: the job is held m = half as long as the outage has lasted (at least half
 *     a cool-down, at most CT_OUTCOME_HOLD_MAX_MS): due at the later of the breaker's next
 *     probe and now + m, plus a random share of m. So a job comes back at most once per m, a
 *     few times in all however long the outage (m grows by half each time), the probe is
 *     whichever job comes first (they take turns), and once the provider answers again the
 *     backlog returns within 2 m, spread out rather than all at once.
 *   - Any job due after its not_after is dead ("deadline_exceeded") now rather than later;
 *     stopping and aborted releases are due now and exempt.
 *   - An asynchronous event (in.async: a status webhook) touches neither the breaker nor the
 *     concurrency limit: its request ended long ago. */
#ifndef CT_DISPATCH_OUTCOME_H
#define CT_DISPATCH_OUTCOME_H

#include "dispatch/throttle.h"

#include <stdbool.h>
#include <stdint.h>

typedef enum {
  /* The provider's answer to a request, or what became of the request. */
  CT_OEV_ACCEPTED,       /* the provider took the part */
  CT_OEV_PERMANENT,      /* refused for good on this channel: bad recipient, template, ... */
  CT_OEV_THROTTLED,      /* too fast for the account (429) */
  CT_OEV_RECIPIENT_BUSY, /* too fast for this recipient (WhatsApp 131056) */
  CT_OEV_AUTH,           /* our credentials were refused (401/403) */
  CT_OEV_FAILED,         /* a failure that may pass: 5xx, timeout, reset, stream error */
  CT_OEV_UNREACHABLE,    /* the request never reached the provider: connect refused, TLS */
  CT_OEV_ABORTED,        /* cut by our own shutdown: the provider may or may not have it */
  /* The engine's own failures. */
  CT_OEV_UNSENDABLE,     /* no request can be built for this job on this channel (no phone,
                            no account serves it): like a permanent answer */
  CT_OEV_LOCAL_ERROR,    /* out of memory, the transport refused the send: try later */
  CT_OEV_DOC_TRANSIENT,  /* the document could not be had now (a fetch timed out) */
  CT_OEV_DOC_PERMANENT,  /* the document can never be sent (missing, not a PDF, not lockable) */
  /* The job's gates. */
  CT_OEV_DONE,           /* every delivery is complete */
  CT_OEV_EXHAUSTED,      /* a delivery has no channel left */
  CT_OEV_EXPIRED,        /* past not_after */
  CT_OEV_WAIT,           /* may not go before in.wait_until_ms (window, quiet hours, gap) */
  CT_OEV_PAUSED,         /* its account is paused (credentials refused) */
  CT_OEV_PROVIDER_DOWN,  /* its account's breaker is open */
  CT_OEV_STOPPING,       /* the daemon is stopping: back as it is */
  CT_OEV__N
} ct_outcome_event_t;

/* Which of an account's counters the event adds to. */
typedef enum {
  CT_COUNT_NONE,
  CT_COUNT_ACCEPTED,
  CT_COUNT_PERMANENT,
  CT_COUNT_THROTTLED,
  CT_COUNT_TRANSIENT,
  CT_COUNT_REFUSED,
} ct_counter_t;

/* What the event tells the account's breaker. */
typedef enum { CT_VOTE_NONE, CT_VOTE_SUCCESS, CT_VOTE_FAILURE } ct_vote_t;

/* What becomes of the job. */
typedef enum {
  CT_NEXT_CONTINUE, /* the part went: on to the job's next part (or done when none is left) */
  CT_NEXT_ACK,      /* delivered */
  CT_NEXT_RETRY,    /* back to the spool after a failure, due at due_ms */
  CT_NEXT_CHANNEL,  /* this channel failed for good: back at once for the next one */
  CT_NEXT_DEAD,     /* to the DLQ with `reason` */
  CT_NEXT_RELEASE,  /* back to the spool as it is, without a try, due at due_ms (0 = now) */
} ct_next_t;

/* The attempt to record in the job's history (values of Carteiro__V1__Outcome). */
typedef enum {
  CT_ATTEMPT_NONE = 0,
  CT_ATTEMPT_ACCEPTED = 1,
  CT_ATTEMPT_TRANSIENT = 2,
  CT_ATTEMPT_PERMANENT = 3,
  CT_ATTEMPT_SKIPPED = 4,
} ct_attempt_kind_t;

/* A row of the table: what the event does to the account, whatever the job. */
typedef struct {
  ct_outcome_event_t event;
  const char *name;          /* "accepted", "provider_down", ... */
  ct_counter_t counter;
  ct_vote_t breaker;
  ct_aimd_signal_t aimd;     /* when the event frees a concurrency slot */
  ct_attempt_kind_t attempt; /* before the breaker's say (failed may become skipped) */
} ct_outcome_row_t;

/* A provider asking to wait longer than this is taken to mean this long: a broken header must
 * neither overflow the due time nor park a job for years. */
#define CT_OUTCOME_MAX_RETRY_AFTER_MS ((int64_t)24 * 3600 * 1000)
/* A paused account (credentials refused) is looked at again after this long. */
#define CT_OUTCOME_PAUSE_RECHECK_MS 2000
/* The longest hold of a job waiting out an outage (see provider_down), unless half the
 * breaker's cool-down is longer: the backlog returns within twice this once the provider
 * answers again. */
#define CT_OUTCOME_HOLD_MAX_MS ((int64_t)30 * 1000)

typedef struct {
  ct_outcome_event_t event;
  int64_t now_ms;            /* wall clock */
  uint64_t draw;             /* a uniformly random 64-bit value: the jitter */
  bool async;                /* the news came by webhook, not as the answer to a request */
  /* the job */
  uint32_t attempts;         /* failed tries counted so far (since enqueue or replay) */
  int64_t not_after_ms;      /* deadline, 0 = none */
  bool channel_left;         /* permanent/unsendable: the job has a channel still to try once
                                this one is marked failed */
  const char *reason;        /* doc_permanent: the document's reason ("document_not_found") */
  int64_t wait_until_ms;     /* wait: when the job may go */
  /* the policy in force */
  uint32_t max_attempts;
  int64_t backoff_base_ms, backoff_cap_ms;
  /* the answer */
  int64_t retry_after_ms;    /* what the provider asked for, -1 = nothing */
  int64_t floor_ms;          /* recipient_busy: the least wait (the recipient gap) */
  /* the account's breaker, as ct_breaker_record (failed, unreachable) or ct_breaker_allow /
   * ct_breaker_refuses (provider_down) reported it */
  bool provider_down;        /* it is open: the failure is the provider's, not the job's */
  int64_t next_probe_ms;     /* when its next probe may go (wall clock) */
  int64_t down_for_ms;       /* how long it has been open in this outage */
  int64_t cooldown_ms;
} ct_outcome_in_t;

typedef struct {
  const ct_outcome_row_t *row; /* the event's effects on the account (see the table) */
  ct_counter_t counter;        /* as the row's; CT_COUNT_NONE... */
  ct_vote_t breaker;           /* ...CT_VOTE_NONE and CT_AIMD_NEUTRAL for an async event */
  ct_aimd_signal_t aimd;
  ct_attempt_kind_t attempt;   /* the attempt to record, CT_ATTEMPT_NONE for none */
  bool counted;                /* it counts toward max_attempts (transient, permanent) */
  bool pause_account;
  ct_next_t next;
  int64_t due_ms;              /* RETRY, RELEASE: when the job is due again (0 = now) */
  const char *reason;          /* DEAD: the dead-letter reason */
} ct_outcome_t;

/* The table's row for `event` (NULL when out of range). */
const ct_outcome_row_t *ct_outcome_row(ct_outcome_event_t event);

/* "accepted", "provider_down", ...; "unknown" when out of range. */
const char *ct_outcome_event_name(ct_outcome_event_t event);

/* Decides what `in` does to the job and its account. Never fails: an event out of range is
 * treated as CT_OEV_FAILED. `out` is always written; out->reason points at a static string
 * or at in->reason. */
void ct_outcome_decide(const ct_outcome_in_t *in, ct_outcome_t *out);

#endif
