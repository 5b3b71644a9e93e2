// Logged-in sessions per user, over every protocol: an FTP or FTPS control connection and an
// SSH connection each count once, from login to the end of the session (ProFTPD's
// MaxClientsPerUser, SFTPGo's max_sessions). One counter serves all front-ends, so the limit
// holds however a user mixes them. Thread-safe.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace filegate::auth {

class SessionCounter : public std::enable_shared_from_this<SessionCounter> {
 public:
  // Held for as long as the session lives; the count drops when the last copy goes.
  using Lease = std::shared_ptr<const void>;

  // A lease for one more session of `user`, or nullptr when it already has `limit` (0: no
  // limit, the session is still counted).
  Lease acquire(const std::string& user, std::size_t limit) {
    std::lock_guard lock(mutex_);
    const auto it = counts_.find(user);
    const std::size_t held = it == counts_.end() ? 0 : it->second;
    if (limit != 0 && held >= limit) return nullptr;
    if (it == counts_.end()) {
      counts_.emplace(user, 1);
    } else {
      ++it->second;
    }
    auto self = shared_from_this();
    return Lease(static_cast<const void*>(this), [self, user](const void*) { self->release(user); });
  }

  std::size_t count(const std::string& user) const {
    std::lock_guard lock(mutex_);
    const auto it = counts_.find(user);
    return it == counts_.end() ? 0 : it->second;
  }

 private:
  void release(const std::string& user) {
    std::lock_guard lock(mutex_);
    const auto it = counts_.find(user);
    if (it != counts_.end() && --it->second == 0) counts_.erase(it);
  }

  mutable std::mutex mutex_;
  std::map<std::string, std::size_t, std::less<>> counts_;  // guarded by mutex_; no zero entries
};

}  // namespace filegate::auth
