#include "ftps/ticket_keys.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <cstring>

namespace filegate::ftps {

void TicketKeys::set_period(std::chrono::seconds period) {
  std::lock_guard lock(mutex_);
  period_ = period;
}

TicketKeys::KeyPtr TicketKeys::current(std::int64_t now) {
  std::lock_guard lock(mutex_);
  if (!kept_.empty() && now - kept_.front()->created < period_.count()) return kept_.front();
  auto key = std::make_shared<Key>();
  key->created = now;
  if (RAND_bytes(key->name.data(), static_cast<int>(key->name.size())) != 1 ||
      RAND_priv_bytes(key->cipher_key.data(), static_cast<int>(key->cipher_key.size())) != 1 ||
      RAND_priv_bytes(key->mac_key.data(), static_cast<int>(key->mac_key.size())) != 1) {
    return nullptr;
  }
  kept_.insert(kept_.begin(), std::move(key));
  if (kept_.size() > 2) {
    retired_.emplace_back(kept_.back());
    kept_.pop_back();
  }
  std::erase_if(retired_, [](const auto& weak) { return weak.expired(); });
  return kept_.front();
}

TicketKeys::KeyPtr TicketKeys::find(std::span<const unsigned char, 16> name, bool& renew) {
  std::lock_guard lock(mutex_);
  const auto named = [&](const Key& key) { return std::memcmp(key.name.data(), name.data(), name.size()) == 0; };
  for (std::size_t i = 0; i < kept_.size(); ++i) {
    if (named(*kept_[i])) {
      renew = i != 0;
      return kept_[i];
    }
  }
  for (const auto& weak : retired_) {
    if (KeyPtr key = weak.lock(); key && named(*key)) {
      renew = true;
      return key;
    }
  }
  return nullptr;
}

}  // namespace filegate::ftps
