#include "core/tcp_stream.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstring>
#include <memory>

namespace filegate::core {
namespace {

// A connected loopback pair: `stream` wraps the server side, `peer` is the client.
struct Pair {
  asio::io_context io;
  tcp::socket peer{io};
  std::unique_ptr<TcpStream> stream;

  Pair() {
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    peer.connect(acceptor.local_endpoint());
    stream = std::make_unique<TcpStream>(acceptor.accept());
  }
};

std::span<const std::byte> bytes(std::string_view s) { return {reinterpret_cast<const std::byte*>(s.data()), s.size()}; }

TEST(TcpStream, ReadsAndWritesWhileUnwatchedAndWaitsAgainOnceWatched) {
  Pair p;
  const int fd = p.stream->native_handle();
  ASSERT_GE(fd, 0);

  p.stream->unwatch();
  // The descriptor stays the same and usable from the pump's side.
  EXPECT_EQ(p.stream->native_handle(), fd);
  error_code ec;
  std::array<std::byte, 16> buffer{};
  EXPECT_EQ(p.stream->read_some(buffer, ec), 0u);
  EXPECT_EQ(ec, asio::error::would_block);
  EXPECT_EQ(p.stream->write_some(bytes("ping"), ec), 4u);
  EXPECT_FALSE(ec);
  std::array<char, 4> got{};
  asio::read(p.peer, asio::buffer(got));
  EXPECT_EQ(std::string_view(got.data(), got.size()), "ping");

  p.stream->watch();
  EXPECT_EQ(p.stream->native_handle(), fd);
  // Readiness waits work again after watch().
  asio::write(p.peer, asio::buffer(std::string_view("pong")));
  error_code waited = asio::error::would_block;
  asio::co_spawn(p.io, [&]() -> awaitable<void> { waited = co_await p.stream->wait(Readiness::read); },
                 asio::detached);
  p.io.run_for(std::chrono::seconds(5));
  EXPECT_FALSE(waited);
  EXPECT_EQ(p.stream->read_some(buffer, ec), 4u);
  EXPECT_EQ(std::memcmp(buffer.data(), "pong", 4), 0);
}

TEST(TcpStream, EndOfStreamIsEof) {
  Pair p;
  p.peer.close();
  error_code ec;
  std::array<std::byte, 16> buffer{};
  for (int i = 0; i < 100 && ec != asio::error::eof; ++i) {
    p.stream->read_some(buffer, ec);
    if (ec == asio::error::would_block) p.io.run_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(ec, asio::error::eof);
}

TEST(TcpStream, CloseWhileUnwatchedClosesTheDescriptor) {
  Pair p;
  const int fd = p.stream->native_handle();
  p.stream->unwatch();
  p.stream->close();
  EXPECT_EQ(p.stream->native_handle(), -1);
  EXPECT_EQ(::fcntl(fd, F_GETFD), -1);
  error_code ec;
  std::array<std::byte, 4> buffer{};
  EXPECT_EQ(p.stream->read_some(buffer, ec), 0u);
  EXPECT_TRUE(ec);
}

TEST(TcpStream, DestroyedWhileUnwatchedClosesTheDescriptor) {
  Pair p;
  const int fd = p.stream->native_handle();
  p.stream->unwatch();
  p.stream.reset();
  EXPECT_EQ(::fcntl(fd, F_GETFD), -1);
}

}  // namespace
}  // namespace filegate::core
