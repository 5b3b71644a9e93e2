#include "core/listener.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <vector>

namespace filegate::core {
namespace {

TEST(ParseEndpoint, Ipv4) {
  auto ep = parse_endpoint("127.0.0.1:2121");
  ASSERT_TRUE(ep);
  EXPECT_EQ(ep->address(), asio::ip::make_address("127.0.0.1"));
  EXPECT_EQ(ep->port(), 2121);
  auto any = parse_endpoint("0.0.0.0:21");
  ASSERT_TRUE(any);
  EXPECT_TRUE(any->address().is_v4());
  EXPECT_EQ(any->port(), 21);
}

TEST(ParseEndpoint, BracketedIpv6) {
  auto ep = parse_endpoint("[::1]:990");
  ASSERT_TRUE(ep);
  EXPECT_TRUE(ep->address().is_v6());
  EXPECT_EQ(ep->address(), asio::ip::make_address("::1"));
  EXPECT_EQ(ep->port(), 990);
  auto full = parse_endpoint("[2001:db8::5]:22");
  ASSERT_TRUE(full);
  EXPECT_EQ(full->address(), asio::ip::make_address("2001:db8::5"));
}

TEST(ParseEndpoint, PortOnlyMeansAnyAddress) {
  auto ep = parse_endpoint(":2222");
  ASSERT_TRUE(ep);
  EXPECT_TRUE(ep->address().is_unspecified());
  EXPECT_EQ(ep->port(), 2222);
  auto zero = parse_endpoint(":0");
  ASSERT_TRUE(zero);
  EXPECT_EQ(zero->port(), 0);
  auto max = parse_endpoint(":65535");
  ASSERT_TRUE(max);
  EXPECT_EQ(max->port(), 65535);
}

TEST(ParseEndpoint, RejectsBadInput) {
  for (std::string_view bad :
       {"", "2121", "127.0.0.1", "127.0.0.1:", ":65536", ":99999999999", ":-1", ":+21",
        ":21x", ": 21", "::1:21", "[::1]", "[::1]21", "[::1:21", "[::1]:", "[::1]:x",
        "localhost:21", "999.1.1.1:21", "[not-an-ip]:21", "1.2.3.4:21:22"}) {
    EXPECT_FALSE(parse_endpoint(bad)) << bad;
  }
}

asio::ip::address addr(const char* text) { return asio::ip::make_address(text); }

TEST(ConnectionLimiter, TotalCap) {
  ConnectionLimiter limiter(2, 10);
  auto a = limiter.admit(addr("10.0.0.1"));
  auto b = limiter.admit(addr("10.0.0.2"));
  ASSERT_TRUE(a);
  ASSERT_TRUE(b);
  EXPECT_EQ(limiter.active(), 2u);
  EXPECT_FALSE(limiter.admit(addr("10.0.0.3")));
  EXPECT_EQ(limiter.active(), 2u);
  a.reset();
  EXPECT_EQ(limiter.active(), 1u);
  EXPECT_TRUE(limiter.admit(addr("10.0.0.3")));  // the temporary slot is released at once
  EXPECT_EQ(limiter.active(), 1u);
}

TEST(ConnectionLimiter, PerAddressCap) {
  ConnectionLimiter limiter(100, 2);
  std::vector<ConnectionLimiter::Slot> slots;
  for (int i = 0; i < 2; ++i) {
    auto s = limiter.admit(addr("192.0.2.1"));
    ASSERT_TRUE(s);
    slots.push_back(std::move(*s));
  }
  EXPECT_FALSE(limiter.admit(addr("192.0.2.1")));
  // Another address is unaffected, v4 and v6 alike.
  auto other = limiter.admit(addr("192.0.2.2"));
  EXPECT_TRUE(other);
  auto v6 = limiter.admit(addr("2001:db8::1"));
  EXPECT_TRUE(v6);
  EXPECT_EQ(limiter.active(), 4u);
  slots.pop_back();
  EXPECT_EQ(limiter.active(), 3u);
  EXPECT_TRUE(limiter.admit(addr("192.0.2.1")));
}

TEST(ConnectionLimiter, RefusalDoesNotLeakCounts) {
  ConnectionLimiter limiter(1, 1);
  auto held = limiter.admit(addr("10.0.0.1"));
  ASSERT_TRUE(held);
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(limiter.admit(addr("10.0.0.2")));
  held.reset();
  EXPECT_EQ(limiter.active(), 0u);
  EXPECT_TRUE(limiter.admit(addr("10.0.0.2")));
}

TEST(ConnectionLimiter, MoveTransfersTheSlot) {
  ConnectionLimiter limiter(10, 10);
  std::optional<ConnectionLimiter::Slot> moved_into;
  {
    auto s = limiter.admit(addr("10.0.0.1"));
    ASSERT_TRUE(s);
    ConnectionLimiter::Slot a = std::move(*s);
    EXPECT_EQ(limiter.active(), 1u);
    moved_into.emplace(std::move(a));
    EXPECT_EQ(limiter.active(), 1u);
  }
  // The moved-from slots released nothing.
  EXPECT_EQ(limiter.active(), 1u);
  moved_into.reset();
  EXPECT_EQ(limiter.active(), 0u);
}

TEST(ConnectionLimiter, MoveAssignmentReleasesTheOverwrittenSlot) {
  ConnectionLimiter limiter(10, 1);
  auto a = limiter.admit(addr("10.0.0.1"));
  auto b = limiter.admit(addr("10.0.0.2"));
  ASSERT_TRUE(a);
  ASSERT_TRUE(b);
  *a = std::move(*b);  // a's slot for 10.0.0.1 is released, it now holds 10.0.0.2's
  EXPECT_EQ(limiter.active(), 1u);
  EXPECT_TRUE(limiter.admit(addr("10.0.0.1")));
  EXPECT_FALSE(limiter.admit(addr("10.0.0.2")));
  auto& self = *a;
  *a = std::move(self);  // self-move keeps the slot
  EXPECT_EQ(limiter.active(), 1u);
  b.reset();
  EXPECT_EQ(limiter.active(), 1u);
  a.reset();
  EXPECT_EQ(limiter.active(), 0u);
}

TEST(ConnectionLimiter, DefaultSlotHoldsNothing) {
  ConnectionLimiter limiter(1, 1);
  { ConnectionLimiter::Slot empty; }
  EXPECT_EQ(limiter.active(), 0u);
}

}  // namespace
}  // namespace filegate::core
