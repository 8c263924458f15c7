/* carteiro error codes.
 *
 * Every function that can fail returns 0 on success or one of the negative CT_E* codes below;
 * out-parameters are written only on success. The list is one X-macro so that the enum and
 * ct_strerror() can never disagree.
 */
#ifndef CT_COMMON_ERROR_H
#define CT_COMMON_ERROR_H

#define CT_ERRNO_MAP(X)                                                        \
  X(NOMEM, "out of memory")                                                    \
  X(INVAL, "invalid argument")                                                 \
  X(IO, "input/output error")                                                  \
  X(NOSPC, "no space left on device")                                          \
  X(PERM, "permission denied")                                                 \
  X(NOENT, "no such file")                                                     \
  X(BUSY, "spool is owned by another process")                                 \
  X(LOCKED, "spool is locked by another writer; try again")                    \
  X(CORRUPT, "spool file is corrupt")                                          \
  X(SCHEMA, "spool schema is newer than this program")                         \
  X(NOTFOUND, "not found")                                                     \
  X(DUPLICATE, "duplicate job id")                                             \
  X(STATE, "job is not in a state that allows this")                           \
  X(DECODE, "malformed record")                                                \
  X(TOOBIG, "record too large")                                                \
  X(TRUNCATED, "truncated record")                                             \
  X(INVALID, "job failed validation")                                          \
  X(EOF, "end of input")

typedef enum {
  CT_OK = 0,
#define CT__ERR_ENUM(name, text) CT_E##name,
  CT__ERR_FIRST = -1000,
  CT_ERRNO_MAP(CT__ERR_ENUM)
#undef CT__ERR_ENUM
} ct_err_t;

/* A static, human-readable description of `err` (0 or a CT_E* code). Never NULL; unknown
 * codes give "unknown error". */
const char *ct_strerror(int err);

/* The symbolic name of `err` without the prefix, e.g. "DUPLICATE"; "OK" for 0. */
const char *ct_errname(int err);

/* Maps an errno value to the closest CT_E* code (ENOSPC -> CT_ENOSPC, EACCES -> CT_EPERM,
 * ENOENT -> CT_ENOENT, ENOMEM -> CT_ENOMEM, anything else -> CT_EIO). */
int ct_err_from_errno(int errnum);

#endif
