// Test helpers for the TLS server: a throw-away PKI generated at test time, a blocking OpenSSL
// client, and an event-loop harness that accepts connections and runs the server side.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <filesystem>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

#include "core/tcp_stream.hpp"
#include "core/tls.hpp"

namespace filegate::ftps::tlstest {

struct KeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct CertDeleter {
  void operator()(X509* c) const { X509_free(c); }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyDeleter>;
using CertPtr = std::unique_ptr<X509, CertDeleter>;

inline KeyPtr make_key(bool rsa = false) {
  KeyPtr key(rsa ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048))
                 : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!key) throw std::runtime_error("keygen failed");
  return key;
}

inline void add_extension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (ext == nullptr) throw std::runtime_error("extension failed");
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

// A certificate for `key` named `cn`, signed by issuer/issuer_key (self-signed when null).
inline CertPtr make_cert(EVP_PKEY* key, const std::string& cn, X509* issuer, EVP_PKEY* issuer_key,
                         bool ca, long serial) {
  CertPtr cert(X509_new());
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 86400);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("filegate test"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509* signer = issuer != nullptr ? issuer : cert.get();
  X509_set_issuer_name(cert.get(), X509_get_subject_name(signer));
  if (ca) {
    add_extension(cert.get(), signer, NID_basic_constraints, "critical,CA:TRUE");
    add_extension(cert.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    add_extension(cert.get(), signer, NID_basic_constraints, "critical,CA:FALSE");
    add_extension(cert.get(), signer, NID_subject_alt_name, "IP:127.0.0.1");
  }
  add_extension(cert.get(), signer, NID_subject_key_identifier, "hash");
  if (X509_sign(cert.get(), issuer_key != nullptr ? issuer_key : key, EVP_sha256()) == 0) {
    throw std::runtime_error("sign failed");
  }
  return cert;
}

inline void write_pem(const std::string& path, X509* cert, X509* chain = nullptr) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) throw std::runtime_error("cannot write " + path);
  PEM_write_X509(f, cert);
  if (chain != nullptr) PEM_write_X509(f, chain);
  std::fclose(f);
}

// With a passphrase, the key is written encrypted (AES-256-CBC).
inline void write_key(const std::string& path, EVP_PKEY* key, const char* passphrase = nullptr) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) throw std::runtime_error("cannot write " + path);
  if (passphrase != nullptr) {
    PEM_write_PKCS8PrivateKey(f, key, EVP_aes_256_cbc(), nullptr, 0, nullptr, const_cast<char*>(passphrase));
  } else {
    PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
  }
  std::fclose(f);
}

// A CRL of `ca` revoking `revoked` (serial numbers), issued `last` seconds from now and valid
// until `next` seconds from now (negative: in the past).
inline void write_crl(const std::string& path, X509* ca, EVP_PKEY* ca_key, std::initializer_list<long> revoked,
                      long last, long next) {
  X509_CRL* crl = X509_CRL_new();
  X509_CRL_set_version(crl, 1);
  X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca));
  ASN1_TIME* last_update = X509_gmtime_adj(nullptr, last);
  ASN1_TIME* next_update = X509_gmtime_adj(nullptr, next);
  X509_CRL_set1_lastUpdate(crl, last_update);
  X509_CRL_set1_nextUpdate(crl, next_update);
  for (const long serial : revoked) {
    X509_REVOKED* entry = X509_REVOKED_new();
    ASN1_INTEGER* number = ASN1_INTEGER_new();
    ASN1_INTEGER_set(number, serial);
    X509_REVOKED_set_serialNumber(entry, number);
    X509_REVOKED_set_revocationDate(entry, last_update);
    X509_CRL_add0_revoked(crl, entry);
    ASN1_INTEGER_free(number);
  }
  X509_CRL_sort(crl);
  const bool signed_ok = X509_CRL_sign(crl, ca_key, EVP_sha256()) != 0;
  FILE* f = signed_ok ? std::fopen(path.c_str(), "w") : nullptr;
  if (f != nullptr) {
    PEM_write_X509_CRL(f, crl);
    std::fclose(f);
  }
  ASN1_TIME_free(last_update);
  ASN1_TIME_free(next_update);
  X509_CRL_free(crl);
  if (f == nullptr) throw std::runtime_error("cannot write CRL " + path);
}

// Files in a temporary directory: ca.pem; server.pem/.key (CN filegate-server, chain with CA);
// server2.pem/.key (CN filegate-server-2); server-rsa.pem/.key (CN filegate-server-rsa, the only
// RSA key; all others are ECDSA P-256); client.pem/.key (CN alice, signed by the CA);
// client2.pem/.key (CN bob, signed by the CA); rogue.pem/.key (CN mallory, self-signed);
// server-encrypted.key (server.key encrypted with the passphrase "secret").
// CRLs of the CA: crl-alice.pem revokes alice's certificate, crl-none.pem revokes nothing,
// crl-expired.pem revokes nothing but is past its next update.
struct Pki {
  std::string dir;
  std::string path(const std::string& name) const { return dir + "/" + name; }

  Pki() {
    char tmpl[] = "/tmp/filegate-ftps-test-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir = tmpl;
    KeyPtr ca_key = make_key();
    CertPtr ca = make_cert(ca_key.get(), "filegate test CA", nullptr, nullptr, true, 1);
    write_pem(path("ca.pem"), ca.get());
    auto leaf = [&](const std::string& file, const std::string& cn, long serial, bool signed_by_ca,
                    bool rsa = false) {
      KeyPtr key = make_key(rsa);
      CertPtr cert = signed_by_ca ? make_cert(key.get(), cn, ca.get(), ca_key.get(), false, serial)
                                  : make_cert(key.get(), cn, nullptr, nullptr, false, serial);
      write_pem(path(file + ".pem"), cert.get(), signed_by_ca ? ca.get() : nullptr);
      write_key(path(file + ".key"), key.get());
      if (file == "server") write_key(path("server-encrypted.key"), key.get(), "secret");
    };
    leaf("server", "filegate-server", 2, true);
    leaf("server2", "filegate-server-2", 3, true);
    leaf("client", "alice", 4, true);
    leaf("rogue", "mallory", 5, false);
    leaf("client2", "bob", 6, true);
    leaf("server-rsa", "filegate-server-rsa", 7, true, true);
    write_crl(path("crl-alice.pem"), ca.get(), ca_key.get(), {4}, -60, 86400);
    write_crl(path("crl-none.pem"), ca.get(), ca_key.get(), {}, -60, 86400);
    write_crl(path("crl-expired.pem"), ca.get(), ca_key.get(), {}, -2 * 86400, -86400);
  }
  ~Pki() {
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
};

// A blocking OpenSSL client context (one per simulated client program: sessions move between
// its connections).
struct ClientOptions {
  int min_version = 0;
  int max_version = 0;
  bool no_ticket = false;
  std::string cert_file;
  std::string key_file;
  std::string ca_file;  // verify the server against it (else no verification)
  std::string groups;  // key exchange groups offered (else OpenSSL's default)
  std::string sigalgs;  // signature algorithms offered (else OpenSSL's default)
  std::string ciphers;  // TLS 1.2 ciphers offered (else OpenSSL's default)
};

class ClientContext {
 public:
  explicit ClientContext(const ClientOptions& options = {}) : ctx_(SSL_CTX_new(TLS_client_method())) {
    if (options.min_version != 0 && options.min_version < TLS1_2_VERSION) {
      // Let the old protocol actually go out on the wire, so the server is what refuses it.
      SSL_CTX_set_security_level(ctx_, 0);
      SSL_CTX_set_cipher_list(ctx_, "DEFAULT:@SECLEVEL=0");
    }
    if (options.min_version != 0) SSL_CTX_set_min_proto_version(ctx_, options.min_version);
    if (options.max_version != 0) SSL_CTX_set_max_proto_version(ctx_, options.max_version);
    if (options.no_ticket) SSL_CTX_set_options(ctx_, SSL_OP_NO_TICKET);
    if (!options.groups.empty()) SSL_CTX_set1_groups_list(ctx_, options.groups.c_str());
    if (!options.sigalgs.empty()) SSL_CTX_set1_sigalgs_list(ctx_, options.sigalgs.c_str());
    if (!options.ciphers.empty()) SSL_CTX_set_cipher_list(ctx_, options.ciphers.c_str());
    if (!options.cert_file.empty()) {
      SSL_CTX_use_certificate_chain_file(ctx_, options.cert_file.c_str());
      SSL_CTX_use_PrivateKey_file(ctx_, options.key_file.c_str(), SSL_FILETYPE_PEM);
    }
    if (!options.ca_file.empty()) {
      SSL_CTX_load_verify_locations(ctx_, options.ca_file.c_str(), nullptr);
      SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    }
  }
  ClientContext(const ClientContext&) = delete;
  ClientContext& operator=(const ClientContext&) = delete;
  ~ClientContext() { SSL_CTX_free(ctx_); }
  SSL_CTX* get() const { return ctx_; }

 private:
  SSL_CTX* ctx_;
};

// A blocking TCP connection to 127.0.0.1:port whose reads and writes give up after 5 s.
inline int connect_loopback(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    throw std::runtime_error("connect failed");
  }
  return fd;
}

class Client {
 public:
  Client(const ClientContext& ctx, std::uint16_t port, SSL_SESSION* session = nullptr)
      : fd_(connect_loopback(port)) {
    ssl_ = SSL_new(ctx.get());
    SSL_set_fd(ssl_, fd_);
    if (session != nullptr) SSL_set_session(ssl_, session);
  }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  ~Client() {
    // Keep this connection's session resumable in the client (OpenSSL drops sessions of
    // connections freed without close_notify); the server side must cope on its own.
    SSL_set_shutdown(ssl_, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    SSL_free(ssl_);
    if (fd_ >= 0) ::close(fd_);
  }

  bool handshake() {
    ERR_clear_error();
    return SSL_connect(ssl_) == 1;
  }
  void write(const std::string& data) {
    std::size_t done = 0;
    while (done < data.size()) {
      std::size_t n = 0;
      if (SSL_write_ex(ssl_, data.data() + done, data.size() - done, &n) != 1) {
        throw std::runtime_error("client write failed");
      }
      done += n;
    }
  }
  // Reads exactly n bytes (fewer on end of stream or error).
  std::string read(std::size_t n) {
    std::string out(n, '\0');
    std::size_t done = 0;
    while (done < n) {
      std::size_t got = 0;
      if (SSL_read_ex(ssl_, out.data() + done, n - done, &got) != 1) break;
      done += got;
    }
    out.resize(done);
    return out;
  }
  // SSL_get_error of a read at end of stream.
  int read_error() {
    char byte;
    std::size_t got = 0;
    const int ret = SSL_read_ex(ssl_, &byte, 1, &got);
    return ret == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl_, ret);
  }
  void close_notify() { SSL_shutdown(ssl_); }
  void close_tcp() {
    ::close(fd_);
    fd_ = -1;
  }
  SSL_SESSION* session() const { return SSL_get1_session(ssl_); }  // caller frees
  bool reused() const { return SSL_session_reused(ssl_) == 1; }
  std::string version() const { return SSL_get_version(ssl_); }
  std::string server_cn() const {
    X509* cert = SSL_get0_peer_certificate(ssl_);
    if (cert == nullptr) return {};
    char cn[256] = {};
    X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
    return cn;
  }
  SSL* ssl() const { return ssl_; }
  // The TCP socket under the TLS, for bytes outside it (after CCC).
  void send_raw(const std::string& data) {
    if (::send(fd_, data.data(), data.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(data.size())) {
      throw std::runtime_error("raw send failed");
    }
  }
  std::string recv_raw(std::size_t n) {
    std::string out(n, '\0');
    std::size_t done = 0;
    while (done < n) {
      const ssize_t got = ::recv(fd_, out.data() + done, n - done, 0);
      if (got <= 0) break;
      done += static_cast<std::size_t>(got);
    }
    out.resize(done);
    return out;
  }

 private:
  int fd_ = -1;
  SSL* ssl_ = nullptr;
};

// A client that controls when its handshake messages leave: its TLS goes through memory BIOs,
// so a test can read everything the server sends before the client's Finished is sent.
class HeldClient {
 public:
  HeldClient(const ClientContext& ctx, std::uint16_t port, SSL_SESSION* session)
      : fd_(connect_loopback(port)) {
    ssl_ = SSL_new(ctx.get());
    in_ = BIO_new(BIO_s_mem());
    out_ = BIO_new(BIO_s_mem());
    SSL_set_bio(ssl_, in_, out_);  // the SSL owns both
    if (session != nullptr) SSL_set_session(ssl_, session);
    SSL_set_connect_state(ssl_);
  }
  HeldClient(const HeldClient&) = delete;
  HeldClient& operator=(const HeldClient&) = delete;
  ~HeldClient() {
    SSL_set_shutdown(ssl_, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    SSL_free(ssl_);
    ::close(fd_);
  }

  // Runs the client handshake on what has arrived so far; true once it is complete on the
  // client's side (its Finished is then written, but held until send_pending()).
  bool step() {
    ERR_clear_error();
    return SSL_do_handshake(ssl_) == 1;
  }
  // Sends what the client has written (its hello, later its Finished).
  void send_pending() {
    char buffer[16384];
    int n = 0;
    while ((n = BIO_read(out_, buffer, sizeof buffer)) > 0) {
      if (::send(fd_, buffer, static_cast<std::size_t>(n), MSG_NOSIGNAL) != n) throw std::runtime_error("send failed");
    }
  }
  // Takes in what the server sends until the line has been quiet for `quiet_ms`.
  void receive_until_quiet(int quiet_ms = 300) {
    char buffer[16384];
    pollfd fd{fd_, POLLIN, 0};
    while (::poll(&fd, 1, quiet_ms) > 0) {
      const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
      if (n <= 0) break;
      BIO_write(in_, buffer, static_cast<int>(n));
    }
  }
  // Application data among what has been taken in (empty if none).
  std::string read_available() {
    std::string out;
    char buffer[16384];
    std::size_t got = 0;
    ERR_clear_error();
    while (SSL_read_ex(ssl_, buffer, sizeof buffer, &got) == 1) out.append(buffer, got);
    ERR_clear_error();
    return out;
  }
  bool reused() const { return SSL_session_reused(ssl_) == 1; }

 private:
  int fd_ = -1;
  SSL* ssl_ = nullptr;
  BIO* in_ = nullptr;
  BIO* out_ = nullptr;
};

struct SessionDeleter {
  void operator()(SSL_SESSION* s) const { SSL_SESSION_free(s); }
};
using SessionPtr = std::unique_ptr<SSL_SESSION, SessionDeleter>;

using StreamResult = Result<std::unique_ptr<core::ByteStream>>;

// An event loop on its own thread with a loopback listener.
class Harness {
 public:
  Harness() : acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    thread_ = std::thread([this] { io_.run(); });
  }
  Harness(const Harness&) = delete;
  Harness& operator=(const Harness&) = delete;
  ~Harness() {
    guard_.reset();
    asio::post(io_, [this] {
      error_code ignored;
      acceptor_.close(ignored);
    });
    thread_.join();
  }

  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }

  std::future<StreamResult> accept_control(core::TlsServer& server,
                                           std::chrono::seconds timeout = std::chrono::seconds(5)) {
    return asio::co_spawn(
        io_,
        [this, &server, timeout]() -> awaitable<StreamResult> {
          auto socket = co_await acceptor_.async_accept(use_awaitable);
          auto plain = std::make_unique<core::TcpStream>(std::move(socket));
          co_return co_await server.secure_control(std::move(plain), timeout);
        },
        asio::use_future);
  }

  // `first` (may be null) must outlive the returned future's result.
  std::future<StreamResult> accept_data(core::TlsServer& server, core::ByteStream& control,
                                        bool require_reuse, core::FirstFlight* first = nullptr) {
    return asio::co_spawn(
        io_,
        [this, &server, &control, require_reuse, first]() -> awaitable<StreamResult> {
          auto socket = co_await acceptor_.async_accept(use_awaitable);
          auto plain = std::make_unique<core::TcpStream>(std::move(socket));
          co_return co_await server.secure_data(std::move(plain), control, require_reuse,
                                                std::chrono::seconds(5), first);
        },
        asio::use_future);
  }

  // Reads until `n` bytes arrived or an error; returns the bytes and the error.
  std::pair<std::string, error_code> read(core::ByteStream& stream, std::size_t n) {
    return asio::co_spawn(
               io_,
               [&stream, n]() -> awaitable<std::pair<std::string, error_code>> {
                 std::string out;
                 std::array<std::byte, 16384> buffer;
                 while (out.size() < n) {
                   error_code ec;
                   const std::size_t want = std::min(buffer.size(), n - out.size());
                   const std::size_t got = stream.read_some(std::span(buffer.data(), want), ec);
                   out.append(reinterpret_cast<const char*>(buffer.data()), got);
                   if (ec == asio::error::would_block) {
                     ec = co_await stream.wait(stream.wants());
                   }
                   if (ec) co_return std::pair{out, ec};
                 }
                 co_return std::pair{out, error_code{}};
               },
               asio::use_future)
        .get();
  }

  error_code write(core::ByteStream& stream, const std::string& data) {
    return asio::co_spawn(
               io_,
               [&stream, &data]() -> awaitable<error_code> {
                 co_return co_await core::write_all(stream, std::as_bytes(std::span(data)));
               },
               asio::use_future)
        .get();
  }

  error_code shutdown(core::ByteStream& stream) {
    return asio::co_spawn(
               io_, [&stream]() -> awaitable<error_code> { co_return co_await stream.shutdown(); },
               asio::use_future)
        .get();
  }

  // CCC: TlsServer::clear_control on `stream`.
  error_code clear(core::TlsServer& server, core::ByteStream& stream) {
    return asio::co_spawn(
               io_,
               [&server, &stream]() -> awaitable<error_code> {
                 co_return co_await server.clear_control(stream, std::chrono::seconds(5));
               },
               asio::use_future)
        .get();
  }

  asio::io_context& io() { return io_; }

 private:
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> guard_{io_.get_executor()};
  tcp::acceptor acceptor_;
  std::thread thread_;
};

}  // namespace filegate::ftps::tlstest
