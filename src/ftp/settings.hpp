// FTP front-end settings. Filled from the YAML config by src/server; defaults live here and in
// core/limits.hpp only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/asio.hpp"

namespace filegate::ftp {

struct ListenerSettings {
  tcp::endpoint endpoint;
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
};

}  // namespace filegate::ftp
