/* IP addresses as values: parsing, networks (CIDR), and what kind of address one is.
 *
 * An address is 16 bytes in network order. An IPv4 address is held in its IPv4-mapped IPv6
 * form (::ffff:a.b.c.d), so one comparison serves both families: the network "10.0.0.0/8" is
 * ::ffff:10.0.0.0/104, and a connection to ::ffff:10.1.2.3 is a connection to 10.1.2.3.
 *
 * The classification (ct_ipaddr_class) is what an outbound fetch of a producer's URL needs to
 * tell the public internet from everything else. IPv4 (IANA special-purpose registry,
 * first match wins):
 *   0.0.0.0/8 unspecified ("this network": Linux connects 0.0.0.0 to the local host),
 *   10/8, 100.64/10 (carrier-grade NAT), 172.16/12, 192.168/16 private, 127/8 loopback,
 *   169.254/16 link-local, 192.0.2/24, 198.51.100/24, 203.0.113/24 documentation,
 *   192.0.0/24 (protocol assignments), 192.88.99/24 (6to4 relays), 198.18/15 (benchmarking),
 *   240/4 reserved, 224/4 multicast, 255.255.255.255 broadcast; everything else public.
 * IPv6: :: unspecified, ::1 loopback; forms that carry an IPv4 address are judged by that
 * address (the connection ends there): IPv4-mapped ::ffff:0:0/96, IPv4-translated
 * ::ffff:0:0:0/96, IPv4-compatible ::/96 (deprecated: reserved even when the IPv4 address is
 * public), NAT64 64:ff9b::/96, 6to4 2002::/16 (bits 16-47). Then 64:ff9b:1::/48 (local-use
 * NAT64), fc00::/7 (unique local), fec0::/10 (old site-local) private, fe80::/10 link-local,
 * ff00::/8 multicast, 2001:db8::/32 and 3fff::/20 documentation, 2001::/23 (Teredo,
 * benchmarking, ORCHID), 100::/64 (discard) and the rest of ::/8 reserved; the rest of
 * 2000::/3 public, and anything outside 2000::/3 (not allocated for global unicast) reserved.
 */
#ifndef CT_COMMON_IPADDR_H
#define CT_COMMON_IPADDR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

typedef struct {
  uint8_t b[16]; /* network order; IPv4 as ::ffff:a.b.c.d */
} ct_ipaddr_t;

typedef struct {
  ct_ipaddr_t addr; /* bits after the prefix are zero */
  unsigned bits;    /* 0..128 over the 16 bytes: an IPv4 /8 is 104 */
} ct_cidr_t;

typedef enum {
  CT_IP_PUBLIC = 0,
  CT_IP_LOOPBACK,
  CT_IP_PRIVATE,
  CT_IP_LINK_LOCAL,
  CT_IP_MULTICAST,
  CT_IP_UNSPECIFIED,
  CT_IP_BROADCAST,
  CT_IP_DOCUMENTATION,
  CT_IP_RESERVED,
} ct_ip_class_t;

/* True when `a` is an IPv4 address (IPv4-mapped form). */
bool ct_ipaddr_is_v4(const ct_ipaddr_t *a);

/* Parses a numeric address: dotted-quad IPv4 ("10.0.0.1", exactly four decimal parts) or
 * IPv6 ("::1", "::ffff:10.0.0.1"), IPv6 optionally in brackets ("[::1]"). No zone ids, no
 * names. Returns 0, or CT_EINVAL (*out untouched). */
int ct_ipaddr_parse(const char *s, ct_ipaddr_t *out);

/* Formats `a` as inet_ntop does (IPv4 dotted for the mapped form) into `out` (46 bytes). */
void ct_ipaddr_format(const ct_ipaddr_t *a, char out[46]);

/* The address of an AF_INET or AF_INET6 socket address of `len` bytes. Returns 0, or
 * CT_EINVAL for another family or a short length (*out untouched). */
int ct_ipaddr_from_sockaddr(const struct sockaddr *sa, socklen_t len, ct_ipaddr_t *out);

/* Parses "ADDR/BITS" (bits 0-32 for IPv4, 0-128 for IPv6) or a bare address (a single
 * host). Bits set after the prefix are refused, so a typo like 10.0.0.1/8 is caught.
 * Returns 0, or CT_EINVAL (*out untouched). */
int ct_cidr_parse(const char *s, ct_cidr_t *out);

/* True when `a` lies in the network `n`. */
bool ct_cidr_contains(const ct_cidr_t *n, const ct_ipaddr_t *a);

/* The IPv4 address an IPv6 form leads to (mapped, translated, compatible, NAT64 64:ff9b::/96,
 * 6to4), as an IPv4-mapped value in *v4; an IPv4 address gives itself. False (and *v4
 * untouched) when `a` carries no IPv4 address; :: and ::1 carry none. */
bool ct_ipaddr_embedded_v4(const ct_ipaddr_t *a, ct_ipaddr_t *v4);

/* What kind of address `a` is, by the tables at the top of this file. */
ct_ip_class_t ct_ipaddr_class(const ct_ipaddr_t *a);

/* "public", "loopback", "private", "link-local", "multicast", "unspecified", "broadcast",
 * "reserved for documentation", "reserved". */
const char *ct_ip_class_name(ct_ip_class_t c);

#endif
