// The seam where TLS slots into protocol engines. src/ftps implements it with OpenSSL; the FTP
// engine uses only this interface and core::ByteStream, never OpenSSL itself.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <span>
#include <string>

#include "core/asio.hpp"
#include "core/byte_stream.hpp"
#include "core/result.hpp"

namespace filegate::core {

// What a TLS handshake established, for policy decisions and logs.
struct TlsInfo {
  std::string version;          // "TLSv1.3"
  std::string cipher;           // "TLS_AES_256_GCM_SHA384"
  bool session_reused = false;  // the handshake resumed an earlier session
  // Client certificate, when one was presented and verified against the configured CA.
  bool client_verified = false;
  std::string client_subject;      // RFC 2253 form
  std::string client_common_name;  // the subject's CN, for mapping a certificate to a user
};

// A download's first bytes, offered to its data connection's handshake. TLS 1.3 lets a server
// send application data right after its first flight, before the client's Finished arrives
// (RFC 8446, section 4.4.4): a small file then reaches the client one round trip sooner. The
// handshake sends them only when the client resumed this control connection's session, so they
// are encrypted under keys that need that session's secret and the client's fresh key share.
// `bytes` must stay valid until the handshake ends; a transfer sends what is left after `sent`.
struct FirstFlight {
  std::span<const std::byte> bytes;
  std::size_t sent = 0;  // how many of `bytes` went out with the handshake
};

// One TLS server configuration (certificate, key, versions, ciphers, client-CA), shared by the
// listeners that use it. Thread-safe; reload() affects new handshakes only.
class TlsServer {
 public:
  virtual ~TlsServer() = default;

  // Server handshake on a control connection, bounded by `timeout`. The returned stream owns
  // `plain`. On failure `plain` is closed.
  virtual awaitable<Result<std::unique_ptr<ByteStream>>> secure_control(
      std::unique_ptr<ByteStream> plain, std::chrono::seconds timeout) = 0;

  // Server handshake on a data connection that belongs to `control` (a stream returned by
  // secure_control). With `require_reuse`, the handshake succeeds only if the client resumed
  // the TLS session of that very control connection (a TLS 1.2 session id it was given, or a
  // TLS 1.3 ticket issued on it); anything else fails with `errc::session_not_reused`, before
  // a byte of file data moves. With `first` (may be null), the handshake sends what it holds
  // when the client resumed that session (see FirstFlight); it may be filled in while the
  // handshake waits for the client's hello.
  virtual awaitable<Result<std::unique_ptr<ByteStream>>> secure_data(
      std::unique_ptr<ByteStream> plain, ByteStream& control, bool require_reuse,
      std::chrono::seconds timeout, FirstFlight* first) = 0;

  // CCC (RFC 2228, RFC 4217): ends TLS on a control connection (a stream returned by
  // secure_control) and leaves the TCP connection open in cleartext. Sends close_notify (the
  // wait for the socket is bounded by `timeout`); the client's close_notify, which some clients
  // send and others do not, is read and dropped by the first read that follows, along with any
  // encrypted bytes before it. Afterwards `control` carries plain bytes and reports no TLS
  // (secure() is false), but still anchors its data connections: secure_data() binds them to
  // the session it had, as before. On failure the connection is unusable; the caller closes it.
  virtual awaitable<error_code> clear_control(ByteStream& control, std::chrono::seconds timeout) = 0;

  // Re-reads certificate, key, CA and CRL files (SIGHUP). On error the old ones stay in use.
  virtual Result<void> reload() = 0;

  // Logs what in use has expired or expires soon: the server certificate, revocation lists.
  // (reload() does it too; the server also calls it at start and once a day.)
  virtual void report_expiry() = 0;
};

// What the TLS seam reports besides system errors.
enum class TlsErrc {
  handshake_failed = 1,  // protocol version, cipher, certificate ... (details are logged)
  session_not_reused,    // a data connection did not resume its control connection's session
  truncated,             // the peer closed TCP without close_notify: data may be missing
  not_secure,            // secure_data() on a control stream that is not TLS
};
const boost::system::error_category& tls_category();
error_code make_error_code(TlsErrc e);

}  // namespace filegate::core

template <>
struct boost::system::is_error_code_enum<filegate::core::TlsErrc> : std::true_type {};
