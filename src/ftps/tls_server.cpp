// OpenSSL implementation of core::TlsServer and a TLS ByteStream.
//
// Threading: an SSL_CTX is shared by every stream made from it (OpenSSL 3 makes that safe).
// An SSL object belongs to one TlsStream and, like every ByteStream, is used by one party at a
// time (the session strand or the worker it handed the stream to). OpenSSL's error queue is per
// thread, so every SSL_* call starts with ERR_clear_error().
//
// SECURITY: data-connection binding. Each control connection gets a random 16-byte token. Every
// session that a control connection establishes carries it as ticket appdata (inside the
// encrypted TLS 1.3/1.2 ticket, or on the cached SSL_SESSION for TLS 1.2 session ids). A data
// connection with require_reuse must resume a session whose appdata equals its control
// connection's token, so a third party racing to the PASV port cannot complete a data
// connection: it holds no session secret of that control connection.
#include "ftps/tls_server.hpp"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <mutex>
#include <optional>

#include "core/log.hpp"
#include "ftps/ticket_keys.hpp"

namespace filegate::ftps {
namespace {

using namespace asio::experimental::awaitable_operators;
using core::Readiness;
using core::TlsErrc;

constexpr std::size_t token_size = 16;
using Token = std::array<unsigned char, token_size>;

constexpr unsigned char session_id_context[] = "filegate";

using SslCtxPtr = std::shared_ptr<SSL_CTX>;

// The reason of the oldest queued OpenSSL error ("No such file or directory", "no cipher
// match"), then an empty queue.
std::string take_openssl_reason() {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "unknown error";
  if (ERR_SYSTEM_ERROR(code)) return std::strerror(static_cast<int>(ERR_GET_REASON(code)));
  if (const char* reason = ERR_reason_error_string(code)) return reason;
  char text[256];
  ERR_error_string_n(code, text, sizeof text);
  return text;
}

// The errno behind the oldest queued OpenSSL error, if it came from a system call.
int queued_errno() {
  const unsigned long code = ERR_peek_error();
  return ERR_SYSTEM_ERROR(code) ? static_cast<int>(ERR_GET_REASON(code)) : 0;
}

int stream_index();

// CCC: how long the server waits for a client to start the close_notify exchange before it
// starts it (see TlsStream::clear).
constexpr auto ccc_grace = std::chrono::milliseconds(100);

enum class Role { control, data };

class TlsStream final : public core::ByteStream {
 public:
  TlsStream(std::unique_ptr<core::ByteStream> plain, SslCtxPtr ctx, SSL* ssl, Role role,
            const Token& token)
      : plain_(std::move(plain)), ctx_(std::move(ctx)), ssl_(ssl), role_(role), token_(token) {
    SSL_set_ex_data(ssl_, stream_index(), this);
  }
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;
  ~TlsStream() override {
    // SECURITY: OpenSSL drops the session of a connection freed without close_notify from the
    // cache. A data connection cut short (ABOR, a client reset, a truncated upload) must not
    // end its control connection's TLS 1.2 session, or every later data connection would fail
    // session_not_reused; only a TLS protocol error (bad record MAC ...) forgets it.
    if (!protocol_error_) SSL_set_shutdown(ssl_, SSL_get_shutdown(ssl_) | SSL_SENT_SHUTDOWN);
    SSL_free(ssl_);
  }

  std::size_t read_some(std::span<std::byte> buffer, error_code& ec) override;
  std::size_t write_some(std::span<const std::byte> buffer, error_code& ec) override;
  Readiness wants() const override { return cleared_ && !peer_close_pending_ ? plain_->wants() : wants_; }
  awaitable<error_code> wait(Readiness direction) override { return plain_->wait(direction); }
  awaitable<error_code> shutdown() override;
  void close() override { plain_->close(); }
  void unwatch() override { plain_->unwatch(); }
  void watch() override { plain_->watch(); }
  void cork(bool on) override { plain_->cork(on); }
  bool zero_copy() const override { return false; }
  int native_handle() override { return plain_->native_handle(); }
  tcp::endpoint local_endpoint() const override { return plain_->local_endpoint(); }
  tcp::endpoint remote_endpoint() const override { return plain_->remote_endpoint(); }
  const core::TlsInfo* tls() const override { return cleared_ ? nullptr : &info_; }

  // SSL_accept until done, failed, or `deadline` passes. With `first`, the server's first flight
  // carries first->bytes (see core::FirstFlight and send_first_flight).
  awaitable<error_code> handshake(std::chrono::steady_clock::time_point deadline,
                                  core::FirstFlight* first = nullptr);
  // CCC on a control connection: answers the client's close_notify, or sends ours first; from
  // then on the stream carries cleartext (see core::TlsServer::clear_control). A client's
  // close_notify that comes after ours is taken by the first read (settle_peer_close).
  awaitable<error_code> clear(std::chrono::steady_clock::time_point deadline);

  // After a handshake with require_reuse: did it resume a session bound to our token?
  bool resumed_own_session() const;
  // A data connection presenting `session`: was it issued on this connection's control
  // connection (which is alive, since this connection belongs to it)?
  bool issued_by_own_control(SSL_SESSION* session) const;

  const SslCtxPtr& context() const { return ctx_; }
  const Token& token() const { return token_; }
  // Ticket issue (the generate callback) and control handshakes: stamps the binding token on
  // the session about to be issued or cached.
  void bind_session();
  // A ticket for this connection was sealed with `key`. A control connection keeps the newest
  // such key, so that its data connections can still open its ticket once the key has been
  // rotated out (TLS 1.2 cannot hand a control connection a new ticket).
  void sealed_with(TicketKeys::KeyPtr key) {
    if (role_ == Role::control) ticket_key_ = std::move(key);
  }

 private:
  // Once the server's first flight is written: sends `first` when the client resumed our own
  // session under TLS 1.3 (never to a client that did not prove it holds the session secret).
  void send_first_flight(core::FirstFlight& first);
  // Control connections, before each reply: once the session the client holds is half way
  // through the session lifetime, it is renewed. Under TLS 1.3 a fresh ticket goes out with
  // the reply. TLS 1.2 has no way to send one; the cached session (for session ids) gets a new
  // time instead, and data connections may resume an expired TLS 1.2 ticket of their own
  // control connection (see decrypt_ticket). A client that keeps its session open (idle, with
  // keep-alive commands, for longer than the lifetime) thus never holds only an expired
  // session for its next data connection, the failure ProFTPD shows with FileZilla after the
  // ticket lifetime.
  void refresh_session();
  error_code map_error(int ret, int saved_errno);
  void fill_info();
  // Writes our close_notify, once. SSL_shutdown marks it as sent before it is written: after
  // WANT_WRITE (a client that is not reading yet), calling it again is what writes the alert
  // still pending. Never waits for the client's. The wait for the socket ends at `deadline`
  // when one is given (otherwise the caller bounds it).
  awaitable<error_code> send_close_notify(asio::steady_timer* deadline);
  // Waits for `direction` on the socket; timed_out once `deadline` expires first.
  awaitable<error_code> wait_until(Readiness direction, asio::steady_timer& deadline);
  // After CCC, before the first cleartext read: reads the client's close_notify if one comes.
  // False with `ec` set (would_block included) until that is settled.
  bool settle_peer_close(error_code& ec);

  std::unique_ptr<core::ByteStream> plain_;
  SslCtxPtr ctx_;  // the context ssl_ was made from: data connections use the same one
  TicketKeys::KeyPtr ticket_key_;  // control connections: see sealed_with
  SSL* ssl_;
  Role role_;
  Token token_;
  Readiness wants_ = Readiness::read;
  bool failed_ = false;  // a fatal TLS error: SSL_shutdown must not be called
  bool protocol_error_ = false;  // the peer broke the TLS protocol: forget the session
  std::time_t renewed_ = 0;  // control connections: when the client's session was last renewed
  bool cleared_ = false;     // control connections after CCC: plain bytes through plain_
  bool peer_close_pending_ = false;  // ... once the client's close_notify, if any, is read
  std::size_t discarded_ = 0;        // encrypted bytes dropped after CCC
  core::TlsInfo info_;
};

int stream_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

bool session_token(SSL_SESSION* session, Token& out) {
  void* data = nullptr;
  std::size_t length = 0;
  if (session == nullptr || SSL_SESSION_get0_ticket_appdata(session, &data, &length) != 1 ||
      data == nullptr || length != token_size) {
    return false;
  }
  std::memcpy(out.data(), data, token_size);
  return true;
}

void TlsStream::bind_session() {
  SSL_SESSION* session = SSL_get0_session(ssl_);
  if (session == nullptr) return;
  Token existing{};
  const bool has_token = session_token(session, existing);
  if (role_ == Role::control) {
    // A control connection that resumed a session is the holder of that session's secret, so
    // it keeps the session's binding: its data connections may resume what that session was
    // bound to (TLS 1.2 clients reuse the very session id; for TLS 1.2 session ids the cached
    // object is shared, and overwriting its token would break the earlier connection).
    if (SSL_session_reused(ssl_) == 1 && has_token) token_ = existing;
    SSL_SESSION_set1_ticket_appdata(session, token_.data(), token_.size());
    return;
  }
  // SECURITY: a data connection passes its control's binding on to new tickets only when it
  // resumed a session bound to it. A full handshake on a data connection (allowed without
  // require_reuse) proves nothing about the peer, so its tickets are unbound.
  if (!(SSL_session_reused(ssl_) == 1 && has_token && existing == token_)) {
    SSL_SESSION_set1_ticket_appdata(session, nullptr, 0);
  }
}

bool TlsStream::resumed_own_session() const {
  return SSL_session_reused(ssl_) == 1 && issued_by_own_control(SSL_get0_session(ssl_));
}

bool TlsStream::issued_by_own_control(SSL_SESSION* session) const {
  Token issued{};
  return role_ == Role::data && session_token(session, issued) && issued == token_;
}

error_code TlsStream::map_error(int ret, int saved_errno) {
  switch (SSL_get_error(ssl_, ret)) {
    case SSL_ERROR_WANT_READ:
      wants_ = Readiness::read;
      return asio::error::would_block;
    case SSL_ERROR_WANT_WRITE:
      wants_ = Readiness::write;
      return asio::error::would_block;
    case SSL_ERROR_ZERO_RETURN:  // close_notify received
      return asio::error::eof;
    case SSL_ERROR_SYSCALL:
      failed_ = true;
      if (saved_errno == 0) saved_errno = queued_errno();
      ERR_clear_error();
      // SECURITY: TCP closed without close_notify: the data may be cut short.
      if (saved_errno == 0) return TlsErrc::truncated;
      return error_code(saved_errno, boost::system::system_category());
    default: {
      failed_ = true;
      const unsigned long code = ERR_peek_error();
      if (ERR_GET_LIB(code) == ERR_LIB_SSL &&
          ERR_GET_REASON(code) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
        ERR_clear_error();
        return TlsErrc::truncated;
      }
      protocol_error_ = true;
      core::log::warn("tls_stream_error").str("reason", take_openssl_reason());
      return error_code(EPROTO, boost::system::system_category());
    }
  }
}

std::size_t TlsStream::read_some(std::span<std::byte> buffer, error_code& ec) {
  if (cleared_) {
    if (peer_close_pending_ && !settle_peer_close(ec)) return 0;
    return plain_->read_some(buffer, ec);
  }
  ec = {};
  wants_ = Readiness::read;
  if (buffer.empty()) return 0;
  ERR_clear_error();
  errno = 0;
  std::size_t n = 0;
  const int ret = SSL_read_ex(ssl_, buffer.data(), buffer.size(), &n);
  const int saved_errno = errno;
  if (ret == 1) return n;
  ec = map_error(ret, saved_errno);
  return 0;
}

void TlsStream::refresh_session() {
  const std::time_t now = std::time(nullptr);
  if ((now - renewed_) * 2 < SSL_CTX_get_timeout(ctx_.get())) return;
  renewed_ = now;
  ERR_clear_error();
  if (SSL_version(ssl_) == TLS1_3_VERSION) {
    // After CCC no ticket can reach the client (see the README: TLS 1.3 sessions then last
    // session_lifetime from the last ticket); TLS 1.2 sessions are kept alive below.
    if (cleared_) return;
    if (SSL_new_session_ticket(ssl_) != 1) ERR_clear_error();
  } else if (SSL_SESSION* session = SSL_get0_session(ssl_)) {
    SSL_SESSION_set_time(session, static_cast<long>(now));  // (OpenSSL re-sorts its cache)
  }
}

std::size_t TlsStream::write_some(std::span<const std::byte> buffer, error_code& ec) {
  if (cleared_) {
    if (renewed_ != 0 && !buffer.empty()) refresh_session();
    return plain_->write_some(buffer, ec);
  }
  ec = {};
  wants_ = Readiness::write;
  if (buffer.empty()) return 0;
  if (renewed_ != 0) refresh_session();
  ERR_clear_error();
  errno = 0;
  std::size_t n = 0;
  const int ret = SSL_write_ex(ssl_, buffer.data(), buffer.size(), &n);
  const int saved_errno = errno;
  if (ret == 1) return n;
  ec = map_error(ret, saved_errno);
  return 0;
}

awaitable<error_code> TlsStream::shutdown() {
  if (cleared_) co_return co_await plain_->shutdown();
  error_code result;
  // close_notify and the FIN leave together (shutdown() pushes out what the cork holds).
  plain_->cork(true);
  // Waiting for the peer's close_notify is not needed (RFC 4217 clients often just close).
  if (!failed_ && !(SSL_get_shutdown(ssl_) & SSL_SENT_SHUTDOWN)) result = co_await send_close_notify(nullptr);
  const error_code ec = co_await plain_->shutdown();
  co_return result ? result : ec;
}

awaitable<error_code> TlsStream::clear(std::chrono::steady_clock::time_point deadline_at) {
  if (role_ != Role::control || cleared_ || failed_) co_return TlsErrc::not_secure;
  auto executor = co_await asio::this_coro::executor;
  asio::steady_timer deadline(executor);
  deadline.expires_at(deadline_at);
  // From here on OpenSSL reads one record at a time, never past the client's close_notify:
  // what follows it is the client's first cleartext command, which must stay in the socket.
  SSL_set_read_ahead(ssl_, 0);
  peer_close_pending_ = true;
  // Clients that start the closure themselves (Python's FTP_TLS.ccc(), curl's "active" CCC
  // mode) do so at once and get our close_notify in answer. The others wait for ours; it leaves
  // a moment after the 200, not with it: lftp takes a close_notify that it reads together with
  // the 200 for the end of the connection.
  asio::steady_timer grace(executor);
  grace.expires_after(ccc_grace);
  auto first = co_await (plain_->wait(Readiness::read) || grace.async_wait(as_tuple_awaitable));
  if (first.index() == 0) {
    if (const error_code ec = std::get<0>(first)) co_return ec;
    for (;;) {
      error_code ec;
      if (settle_peer_close(ec)) break;
      if (ec != asio::error::would_block) co_return ec;
      if (const error_code wait_ec = co_await wait_until(wants_, deadline)) co_return wait_ec;
    }
  }
  if (const error_code ec = co_await send_close_notify(&deadline)) co_return ec;
  cleared_ = true;
  co_return error_code{};
}

awaitable<error_code> TlsStream::send_close_notify(asio::steady_timer* deadline) {
  for (;;) {
    ERR_clear_error();
    errno = 0;
    const int ret = SSL_shutdown(ssl_);  // 0: ours is written; 1: the client's had come too
    const int saved_errno = errno;
    if (ret >= 0) break;
    const int err = SSL_get_error(ssl_, ret);
    if (err != SSL_ERROR_WANT_WRITE) {
      const error_code ec = err == SSL_ERROR_WANT_READ ? error_code() : map_error(ret, saved_errno);
      ERR_clear_error();
      co_return ec;
    }
    error_code ec;
    if (deadline != nullptr) {
      ec = co_await wait_until(Readiness::write, *deadline);
    } else {
      ec = co_await plain_->wait(Readiness::write);
    }
    if (ec) co_return ec;
  }
  ERR_clear_error();
  co_return error_code{};
}

awaitable<error_code> TlsStream::wait_until(Readiness direction, asio::steady_timer& deadline) {
  auto result = co_await (plain_->wait(direction) || deadline.async_wait(as_tuple_awaitable));
  if (result.index() == 1) co_return asio::error::timed_out;
  co_return std::get<0>(result);
}

bool TlsStream::settle_peer_close(error_code& ec) {
  // Clients differ: some answer our close_notify with theirs (lftp, curl's "active" CCC mode),
  // others go straight on in cleartext (curl's default). The next byte tells: a TLS record
  // starts with a content type from 20 to 23, an FTP command with a letter.
  if (SSL_has_pending(ssl_) != 1) {  // (nothing of a record read yet)
    unsigned char first = 0;
    const ssize_t n = ::recv(plain_->native_handle(), &first, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0) {
      ec = asio::error::eof;
      return false;
    }
    if (n < 0) {
      wants_ = Readiness::read;
      ec = errno == EAGAIN || errno == EWOULDBLOCK ? error_code(asio::error::would_block)
                                                     : error_code(errno, boost::system::system_category());
      return false;
    }
    if (first < 20 || first > 23) {
      peer_close_pending_ = false;
      return true;
    }
  }
  // The client's records up to its close_notify. Encrypted bytes it sent after CCC (a client
  // must wait for the 200) are dropped, up to a bound.
  constexpr std::size_t discard_limit = 64 * 1024;
  std::array<std::byte, 4096> scratch;
  for (;;) {
    ERR_clear_error();
    errno = 0;
    std::size_t n = 0;
    const int ret = SSL_read_ex(ssl_, scratch.data(), scratch.size(), &n);
    if (ret == 1) {
      discarded_ += n;
      if (discarded_ > discard_limit) {
        failed_ = true;
        ec = error_code(EPROTO, boost::system::system_category());
        return false;
      }
      continue;
    }
    ec = map_error(ret, errno);
    if (ec != asio::error::eof) return false;
    ec = {};
    peer_close_pending_ = false;
    // SECURITY: with read-ahead off, OpenSSL holds nothing beyond the close_notify; anything it
    // does hold was read ahead before CCC, so sent before the client could have seen the 200.
    // Such a client is out of step, and nothing it sent that way is executed.
    if (SSL_has_pending(ssl_) == 1) {
      failed_ = true;
      ec = error_code(EPROTO, boost::system::system_category());
      return false;
    }
    return true;
  }
}

std::string name_text(X509_NAME* name) {
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio == nullptr) return {};
  std::string text;
  if (X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253) >= 0) {
    char* data = nullptr;
    const long length = BIO_get_mem_data(bio, &data);
    if (length > 0) text.assign(data, static_cast<std::size_t>(length));
  }
  BIO_free(bio);
  return text;
}

std::string common_name(X509_NAME* name) {
  const int index = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (index < 0) return {};
  ASN1_STRING* value = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index));
  unsigned char* utf8 = nullptr;
  const int length = ASN1_STRING_to_UTF8(&utf8, value);
  if (length < 0) return {};
  std::string text(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(length));
  OPENSSL_free(utf8);
  return text;
}

void TlsStream::fill_info() {
  info_.version = SSL_get_version(ssl_);
  if (const char* cipher = SSL_get_cipher_name(ssl_)) info_.cipher = cipher;
  info_.session_reused = SSL_session_reused(ssl_) == 1;
  X509* peer = SSL_get0_peer_certificate(ssl_);
  if (peer != nullptr && SSL_get_verify_result(ssl_) == X509_V_OK) {
    info_.client_verified = true;
    info_.client_subject = name_text(X509_get_subject_name(peer));
    info_.client_common_name = common_name(X509_get_subject_name(peer));
  }
  ERR_clear_error();
}

void TlsStream::send_first_flight(core::FirstFlight& first) {
  if (first.bytes.empty() || SSL_is_init_finished(ssl_) || SSL_version(ssl_) != TLS1_3_VERSION ||
      !resumed_own_session()) {
    return;
  }
  // One record per call (partial writes are on). A full socket leaves the rest, and any record
  // OpenSSL keeps pending, to the transfer, which goes on from `sent` with the same bytes, as
  // after any partial write.
  ERR_clear_error();
  while (first.sent < first.bytes.size()) {
    std::size_t n = 0;
    const auto rest = first.bytes.subspan(first.sent);
    if (SSL_write_early_data(ssl_, rest.data(), rest.size(), &n) != 1) break;
    first.sent += n;
  }
  ERR_clear_error();
}

awaitable<error_code> TlsStream::handshake(std::chrono::steady_clock::time_point deadline_at,
                                           core::FirstFlight* first) {
  auto executor = co_await asio::this_coro::executor;
  asio::steady_timer deadline(executor);
  deadline.expires_at(deadline_at);
  // With `first`, the handshake runs in two steps: SSL_read_early_data returns once the server's
  // first flight is written (it accepts no early data: max_early_data stays 0), then SSL_accept
  // waits for the client's Finished.
  bool before_first_flight = first != nullptr;
  for (;;) {
    ERR_clear_error();
    errno = 0;
    int ret = 0;
    int saved_errno = 0;
    if (before_first_flight) {
      unsigned char ignored = 0;
      std::size_t n = 0;
      const bool corked = !first->bytes.empty();  // the flight and the head in one segment
      if (corked) plain_->cork(true);
      ret = SSL_read_early_data(ssl_, &ignored, 1, &n);
      saved_errno = errno;
      const bool flight_written = ret == SSL_READ_EARLY_DATA_FINISH;
      if (flight_written) send_first_flight(*first);
      if (corked) plain_->cork(false);
      if (flight_written) {
        before_first_flight = false;
        continue;
      }
    } else {
      ret = SSL_accept(ssl_);
      saved_errno = errno;
      if (ret == 1) break;
    }
    // (SSL_read_early_data never reports data read, as none is accepted; were it to, the
    // SSL_ERROR_NONE below would end the handshake as failed.)
    const int err = SSL_get_error(ssl_, ret);
    Readiness direction = Readiness::read;
    if (err == SSL_ERROR_WANT_WRITE) {
      direction = Readiness::write;
    } else if (err != SSL_ERROR_WANT_READ) {
      failed_ = true;
      protocol_error_ = true;
      std::string reason;
      if (ERR_peek_error() != 0) {
        reason = take_openssl_reason();
      } else if (saved_errno != 0) {
        reason = std::strerror(saved_errno);
      } else {
        reason = "connection closed by peer";
      }
      auto event = core::log::warn("tls_handshake_failed");
      event.str("client", remote_endpoint().address().to_string()).str("reason", reason);
      const long verify = SSL_get_verify_result(ssl_);
      if (verify != X509_V_OK) event.str("verify", X509_verify_cert_error_string(verify));
      co_return TlsErrc::handshake_failed;
    }
    if (const error_code ec = co_await wait_until(direction, deadline)) co_return ec;
  }
  if (role_ == Role::control) {
    bind_session();
    renewed_ = std::time(nullptr);  // (TLS 1.3 tickets went out as the handshake ended)
  }
  fill_info();
  co_return error_code{};
}

// The rotating ticket keys of a context (its ex_data: a TicketKeys shared by every context
// the server builds, so a reload keeps tickets valid).
int ticket_keys_index() {
  static const int index = SSL_CTX_get_ex_new_index(
      0, nullptr, nullptr, nullptr, [](void*, void* keys, CRYPTO_EX_DATA*, int, long, void*) {
        delete static_cast<std::shared_ptr<TicketKeys>*>(keys);
      });
  return index;
}

// Seals (enc = 1) or opens (enc = 0) a ticket with the context's rotating keys: AES-256-CBC and
// HMAC-SHA256, as OpenSSL's own keys. Opening: 1 = a current key, 2 = an older one (the ticket
// is renewed), 0 = a key no longer kept (a full handshake).
int ticket_key_callback(SSL* ssl, unsigned char* name, unsigned char* iv, EVP_CIPHER_CTX* cipher,
                        EVP_MAC_CTX* mac, int enc) {
  static EVP_CIPHER* const aes = EVP_CIPHER_fetch(nullptr, "AES-256-CBC", nullptr);
  const auto* keys = static_cast<std::shared_ptr<TicketKeys>*>(
      SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ticket_keys_index()));
  if (keys == nullptr || aes == nullptr) return -1;
  TicketKeys::KeyPtr key;
  bool renew = false;
  if (enc == 1) {
    key = (*keys)->current(static_cast<std::int64_t>(std::time(nullptr)));
    if (!key || RAND_bytes(iv, EVP_CIPHER_get_iv_length(aes)) != 1) return -1;
    std::memcpy(name, key->name.data(), key->name.size());
  } else {
    key = (*keys)->find(std::span<const unsigned char, 16>(name, 16), renew);
    if (!key) return 0;
  }
  char digest[] = "SHA256";
  const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                               OSSL_PARAM_construct_end()};
  if (EVP_CipherInit_ex(cipher, aes, nullptr, key->cipher_key.data(), iv, enc) != 1 ||
      EVP_MAC_init(mac, key->mac_key.data(), key->mac_key.size(), params) != 1) {
    return -1;
  }
  if (enc == 1) {
    if (auto* stream = static_cast<TlsStream*>(SSL_get_ex_data(ssl, stream_index()))) stream->sealed_with(key);
  }
  return renew ? 2 : 1;
}

// Ticket callbacks (TLS 1.3 and TLS 1.2 tickets).
int generate_ticket(SSL* ssl, void*) {
  if (auto* stream = static_cast<TlsStream*>(SSL_get_ex_data(ssl, stream_index()))) {
    stream->bind_session();
  }
  return 1;
}

SSL_TICKET_RETURN decrypt_ticket(SSL* ssl, SSL_SESSION* session, const unsigned char*, std::size_t,
                                 SSL_TICKET_STATUS status, void*) {
  if ((status == SSL_TICKET_SUCCESS || status == SSL_TICKET_SUCCESS_RENEW) && session != nullptr) {
    // SECURITY: OpenSSL 3.0 resumes a TLS 1.3 ticket however old it is; the session lifetime
    // is enforced here. An expired ticket means a full handshake (and no session reuse).
    // Under TLS 1.2, which cannot renew a session mid-connection, a data connection may still
    // resume an expired ticket that its own live control connection was issued: that session
    // lasts as long as the control connection. It gets a new time, since OpenSSL checks a
    // TLS 1.2 ticket's age again after this callback.
    const auto now = std::time(nullptr);
    if (static_cast<std::int64_t>(now) - SSL_SESSION_get_time(session) > SSL_SESSION_get_timeout(session)) {
      const auto* stream = static_cast<TlsStream*>(SSL_get_ex_data(ssl, stream_index()));
      if (SSL_version(ssl) == TLS1_3_VERSION || stream == nullptr || !stream->issued_by_own_control(session)) {
        return SSL_TICKET_RETURN_IGNORE_RENEW;
      }
      SSL_SESSION_set_time(session, static_cast<long>(now));
    }
  }
  switch (status) {
    case SSL_TICKET_SUCCESS: return SSL_TICKET_RETURN_USE;
    case SSL_TICKET_SUCCESS_RENEW: return SSL_TICKET_RETURN_USE_RENEW;
    case SSL_TICKET_EMPTY:
    case SSL_TICKET_NO_DECRYPT: return SSL_TICKET_RETURN_IGNORE_RENEW;
    default: return SSL_TICKET_RETURN_ABORT;
  }
}

error_code config_error(std::string& detail, std::string what) {
  const int sys = queued_errno();
  detail = std::move(what) + ": " + take_openssl_reason();
  if (sys != 0) return error_code(sys, boost::system::system_category());
  return boost::system::errc::make_error_code(boost::system::errc::invalid_argument);
}

error_code setting_error(std::string& detail, std::string text) {
  detail = std::move(text);
  return boost::system::errc::make_error_code(boost::system::errc::invalid_argument);
}

// SECURITY: key exchange is ECDHE, whatever the lists say. TLS 1.3 negotiates its group apart
// from the suite, and OpenSSL's default groups include finite-field ones (ffdhe2048, ...), so
// the groups are limited to these curves; under TLS 1.2 only ECDHE ciphers with a certificate
// are accepted (no RSA or DHE key exchange, no anonymous suites).
// (Spelled as OpenSSL takes them: it reads the X names in any case, the curve names as here.)
constexpr std::array<std::string_view, 11> ecdhe_groups{
    "X25519", "x25519", "X448", "x448", "P-256", "P-384", "P-521", "prime256v1", "secp256r1", "secp384r1", "secp521r1"};

error_code check_groups(const std::string& groups, std::string& detail) {
  std::string_view rest = groups;
  if (rest.empty()) return setting_error(detail, "groups: must not be empty");
  while (!rest.empty()) {
    const std::string_view name = rest.substr(0, rest.find(':'));
    rest.remove_prefix(std::min(rest.size(), name.size() + 1));
    if (std::find(ecdhe_groups.begin(), ecdhe_groups.end(), name) == ecdhe_groups.end()) {
      return setting_error(detail, "groups: '" + std::string(name) +
                                       "' is not an elliptic-curve group (allowed: X25519, X448, P-256, P-384, P-521)");
    }
  }
  return {};
}

error_code check_ecdhe_ciphers(SSL_CTX* c, std::string& detail) {
  const STACK_OF(SSL_CIPHER)* ciphers = SSL_CTX_get_ciphers(c);
  for (int i = 0; i < sk_SSL_CIPHER_num(ciphers); ++i) {
    const SSL_CIPHER* cipher = sk_SSL_CIPHER_value(ciphers, i);
    const int kx = SSL_CIPHER_get_kx_nid(cipher);
    if (kx == NID_kx_any) continue;  // a TLS 1.3 suite: its key exchange is the groups'
    if (kx != NID_kx_ecdhe || SSL_CIPHER_get_auth_nid(cipher) == NID_auth_null) {
      return setting_error(detail, "ciphers: " + std::string(SSL_CIPHER_get_name(cipher)) +
                                       " is not an ECDHE cipher with a certificate"
                                       " (only ECDHE-ECDSA-* and ECDHE-RSA-* are allowed)");
    }
  }
  return {};
}

// Revocation lists for client certificates: each certificate checked (the client's own, with
// `chain` every CA certificate of its chain too) is checked against its issuer's CRL, and one
// whose issuer has no CRL in the file, or only an expired one, is refused (fail closed: a stale
// list must not let a revoked partner back in).
error_code load_crls(SSL_CTX* c, const std::string& file, bool chain, std::string& detail) {
  X509_STORE* store = SSL_CTX_get_cert_store(c);
  X509_LOOKUP* lookup = X509_STORE_add_lookup(store, X509_LOOKUP_file());
  if (lookup == nullptr) return config_error(detail, "client_crl: " + file);
  const int loaded = X509_load_crl_file(lookup, file.c_str(), X509_FILETYPE_PEM);
  if (loaded <= 0) {
    if (ERR_peek_error() == 0) return setting_error(detail, "client_crl: " + file + ": no CRL in the file");
    return config_error(detail, "client_crl: " + file);
  }
  X509_VERIFY_PARAM_set_flags(SSL_CTX_get0_param(c),
                              X509_V_FLAG_CRL_CHECK | (chain ? X509_V_FLAG_CRL_CHECK_ALL : 0));
  return {};
}

// A certificate's or revocation list's end, when it is past or near: less than a quarter of
// the whole period left, and at most 14 days (a 90-day certificate renewed 30 days before its
// end never warns; one whose renewal failed does, two weeks ahead). Nothing otherwise.
struct Ending {
  bool past = false;
  std::int64_t seconds_left = 0;
};

std::optional<Ending> ending(const ASN1_TIME* start, const ASN1_TIME* end) {
  int days = 0;
  int seconds = 0;
  if (end == nullptr || ASN1_TIME_diff(&days, &seconds, nullptr, end) != 1) return std::nullopt;
  const std::int64_t left = std::int64_t{days} * 86400 + seconds;
  std::int64_t whole = 0;
  if (start != nullptr && ASN1_TIME_diff(&days, &seconds, start, end) == 1) whole = std::int64_t{days} * 86400 + seconds;
  if (left > 0 && left >= std::min<std::int64_t>(whole / 4, 14 * 86400)) return std::nullopt;
  return Ending{left <= 0, left};
}

// Adds `time` to `event` under `key`, as 2026-01-31T12:00:00Z.
void add_time(core::log::Event& event, std::string_view key, const ASN1_TIME* time) {
  std::tm tm{};
  char text[32] = {};
  if (ASN1_TIME_to_tm(time, &tm) == 1) std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  event.str(key, text);
}

// A context and the server certificates loaded into it, each with its file (for the logs).
struct LoadedContext {
  SslCtxPtr ctx;
  struct Certificate {
    const X509* x509;  // owned by ctx
    std::string file;
    std::string key_type;  // "RSA", "ECDSA", ... (see key_type)
  };
  std::vector<Certificate> certificates;
};

// Logs the server certificates and the client CRLs of `loaded` that have expired or expire soon.
void report_validity(const LoadedContext& loaded, const TlsSettings& settings) {
  for (const auto& certificate : loaded.certificates) {
    const X509* cert = certificate.x509;
    if (const auto e = ending(X509_get0_notBefore(cert), X509_get0_notAfter(cert))) {
      auto event = e->past ? core::log::error("tls_certificate_expired") : core::log::warn("tls_certificate_expiring");
      event.str("certificate", certificate.file);
      add_time(event, "not_after", X509_get0_notAfter(cert));
      if (!e->past) event.num("days_left", e->seconds_left / 86400);
    }
  }
  if (settings.client_crl_file.empty()) return;
  X509_STORE* store = SSL_CTX_get_cert_store(loaded.ctx.get());
  X509_STORE_lock(store);
  STACK_OF(X509_OBJECT)* objects = X509_STORE_get0_objects(store);
  for (int i = 0; i < sk_X509_OBJECT_num(objects); ++i) {
    X509_CRL* crl = X509_OBJECT_get0_X509_CRL(sk_X509_OBJECT_value(objects, i));
    if (crl == nullptr) continue;
    const auto e = ending(X509_CRL_get0_lastUpdate(crl), X509_CRL_get0_nextUpdate(crl));
    if (!e) continue;
    // An expired list refuses every certificate of its issuer (load_crls).
    auto event = e->past ? core::log::error("tls_crl_expired") : core::log::warn("tls_crl_expiring");
    event.str("crl", settings.client_crl_file).str("issuer", name_text(X509_CRL_get_issuer(crl)));
    add_time(event, "next_update", X509_CRL_get0_nextUpdate(crl));
    if (!e->past) event.num("hours_left", e->seconds_left / 3600);
  }
  X509_STORE_unlock(store);
}

// The type of a certificate's key by name ("RSA", "ECDSA", ...): OpenSSL holds one server
// certificate per type.
std::string key_type(const X509* cert) {
  const EVP_PKEY* key = X509_get0_pubkey(cert);
  if (key == nullptr) return "unknown";
  switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_RSA: return "RSA";
    case EVP_PKEY_RSA_PSS: return "RSA-PSS";
    case EVP_PKEY_EC: return "ECDSA";
    case EVP_PKEY_ED25519: return "Ed25519";
    case EVP_PKEY_ED448: return "Ed448";
    case EVP_PKEY_DSA: return "DSA";
    default: return EVP_PKEY_get0_type_name(key) != nullptr ? EVP_PKEY_get0_type_name(key) : "unknown";
  }
}

// Loads certificate pair `index` of `settings` into `loaded`. Never a passphrase prompt:
// OpenSSL's default reads one from the terminal, which would stop a start in a shell, and a
// SIGHUP reload for good. An encrypted key is refused instead.
error_code load_certificate(LoadedContext& loaded, const TlsSettings& settings, std::size_t index,
                            std::string& detail) {
  SSL_CTX* c = loaded.ctx.get();
  const auto& files = settings.certificates[index];
  const std::size_t count = settings.certificates.size();
  const std::string certificate = certificate_setting("certificate", index, count) + ": " + files.certificate;
  const std::string private_key = certificate_setting("private_key", index, count) + ": " + files.private_key;
  if (SSL_CTX_use_certificate_chain_file(c, files.certificate.c_str()) != 1) return config_error(detail, certificate);
  const X509* cert = SSL_CTX_get0_certificate(c);  // the one just loaded
  const std::string type = key_type(cert);
  // OpenSSL keeps one certificate per key type: a second has just replaced (and freed) the first.
  for (const auto& earlier : loaded.certificates) {
    if (earlier.key_type == type) {
      return setting_error(detail, certificate + ": a second " + type + " certificate (the first is " +
                                       earlier.file + "); list one certificate per key type");
    }
  }
  bool encrypted = false;
  SSL_CTX_set_default_passwd_cb_userdata(c, &encrypted);
  SSL_CTX_set_default_passwd_cb(c, [](char*, int, int, void* userdata) {
    if (userdata != nullptr) *static_cast<bool*>(userdata) = true;
    return 0;
  });
  const bool key_loaded = SSL_CTX_use_PrivateKey_file(c, files.private_key.c_str(), SSL_FILETYPE_PEM) == 1;
  SSL_CTX_set_default_passwd_cb_userdata(c, nullptr);
  if (!key_loaded && encrypted) {
    ERR_clear_error();
    return setting_error(detail, private_key +
                                     ": the key is encrypted; filegate reads unencrypted keys only "
                                     "(decrypt it with: openssl pkey -in KEY -out NEW_KEY)");
  }
  if (!key_loaded) return config_error(detail, private_key);
  // (A key of another type lands beside another certificate: it must be this one's.)
  if (SSL_CTX_get0_certificate(c) != cert || SSL_CTX_check_private_key(c) != 1) {
    ERR_clear_error();
    return setting_error(detail, private_key + " does not match certificate " + files.certificate);
  }
  loaded.certificates.push_back({cert, files.certificate, type});
  return {};
}

Result<LoadedContext> build_context(const TlsSettings& settings, const std::shared_ptr<TicketKeys>& keys,
                                    std::string& detail) {
  ERR_clear_error();
  int min_version = 0;
  if (settings.min_version == "TLSv1.2") {
    min_version = TLS1_2_VERSION;
  } else if (settings.min_version == "TLSv1.3") {
    min_version = TLS1_3_VERSION;
  } else {
    return setting_error(detail, "min_version: '" + settings.min_version + "' is not TLSv1.2 or TLSv1.3");
  }
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()), SSL_CTX_free);
  if (!ctx) return config_error(detail, "TLS context");
  SSL_CTX* c = ctx.get();
  SSL_CTX_set_min_proto_version(c, min_version);
  std::uint64_t options = SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE;
#ifdef SSL_OP_NO_CLIENT_RENEGOTIATION
  options |= SSL_OP_NO_CLIENT_RENEGOTIATION;
#endif
  SSL_CTX_set_options(c, options);
  SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (SSL_CTX_set_cipher_list(c, settings.ciphers.c_str()) != 1) {
    return config_error(detail, "ciphers");
  }
  if (SSL_CTX_set_ciphersuites(c, settings.ciphersuites.c_str()) != 1) {
    return config_error(detail, "ciphersuites");
  }
  if (const error_code ec = check_ecdhe_ciphers(c, detail)) return ec;
  if (const error_code ec = check_groups(settings.groups, detail)) return ec;
  if (SSL_CTX_set1_groups_list(c, settings.groups.c_str()) != 1) return config_error(detail, "groups");
  LoadedContext loaded{ctx, {}};
  if (settings.certificates.empty()) return setting_error(detail, "certificate: no certificate");
  for (std::size_t i = 0; i < settings.certificates.size(); ++i) {
    if (const error_code ec = load_certificate(loaded, settings, i, detail)) return ec;
  }
  SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_SERVER);
  SSL_CTX_set_session_id_context(c, session_id_context, sizeof session_id_context - 1);
  SSL_CTX_set_timeout(c, static_cast<long>(settings.session_lifetime.count()));
  // Read ahead: fetch more than one record per read() instead of a 5-byte header and then the
  // body of each 16 KiB record (half the system calls on uploads). Safe with non-blocking
  // streams: SSL_read returns buffered complete records before it ever reports WANT_READ.
  // The buffer holds two full records, not more: OpenSSL 3.0 moves everything still buffered
  // to the front of the buffer before each record, so with N records per read() it copies
  // (N-1)/2 times the data again (a 64 KiB buffer, four records: 1.5x, about half the user
  // CPU of an upload). Two records: at most one record moved per read.
  SSL_CTX_set_read_ahead(c, 1);
  SSL_CTX_set_default_read_buffer_len(
      c, 2 * (SSL3_RT_MAX_PLAIN_LENGTH + SSL3_RT_MAX_ENCRYPTED_OVERHEAD + SSL3_RT_HEADER_LENGTH));
  if (SSL_CTX_set_session_ticket_cb(c, generate_ticket, decrypt_ticket, nullptr) != 1 ||
      SSL_CTX_set_ex_data(c, ticket_keys_index(), new std::shared_ptr<TicketKeys>(keys)) != 1 ||
      SSL_CTX_set_tlsext_ticket_key_evp_cb(c, ticket_key_callback) != 1) {
    return config_error(detail, "session tickets");
  }
  if (!settings.client_ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(c, settings.client_ca_file.c_str(), nullptr) != 1) {
      return config_error(detail, "client_ca: " + settings.client_ca_file);
    }
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(settings.client_ca_file.c_str());
    if (names == nullptr) return config_error(detail, "client_ca: " + settings.client_ca_file);
    if (!settings.client_crl_file.empty()) {
      if (const error_code ec = load_crls(c, settings.client_crl_file, settings.client_crl_chain, detail)) {
        sk_X509_NAME_pop_free(names, X509_NAME_free);
        return ec;
      }
    }
    SSL_CTX_set_client_CA_list(c, names);  // takes ownership
    int mode = SSL_VERIFY_PEER;
    if (settings.require_client_certificate) mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    SSL_CTX_set_verify(c, mode, nullptr);
  } else if (settings.require_client_certificate || !settings.client_crl_file.empty()) {
    return setting_error(detail, "require_client_certificate and client_crl_file need client_ca_file");
  }
  ERR_clear_error();
  return loaded;
}

class OpenSslTlsServer final : public TlsServer {
 public:
  OpenSslTlsServer(TlsSettings settings, LoadedContext loaded, std::shared_ptr<TicketKeys> keys)
      : keys_(std::move(keys)), state_{std::move(settings), std::move(loaded)} {}

  awaitable<Result<std::unique_ptr<core::ByteStream>>> secure_control(
      std::unique_ptr<core::ByteStream> plain, std::chrono::seconds timeout) override {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    Token token{};
    ERR_clear_error();
    if (RAND_bytes(token.data(), static_cast<int>(token.size())) != 1) {
      ERR_clear_error();
      plain->close();
      co_return boost::system::errc::make_error_code(boost::system::errc::resource_unavailable_try_again);
    }
    auto stream = make_stream(std::move(plain), current_context(), Role::control, token);
    if (!stream) co_return stream.error();
    const error_code ec = co_await (*stream)->handshake(deadline);
    if (ec) {
      (*stream)->close();
      co_return ec;
    }
    co_return std::unique_ptr<core::ByteStream>(std::move(*stream));
  }

  awaitable<Result<std::unique_ptr<core::ByteStream>>> secure_data(
      std::unique_ptr<core::ByteStream> plain, core::ByteStream& control, bool require_reuse,
      std::chrono::seconds timeout, core::FirstFlight* first) override {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    auto* control_tls = dynamic_cast<TlsStream*>(&control);
    if (control_tls == nullptr) {
      plain->close();
      co_return error_code(TlsErrc::not_secure);
    }
    auto stream = make_stream(std::move(plain), control_tls->context(), Role::data,
                              control_tls->token());
    if (!stream) co_return stream.error();
    error_code ec = co_await (*stream)->handshake(deadline, first);
    // SECURITY: the data connection must come from the party holding the control
    // connection's session secret.
    if (!ec && require_reuse && !(*stream)->resumed_own_session()) {
      core::log::warn("tls_session_not_reused")
          .str("client", (*stream)->remote_endpoint().address().to_string())
          .flag("resumed", (*stream)->tls()->session_reused);
      ec = TlsErrc::session_not_reused;
    }
    if (ec) {
      (*stream)->close();
      co_return ec;
    }
    co_return std::unique_ptr<core::ByteStream>(std::move(*stream));
  }

  awaitable<error_code> clear_control(core::ByteStream& control, std::chrono::seconds timeout) override {
    auto* control_tls = dynamic_cast<TlsStream*>(&control);
    if (control_tls == nullptr) co_return TlsErrc::not_secure;
    co_return co_await control_tls->clear(std::chrono::steady_clock::now() + timeout);
  }

  Result<void> reload() override { return reload(current().settings); }

  Result<void> reload(const TlsSettings& settings) override {
    std::string detail;
    auto loaded = build_context(settings, keys_, detail);
    if (!loaded) {
      core::log::error("tls_reload_failed").str("protocol", "ftp").str("detail", detail);
      return loaded.error();
    }
    keys_->set_period(settings.session_lifetime);
    {
      std::lock_guard lock(mutex_);
      state_ = {settings, std::move(*loaded)};
    }
    std::string certificates;
    for (const auto& files : settings.certificates) certificates += (certificates.empty() ? "" : ",") + files.certificate;
    core::log::info("tls_reloaded").str("protocol", "ftp").str("certificate", certificates);
    report_expiry();
    return {};
  }

  void report_expiry() override {
    const State state = current();
    report_validity(state.loaded, state.settings);
  }

 private:
  // What new connections get: the settings and the context built from them.
  struct State {
    TlsSettings settings;
    LoadedContext loaded;
  };

  State current() {
    std::lock_guard lock(mutex_);
    return state_;
  }
  SslCtxPtr current_context() {
    std::lock_guard lock(mutex_);
    return state_.loaded.ctx;
  }

  static Result<std::unique_ptr<TlsStream>> make_stream(std::unique_ptr<core::ByteStream> plain,
                                                        SslCtxPtr ctx, Role role,
                                                        const Token& token) {
    ERR_clear_error();
    SSL* ssl = SSL_new(ctx.get());
    if (ssl == nullptr || SSL_set_fd(ssl, plain->native_handle()) != 1) {
      ERR_clear_error();
      SSL_free(ssl);
      plain->close();
      return boost::system::errc::make_error_code(boost::system::errc::not_enough_memory);
    }
    // No session tickets on data connections: an uploading client never reads them, and unread
    // data turns its close() into a TCP reset that can discard the end of the upload. Tickets
    // come from the control connection (refreshed as they age, see secure_data).
    if (role == Role::data) SSL_set_num_tickets(ssl, 0);
    return std::make_unique<TlsStream>(std::move(plain), std::move(ctx), ssl, role, token);
  }

  const std::shared_ptr<TicketKeys> keys_;  // session ticket keys, for every context made here
  std::mutex mutex_;
  State state_;  // guarded by mutex_
};

}  // namespace

std::string certificate_setting(std::string_view key, std::size_t index, std::size_t count) {
  std::string name(key);
  if (count > 1) name += "[" + std::to_string(index) + "]";
  return name;
}

Result<std::shared_ptr<TlsServer>> make_tls_server(const TlsSettings& settings, std::string& error_detail) {
  auto keys = std::make_shared<TicketKeys>(settings.session_lifetime);
  auto loaded = build_context(settings, keys, error_detail);
  if (!loaded) return loaded.error();
  return std::shared_ptr<TlsServer>(std::make_shared<OpenSslTlsServer>(settings, std::move(*loaded), std::move(keys)));
}

}  // namespace filegate::ftps
