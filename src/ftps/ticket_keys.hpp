// Session ticket keys that rotate.
//
// OpenSSL seals tickets with one key made when the SSL_CTX is made and kept until it is freed:
// on a server that runs for months, whoever reads that key from memory can open every ticket
// issued since, and under TLS 1.2 (no fresh key exchange on resumption) decrypt the recorded
// sessions. Here a new key seals tickets once the current one is one session lifetime old, the
// one before it still opens tickets (the last ones it sealed live one lifetime more), and
// older keys are dropped, unless a control connection still alive holds a ticket sealed with
// one: under TLS 1.2 such a connection cannot be given a new ticket, and its data connections
// must keep resuming it (see tls_server.cpp). ProFTPD's TLSSessionTicketKeys rotates alike.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

namespace filegate::ftps {

class TicketKeys {
 public:
  struct Key {
    std::array<unsigned char, 16> name{};  // sent in the clear at the start of each ticket
    std::array<unsigned char, 32> cipher_key{};  // AES-256-CBC
    std::array<unsigned char, 32> mac_key{};     // HMAC-SHA256
    std::int64_t created = 0;  // seconds since the epoch
  };
  using KeyPtr = std::shared_ptr<const Key>;

  explicit TicketKeys(std::chrono::seconds period) : period_(period) {}

  // A new period (the session lifetime after a reload) for rotations from now on.
  void set_period(std::chrono::seconds period);

  // The key new tickets are sealed with at `now`; a new one once the current one is a period
  // old. Null only if the system's random generator fails.
  KeyPtr current(std::int64_t now);

  // The key named `name`, if tickets sealed with it may still be opened: the current key, the
  // one before it, or an older one that a caller still holds (a KeyPtr from current() or
  // find()). `renew`: tickets sealed with it should be replaced by ones sealed with the
  // current key.
  KeyPtr find(std::span<const unsigned char, 16> name, bool& renew);

 private:
  std::mutex mutex_;
  std::chrono::seconds period_;
  std::vector<KeyPtr> kept_;  // newest first: the current key and the one before it
  std::vector<std::weak_ptr<const Key>> retired_;  // older keys, while someone holds them
};

}  // namespace filegate::ftps
