// The YAML configuration. This folder is the only user of yaml-cpp.
//
// Errors name the file, the line and the key: "filegate.yaml:12: users[0].permissions:
// unknown permission letter 'x'". Loading throws ConfigError; it happens at start-up and on
// SIGHUP (which takes over the users, the anonymous account and the log level).
#pragma once

#include <array>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "auth/realm.hpp"
#include "core/limits.hpp"
#include "core/log.hpp"
#include "ftp/settings.hpp"
#include "ftps/tls_server.hpp"
#include "sftp/ssh_settings.hpp"

namespace filegate::server {

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Config {
  std::string source;  // the file it came from
  core::log::Level log_level = core::log::Level::info;
  unsigned network_threads = 0;  // 0: one (see main.cpp)
  unsigned worker_threads = 0;   // 0: 4 per core, at least 8
  core::Limits limits;
  std::optional<ftp::Settings> ftp;  // absent: no FTP listener
  std::optional<ftps::TlsSettings> ftp_tls;  // ftp.tls: FTPS (explicit, and implicit listeners)
  std::optional<sftp::Settings> sftp;        // absent: no SFTP listener
  std::vector<auth::User> users;
  std::optional<auth::User> anonymous;
  // The restart_section_names present in the file, each as yaml-cpp writes it back, so a
  // reload can tell which of them changed.
  std::map<std::string, std::string> restart_sections;
  // The lines of the settings that are only checked when the server starts (certificate, key
  // and CA files, cipher lists, host key files), by key: "ftp.tls.certificate",
  // "sftp.host_keys[0]".
  std::map<std::string, int, std::less<>> setting_lines;

  // A start-up error of `section` whose `detail` begins with one of those settings
  // ("certificate: FILE: why") as "SOURCE:LINE: ftp.tls.certificate: FILE: why"; any other
  // detail as "SOURCE: SECTION: detail".
  std::string setup_error(std::string_view section, std::string_view detail) const;
};

// The sections a running server cannot take over without a restart (SIGHUP takes the rest).
inline constexpr std::array<const char*, 4> restart_section_names = {"runtime", "limits", "ftp", "sftp"};
// ... except these keys of ftp.tls (ftps::TlsSettings), which SIGHUP applies to new connections.
inline constexpr std::array<const char*, 11> reloadable_tls_keys = {
    "certificate", "private_key", "min_version", "ciphers", "ciphersuites", "groups",
    "client_ca", "client_certificate", "client_crl", "client_crl_check", "session_lifetime"};

// Reads and validates a config file.
Config load_config(const std::string& path);
// Parses config text; `source` names it in error messages. Relative home directories are
// resolved against `base_directory` (the config file's folder for load_config).
Config parse_config(const std::string& text, const std::string& source,
                    const std::string& base_directory = ".");

}  // namespace filegate::server
