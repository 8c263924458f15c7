#include "common/error.h"

#include <errno.h>

const char *ct_strerror(int err) {
  switch (err) {
  case CT_OK:
    return "success";
#define CT__ERR_TEXT(name, text)                                               \
  case CT_E##name:                                                             \
    return text;
    CT_ERRNO_MAP(CT__ERR_TEXT)
#undef CT__ERR_TEXT
  default:
    return "unknown error";
  }
}

const char *ct_errname(int err) {
  switch (err) {
  case CT_OK:
    return "OK";
#define CT__ERR_NAME(name, text)                                               \
  case CT_E##name:                                                             \
    return #name;
    CT_ERRNO_MAP(CT__ERR_NAME)
#undef CT__ERR_NAME
  default:
    return "UNKNOWN";
  }
}

int ct_err_from_errno(int errnum) {
  switch (errnum) {
  case ENOSPC:
  case EDQUOT:
    return CT_ENOSPC;
  case EACCES:
  case EPERM:
  case EROFS:
    return CT_EPERM;
  case ENOENT:
    return CT_ENOENT;
  case ENOMEM:
    return CT_ENOMEM;
  default:
    return CT_EIO;
  }
}
