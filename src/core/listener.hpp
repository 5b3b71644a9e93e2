// TCP listeners and admission control shared by every protocol front-end.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "core/asio.hpp"
#include "core/result.hpp"

namespace filegate::core {

// Counts live connections overall and per client address. Thread-safe.
class ConnectionLimiter {
 public:
  class Slot {
   public:
    Slot() = default;
    Slot(Slot&& other) noexcept : owner_(std::exchange(other.owner_, nullptr)), address_(other.address_) {}
    Slot& operator=(Slot&& other) noexcept;
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    ~Slot();

   private:
    friend class ConnectionLimiter;
    Slot(ConnectionLimiter* owner, asio::ip::address address) : owner_(owner), address_(address) {}
    ConnectionLimiter* owner_ = nullptr;
    asio::ip::address address_;
  };

  ConnectionLimiter(std::size_t max_total, std::size_t max_per_address)
      : max_total_(max_total), max_per_address_(max_per_address) {}

  // A slot if there is room for one more connection from `address`; nullopt when full.
  std::optional<Slot> admit(const asio::ip::address& address);
  std::size_t active() const;

 private:
  void release(const asio::ip::address& address);

  const std::size_t max_total_;
  const std::size_t max_per_address_;
  mutable std::mutex mutex_;
  std::size_t total_ = 0;
  std::map<asio::ip::address, std::size_t> per_address_;
};

// One listening socket with an accept loop that survives accept errors (EMFILE, ECONNABORTED):
// it logs, pauses briefly, and carries on.
class Listener {
 public:
  // Called on the listener's executor for each admitted connection.
  using Accept = std::function<void(tcp::socket, ConnectionLimiter::Slot)>;
  // Called for a connection refused because the limiter is full; should say why and close.
  using Refuse = std::function<void(tcp::socket)>;

  Listener(asio::io_context& io, std::string name, ConnectionLimiter& limiter, Accept accept,
           Refuse refuse);

  // Binds and listens; the error names what failed, for a clear start-up message.
  Result<void> open(const tcp::endpoint& endpoint);
  void start();
  void stop();
  tcp::endpoint local_endpoint() const;
  const std::string& name() const { return name_; }

 private:
  awaitable<void> accept_loop();

  asio::io_context& io_;
  std::string name_;
  ConnectionLimiter& limiter_;
  Accept accept_;
  Refuse refuse_;
  tcp::acceptor acceptor_;
};

// Parses "host:port", "[v6]:port" or ":port" (any address) into an endpoint.
Result<tcp::endpoint> parse_endpoint(std::string_view text);
// "127.0.0.1:21" or "[::1]:21": the form parse_endpoint reads and the "listening" log line shows.
std::string format_endpoint(const tcp::endpoint& endpoint);

}  // namespace filegate::core
