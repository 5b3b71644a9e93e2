// FTP front-end settings. Filled from the YAML config by src/server; defaults live here and in
// core/limits.hpp only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/asio.hpp"

namespace filegate::ftp {

// FTPS policy for the control or the data channel (RFC 4217).
enum class TlsPolicy { optional, required };

struct ListenerSettings {
  tcp::endpoint endpoint;
  // Implicit FTPS: TLS starts before the greeting (conventionally port 990); data channels are
  // protected from the start.
  bool implicit_tls = false;
  // Override Settings::tls_control / tls_data for this listener.
  std::optional<TlsPolicy> tls_control;
  std::optional<TlsPolicy> tls_data;
  // Address announced in PASV replies for this listener (NAT); overrides Settings::passive_address.
  std::optional<asio::ip::address_v4> passive_address;
};

struct Settings {
  std::vector<ListenerSettings> listeners;
  // Passive data ports; 0..0 lets the kernel pick any free port.
  std::uint16_t passive_port_min = 0;
  std::uint16_t passive_port_max = 0;
  std::optional<asio::ip::address_v4> passive_address;
  bool active_enabled = true;                  // PORT / EPRT
  bool active_allow_privileged_ports = false;  // target ports below 1024
  bool active_allow_foreign_address = false;   // FXP: a data address other than the client's
  bool atomic_uploads = false;                 // STOR writes a hidden temporary, renamed on success
  std::string banner = "filegate FTP server ready";

  // FTPS, when the front-end has a TLS server (ftp.tls in the config). Safe defaults: a login
  // needs AUTH TLS first and data connections need PROT P, unless a listener or user relaxes it.
  TlsPolicy tls_control = TlsPolicy::required;
  TlsPolicy tls_data = TlsPolicy::required;
  // A protected data connection must resume its control connection's TLS session.
  bool tls_session_reuse = true;
  // CCC: a logged-in client may take its control connection back to cleartext (for firewalls
  // that must see PASV/PORT); data connections keep their protection. Refused (534) by default.
  bool tls_allow_ccc = false;
};

}  // namespace filegate::ftp
