// SSH transport settings for the SFTP front-end. Filled from the YAML config by src/server;
// the defaults live here (algorithms) and in core/limits.hpp (limits and timeouts) only.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/asio.hpp"

namespace filegate::sftp {

// The algorithm lists negotiated during key exchange, most preferred first. The client picks:
// SSH uses the first entry of the CLIENT's list that the server also offers, so the server's
// order only matters for clients that honour it.
enum class AlgorithmKind { kex, ciphers, macs, host_keys, public_keys };
std::string_view algorithm_kind_name(AlgorithmKind kind);

struct Algorithms {
  std::vector<std::string> kex;
  std::vector<std::string> ciphers;
  std::vector<std::string> macs;
  // Signature algorithms for the server's host keys (each needs a host key of its type).
  std::vector<std::string> host_keys;
  // Signature algorithms accepted for user public keys (also sent as server-sig-algs).
  std::vector<std::string> public_keys;

  std::vector<std::string>& list(AlgorithmKind kind);
  const std::vector<std::string>& list(AlgorithmKind kind) const;
};

// Modern algorithms only: no SHA-1, no CBC, no DSA, no finite-field groups under 4096 bits.
// AES-GCM comes first (about twice as fast as chacha20-poly1305 on AES-NI hardware), for the
// clients that follow the server's order.
Algorithms default_algorithms();

// What an algorithm name is to filegate: offered by default, accepted in the config only as a
// deliberate choice for a legacy partner (logged as a warning at start-up), or unknown (a
// config error: libssh would silently drop it, hiding the typo).
enum class AlgorithmStatus { modern, legacy, unknown };
AlgorithmStatus algorithm_status(AlgorithmKind kind, std::string_view name);
// Every name algorithm_status() knows for `kind`, modern first (for error messages and docs).
std::vector<std::string_view> known_algorithms(AlgorithmKind kind);

struct ListenerSettings {
  tcp::endpoint endpoint;
};

struct Settings {
  std::vector<ListenerSettings> listeners;
  // Private host key files (OpenSSH or PEM format, unencrypted, not readable by group or
  // others): at most one Ed25519, one ECDSA and one RSA key.
  std::vector<std::string> host_key_files;
  Algorithms algorithms = default_algorithms();
  // Software version in the identification string "SSH-2.0-<version>" (no libssh version
  // number for scanners to match against).
  std::string version = "filegate";
};

}  // namespace filegate::sftp
