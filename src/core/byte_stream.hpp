// The byte-stream seam between protocol engines and transports.
//
// FTP's control and data connections are ByteStreams. A plain TCP stream is in this folder;
// TLS (src/ftps) implements the same interface, so the FTP engine never sees OpenSSL.
//
// The operations are non-blocking: read_some/write_some move what they can now and report
// `would_block` otherwise, with wants() telling which readiness to wait for (a TLS stream may
// need to write while reading). This shape lets bulk transfers run on a worker thread (which
// may also touch the disk) while the wait for readiness stays on the event loop.
//
// Thread safety: a stream is used by one party at a time; the session strand hands it to a
// worker and waits for the worker to finish before touching it again.
#pragma once

#include <cstddef>
#include <memory>
#include <span>

#include "core/asio.hpp"
#include "core/result.hpp"

namespace filegate::core {

enum class Readiness { read, write };
struct TlsInfo;  // core/tls.hpp

class ByteStream {
 public:
  virtual ~ByteStream() = default;

  // Non-blocking transfer. Returns bytes moved (0 with ec == asio::error::eof at end of
  // stream) or sets ec; asio::error::would_block means "wait for wants() and retry".
  virtual std::size_t read_some(std::span<std::byte> buffer, error_code& ec) = 0;
  virtual std::size_t write_some(std::span<const std::byte> buffer, error_code& ec) = 0;
  virtual Readiness wants() const = 0;

  // Waits until the stream may make progress in the given direction. Cancellable.
  virtual awaitable<error_code> wait(Readiness direction) = 0;

  // Orderly end of the stream (TLS close_notify, then TCP FIN). Bounded by the caller's deadline.
  virtual awaitable<error_code> shutdown() = 0;
  // Abortive close; pending waits complete with operation_aborted.
  virtual void close() = 0;

  // A transfer pump is about to use the stream from a worker for a while: stop the event loop
  // from watching the descriptor (it would wake once per arriving segment, for nothing, and
  // compete with the pump and the client for the CPU). watch() undoes it before the next
  // wait(). Both on the owning strand, with no wait pending.
  virtual void unwatch() {}
  virtual void watch() {}

  // TCP_CORK: while on, writes wait in the kernel, so records written one by one leave as full
  // segments (and wake the peer once); taking it off, or a shutdown(), sends what is held.
  virtual void cork(bool on) { (void)on; }

  // True when the stream is a plain kernel socket, so file data may go out with sendfile().
  virtual bool zero_copy() const = 0;
  // The underlying socket descriptor.
  virtual int native_handle() = 0;

  virtual tcp::endpoint local_endpoint() const = 0;
  virtual tcp::endpoint remote_endpoint() const = 0;
  // The TLS session of a protected stream (see core/tls.hpp); nullptr for plain TCP.
  virtual const TlsInfo* tls() const { return nullptr; }
  bool secure() const { return tls() != nullptr; }
};

// Writes all of `data`, waiting for readiness as needed. Used on the control channel.
awaitable<error_code> write_all(ByteStream& stream, std::span<const std::byte> data);

}  // namespace filegate::core
