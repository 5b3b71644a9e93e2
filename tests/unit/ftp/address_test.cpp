// PORT / EPRT argument parsing and PASV / EPSV reply text (RFC 959, RFC 2428).
#include "ftp/address.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace filegate::ftp {
namespace {

using namespace std::string_view_literals;

tcp::endpoint ep(const char* address, unsigned short port) {
  return tcp::endpoint(asio::ip::make_address(address), port);
}

TEST(ParsePort, Valid) {
  auto r = parse_port("192,168,1,2,4,1");
  ASSERT_TRUE(r.endpoint);
  EXPECT_EQ(*r.endpoint, ep("192.168.1.2", 1025));
  r = parse_port("127,0,0,1,255,255");
  ASSERT_TRUE(r.endpoint);
  EXPECT_EQ(*r.endpoint, ep("127.0.0.1", 65535));
  r = parse_port("0,0,0,0,0,1");
  ASSERT_TRUE(r.endpoint);
  EXPECT_EQ(*r.endpoint, ep("0.0.0.0", 1));
  r = parse_port("10,0,0,1,0,21");
  ASSERT_TRUE(r.endpoint);
  EXPECT_EQ(r.endpoint->port(), 21);
  // Leading zeros are just decimal digits.
  r = parse_port("010,000,000,001,004,001");
  ASSERT_TRUE(r.endpoint);
  EXPECT_EQ(*r.endpoint, ep("10.0.0.1", 1025));
}

TEST(ParsePort, OutOfRangeOctets) {
  for (std::string_view bad : {"256,0,0,1,4,1", "1,2,3,999,4,1", "1,2,3,4,256,1", "1,2,3,4,1,256",
                               "1,2,3,4,1000,0"}) {
    const auto r = parse_port(bad);
    EXPECT_FALSE(r.endpoint) << bad;
    EXPECT_EQ(r.error, AddressError::syntax) << bad;
  }
}

TEST(ParsePort, WrongFieldCount) {
  for (std::string_view bad : {"1,2,3,4,5", "1,2,3,4,5,6,7", "1,2,3,4,5,6,", ",1,2,3,4,5,6",
                               "1,2,3,,4,5", "1", "", ","}) {
    EXPECT_FALSE(parse_port(bad).endpoint) << bad;
  }
}

TEST(ParsePort, PortZeroIsRefused) {
  EXPECT_FALSE(parse_port("127,0,0,1,0,0").endpoint);
}

TEST(ParsePort, SpacesSignsAndJunk) {
  for (std::string_view bad :
       {" 1,2,3,4,5,6", "1,2,3,4,5,6 ", "1, 2,3,4,5,6", "1 ,2,3,4,5,6", "+1,2,3,4,5,6",
        "-1,2,3,4,5,6", "1,2,3,4,5,-6", "1,2,3,4,5,+6", "0x1,2,3,4,5,6", "1.2,3,4,5,6",
        "a,b,c,d,e,f", "1;2;3;4;5;6", "(1,2,3,4,5,6)"}) {
    EXPECT_FALSE(parse_port(bad).endpoint) << bad;
  }
  EXPECT_FALSE(parse_port("1,2,3,4,5,6\0"sv).endpoint);
  EXPECT_FALSE(parse_port("1,2\0,3,4,5,6"sv).endpoint);
}

TEST(ParsePort, HugeNumbers) {
  for (std::string_view bad :
       {"4294967297,0,0,1,4,1", "1,2,3,4,65537,1", "1,2,3,4,5,18446744073709551617",
        "99999999999999999999999999,1,1,1,1,1", "1,2,3,4,000000000001,1"}) {
    EXPECT_FALSE(parse_port(bad).endpoint) << bad;
  }
}

TEST(ParseEprt, Ipv4) {
  const auto r = parse_eprt("|1|132.235.1.2|6275|");
  ASSERT_TRUE(r.endpoint);
  EXPECT_EQ(*r.endpoint, ep("132.235.1.2", 6275));
}

TEST(ParseEprt, Ipv6) {
  auto r = parse_eprt("|2|::1|6275|");
  ASSERT_TRUE(r.endpoint);
  EXPECT_EQ(*r.endpoint, ep("::1", 6275));
  r = parse_eprt("|2|1080::8:800:200C:417A|5282|");
  ASSERT_TRUE(r.endpoint);
  EXPECT_EQ(*r.endpoint, ep("1080::8:800:200C:417A", 5282));
}

TEST(ParseEprt, OtherDelimiters) {
  for (std::string_view arg : {"!1!10.0.0.1!2121!", "~1~10.0.0.1~2121~", "#1#10.0.0.1#2121#",
                               ",1,10.0.0.1,2121,", "a1a10.0.0.1a2121a"}) {
    const auto r = parse_eprt(arg);
    ASSERT_TRUE(r.endpoint) << arg;
    EXPECT_EQ(*r.endpoint, ep("10.0.0.1", 2121)) << arg;
  }
  // With '.' as delimiter an IPv4 address cannot be written; with ':' IPv6 cannot.
  EXPECT_FALSE(parse_eprt(".1.10.0.0.1.2121.").endpoint);
  EXPECT_FALSE(parse_eprt(":2:::1:2121:").endpoint);
  // Digits, space, control bytes and DEL are not delimiters.
  for (std::string_view bad : {"010.0.0.10202120", "5150.0.0.15212151", " 1 10.0.0.1 2121 ",
                               "\x7f" "1\x7f" "10.0.0.1\x7f" "2121\x7f", "\t1\t10.0.0.1\t2121\t"}) {
    EXPECT_FALSE(parse_eprt(bad).endpoint) << bad;
  }
}

TEST(ParseEprt, UnsupportedFamily) {
  for (std::string_view arg : {"|3|10.0.0.1|2121|", "|0|10.0.0.1|2121|", "|65535|x|1|"}) {
    const auto r = parse_eprt(arg);
    EXPECT_FALSE(r.endpoint) << arg;
    EXPECT_EQ(r.error, AddressError::unsupported_family) << arg;
  }
  // A family that is not a number at all is a syntax error.
  const auto r = parse_eprt("|x|10.0.0.1|2121|");
  EXPECT_FALSE(r.endpoint);
  EXPECT_EQ(r.error, AddressError::syntax);
}

TEST(ParseEprt, FamilyAndAddressMustAgree) {
  EXPECT_FALSE(parse_eprt("|1|::1|2121|").endpoint);
  EXPECT_FALSE(parse_eprt("|2|10.0.0.1|2121|").endpoint);
}

TEST(ParseEprt, BadAddress) {
  for (std::string_view bad :
       {"|1|256.0.0.1|2121|", "|1|10.0.0|2121|", "|1|10.0.0.1.5|2121|", "|1|localhost|2121|",
        "|1||2121|", "|1| 10.0.0.1|2121|", "|1|10.0.0.1 |2121|", "|2|:::|2121|", "|2|::g|2121|",
        "|2||2121|", "|1|0x7f.0.0.1|2121|"}) {
    const auto r = parse_eprt(bad);
    EXPECT_FALSE(r.endpoint) << bad;
    EXPECT_EQ(r.error, AddressError::syntax) << bad;
  }
}

TEST(ParseEprt, BadPort) {
  for (std::string_view bad : {"|1|10.0.0.1|0|", "|1|10.0.0.1|65536|", "|1|10.0.0.1||",
                               "|1|10.0.0.1|-1|", "|1|10.0.0.1|+21|", "|1|10.0.0.1|21x|",
                               "|1|10.0.0.1|999999|", "|1|10.0.0.1| 21|"}) {
    EXPECT_FALSE(parse_eprt(bad).endpoint) << bad;
  }
  const auto max = parse_eprt("|1|10.0.0.1|65535|");
  ASSERT_TRUE(max.endpoint);
  EXPECT_EQ(max.endpoint->port(), 65535);
}

TEST(ParseEprt, ScopeIdsAreRefused) {
  // Any zone suffix is refused, whether or not it names an interface or is numeric zero: the
  // server never connects out through a client-chosen interface, and never silently drops text.
  for (std::string_view bad : {"|2|fe80::1%1|2121|", "|2|fe80::1%lo|2121|", "|2|::1%5|2121|",
                               "|2|::1%lo|2121|", "|2|::1%0|2121|", "|2|fe80::1%|2121|",
                               "|2|::1%no-such-interface|2121|"}) {
    EXPECT_FALSE(parse_eprt(bad).endpoint) << bad;
  }
}

TEST(ParseEprt, EmbeddedNulIsRefused) {
  // The address text must not be cut short at a NUL by a C-string conversion.
  EXPECT_FALSE(parse_eprt("|1|10.0.0.1\0junk|2121|"sv).endpoint);
  EXPECT_FALSE(parse_eprt("|2|::1\0junk|2121|"sv).endpoint);
}

TEST(ParseEprt, TrailingGarbageAndShortInput) {
  for (std::string_view bad : {"|1|10.0.0.1|2121|x", "|1|10.0.0.1|2121||", "|1|10.0.0.1|2121",
                               "|1|10.0.0.1|2121| ", "|1|10.0.0.1", "", "|", "||||", "|1|1|1|",
                               "|1|10.0.0.1|21|21|"}) {
    EXPECT_FALSE(parse_eprt(bad).endpoint) << bad;
  }
}

TEST(FormatPasv, AddressAndPortBytes) {
  EXPECT_EQ(format_pasv(asio::ip::make_address_v4("192.168.1.2"), 1025),
            "Entering Passive Mode (192,168,1,2,4,1).");
  EXPECT_EQ(format_pasv(asio::ip::make_address_v4("0.0.0.0"), 0), "Entering Passive Mode (0,0,0,0,0,0).");
  EXPECT_EQ(format_pasv(asio::ip::make_address_v4("255.255.255.255"), 65535),
            "Entering Passive Mode (255,255,255,255,255,255).");
}

TEST(FormatPasv, RoundTripsThroughParsePort) {
  for (unsigned short port : {1, 255, 256, 1024, 50000, 65535}) {
    const auto address = asio::ip::make_address_v4("10.1.2.3");
    std::string text = format_pasv(address, port);
    const auto open = text.find('(');
    const auto close = text.find(')');
    ASSERT_NE(open, std::string::npos);
    ASSERT_NE(close, std::string::npos);
    const auto r = parse_port(std::string_view(text).substr(open + 1, close - open - 1));
    ASSERT_TRUE(r.endpoint) << text;
    EXPECT_EQ(*r.endpoint, tcp::endpoint(address, port));
  }
}

TEST(FormatEpsv, Port) {
  EXPECT_EQ(format_epsv(6446), "Entering Extended Passive Mode (|||6446|)");
  EXPECT_EQ(format_epsv(1), "Entering Extended Passive Mode (|||1|)");
  EXPECT_EQ(format_epsv(65535), "Entering Extended Passive Mode (|||65535|)");
}

}  // namespace
}  // namespace filegate::ftp
