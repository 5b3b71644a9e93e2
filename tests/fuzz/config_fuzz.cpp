// Fuzzes the YAML configuration parser: any text must either load or fail with ConfigError.
// Another exception type (a yaml-cpp exception leaking out, std::out_of_range ...) or a crash is
// a bug. A config that loads must also satisfy the invariants the rest of the server relies on.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>

#include "server/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using filegate::server::ConfigError;
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    // A base folder that does not exist, so relative authorized_keys_file names read nothing.
    const auto config = filegate::server::parse_config(text, "fuzz.yaml", "/nonexistent/filegate-fuzz");
    std::set<std::string> names;
    for (const auto& user : config.users) {
      if (user.name.empty() || user.name.size() > 64 || user.name == "anonymous" || user.name == "ftp") std::abort();
      if (!names.insert(user.name).second) std::abort();
      if (user.home.empty() || user.home.front() != '/') std::abort();
      if (user.protocols == 0 || user.anonymous) std::abort();
    }
    if (config.ftp) {
      if (config.ftp->listeners.empty()) std::abort();
      if (config.ftp->passive_port_min > config.ftp->passive_port_max) std::abort();
      if (config.ftp->passive_port_min != 0 && config.ftp->passive_port_min < 1024) std::abort();
      if (config.ftp->banner.find_first_of("\r\n") != std::string::npos) std::abort();
    }
    if (config.anonymous && (!config.anonymous->anonymous || config.anonymous->home.empty())) std::abort();
    if (config.limits.max_connections_per_ip > config.limits.max_connections) std::abort();
    if (config.limits.max_unauthenticated > config.limits.max_connections) std::abort();
    if (config.limits.sftp_max_read + 1024 > config.limits.sftp_max_packet) std::abort();
    if (config.sftp) {
      if (config.sftp->listeners.empty() || config.sftp->host_key_files.empty()) std::abort();
      using filegate::sftp::AlgorithmKind;
      for (const auto kind : {AlgorithmKind::kex, AlgorithmKind::ciphers, AlgorithmKind::macs,
                              AlgorithmKind::host_keys, AlgorithmKind::public_keys}) {
        // Only names filegate knows reach libssh.
        if (config.sftp->algorithms.list(kind).empty()) std::abort();
        for (const auto& name : config.sftp->algorithms.list(kind)) {
          if (filegate::sftp::algorithm_status(kind, name) == filegate::sftp::AlgorithmStatus::unknown) std::abort();
        }
      }
    }
  } catch (const ConfigError&) {
    // The expected way to refuse input.
  } catch (...) {
    std::abort();
  }
  return 0;
}
