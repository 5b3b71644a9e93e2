// TLS for FTP (RFC 4217) with OpenSSL 3: implements core::TlsServer.
//
// Defaults are safe: TLS 1.2 minimum, TLS 1.3 preferred, AEAD ciphers, no compression, no
// renegotiation. Key exchange is ECDHE whatever is configured: elliptic-curve groups only, and
// TLS 1.2 cipher lists with anything but ECDHE suites are refused. Data connections must resume
// the TLS session of their own control connection (see core::TlsServer::secure_data): TLS 1.2
// session ids come from this server's cache, TLS 1.3 tickets carry the id of the control
// connection that issued them and are refused on any other.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/tls.hpp"

namespace filegate::ftps {

// A server certificate and its key.
struct CertificateFiles {
  std::string certificate;  // PEM: the server certificate followed by its chain
  std::string private_key;  // PEM, unencrypted
};

struct TlsSettings {
  // One certificate per key type (RSA, ECDSA, Ed25519, ...), typically ECDSA with RSA for older
  // clients. Per handshake OpenSSL picks one that the client's signature algorithms (and, under
  // TLS 1.2, the cipher) allow, ECDSA before RSA when several do, whatever the order here.
  std::vector<CertificateFiles> certificates;
  std::string min_version = "TLSv1.2";  // or "TLSv1.3"
  // OpenSSL cipher list for TLS 1.2: ECDHE with AEAD only.
  std::string ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                        "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                        "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
  // TLS 1.3 suites, in server preference order.
  std::string ciphersuites = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
  // Key exchange groups (TLS 1.3 key shares, TLS 1.2 ECDHE curves): elliptic curves only.
  // OpenSSL's order without its finite-field groups.
  std::string groups = "X25519:P-256:X448:P-521:P-384";
  // Client certificates (mutual TLS): CA bundle to verify them against; empty = not requested.
  std::string client_ca_file;
  bool require_client_certificate = false;  // with a CA: refuse clients without a valid one
  // With a CA: PEM file of CRLs; a client certificate is then checked against its issuer's CRL
  // (revoked, no CRL for the issuer or an expired CRL: refused). Empty: no revocation check.
  std::string client_crl_file;
  // With CRLs: check every certificate of the client's chain up to the root against its
  // issuer's CRL (a revoked intermediate CA is refused), which then needs a list from every CA
  // of the chain. Off: the client certificate itself only.
  bool client_crl_chain = false;
  // How long a TLS session (id or ticket) may be resumed. Long, so that a long FTP session's
  // data connections keep resuming (a ticket that ages out mid-session must not break uploads).
  std::chrono::seconds session_lifetime{std::chrono::hours(24)};
};

// The FTPS TLS server: core::TlsServer, and new settings on SIGHUP.
class TlsServer : public core::TlsServer {
 public:
  // Takes `settings` (other files, versions, lists) for new connections, reading every file
  // again; connections in flight keep what they started with. On error the current settings
  // stay in use; the failure is logged (tls_reload_failed) and returned.
  virtual Result<void> reload(const TlsSettings& settings) = 0;
  using core::TlsServer::reload;  // the same settings, files read again
};

// Loads the certificate, key and CA files and builds the server. `error_detail` starts with the
// setting at fault ("certificate: FILE: what OpenSSL said", "ciphers: ...", "groups: ...",
// "private_key: ...", "client_ca: ...", "client_crl: ...", "min_version: ..."), so the caller can
// point at its line in the config. With more than one certificate, the certificate and key
// settings carry the pair's index: "certificate[1]: ...", "private_key[1]: ..." (see
// certificate_setting).
Result<std::shared_ptr<TlsServer>> make_tls_server(const TlsSettings& settings, std::string& error_detail);

// The name of pair `index`'s `key` ("certificate" or "private_key") in error details: the bare
// key when there is one pair, "key[index]" when there are several.
std::string certificate_setting(std::string_view key, std::size_t index, std::size_t count);

}  // namespace filegate::ftps
