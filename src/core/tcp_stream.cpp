#include "core/tcp_stream.hpp"

#include <sys/socket.h>

namespace filegate::core {

TcpStream::TcpStream(tcp::socket socket) : socket_(std::move(socket)) {
  error_code ec;
  socket_.non_blocking(true, ec);
  // Replies are small and come in pairs (150 then 226): without TCP_NODELAY the second waits
  // for the client's delayed ACK of the first, about 40 ms per transfer.
  socket_.set_option(tcp::no_delay(true), ec);
  local_ = socket_.local_endpoint(ec);
  remote_ = socket_.remote_endpoint(ec);
}

std::size_t TcpStream::read_some(std::span<std::byte> buffer, error_code& ec) {
  wants_ = Readiness::read;
  return socket_.read_some(asio::buffer(buffer.data(), buffer.size()), ec);
}

std::size_t TcpStream::write_some(std::span<const std::byte> buffer, error_code& ec) {
  wants_ = Readiness::write;
  return socket_.write_some(asio::buffer(buffer.data(), buffer.size()), ec);
}

awaitable<error_code> TcpStream::wait(Readiness direction) {
  auto [ec] = co_await socket_.async_wait(
      direction == Readiness::read ? tcp::socket::wait_read : tcp::socket::wait_write,
      as_tuple_awaitable);
  co_return ec;
}

awaitable<error_code> TcpStream::shutdown() {
  error_code ec;
  socket_.shutdown(tcp::socket::shutdown_send, ec);
  co_return ec;
}

void TcpStream::close() {
  error_code ignored;
  socket_.close(ignored);
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
