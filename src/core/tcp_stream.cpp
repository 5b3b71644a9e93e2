#include "core/tcp_stream.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace filegate::core {

TcpStream::TcpStream(tcp::socket socket) : socket_(std::move(socket)), fd_(socket_.native_handle()) {
  error_code ec;
  socket_.non_blocking(true, ec);
  // Replies are small and come in pairs (150 then 226): without TCP_NODELAY the second waits
  // for the client's delayed ACK of the first, about 40 ms per transfer.
  socket_.set_option(tcp::no_delay(true), ec);
  local_ = socket_.local_endpoint(ec);
  remote_ = socket_.remote_endpoint(ec);
}

TcpStream::~TcpStream() {
  if (!watched_ && fd_ >= 0) ::close(fd_);
}

namespace {

error_code last_socket_error() {
  if (errno == EAGAIN || errno == EWOULDBLOCK) return asio::error::would_block;
  return {errno, boost::system::system_category()};
}

}  // namespace

// On the descriptor directly, so the same calls work watched or not (a pump on a worker).
std::size_t TcpStream::read_some(std::span<std::byte> buffer, error_code& ec) {
  ec = {};
  wants_ = Readiness::read;
  if (buffer.empty()) return 0;
  for (;;) {
    const ssize_t n = ::recv(fd_, buffer.data(), buffer.size(), 0);
    if (n > 0) return static_cast<std::size_t>(n);
    if (n == 0) {
      ec = asio::error::eof;
      return 0;
    }
    if (errno == EINTR) continue;
    ec = last_socket_error();
    return 0;
  }
}

std::size_t TcpStream::write_some(std::span<const std::byte> buffer, error_code& ec) {
  ec = {};
  wants_ = Readiness::write;
  if (buffer.empty()) return 0;
  for (;;) {
    const ssize_t n = ::send(fd_, buffer.data(), buffer.size(), MSG_NOSIGNAL);
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno == EINTR) continue;
    ec = last_socket_error();
    return 0;
  }
}

void TcpStream::unwatch() {
  if (!watched_ || fd_ < 0) return;
  error_code ec;
  socket_.release(ec);  // deregisters from the reactor; the descriptor stays open
  if (!ec) watched_ = false;
}

void TcpStream::watch() {
  if (watched_ || fd_ < 0) return;
  watched_ = true;
  error_code ec;
  socket_.assign(local_.protocol(), fd_, ec);
  if (ec) {
    ::close(fd_);  // the next operation fails with a clear error
    fd_ = -1;
  }
}

void TcpStream::cork(bool on) {
  const int value = on ? 1 : 0;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_CORK, &value, sizeof value);
}

awaitable<error_code> TcpStream::wait(Readiness direction) {
  auto [ec] = co_await socket_.async_wait(
      direction == Readiness::read ? tcp::socket::wait_read : tcp::socket::wait_write,
      as_tuple_awaitable);
  // A wait that had already completed when close() came still resumes its waiter with success;
  // the descriptor number may belong to another connection by then.
  if (!ec && fd_ < 0) ec = asio::error::operation_aborted;
  co_return ec;
}

awaitable<error_code> TcpStream::shutdown() {
  error_code ec;
  socket_.shutdown(tcp::socket::shutdown_send, ec);
  co_return ec;
}

void TcpStream::close() {
  if (watched_) {
    error_code ignored;
    socket_.close(ignored);
  } else if (fd_ >= 0) {
    ::close(fd_);
  }
  fd_ = -1;
}

awaitable<error_code> write_all(ByteStream& stream, std::span<const std::byte> data) {
  while (!data.empty()) {
    error_code ec;
    const std::size_t n = stream.write_some(data, ec);
    data = data.subspan(n);
    if (ec == asio::error::would_block) {
      ec = co_await stream.wait(stream.wants());
      if (ec) co_return ec;
    } else if (ec) {
      co_return ec;
    }
  }
  co_return error_code{};
}

}  // namespace filegate::core
