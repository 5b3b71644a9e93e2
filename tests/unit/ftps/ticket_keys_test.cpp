#include "ftps/ticket_keys.hpp"

#include <gtest/gtest.h>

namespace filegate::ftps {
namespace {

bool opens(TicketKeys& keys, const TicketKeys::KeyPtr& key, bool expect_renew) {
  bool renew = !expect_renew;
  const auto found = keys.find(key->name, renew);
  return found == key && renew == expect_renew;
}

TEST(TicketKeys, RotateOncePerPeriodAndKeepTheOneBefore) {
  TicketKeys keys(std::chrono::seconds(100));
  TicketKeys::KeyPtr first = keys.current(1000);
  ASSERT_TRUE(first);
  EXPECT_EQ(keys.current(1099), first);
  EXPECT_TRUE(opens(keys, first, false));
  const auto second = keys.current(1100);
  ASSERT_TRUE(second);
  EXPECT_NE(second->name, first->name);
  EXPECT_NE(second->cipher_key, first->cipher_key);
  EXPECT_NE(second->mac_key, first->mac_key);
  // The one before still opens what it sealed (its last tickets live one period more), and asks
  // for them to be renewed.
  EXPECT_TRUE(opens(keys, second, false));
  EXPECT_TRUE(opens(keys, first, true));
  // Two rotations on, it is dropped: unless someone holds it.
  const auto third = keys.current(1250);
  ASSERT_TRUE(third);
  EXPECT_TRUE(opens(keys, first, true));  // `first` is held here
  const std::array<unsigned char, 16> name = first->name;
  const std::weak_ptr<const TicketKeys::Key> watch = first;
  first.reset();
  EXPECT_TRUE(watch.expired());
  bool renew = false;
  EXPECT_EQ(keys.find(name, renew), nullptr);
  EXPECT_TRUE(opens(keys, second, true));
  EXPECT_TRUE(opens(keys, third, false));
}

TEST(TicketKeys, UnknownNamesOpenNothingAndThePeriodCanChange) {
  TicketKeys keys(std::chrono::seconds(100));
  const auto key = keys.current(0);
  std::array<unsigned char, 16> other = key->name;
  other[0] ^= 1;
  bool renew = false;
  EXPECT_EQ(keys.find(other, renew), nullptr);
  keys.set_period(std::chrono::seconds(10));
  EXPECT_NE(keys.current(10), key);
}

}  // namespace
}  // namespace filegate::ftps
