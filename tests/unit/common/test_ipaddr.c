/* Unit tests for src/common/ipaddr.c: the address classifier that keeps document URLs off the
 * internal network (a table of IPv4, IPv6 and IPv6-carrying-IPv4 cases), parsing, networks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/error.h"
#include "common/ipaddr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

static ct_ipaddr_t ip(const char *s) {
  ct_ipaddr_t a;
  if (ct_ipaddr_parse(s, &a) != 0)
    fail_msg("test address %s does not parse", s);
  return a;
}

static void test_classify_table(void **state) {
  (void)state;
  static const struct {
    const char *addr;
    ct_ip_class_t cls;
  } cases[] = {
      /* IPv4 */
      {"8.8.8.8", CT_IP_PUBLIC},
      {"1.1.1.1", CT_IP_PUBLIC},
      {"0.0.0.0", CT_IP_UNSPECIFIED},
      {"0.1.2.3", CT_IP_UNSPECIFIED},
      {"127.0.0.1", CT_IP_LOOPBACK},
      {"127.255.255.254", CT_IP_LOOPBACK},
      {"126.255.255.255", CT_IP_PUBLIC},
      {"128.0.0.0", CT_IP_PUBLIC},
      {"10.0.0.1", CT_IP_PRIVATE},
      {"10.255.255.255", CT_IP_PRIVATE},
      {"11.0.0.0", CT_IP_PUBLIC},
      {"9.255.255.255", CT_IP_PUBLIC},
      {"172.16.0.1", CT_IP_PRIVATE},
      {"172.31.255.255", CT_IP_PRIVATE},
      {"172.15.255.255", CT_IP_PUBLIC},
      {"172.32.0.0", CT_IP_PUBLIC},
      {"192.168.0.1", CT_IP_PRIVATE},
      {"192.169.0.1", CT_IP_PUBLIC},
      {"100.64.0.1", CT_IP_PRIVATE},
      {"100.127.255.255", CT_IP_PRIVATE},
      {"100.63.255.255", CT_IP_PUBLIC},
      {"100.128.0.0", CT_IP_PUBLIC},
      {"169.254.169.254", CT_IP_LINK_LOCAL},
      {"169.253.255.255", CT_IP_PUBLIC},
      {"192.0.0.8", CT_IP_RESERVED},
      {"192.0.2.10", CT_IP_DOCUMENTATION},
      {"198.51.100.7", CT_IP_DOCUMENTATION},
      {"203.0.113.200", CT_IP_DOCUMENTATION},
      {"192.88.99.1", CT_IP_RESERVED},
      {"198.18.0.1", CT_IP_RESERVED},
      {"198.19.255.255", CT_IP_RESERVED},
      {"198.20.0.0", CT_IP_PUBLIC},
      {"224.0.0.1", CT_IP_MULTICAST},
      {"239.255.255.250", CT_IP_MULTICAST},
      {"240.0.0.1", CT_IP_RESERVED},
      {"255.255.255.254", CT_IP_RESERVED},
      {"255.255.255.255", CT_IP_BROADCAST},
      {"223.255.255.255", CT_IP_PUBLIC},
      /* IPv6 */
      {"::", CT_IP_UNSPECIFIED},
      {"::1", CT_IP_LOOPBACK},
      {"2606:4700:4700::1111", CT_IP_PUBLIC},
      {"2a03:2880:f12f:83:face:b00c::25de", CT_IP_PUBLIC},
      {"fc00::1", CT_IP_PRIVATE},
      {"fd12:3456:789a::1", CT_IP_PRIVATE},
      {"fe80::1", CT_IP_LINK_LOCAL},
      {"febf:ffff::1", CT_IP_LINK_LOCAL},
      {"fec0::1", CT_IP_PRIVATE},
      {"ff02::1", CT_IP_MULTICAST},
      {"ff05::1:3", CT_IP_MULTICAST},
      {"2001:db8::1", CT_IP_DOCUMENTATION},
      {"3fff::1", CT_IP_DOCUMENTATION},
      {"3fff:fff::1", CT_IP_DOCUMENTATION},
      {"3fff:1000::1", CT_IP_PUBLIC},
      {"2001::1", CT_IP_RESERVED},               /* Teredo */
      {"2001:0:4136:e378:8000:63bf:3fff:fdd2", CT_IP_RESERVED},
      {"2001:2::1", CT_IP_RESERVED},             /* benchmarking */
      {"2001:200::1", CT_IP_PUBLIC},             /* just past 2001::/23 */
      {"100::1", CT_IP_RESERVED},                /* discard-only */
      {"100:0:0:1::1", CT_IP_RESERVED},          /* outside 2000::/3 */
      {"::2:0:0:1", CT_IP_RESERVED},             /* ::/8 */
      {"4000::1", CT_IP_RESERVED},
      {"5f00::1", CT_IP_RESERVED},
      /* IPv4-mapped: judged by the IPv4 address */
      {"::ffff:127.0.0.1", CT_IP_LOOPBACK},
      {"::ffff:7f00:1", CT_IP_LOOPBACK},
      {"::ffff:10.1.2.3", CT_IP_PRIVATE},
      {"::ffff:169.254.169.254", CT_IP_LINK_LOCAL},
      {"::ffff:0.0.0.0", CT_IP_UNSPECIFIED},
      {"::ffff:8.8.8.8", CT_IP_PUBLIC},
      /* IPv4-translated (SIIT) */
      {"::ffff:0:127.0.0.1", CT_IP_LOOPBACK},
      {"::ffff:0:192.168.1.1", CT_IP_PRIVATE},
      {"::ffff:0:8.8.8.8", CT_IP_PUBLIC},
      /* IPv4-compatible (deprecated): embedded class, else reserved */
      {"::127.0.0.1", CT_IP_LOOPBACK},
      {"::10.0.0.1", CT_IP_PRIVATE},
      {"::8.8.8.8", CT_IP_RESERVED},
      {"::0.0.0.2", CT_IP_UNSPECIFIED},
      /* NAT64 well-known prefix */
      {"64:ff9b::127.0.0.1", CT_IP_LOOPBACK},
      {"64:ff9b::a00:1", CT_IP_PRIVATE},
      {"64:ff9b::169.254.169.254", CT_IP_LINK_LOCAL},
      {"64:ff9b::8.8.8.8", CT_IP_PUBLIC},
      {"64:ff9b:1::1", CT_IP_PRIVATE},           /* local-use NAT64 */
      /* 6to4: the IPv4 address in bits 16-47 */
      {"2002:7f00:1::1", CT_IP_LOOPBACK},
      {"2002:a00:1::", CT_IP_PRIVATE},
      {"2002:c0a8:101::1", CT_IP_PRIVATE},
      {"2002:a9fe:a9fe::1", CT_IP_LINK_LOCAL},
      {"2002:808:808::1", CT_IP_PUBLIC},
      {"2002::1", CT_IP_UNSPECIFIED},            /* 0.0.0.0 inside */
  };
  int bad = 0;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    ct_ipaddr_t a = ip(cases[i].addr);
    ct_ip_class_t got = ct_ipaddr_class(&a);
    if (got != cases[i].cls) {
      fprintf(stderr, "%s: expected %s, got %s\n", cases[i].addr,
              ct_ip_class_name(cases[i].cls), ct_ip_class_name(got));
      bad++;
    }
  }
  assert_int_equal(bad, 0);
}

static void test_class_names(void **state) {
  (void)state;
  assert_string_equal(ct_ip_class_name(CT_IP_PUBLIC), "public");
  assert_string_equal(ct_ip_class_name(CT_IP_LOOPBACK), "loopback");
  assert_string_equal(ct_ip_class_name(CT_IP_PRIVATE), "private");
  assert_string_equal(ct_ip_class_name(CT_IP_LINK_LOCAL), "link-local");
  assert_string_equal(ct_ip_class_name(CT_IP_MULTICAST), "multicast");
  assert_string_equal(ct_ip_class_name(CT_IP_UNSPECIFIED), "unspecified");
  assert_string_equal(ct_ip_class_name(CT_IP_BROADCAST), "broadcast");
  assert_string_equal(ct_ip_class_name(CT_IP_DOCUMENTATION), "reserved for documentation");
  assert_string_equal(ct_ip_class_name(CT_IP_RESERVED), "reserved");
}

static void test_parse(void **state) {
  (void)state;
  ct_ipaddr_t a, keep = ip("192.0.2.1");
  char s[46];
  assert_int_equal(ct_ipaddr_parse("[::1]", &a), 0);
  ct_ipaddr_format(&a, s);
  assert_string_equal(s, "::1");
  assert_int_equal(ct_ipaddr_parse("10.0.0.1", &a), 0);
  assert_true(ct_ipaddr_is_v4(&a));
  ct_ipaddr_format(&a, s);
  assert_string_equal(s, "10.0.0.1");
  /* ::ffff:a.b.c.d is the same value as a.b.c.d */
  ct_ipaddr_t m = ip("::ffff:10.0.0.1");
  assert_memory_equal(a.b, m.b, 16);
  static const char *bad[] = {"", "localhost", "10.0.0", "10.0.0.1.2", "0x7f.0.0.1",
                              "2130706433", "010.0.0.1", "[10.0.0.1]", "[::1", "::1]",
                              "fe80::1%eth0", "::g", " 10.0.0.1", "10.0.0.256"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    a = keep;
    if (ct_ipaddr_parse(bad[i], &a) != CT_EINVAL)
      fail_msg("'%s' parsed", bad[i]);
    assert_memory_equal(a.b, keep.b, 16);
  }
}

static void test_sockaddr(void **state) {
  (void)state;
  struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(443)};
  inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
  ct_ipaddr_t a;
  assert_int_equal(ct_ipaddr_from_sockaddr((struct sockaddr *)&sin, sizeof sin, &a), 0);
  assert_int_equal(ct_ipaddr_class(&a), CT_IP_LOOPBACK);
  struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6};
  inet_pton(AF_INET6, "::ffff:192.168.0.1", &sin6.sin6_addr);
  assert_int_equal(ct_ipaddr_from_sockaddr((struct sockaddr *)&sin6, sizeof sin6, &a), 0);
  assert_int_equal(ct_ipaddr_class(&a), CT_IP_PRIVATE);
  assert_int_equal(ct_ipaddr_from_sockaddr((struct sockaddr *)&sin6, sizeof sin, &a), CT_EINVAL);
  struct sockaddr un = {.sa_family = AF_UNIX};
  assert_int_equal(ct_ipaddr_from_sockaddr(&un, sizeof un, &a), CT_EINVAL);
}

static void test_cidr(void **state) {
  (void)state;
  ct_cidr_t n;
  assert_int_equal(ct_cidr_parse("10.0.0.0/8", &n), 0);
  assert_int_equal(n.bits, 104);
  ct_ipaddr_t in = ip("10.200.3.4"), out = ip("11.0.0.1"), mapped = ip("::ffff:10.9.9.9");
  assert_true(ct_cidr_contains(&n, &in));
  assert_false(ct_cidr_contains(&n, &out));
  assert_true(ct_cidr_contains(&n, &mapped));
  ct_ipaddr_t v6 = ip("::a00:1"); /* IPv4-compatible 10.0.0.1 is another address */
  assert_false(ct_cidr_contains(&n, &v6));

  assert_int_equal(ct_cidr_parse("127.0.0.1", &n), 0); /* a single host */
  assert_int_equal(n.bits, 128);
  ct_ipaddr_t lo = ip("127.0.0.1"), lo2 = ip("127.0.0.2");
  assert_true(ct_cidr_contains(&n, &lo));
  assert_false(ct_cidr_contains(&n, &lo2));

  assert_int_equal(ct_cidr_parse("fd00::/8", &n), 0);
  ct_ipaddr_t ula = ip("fd12::1"), ula2 = ip("fc00::1");
  assert_true(ct_cidr_contains(&n, &ula));
  assert_false(ct_cidr_contains(&n, &ula2));

  assert_int_equal(ct_cidr_parse("172.16.0.0/12", &n), 0);
  ct_ipaddr_t a1 = ip("172.31.255.255"), a2 = ip("172.32.0.0");
  assert_true(ct_cidr_contains(&n, &a1));
  assert_false(ct_cidr_contains(&n, &a2));

  assert_int_equal(ct_cidr_parse("::1/128", &n), 0);
  assert_int_equal(ct_cidr_parse("0.0.0.0/0", &n), 0);
  assert_int_equal(n.bits, 96); /* every IPv4 address, no IPv6 one */
  assert_true(ct_cidr_contains(&n, &lo));
  ct_ipaddr_t six = ip("2001:db8::1");
  assert_false(ct_cidr_contains(&n, &six));

  static const char *bad[] = {"10.0.0.1/8", "10.0.0.0/33", "::/129", "10.0.0.0/", "/8",
                              "10.0.0.0/8/8", "10.0.0.0/-1", "10.0.0.0/ 8", "fd00::1/8",
                              "example.com/24", "10.0.0.0/0008", ""};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    ct_cidr_t keep = {.bits = 7};
    if (ct_cidr_parse(bad[i], &keep) != CT_EINVAL)
      fail_msg("'%s' parsed as a network", bad[i]);
    assert_int_equal(keep.bits, 7);
  }
}

static void test_embedded(void **state) {
  (void)state;
  ct_ipaddr_t v4;
  char s[46];
  static const struct {
    const char *in, *v4;
  } cases[] = {{"::ffff:10.0.0.1", "10.0.0.1"},   {"::ffff:0:10.0.0.2", "10.0.0.2"},
               {"::10.0.0.3", "10.0.0.3"},        {"64:ff9b::10.0.0.4", "10.0.0.4"},
               {"2002:a00:5::1", "10.0.0.5"},     {"10.0.0.6", "10.0.0.6"}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    ct_ipaddr_t a = ip(cases[i].in);
    assert_true(ct_ipaddr_embedded_v4(&a, &v4));
    ct_ipaddr_format(&v4, s);
    assert_string_equal(s, cases[i].v4);
  }
  static const char *none[] = {"::", "::1", "2001:db8::1", "fe80::1", "64:ff9b:1::a00:1"};
  for (size_t i = 0; i < sizeof none / sizeof none[0]; i++) {
    ct_ipaddr_t a = ip(none[i]);
    if (ct_ipaddr_embedded_v4(&a, &v4))
      fail_msg("%s carries no IPv4 address", none[i]);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_classify_table), cmocka_unit_test(test_class_names),
      cmocka_unit_test(test_parse),          cmocka_unit_test(test_sockaddr),
      cmocka_unit_test(test_cidr),           cmocka_unit_test(test_embedded),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
