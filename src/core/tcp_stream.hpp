// Plain TCP implementation of ByteStream.
#pragma once

#include "core/byte_stream.hpp"

namespace filegate::core {

class TcpStream final : public ByteStream {
 public:
  explicit TcpStream(tcp::socket socket);
  ~TcpStream() override;
  TcpStream(const TcpStream&) = delete;
  TcpStream& operator=(const TcpStream&) = delete;

  std::size_t read_some(std::span<std::byte> buffer, error_code& ec) override;
  std::size_t write_some(std::span<const std::byte> buffer, error_code& ec) override;
  Readiness wants() const override { return wants_; }
  awaitable<error_code> wait(Readiness direction) override;
  awaitable<error_code> shutdown() override;
  void close() override;
  void unwatch() override;
  void watch() override;
  void cork(bool on) override;
  bool zero_copy() const override { return true; }
  int native_handle() override { return fd_; }
  tcp::endpoint local_endpoint() const override { return local_; }
  tcp::endpoint remote_endpoint() const override { return remote_; }

 private:
  tcp::socket socket_;  // holds fd_ while watched; empty while a pump works unwatched
  int fd_;              // the connection's descriptor, -1 once closed
  bool watched_ = true;
  tcp::endpoint local_;
  tcp::endpoint remote_;
  Readiness wants_ = Readiness::read;
};

}  // namespace filegate::core
