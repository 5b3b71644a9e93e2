// The live sessions of one front-end, for shutdown and draining. Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace filegate::core {

template <class Session>
class SessionRegistry {
 public:
  void add(const std::shared_ptr<Session>& session) {
    std::lock_guard lock(mutex_);
    // Ended sessions leave expired entries; sweeping every 256 adds keeps this amortised O(1).
    if (++added_ % 256 == 0) sweep();
    sessions_.push_back(session);
  }

  // Calls stop() on every session still alive (each posts to its own strand).
  void stop_all() {
    std::lock_guard lock(mutex_);
    for (auto& weak : sessions_) {
      if (auto session = weak.lock()) session->stop();
    }
  }

  std::size_t count() {
    std::lock_guard lock(mutex_);
    sweep();
    return sessions_.size();
  }

 private:
  void sweep() {
    std::erase_if(sessions_, [](const auto& weak) { return weak.expired(); });
  }

  std::mutex mutex_;
  std::vector<std::weak_ptr<Session>> sessions_;  // guarded by mutex_
  std::uint64_t added_ = 0;                       // guarded by mutex_
};

}  // namespace filegate::core
