/* The JSON mapping of the job schema.
 *
 * Producers that cannot link protobuf hand carteiro JSON: one object per job, one job per line
 * in .jsonl files, the body of POST /v1/jobs. The mapping follows proto3's JSON mapping where
 * that is unambiguous and departs from it where carteiro's users asked for something simpler:
 *
 *   - keys are the .proto field names (snake_case); an unknown key is an error, not ignored,
 *     so that a misspelt optional field ("recipient.fone") never silently drops data;
 *   - null means "absent" for every field;
 *   - enums are their lower-case short names ("invoice", "whatsapp", "cpf_first4"); the enum
 *     number is accepted too, and written for values this build has no name for, so that a
 *     record from a newer producer survives a JSON round trip;
 *   - int64 fields are JSON integers (never floats, never quoted); the *_ms times also accept
 *     an RFC 3339 string;
 *   - deliveries are [{"channels": ["whatsapp", "sms"]}] or the shorthand [["whatsapp", "sms"]];
 *   - document.inline_pdf is standard base64 with padding (RFC 4648 section 4), decoded
 *     strictly: one accepted spelling per byte string;
 *   - notification.params is an object of strings.
 *
 * Output omits fields holding their default (empty string, 0, unset message), as proto3 does;
 * a set oneof member and a present sub-message are always written, even when empty, because
 * their presence is part of the protobuf encoding. So for every job whose strings are valid
 * UTF-8, whose map keys are distinct and that carries no unknown protobuf fields,
 * decode_json(to_json(job)) encodes to the same protobuf bytes as job.
 *
 * Ownership: the decoder builds the message exactly as protobuf-c's unpack would (every string
 * from malloc, arrays from malloc with their n_* counts, sub-messages malloc'd and __init'ed),
 * and it stores every allocation into the message before doing anything that can fail, so
 * that one ct_job_free() releases a half-built job on any error path.
 */
#include "job/job.h"

#include "common/clock.h"
#include "common/error.h"
#include "common/base64.h"
#include "common/mask.h"

#include <assert.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* ---------------------------------------------------------------------------------------- */
/* Enum names                                                                                */

typedef struct {
  const char *name;
  int value;
} enum_name_t;

typedef struct {
  const enum_name_t *names;
  size_t n;
  const char *expected; /* for the error message */
} enum_spec_t;

static const enum_name_t kind_names[] = {
    {"invoice", CARTEIRO__V1__JOB_KIND__JOB_KIND_INVOICE},
    {"notification", CARTEIRO__V1__JOB_KIND__JOB_KIND_NOTIFICATION},
};
static const enum_name_t channel_names[] = {
    {"whatsapp", CARTEIRO__V1__CHANNEL__CHANNEL_WHATSAPP},
    {"sms", CARTEIRO__V1__CHANNEL__CHANNEL_SMS},
    {"email", CARTEIRO__V1__CHANNEL__CHANNEL_EMAIL},
};
static const enum_name_t policy_names[] = {
    {"none", CARTEIRO__V1__PASSWORD_POLICY__PASSWORD_POLICY_NONE},
    {"cpf_first4", CARTEIRO__V1__PASSWORD_POLICY__PASSWORD_POLICY_CPF_FIRST4},
    {"card_last4", CARTEIRO__V1__PASSWORD_POLICY__PASSWORD_POLICY_CARD_LAST4},
    {"explicit", CARTEIRO__V1__PASSWORD_POLICY__PASSWORD_POLICY_EXPLICIT},
};

#define ENUM_SPEC(table, expected) {table, sizeof table / sizeof table[0], expected}
static const enum_spec_t kind_spec = ENUM_SPEC(kind_names, "invoice or notification");
static const enum_spec_t channel_spec = ENUM_SPEC(channel_names, "whatsapp, sms or email");
static const enum_spec_t policy_spec =
    ENUM_SPEC(policy_names, "none, cpf_first4, card_last4 or explicit");

/* ---------------------------------------------------------------------------------------- */
/* Decoding                                                                                  */

/* Decoder state: where the error goes and the path of the field being decoded. */
typedef struct {
  char *err;
  size_t errcap;
  char path[256];
  size_t len;
} dec_t;

static int fail(dec_t *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Writes "<path>: <message>" into the caller's error buffer and returns CT_EDECODE. */
static int fail(dec_t *d, const char *fmt, ...) {
  if (d->errcap == 0)
    return CT_EDECODE;
  int n = d->len > 0 ? snprintf(d->err, d->errcap, "%s: ", d->path) : 0;
  if (n < 0)
    n = 0;
  if ((size_t)n < d->errcap) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->err + n, d->errcap - (size_t)n, fmt, ap);
    va_end(ap);
  }
  return CT_EDECODE;
}

static int nomem(dec_t *d) {
  if (d->errcap > 0)
    snprintf(d->err, d->errcap, "out of memory");
  return CT_ENOMEM;
}

/* Appends to the path; keys longer than the buffer are cut, which only shortens a message. */
static void path_append(dec_t *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void path_append(dec_t *d, const char *fmt, ...) {
  size_t room = sizeof d->path - d->len;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(d->path + d->len, room, fmt, ap);
  va_end(ap);
  if (n > 0)
    d->len += (size_t)n < room ? (size_t)n : room - 1;
}

static size_t push_key(dec_t *d, const char *key) {
  size_t saved = d->len;
  path_append(d, "%s%s", d->len > 0 ? "." : "", key);
  return saved;
}

static size_t push_index(dec_t *d, size_t i) {
  size_t saved = d->len;
  path_append(d, "[%zu]", i);
  return saved;
}

static void pop(dec_t *d, size_t saved) {
  d->len = saved;
  d->path[saved] = '\0';
}

typedef enum {
  F_STRING,
  F_INT64,
  F_INT32,
  F_TIME,
  F_ENUM,
  F_MESSAGE,
  F_DELIVERIES,
  F_CHANNELS,
  F_PARAMS,
  F_PDF,
  F_PATH,
  F_URL,
} ftype_t;

typedef struct msg_spec msg_spec_t;

typedef struct {
  const char *name;
  ftype_t type;
  size_t offset;
  const enum_spec_t *enums; /* F_ENUM */
  const msg_spec_t *msg;    /* F_MESSAGE */
} field_t;

struct msg_spec {
  const ProtobufCMessageDescriptor *desc;
  const field_t *fields;
  size_t n;
};

#define FLD(st, member, type) {#member, type, offsetof(st, member), NULL, NULL}
#define FLD_ENUM(st, member, spec) {#member, F_ENUM, offsetof(st, member), spec, NULL}
#define FLD_MSG(st, member, spec) {#member, F_MESSAGE, offsetof(st, member), NULL, spec}
#define MSG_SPEC(desc, table) {&desc, table, sizeof table / sizeof table[0]}

static const field_t recipient_fields[] = {
    FLD(ct_recipient_t, name, F_STRING),       FLD(ct_recipient_t, phone, F_STRING),
    FLD(ct_recipient_t, email, F_STRING),      FLD(ct_recipient_t, cpf, F_STRING),
    FLD(ct_recipient_t, card_last4, F_STRING), FLD(ct_recipient_t, locale, F_STRING),
    FLD(ct_recipient_t, time_zone, F_STRING),
};
static const msg_spec_t recipient_spec =
    MSG_SPEC(carteiro__v1__recipient__descriptor, recipient_fields);

static const field_t delivery_fields[] = {
    FLD(ct_delivery_t, channels, F_CHANNELS),
};
static const msg_spec_t delivery_spec =
    MSG_SPEC(carteiro__v1__delivery__descriptor, delivery_fields);

static const field_t document_fields[] = {
    FLD(ct_document_t, inline_pdf, F_PDF),
    FLD(ct_document_t, path, F_PATH),
    FLD(ct_document_t, url, F_URL),
    FLD_ENUM(ct_document_t, password_policy, &policy_spec),
    FLD(ct_document_t, password, F_STRING),
};
static const msg_spec_t document_spec =
    MSG_SPEC(carteiro__v1__document__descriptor, document_fields);

static const field_t invoice_fields[] = {
    FLD(ct_invoice_t, number, F_STRING),
    FLD(ct_invoice_t, amount_cents, F_INT64),
    FLD(ct_invoice_t, currency, F_STRING),
    FLD(ct_invoice_t, due_date, F_STRING),
    FLD(ct_invoice_t, barcode_line, F_STRING),
    FLD(ct_invoice_t, pix_code, F_STRING),
    FLD_MSG(ct_invoice_t, document, &document_spec),
};
static const msg_spec_t invoice_spec = MSG_SPEC(carteiro__v1__invoice__descriptor, invoice_fields);

static const field_t notification_fields[] = {
    FLD(ct_notification_t, template_name, F_STRING),
    FLD(ct_notification_t, params, F_PARAMS),
};
static const msg_spec_t notification_spec =
    MSG_SPEC(carteiro__v1__notification__descriptor, notification_fields);

static const field_t job_fields[] = {
    FLD(ct_job_t, id, F_STRING),
    FLD(ct_job_t, tenant, F_STRING),
    FLD_ENUM(ct_job_t, kind, &kind_spec),
    FLD_MSG(ct_job_t, recipient, &recipient_spec),
    FLD(ct_job_t, deliveries, F_DELIVERIES),
    FLD(ct_job_t, not_before_ms, F_TIME),
    FLD(ct_job_t, not_after_ms, F_TIME),
    FLD(ct_job_t, priority, F_INT32),
    FLD(ct_job_t, created_at_ms, F_TIME),
    FLD_MSG(ct_job_t, invoice, &invoice_spec),
    FLD_MSG(ct_job_t, notification, &notification_spec),
};
static const msg_spec_t job_spec = MSG_SPEC(carteiro__v1__job__descriptor, job_fields);

static int decode_fields(dec_t *d, const json_t *obj, const msg_spec_t *spec, void *msg);

/* Replaces a string field with a heap copy; the old value is freed unless it is protobuf-c's
 * shared empty default. */
static int set_string(dec_t *d, char **field, const char *value) {
  char *copy = strdup(value);
  if (copy == NULL)
    return nomem(d);
  if (*field != NULL && *field != protobuf_c_empty_string)
    free(*field);
  *field = copy;
  return 0;
}

static int get_string(dec_t *d, const json_t *val, const char **out) {
  if (!json_is_string(val))
    return fail(d, "expected a string");
  *out = json_string_value(val);
  return 0;
}

static int get_int32(dec_t *d, const json_t *val, int32_t *out) {
  if (!json_is_integer(val))
    return fail(d, "expected an integer");
  json_int_t v = json_integer_value(val);
  if (v < INT32_MIN || v > INT32_MAX)
    return fail(d, "out of range for a 32-bit integer");
  *out = (int32_t)v;
  return 0;
}

/* An enum: its short name, or its number (any int32, as protobuf enums are open). */
static int get_enum(dec_t *d, const json_t *val, const enum_spec_t *spec, int *out) {
  if (json_is_integer(val)) {
    int32_t v = 0;
    int rc = get_int32(d, val, &v);
    if (rc == 0)
      *out = v;
    return rc;
  }
  if (!json_is_string(val))
    return fail(d, "expected a string");
  const char *s = json_string_value(val);
  for (size_t i = 0; i < spec->n; i++) {
    if (strcmp(s, spec->names[i].name) == 0) {
      *out = spec->names[i].value;
      return 0;
    }
  }
  return fail(d, "unknown value; expected %s", spec->expected);
}

static int get_time(dec_t *d, const json_t *val, int64_t *out) {
  if (json_is_integer(val)) {
    *out = json_integer_value(val);
    return 0;
  }
  if (!json_is_string(val))
    return fail(d, "expected an integer (ms) or an RFC 3339 string");
  if (ct_time_parse(json_string_value(val), out) != 0)
    return fail(d, "not an RFC 3339 time (e.g. 2026-12-01T09:00:00-03:00)");
  return 0;
}

/* Allocates and initialises a sub-message, stores it in *slot, then decodes into it. */
static int decode_message(dec_t *d, const json_t *val, const msg_spec_t *spec, void **slot) {
  if (!json_is_object(val))
    return fail(d, "expected an object");
  assert(*slot == NULL); /* JSON_REJECT_DUPLICATES: each key is seen once */
  void *msg = malloc(spec->desc->sizeof_message);
  if (msg == NULL)
    return nomem(d);
  protobuf_c_message_init(spec->desc, msg);
  *slot = msg;
  return decode_fields(d, val, spec, msg);
}

static int decode_channels(dec_t *d, const json_t *arr, ct_delivery_t *del) {
  if (!json_is_array(arr))
    return fail(d, "expected an array");
  size_t n = json_array_size(arr);
  if (n == 0)
    return 0;
  del->channels = malloc(n * sizeof del->channels[0]);
  if (del->channels == NULL)
    return nomem(d);
  for (size_t i = 0; i < n; i++) {
    size_t saved = push_index(d, i);
    int v = 0;
    int rc = get_enum(d, json_array_get(arr, i), &channel_spec, &v);
    if (rc != 0)
      return rc;
    del->channels[del->n_channels++] = (Carteiro__V1__Channel)v;
    pop(d, saved);
  }
  return 0;
}

static int decode_deliveries(dec_t *d, const json_t *arr, ct_job_t *job) {
  if (!json_is_array(arr))
    return fail(d, "expected an array");
  size_t n = json_array_size(arr);
  if (n == 0)
    return 0;
  job->deliveries = calloc(n, sizeof job->deliveries[0]);
  if (job->deliveries == NULL)
    return nomem(d);
  for (size_t i = 0; i < n; i++) {
    size_t saved = push_index(d, i);
    const json_t *elem = json_array_get(arr, i);
    if (!json_is_object(elem) && !json_is_array(elem))
      return fail(d, "expected an object or an array of channels");
    ct_delivery_t *del = malloc(sizeof *del);
    if (del == NULL)
      return nomem(d);
    carteiro__v1__delivery__init(del);
    job->deliveries[job->n_deliveries++] = del;
    /* The shorthand [["whatsapp", "sms"]] is the channel list itself. */
    int rc = json_is_array(elem) ? decode_channels(d, elem, del)
                                 : decode_fields(d, elem, &delivery_spec, del);
    if (rc != 0)
      return rc;
    pop(d, saved);
  }
  return 0;
}

static int decode_params(dec_t *d, const json_t *obj, ct_notification_t *nt) {
  if (!json_is_object(obj))
    return fail(d, "expected an object");
  size_t n = json_object_size(obj);
  if (n == 0)
    return 0;
  nt->params = calloc(n, sizeof nt->params[0]);
  if (nt->params == NULL)
    return nomem(d);
  const char *key;
  json_t *val;
  size_t i = 0;
  json_object_foreach((json_t *)obj, key, val) {
    /* Keys are free text (a template's placeholder names), so an error names the entry by
     * its position, never by the key itself. */
    size_t saved = push_index(d, i++);
    const char *s = NULL;
    int rc = get_string(d, val, &s);
    if (rc != 0)
      return rc;
    Carteiro__V1__Notification__ParamsEntry *e = malloc(sizeof *e);
    if (e == NULL)
      return nomem(d);
    carteiro__v1__notification__params_entry__init(e);
    nt->params[nt->n_params++] = e;
    rc = set_string(d, &e->key, key);
    if (rc == 0)
      rc = set_string(d, &e->value, s);
    if (rc != 0)
      return rc;
    pop(d, saved);
  }
  return 0;
}

/* One member of the document's `source` oneof. source_case is set together with the pointer so
 * that free_unpacked, which frees only the active member, frees it. */
static int decode_source(dec_t *d, const json_t *val, ftype_t type, ct_document_t *doc) {
  if (doc->source_case != CARTEIRO__V1__DOCUMENT__SOURCE__NOT_SET)
    return fail(d, "only one of inline_pdf, path and url may be set");
  const char *s = NULL;
  int rc = get_string(d, val, &s);
  if (rc != 0)
    return rc;
  if (type == F_PDF) {
    size_t n = json_string_length(val);
    /* Never malloc(0): an empty but set PDF still needs a non-NULL pointer for memcpy. */
    uint8_t *bytes = malloc(n / 4 * 3 + 1);
    if (bytes == NULL)
      return nomem(d);
    size_t len;
    if (!ct_base64_decode(s, n, bytes, &len)) {
      free(bytes);
      return fail(d, "invalid base64 (expected standard alphabet with '=' padding)");
    }
    doc->inline_pdf.data = bytes;
    doc->inline_pdf.len = len;
    doc->source_case = CARTEIRO__V1__DOCUMENT__SOURCE_INLINE_PDF;
    return 0;
  }
  char *copy = strdup(s);
  if (copy == NULL)
    return nomem(d);
  if (type == F_PATH) {
    doc->path = copy;
    doc->source_case = CARTEIRO__V1__DOCUMENT__SOURCE_PATH;
  } else {
    doc->url = copy;
    doc->source_case = CARTEIRO__V1__DOCUMENT__SOURCE_URL;
  }
  return 0;
}

static int decode_field(dec_t *d, const field_t *f, const json_t *val, void *msg) {
  void *slot = (char *)msg + f->offset;
  int rc;
  switch (f->type) {
  case F_STRING: {
    const char *s = NULL;
    rc = get_string(d, val, &s);
    return rc != 0 ? rc : set_string(d, slot, s);
  }
  case F_INT64:
    if (!json_is_integer(val))
      return fail(d, "expected an integer");
    *(int64_t *)slot = json_integer_value(val);
    return 0;
  case F_INT32:
    return get_int32(d, val, slot);
  case F_TIME:
    return get_time(d, val, slot);
  case F_ENUM: {
    int v = 0;
    rc = get_enum(d, val, f->enums, &v);
    if (rc == 0)
      *(int *)slot = v;
    return rc;
  }
  case F_MESSAGE:
    return decode_message(d, val, f->msg, slot);
  case F_DELIVERIES:
    return decode_deliveries(d, val, msg);
  case F_CHANNELS:
    return decode_channels(d, val, msg);
  case F_PARAMS:
    return decode_params(d, val, msg);
  case F_PDF:
  case F_PATH:
  case F_URL:
    return decode_source(d, val, f->type, msg);
  }
  return fail(d, "unsupported field type");
}

static int decode_fields(dec_t *d, const json_t *obj, const msg_spec_t *spec, void *msg) {
  const char *key;
  json_t *val;
  /* jansson keeps insertion order, so the error reported is the first one in the text. */
  json_object_foreach((json_t *)obj, key, val) {
    const field_t *f = NULL;
    for (size_t i = 0; i < spec->n; i++) {
      if (strcmp(key, spec->fields[i].name) == 0) {
        f = &spec->fields[i];
        break;
      }
    }
    if (f == NULL) {
      /* A misspelt field is named, so that its producer can find it; anything else in key
       * position might be a value put there by mistake, and is not repeated. */
      if (!ct_json_key_is_plain(key))
        return fail(d, "unknown field (its name is not shown: not a plain field name)");
      push_key(d, key);
      return fail(d, "unknown field");
    }
    size_t saved = push_key(d, key);
    if (!json_is_null(val)) {
      int rc = decode_field(d, f, val, msg);
      if (rc != 0)
        return rc;
    }
    pop(d, saved);
  }
  return 0;
}

bool ct_json_key_is_plain(const char *key) {
  size_t n = 0, digits = 0;
  if (!((key[0] >= 'a' && key[0] <= 'z') || key[0] == '_'))
    return false;
  for (; key[n] != '\0'; n++) {
    char c = key[n];
    if (c >= '0' && c <= '9')
      digits++;
    else if (!((c >= 'a' && c <= 'z') || c == '_'))
      return false;
  }
  return n <= 40 && digits <= 2;
}

/* jansson's syntax errors, by the fixed start of its message (what follows is the input). */
static const struct {
  const char *prefix;
  const char *ours;
} syntax_errors[] = {
    {"unexpected newline", "newline inside a string"},
    {"control character", "control character inside a string"},
    {"invalid escape", "invalid escape in a string"},
    {"invalid Unicode", "invalid \\u escape in a string"},
    {"string or '}' expected", "expected a key or '}'"},
    {"':' expected", "expected ':' after a key"},
    {"'}' expected", "expected ',' or '}'"},
    {"']' expected", "expected ',' or ']'"},
    {"'[' or '{' expected", "expected '[' or '{'"},
    {"invalid token", "invalid token (text without quotes?)"},
    {"unexpected token", "unexpected token"},
};

void ct_json_error_describe(const json_error_t *e, char *out, size_t cap) {
  assert(cap > 0);
  const char *what = "invalid JSON syntax";
  switch (json_error_code(e)) {
  case json_error_out_of_memory:
    what = "out of memory";
    break;
  case json_error_stack_overflow:
    what = "nested too deeply";
    break;
  case json_error_invalid_utf8:
    what = "invalid UTF-8";
    break;
  case json_error_premature_end_of_input:
    what = "ends before the value is complete";
    break;
  case json_error_end_of_input_expected:
    what = "more text after the value";
    break;
  case json_error_invalid_syntax:
    for (size_t i = 0; i < sizeof syntax_errors / sizeof syntax_errors[0]; i++) {
      size_t n = strlen(syntax_errors[i].prefix);
      if (strncmp(e->text, syntax_errors[i].prefix, n) == 0) {
        what = syntax_errors[i].ours;
        break;
      }
    }
    break;
  case json_error_null_character:
    what = "\\u0000 in a string";
    break;
  case json_error_null_byte_in_key:
    what = "\\u0000 in a key";
    break;
  case json_error_duplicate_key:
    what = "duplicate key";
    break;
  case json_error_numeric_overflow:
    what = "number out of range";
    break;
  default:
    break;
  }
  if (e->line > 1)
    snprintf(out, cap, "%s at line %d, column %d", what, e->line, e->column);
  else if (e->line == 1 && e->column > 0)
    snprintf(out, cap, "%s at column %d", what, e->column);
  else
    snprintf(out, cap, "%s", what);
}

int ct_job_decode_json(const char *text, size_t len, ct_job_t **out, char *err, size_t errcap) {
  if (len > CT_RECORD_MAX) {
    snprintf(err, errcap, "record of %zu bytes is over the %zu-byte limit", len, CT_RECORD_MAX);
    return CT_ETOOBIG;
  }
  json_error_t jerr;
  /* JSON_DECODE_ANY so that an array or a number gets our own message rather than jansson's
   * "'[' or '{' expected". Duplicate keys are refused: which one would win is not obvious. */
  json_t *root = json_loadb(text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
  if (root == NULL) {
    enum json_error_code code = json_error_code(&jerr);
    /* jansson fails without any message only when an allocation fails before parsing. */
    if (code == json_error_out_of_memory || jerr.text[0] == '\0') {
      snprintf(err, errcap, "out of memory");
      return CT_ENOMEM;
    }
    char why[160];
    ct_json_error_describe(&jerr, why, sizeof why);
    snprintf(err, errcap, "not JSON: %s", why);
    return CT_EDECODE;
  }
  if (!json_is_object(root)) {
    json_decref(root);
    snprintf(err, errcap, "line is not a JSON object");
    return CT_EDECODE;
  }
  dec_t d = {.err = err, .errcap = errcap, .path = "", .len = 0};
  ct_job_t *job = malloc(sizeof *job);
  if (job == NULL) {
    json_decref(root);
    return nomem(&d);
  }
  carteiro__v1__job__init(job);
  int rc = decode_fields(&d, root, &job_spec, job);
  json_decref(root);
  if (rc != 0) {
    ct_job_free(job);
    return rc;
  }
  *out = job;
  return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Encoding                                                                                  */

/* Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlongs, no surrogates, at
 * most U+10FFFF), or 0. Jansson applies the same rules, so a string that passes here is one
 * json_string() accepts. */
static size_t utf8_len(const unsigned char *s) {
  unsigned char c = s[0];
  if (c < 0x80)
    return c != 0;
  size_t n;
  unsigned char lo = 0x80, hi = 0xbf;
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    if (c == 0xe0)
      lo = 0xa0;
    else if (c == 0xed)
      hi = 0x9f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    if (c == 0xf0)
      lo = 0x90;
    else if (c == 0xf4)
      hi = 0x8f;
  } else {
    return 0;
  }
  if (s[1] < lo || s[1] > hi)
    return 0;
  for (size_t i = 2; i < n; i++)
    if (s[i] < 0x80 || s[i] > 0xbf)
      return 0;
  return n;
}

/* A JSON string for `s`. Strings decoded from protobuf are not checked for UTF-8 by
 * protobuf-c; rather than fail the whole document (and an operator's `job show`), each
 * ill-formed byte becomes U+FFFD. NULL only when out of memory. */
static json_t *jstr(const char *s) {
  json_t *v = json_string(s);
  if (v != NULL)
    return v;
  size_t n = strlen(s);
  if (n > (SIZE_MAX - 1) / 3)
    return NULL;
  char *clean = malloc(n * 3 + 1);
  if (clean == NULL)
    return NULL;
  size_t o = 0;
  for (const unsigned char *p = (const unsigned char *)s; *p != '\0';) {
    size_t k = utf8_len(p);
    if (k == 0) {
      memcpy(clean + o, "\xef\xbf\xbd", 3);
      o += 3;
      p++;
    } else {
      memcpy(clean + o, p, k);
      o += k;
      p += k;
    }
  }
  clean[o] = '\0';
  v = json_string(clean);
  free(clean);
  return v;
}

/* Encoder state: a failed allocation anywhere is remembered, and the caller returns NULL. */
typedef struct {
  bool mask;
  bool failed;
} enc_t;

static void put(enc_t *e, json_t *obj, const char *key, json_t *val) {
  /* json_object_set_new() takes the reference even when it fails. */
  if (val == NULL || json_object_set_new(obj, key, val) != 0)
    e->failed = true;
}

static void put_str(enc_t *e, json_t *obj, const char *key, const char *s) {
  if (s != NULL && s[0] != '\0')
    put(e, obj, key, jstr(s));
}

static void put_int(enc_t *e, json_t *obj, const char *key, int64_t v) {
  if (v != 0)
    put(e, obj, key, json_integer(v));
}

static json_t *enum_value(const char *(*name)(int), int v) {
  const char *s = name(v);
  return s != NULL ? json_string(s) : json_integer(v);
}

static void put_enum(enc_t *e, json_t *obj, const char *key, int v, const char *(*name)(int)) {
  if (v != 0)
    put(e, obj, key, enum_value(name, v));
}

/* A masked field: `mask` writes the masked copy into a CT_MASK_BUFSZ buffer. */
static void put_masked(enc_t *e, json_t *obj, const char *key, const char *s,
                       char *(*mask)(const char *, char *, size_t)) {
  if (s == NULL || s[0] == '\0')
    return;
  if (!e->mask) {
    put_str(e, obj, key, s);
    return;
  }
  char buf[CT_MASK_BUFSZ];
  put(e, obj, key, jstr(mask(s, buf, sizeof buf)));
}

/* A name keeps its first character (a whole UTF-8 sequence), enough to tell "M***" from
 * "J***" in a support conversation without naming anyone. */
static char *mask_name(const char *in, char *out, size_t cap) {
  size_t k = utf8_len((const unsigned char *)in);
  if (k == 0)
    return ct_mask_all(in, out, cap);
  snprintf(out, cap, "%.*s***", (int)k, in);
  return out;
}

/* A document path keeps its shape and nothing else: each name between slashes becomes three
 * asterisks and only the last name's extension stays ("2026-12/12345678909.pdf" gives two
 * masked names and ".pdf"). Invoice files are often named after the customer's CPF. */
static json_t *masked_path(const char *path) {
  size_t n = strlen(path);
  const char *base = strrchr(path, '/');
  base = base != NULL ? base + 1 : path;
  const char *dot = strrchr(base, '.');
  /* An extension is short ASCII letters and digits; anything else could be data. */
  size_t ext = 0;
  if (dot != NULL && dot != base) {
    ext = strlen(dot);
    for (size_t i = 1; i < ext; i++)
      if (!((dot[i] >= 'a' && dot[i] <= 'z') || (dot[i] >= 'A' && dot[i] <= 'Z') ||
            (dot[i] >= '0' && dot[i] <= '9')))
        ext = 0;
    if (ext < 2 || ext > 6)
      ext = 0;
  }
  size_t segments = 1;
  for (size_t i = 0; i < n; i++)
    segments += path[i] == '/';
  if (segments > 32)
    return json_string("***");
  char buf[32 * 4 + 8];
  size_t o = 0;
  for (size_t i = 0; i < segments; i++) {
    memcpy(buf + o, i == 0 ? "***" : "/***", i == 0 ? 3 : 4);
    o += i == 0 ? 3 : 4;
  }
  memcpy(buf + o, ext > 0 ? dot : "", ext);
  buf[o + ext] = '\0';
  return json_string(buf);
}

/* A document URL keeps its scheme and host, which say where the document comes from; the
 * user name and password, the path and the query (where signed URLs carry their token and
 * billing systems the customer's account) become "***". */
static json_t *masked_url(const char *url) {
  const char *sep = strstr(url, "://");
  if (sep == NULL)
    return json_string("***");
  size_t scheme = (size_t)(sep - url);
  const char *auth = sep + 3;
  size_t alen = strcspn(auth, "/?#");
  const char *at = memchr(auth, '@', alen);
  const char *host = at != NULL ? at + 1 : auth;
  size_t hlen = alen - (size_t)(host - auth);
  bool rest = auth[alen] != '\0';
  if (scheme > 16 || hlen > 255)
    return json_string("***");
  for (size_t i = 0; i < scheme; i++)
    if (!((url[i] >= 'a' && url[i] <= 'z') || (url[i] >= 'A' && url[i] <= 'Z')))
      return json_string("***");
  for (size_t i = 0; i < hlen; i++) {
    unsigned char c = (unsigned char)host[i];
    if (c <= ' ' || c >= 0x7f)
      return json_string("***");
  }
  char buf[16 + 3 + 4 + 255 + 5];
  snprintf(buf, sizeof buf, "%.*s://%s%.*s%s", (int)scheme, url, at != NULL ? "***@" : "",
           (int)hlen, host, rest ? "/***" : "");
  return json_string(buf);
}

static json_t *new_object(enc_t *e) {
  json_t *o = json_object();
  if (o == NULL)
    e->failed = true;
  return o;
}

static json_t *recipient_json(enc_t *e, const ct_recipient_t *r) {
  json_t *o = new_object(e);
  if (o == NULL)
    return NULL;
  put_masked(e, o, "name", r->name, mask_name);
  put_masked(e, o, "phone", r->phone, ct_mask_phone);
  put_masked(e, o, "email", r->email, ct_mask_email);
  put_masked(e, o, "cpf", r->cpf, ct_mask_cpf);
  put_masked(e, o, "card_last4", r->card_last4, ct_mask_all);
  put_str(e, o, "locale", r->locale);
  put_str(e, o, "time_zone", r->time_zone);
  return o;
}

static json_t *channels_json(enc_t *e, const Carteiro__V1__Channel *ch, size_t n) {
  json_t *a = json_array();
  if (a == NULL)
    return NULL;
  for (size_t i = 0; i < n; i++) {
    if (json_array_append_new(a, enum_value(ct_channel_name, (int)ch[i])) != 0)
      e->failed = true;
  }
  return a;
}

static json_t *deliveries_json(enc_t *e, const ct_job_t *job) {
  json_t *a = json_array();
  if (a == NULL)
    return NULL;
  for (size_t i = 0; i < job->n_deliveries; i++) {
    const ct_delivery_t *del = job->deliveries[i];
    json_t *o = new_object(e);
    if (o != NULL && del->n_channels > 0)
      put(e, o, "channels", channels_json(e, del->channels, del->n_channels));
    if (json_array_append_new(a, o) != 0)
      e->failed = true;
  }
  return a;
}

static json_t *document_json(enc_t *e, const ct_document_t *doc) {
  json_t *o = new_object(e);
  if (o == NULL)
    return NULL;
  switch (doc->source_case) {
  case CARTEIRO__V1__DOCUMENT__SOURCE_INLINE_PDF:
    if (e->mask) {
      json_t *size = new_object(e);
      if (size != NULL)
        put(e, size, "bytes", json_integer((json_int_t)doc->inline_pdf.len));
      put(e, o, "inline_pdf", size);
    } else {
      char *b64 = ct_base64_encode(doc->inline_pdf.data, doc->inline_pdf.len);
      put(e, o, "inline_pdf", b64 != NULL ? json_string(b64) : NULL);
      free(b64);
    }
    break;
  /* A set oneof member is written even when empty: its presence is encoded in protobuf. */
  case CARTEIRO__V1__DOCUMENT__SOURCE_PATH:
    put(e, o, "path", e->mask ? masked_path(doc->path) : jstr(doc->path));
    break;
  case CARTEIRO__V1__DOCUMENT__SOURCE_URL:
    put(e, o, "url", e->mask ? masked_url(doc->url) : jstr(doc->url));
    break;
  default:
    break;
  }
  put_enum(e, o, "password_policy", (int)doc->password_policy, ct_password_policy_name);
  put_masked(e, o, "password", doc->password, ct_mask_all);
  return o;
}

static json_t *invoice_json(enc_t *e, const ct_invoice_t *inv) {
  json_t *o = new_object(e);
  if (o == NULL)
    return NULL;
  put_str(e, o, "number", inv->number);
  put_int(e, o, "amount_cents", inv->amount_cents);
  put_str(e, o, "currency", inv->currency);
  put_str(e, o, "due_date", inv->due_date);
  put_str(e, o, "barcode_line", inv->barcode_line);
  put_str(e, o, "pix_code", inv->pix_code);
  if (inv->document != NULL)
    put(e, o, "document", document_json(e, inv->document));
  return o;
}

static json_t *notification_json(enc_t *e, const ct_notification_t *nt) {
  json_t *o = new_object(e);
  if (o == NULL)
    return NULL;
  put_str(e, o, "template_name", nt->template_name);
  if (nt->n_params > 0) {
    json_t *p = new_object(e);
    for (size_t i = 0; p != NULL && i < nt->n_params; i++) {
      const Carteiro__V1__Notification__ParamsEntry *pe = nt->params[i];
      /* Keys are sanitised like values; a later duplicate key replaces an earlier one, as
       * protobuf's own map semantics say. */
      json_t *k = jstr(pe->key);
      if (k == NULL) {
        e->failed = true;
        break;
      }
      /* Template values are free text and often a name or an address: masked like them. */
      put(e, p, json_string_value(k), e->mask ? jstr("***") : jstr(pe->value));
      json_decref(k);
    }
    put(e, o, "params", p);
  }
  return o;
}

json_t *ct_job_to_json(const ct_job_t *job, unsigned flags) {
  assert(job != NULL);
  enc_t e = {.mask = (flags & CT_JSON_MASK_PII) != 0, .failed = false};
  json_t *o = new_object(&e);
  if (o == NULL)
    return NULL;
  put_str(&e, o, "id", job->id);
  put_str(&e, o, "tenant", job->tenant);
  put_enum(&e, o, "kind", (int)job->kind, ct_kind_name);
  if (job->recipient != NULL)
    put(&e, o, "recipient", recipient_json(&e, job->recipient));
  if (job->n_deliveries > 0)
    put(&e, o, "deliveries", deliveries_json(&e, job));
  put_int(&e, o, "not_before_ms", job->not_before_ms);
  put_int(&e, o, "not_after_ms", job->not_after_ms);
  put_int(&e, o, "priority", job->priority);
  put_int(&e, o, "created_at_ms", job->created_at_ms);
  if (job->invoice != NULL)
    put(&e, o, "invoice", invoice_json(&e, job->invoice));
  if (job->notification != NULL)
    put(&e, o, "notification", notification_json(&e, job->notification));
  if (e.failed) {
    json_decref(o);
    return NULL;
  }
  return o;
}

json_t *ct_attempt_to_json(const ct_attempt_t *a) {
  assert(a != NULL);
  enc_t e = {.mask = false, .failed = false};
  json_t *o = new_object(&e);
  if (o == NULL)
    return NULL;
  put_int(&e, o, "at_ms", a->at_ms);
  put_enum(&e, o, "channel", (int)a->channel, ct_channel_name);
  put_str(&e, o, "provider", a->provider);
  put_enum(&e, o, "outcome", (int)a->outcome, ct_outcome_name);
  put_int(&e, o, "http_status", a->http_status);
  put_str(&e, o, "error_code", a->error_code);
  put_str(&e, o, "message", a->message);
  put_int(&e, o, "latency_ms", a->latency_ms);
  if (e.failed) {
    json_decref(o);
    return NULL;
  }
  return o;
}

json_t *ct_receipt_to_json(const ct_receipt_t *r) {
  assert(r != NULL);
  enc_t e = {.mask = false, .failed = false};
  json_t *o = new_object(&e);
  if (o == NULL)
    return NULL;
  put_str(&e, o, "job_id", r->job_id);
  if (r->n_parts > 0) {
    json_t *parts = json_array();
    if (parts == NULL)
      e.failed = true;
    for (size_t i = 0; parts != NULL && i < r->n_parts; i++) {
      const ct_receipt_part_t *p = r->parts[i];
      json_t *po = new_object(&e);
      if (po != NULL) {
        put_enum(&e, po, "channel", (int)p->channel, ct_channel_name);
        put_str(&e, po, "provider", p->provider);
        put_str(&e, po, "message_id", p->message_id);
        put_int(&e, po, "at_ms", p->at_ms);
        put_str(&e, po, "document_sha256", p->document_sha256);
        put_int(&e, po, "part", p->part);
      }
      if (json_array_append_new(parts, po) != 0)
        e.failed = true;
    }
    put(&e, o, "parts", parts);
  }
  if (r->n_failed_channels > 0) {
    json_t *failed = json_array();
    for (size_t i = 0; failed != NULL && i < r->n_failed_channels; i++)
      if (json_array_append_new(failed, enum_value(ct_channel_name, (int)r->failed_channels[i])) !=
          0)
        e.failed = true;
    put(&e, o, "failed_channels", failed);
  }
  put_int(&e, o, "delivered_at_ms", r->delivered_at_ms);
  if (e.failed) {
    json_decref(o);
    return NULL;
  }
  return o;
}
