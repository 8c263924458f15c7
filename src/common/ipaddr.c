#include "common/ipaddr.h"

#include "common/error.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

bool ct_ipaddr_is_v4(const ct_ipaddr_t *a) {
  return memcmp(a->b, v4_mapped_prefix, sizeof v4_mapped_prefix) == 0;
}

static void set_v4(ct_ipaddr_t *a, const uint8_t v4[4]) {
  memcpy(a->b, v4_mapped_prefix, sizeof v4_mapped_prefix);
  memcpy(a->b + 12, v4, 4);
}

int ct_ipaddr_parse(const char *s, ct_ipaddr_t *out) {
  char buf[INET6_ADDRSTRLEN + 2];
  size_t n = strlen(s);
  if (n == 0 || n >= sizeof buf)
    return CT_EINVAL;
  if (s[0] == '[') {
    if (n < 3 || s[n - 1] != ']')
      return CT_EINVAL;
    memcpy(buf, s + 1, n - 2);
    buf[n - 2] = '\0';
  } else {
    memcpy(buf, s, n + 1);
  }
  uint8_t raw[16];
  if (s[0] != '[' && inet_pton(AF_INET, buf, raw) == 1) {
    set_v4(out, raw);
    return 0;
  }
  if (inet_pton(AF_INET6, buf, raw) == 1) {
    memcpy(out->b, raw, 16);
    return 0;
  }
  return CT_EINVAL;
}

void ct_ipaddr_format(const ct_ipaddr_t *a, char out[46]) {
  const char *r = ct_ipaddr_is_v4(a) ? inet_ntop(AF_INET, a->b + 12, out, 46)
                                     : inet_ntop(AF_INET6, a->b, out, 46);
  if (r == NULL)
    snprintf(out, 46, "?");
}

int ct_ipaddr_from_sockaddr(const struct sockaddr *sa, socklen_t len, ct_ipaddr_t *out) {
  if (sa == NULL)
    return CT_EINVAL;
  if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
    struct sockaddr_in sin;
    memcpy(&sin, sa, sizeof sin);
    set_v4(out, (const uint8_t *)&sin.sin_addr);
    return 0;
  }
  if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
    struct sockaddr_in6 sin6;
    memcpy(&sin6, sa, sizeof sin6);
    memcpy(out->b, &sin6.sin6_addr, 16);
    return 0;
  }
  return CT_EINVAL;
}

/* True when the first `bits` bits of `a` and `b` agree. */
static bool prefix_equal(const uint8_t *a, const uint8_t *b, unsigned bits) {
  unsigned whole = bits / 8, rest = bits % 8;
  if (memcmp(a, b, whole) != 0)
    return false;
  if (rest == 0)
    return true;
  uint8_t mask = (uint8_t)(0xff << (8 - rest));
  return (a[whole] & mask) == (b[whole] & mask);
}

int ct_cidr_parse(const char *s, ct_cidr_t *out) {
  char buf[INET6_ADDRSTRLEN + 8];
  size_t n = strlen(s);
  if (n == 0 || n >= sizeof buf)
    return CT_EINVAL;
  memcpy(buf, s, n + 1);
  char *slash = strchr(buf, '/');
  unsigned long bits = 0;
  if (slash != NULL) {
    *slash = '\0';
    const char *p = slash + 1;
    if (*p < '0' || *p > '9' || strlen(p) > 3)
      return CT_EINVAL;
    char *end;
    bits = strtoul(p, &end, 10);
    if (*end != '\0')
      return CT_EINVAL;
  }
  ct_ipaddr_t a;
  if (ct_ipaddr_parse(buf, &a) != 0)
    return CT_EINVAL;
  /* A plain IPv4 network counts its bits from the start of the IPv4 address. */
  bool v4_text = strchr(buf, ':') == NULL;
  unsigned max = v4_text ? 32 : 128;
  if (slash == NULL)
    bits = max;
  if (bits > max)
    return CT_EINVAL;
  unsigned total = (unsigned)bits + (v4_text ? 96 : 0);
  ct_ipaddr_t masked = {0};
  unsigned whole = total / 8, rest = total % 8;
  memcpy(masked.b, a.b, whole);
  if (rest != 0)
    masked.b[whole] = (uint8_t)(a.b[whole] & (0xff << (8 - rest)));
  if (memcmp(masked.b, a.b, 16) != 0)
    return CT_EINVAL; /* bits set after the prefix */
  out->addr = a;
  out->bits = total;
  return 0;
}

bool ct_cidr_contains(const ct_cidr_t *n, const ct_ipaddr_t *a) {
  return prefix_equal(n->addr.b, a->b, n->bits);
}

/* ---- classification ---------------------------------------------------------------------- */

static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static const struct {
  uint32_t net;
  unsigned bits;
  ct_ip_class_t cls;
} v4_table[] = {
    {0x00000000u, 8, CT_IP_UNSPECIFIED},    /* 0.0.0.0/8 */
    {0x0a000000u, 8, CT_IP_PRIVATE},        /* 10.0.0.0/8 */
    {0x64400000u, 10, CT_IP_PRIVATE},       /* 100.64.0.0/10, carrier-grade NAT */
    {0x7f000000u, 8, CT_IP_LOOPBACK},       /* 127.0.0.0/8 */
    {0xa9fe0000u, 16, CT_IP_LINK_LOCAL},    /* 169.254.0.0/16 (cloud metadata lives here) */
    {0xac100000u, 12, CT_IP_PRIVATE},       /* 172.16.0.0/12 */
    {0xc0000000u, 24, CT_IP_RESERVED},      /* 192.0.0.0/24, protocol assignments */
    {0xc0000200u, 24, CT_IP_DOCUMENTATION}, /* 192.0.2.0/24 */
    {0xc0586300u, 24, CT_IP_RESERVED},      /* 192.88.99.0/24, 6to4 relays */
    {0xc0a80000u, 16, CT_IP_PRIVATE},       /* 192.168.0.0/16 */
    {0xc6120000u, 15, CT_IP_RESERVED},      /* 198.18.0.0/15, benchmarking */
    {0xc6336400u, 24, CT_IP_DOCUMENTATION}, /* 198.51.100.0/24 */
    {0xcb007100u, 24, CT_IP_DOCUMENTATION}, /* 203.0.113.0/24 */
    {0xe0000000u, 4, CT_IP_MULTICAST},      /* 224.0.0.0/4 */
    {0xffffffffu, 32, CT_IP_BROADCAST},     /* 255.255.255.255 */
    {0xf0000000u, 4, CT_IP_RESERVED},       /* 240.0.0.0/4 */
};

static ct_ip_class_t v4_class(uint32_t a) {
  for (size_t i = 0; i < sizeof v4_table / sizeof v4_table[0]; i++) {
    uint32_t mask = v4_table[i].bits == 0 ? 0 : 0xffffffffu << (32 - v4_table[i].bits);
    if ((a & mask) == v4_table[i].net)
      return v4_table[i].cls;
  }
  return CT_IP_PUBLIC;
}

/* IPv6 prefixes after the forms that carry an IPv4 address; first match wins. */
static const struct {
  uint8_t prefix[8];
  unsigned bits;
  ct_ip_class_t cls;
} v6_table[] = {
    {{0x00, 0x64, 0xff, 0x9b, 0x00, 0x01}, 48, CT_IP_PRIVATE}, /* 64:ff9b:1::/48 local NAT64 */
    {{0x00}, 8, CT_IP_RESERVED},                               /* ::/8 */
    {{0x01, 0x00}, 64, CT_IP_RESERVED},                        /* 100::/64 discard */
    {{0x20, 0x01, 0x0d, 0xb8}, 32, CT_IP_DOCUMENTATION},       /* 2001:db8::/32 */
    {{0x20, 0x01, 0x00}, 23, CT_IP_RESERVED},                  /* 2001::/23 (Teredo, ...) */
    {{0x3f, 0xff, 0x00}, 20, CT_IP_DOCUMENTATION},             /* 3fff::/20 */
    {{0xfc}, 7, CT_IP_PRIVATE},                                /* fc00::/7 unique local */
    {{0xfe, 0x80}, 10, CT_IP_LINK_LOCAL},                      /* fe80::/10 */
    {{0xfe, 0xc0}, 10, CT_IP_PRIVATE},                         /* fec0::/10 site-local */
    {{0xff}, 8, CT_IP_MULTICAST},                              /* ff00::/8 */
    {{0x20}, 3, CT_IP_PUBLIC},                                 /* 2000::/3 global unicast */
};

static const uint8_t zero12[12];

/* ::a.b.c.d, but not :: or ::1 (nor ::0.0.0.0/::0.0.0.1 by another name). */
static bool is_v4_compatible(const ct_ipaddr_t *a) {
  return memcmp(a->b, zero12, 12) == 0 && be32(a->b + 12) > 1;
}

bool ct_ipaddr_embedded_v4(const ct_ipaddr_t *a, ct_ipaddr_t *v4) {
  static const uint8_t translated[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0};
  static const uint8_t nat64[12] = {0x00, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
  const uint8_t *b = a->b;
  if (ct_ipaddr_is_v4(a) || memcmp(b, translated, 12) == 0 || memcmp(b, nat64, 12) == 0 ||
      is_v4_compatible(a)) {
    set_v4(v4, b + 12);
    return true;
  }
  if (b[0] == 0x20 && b[1] == 0x02) { /* 6to4: 2002:AABB:CCDD::/48 */
    set_v4(v4, b + 2);
    return true;
  }
  return false;
}

ct_ip_class_t ct_ipaddr_class(const ct_ipaddr_t *a) {
  const uint8_t *b = a->b;
  if (ct_ipaddr_is_v4(a))
    return v4_class(be32(b + 12));
  if (memcmp(b, zero12, 12) == 0 && be32(b + 12) == 0)
    return CT_IP_UNSPECIFIED;
  if (memcmp(b, zero12, 12) == 0 && be32(b + 12) == 1)
    return CT_IP_LOOPBACK;
  ct_ipaddr_t v4;
  if (ct_ipaddr_embedded_v4(a, &v4)) {
    ct_ip_class_t c = v4_class(be32(v4.b + 12));
    if (c != CT_IP_PUBLIC)
      return c;
    return is_v4_compatible(a) ? CT_IP_RESERVED : CT_IP_PUBLIC;
  }
  for (size_t i = 0; i < sizeof v6_table / sizeof v6_table[0]; i++)
    if (prefix_equal(b, v6_table[i].prefix, v6_table[i].bits))
      return v6_table[i].cls;
  return CT_IP_RESERVED; /* outside 2000::/3: not allocated for global unicast */
}

const char *ct_ip_class_name(ct_ip_class_t c) {
  switch (c) {
  case CT_IP_PUBLIC:
    return "public";
  case CT_IP_LOOPBACK:
    return "loopback";
  case CT_IP_PRIVATE:
    return "private";
  case CT_IP_LINK_LOCAL:
    return "link-local";
  case CT_IP_MULTICAST:
    return "multicast";
  case CT_IP_UNSPECIFIED:
    return "unspecified";
  case CT_IP_BROADCAST:
    return "broadcast";
  case CT_IP_DOCUMENTATION:
    return "reserved for documentation";
  case CT_IP_RESERVED:
    return "reserved";
  }
  return "reserved";
}
