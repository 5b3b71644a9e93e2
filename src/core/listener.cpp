#include "core/listener.hpp"

#include <charconv>

#include "core/log.hpp"

namespace filegate::core {

ConnectionLimiter::Slot& ConnectionLimiter::Slot::operator=(Slot&& other) noexcept {
  if (this != &other) {
    if (owner_) owner_->release(address_);
    owner_ = std::exchange(other.owner_, nullptr);
    address_ = other.address_;
  }
  return *this;
}

ConnectionLimiter::Slot::~Slot() {
  if (owner_) owner_->release(address_);
}

std::optional<ConnectionLimiter::Slot> ConnectionLimiter::admit(const asio::ip::address& address) {
  std::lock_guard lock(mutex_);
  auto& count = per_address_[address];
  if (total_ >= max_total_ || count >= max_per_address_) {
    if (count == 0) per_address_.erase(address);
    return std::nullopt;
  }
  ++total_;
  ++count;
  return Slot(this, address);
}

std::size_t ConnectionLimiter::active() const {
  std::lock_guard lock(mutex_);
  return total_;
}

void ConnectionLimiter::release(const asio::ip::address& address) {
  std::lock_guard lock(mutex_);
  --total_;
  auto it = per_address_.find(address);
  if (it != per_address_.end() && --it->second == 0) per_address_.erase(it);
}

Listener::Listener(asio::io_context& io, std::string name, ConnectionLimiter& limiter,
                   Accept accept, Refuse refuse)
    : io_(io),
      name_(std::move(name)),
      limiter_(limiter),
      accept_(std::move(accept)),
      refuse_(std::move(refuse)),
      acceptor_(io) {}

Result<void> Listener::open(const tcp::endpoint& endpoint) {
  error_code ec;
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec && endpoint.address().is_v6()) acceptor_.set_option(asio::ip::v6_only(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    error_code ignored;
    acceptor_.close(ignored);
    return ec;
  }
  return {};
}

void Listener::start() {
  asio::co_spawn(io_, accept_loop(), asio::detached);
}

void Listener::stop() {
  error_code ignored;
  acceptor_.close(ignored);
}

tcp::endpoint Listener::local_endpoint() const {
  error_code ec;
  return acceptor_.local_endpoint(ec);
}

awaitable<void> Listener::accept_loop() {
  asio::steady_timer pause(io_);
  while (acceptor_.is_open()) {
    auto [ec, socket] = co_await acceptor_.async_accept(as_tuple_awaitable);
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) break;
    if (ec) {
      // Out of descriptors or a connection reset before accept: keep the listener alive.
      log::warn("accept_failed").str("listener", name_).str("error", ec.message());
      pause.expires_after(std::chrono::milliseconds(100));
      co_await pause.async_wait(as_tuple_awaitable);
      continue;
    }
    error_code peer_ec;
    const auto peer = socket.remote_endpoint(peer_ec);
    if (peer_ec) continue;  // already gone
    auto slot = limiter_.admit(peer.address());
    if (!slot) {
      log::warn("connection_refused")
          .str("listener", name_)
          .str("client", peer.address().to_string())
          .str("reason", "connection limit");
      refuse_(std::move(socket));
      continue;
    }
    accept_(std::move(socket), std::move(*slot));
  }
}

Result<tcp::endpoint> parse_endpoint(std::string_view text) {
  std::string_view host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return asio::error::invalid_argument;
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return asio::error::invalid_argument;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return asio::error::invalid_argument;
  }
  unsigned value = 0;
  const auto [end, perr] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (perr != std::errc{} || end != port.data() + port.size() || value > 65535) {
    return asio::error::invalid_argument;
  }
  if (host.empty()) return tcp::endpoint(asio::ip::address_v6::any(), static_cast<unsigned short>(value));
  error_code ec;
  const auto address = asio::ip::make_address(std::string(host), ec);
  if (ec) return ec;
  return tcp::endpoint(address, static_cast<unsigned short>(value));
}

std::string format_endpoint(const tcp::endpoint& endpoint) {
  const auto address = endpoint.address().to_string();
  const auto port = std::to_string(endpoint.port());
  return endpoint.address().is_v6() ? "[" + address + "]:" + port : address + ":" + port;
}

}  // namespace filegate::core
