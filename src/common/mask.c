#include "common/mask.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

static char *hidden(char *out, size_t cap) {
  snprintf(out, cap, "***");
  return out;
}

char *ct_mask_all(const char *in, char *out, size_t cap) {
  (void)in;
  return hidden(out, cap);
}

char *ct_mask_cpf(const char *in, char *out, size_t cap) {
  char d[12];
  size_t n = 0;
  for (const char *p = in; *p; p++) {
    if (isdigit((unsigned char)*p)) {
      if (n == 11)
        return hidden(out, cap);
      d[n++] = *p;
    } else if (*p != '.' && *p != '-' && *p != ' ') {
      return hidden(out, cap);
    }
  }
  if (n != 11)
    return hidden(out, cap);
  snprintf(out, cap, "***.***.***-%c%c", d[9], d[10]);
  return out;
}

char *ct_mask_phone(const char *in, char *out, size_t cap) {
  size_t len = strlen(in);
  if (len < 8 || in[0] != '+')
    return hidden(out, cap);
  for (size_t i = 1; i < len; i++)
    if (!isdigit((unsigned char)in[i]))
      return hidden(out, cap);
  if (len == 14 && strncmp(in, "+55", 3) == 0) {
    snprintf(out, cap, "+55 %.2s %c****-%s", in + 3, in[5], in + 10);
    return out;
  }
  snprintf(out, cap, "+%.2s ****%s", in + 1, in + len - 4);
  return out;
}

char *ct_mask_email(const char *in, char *out, size_t cap) {
  const char *at = strrchr(in, '@');
  if (at == NULL || at == in || at[1] == '\0' || strlen(at) > cap - 8)
    return hidden(out, cap);
  snprintf(out, cap, "%c***%s", in[0], at);
  return out;
}
