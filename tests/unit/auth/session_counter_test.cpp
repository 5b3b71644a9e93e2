#include "auth/session_counter.hpp"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace filegate::auth {
namespace {

TEST(SessionCounter, RefusesTheSessionPastTheLimitUntilOneEnds) {
  auto counter = std::make_shared<SessionCounter>();
  auto first = counter->acquire("alice", 2);
  auto second = counter->acquire("alice", 2);
  ASSERT_TRUE(first && second);
  EXPECT_EQ(counter->count("alice"), 2u);
  EXPECT_FALSE(counter->acquire("alice", 2));
  EXPECT_EQ(counter->count("alice"), 2u);  // a refusal holds nothing
  // Other users have counts of their own.
  auto bob = counter->acquire("bob", 1);
  EXPECT_TRUE(bob);
  EXPECT_FALSE(counter->acquire("bob", 1));
  // A lease counts until its last copy goes (a transfer may outlive its session).
  auto copy = first;
  first.reset();
  EXPECT_FALSE(counter->acquire("alice", 2));
  copy.reset();
  EXPECT_EQ(counter->count("alice"), 1u);
  EXPECT_TRUE(counter->acquire("alice", 2));  // (released again at once)
  EXPECT_EQ(counter->count("alice"), 1u);
}

TEST(SessionCounter, ZeroMeansNoLimitButStillCounts) {
  auto counter = std::make_shared<SessionCounter>();
  std::vector<SessionCounter::Lease> leases;
  for (int i = 0; i < 100; ++i) leases.push_back(counter->acquire("alice", 0));
  EXPECT_TRUE(leases.back());
  EXPECT_EQ(counter->count("alice"), 100u);
  // A limit set later (a reloaded config) applies to the sessions already counted.
  EXPECT_FALSE(counter->acquire("alice", 10));
  leases.clear();
  EXPECT_EQ(counter->count("alice"), 0u);
  EXPECT_FALSE(counter->acquire("alice", 0) == nullptr);
}

TEST(SessionCounter, LeasesOutliveTheirCounterSafelyAndCountAcrossThreads) {
  SessionCounter::Lease survivor;
  {
    auto counter = std::make_shared<SessionCounter>();
    std::vector<std::thread> threads;
    std::atomic<int> granted{0};
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&] {
        for (int i = 0; i < 1000; ++i) {
          if (auto lease = counter->acquire("alice", 4)) ++granted;
        }
      });
    }
    for (auto& thread : threads) thread.join();
    EXPECT_EQ(granted.load() > 0, true);
    EXPECT_EQ(counter->count("alice"), 0u);
    survivor = counter->acquire("alice", 1);
  }
  survivor.reset();  // the lease keeps its counter alive
}

}  // namespace
}  // namespace filegate::auth
