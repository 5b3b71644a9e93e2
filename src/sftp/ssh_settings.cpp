#include "sftp/ssh_settings.hpp"

#include <algorithm>
#include <array>

namespace filegate::sftp {
namespace {

struct Known {
  AlgorithmKind kind;
  std::string_view name;
  AlgorithmStatus status;
  bool offered_by_default;
};

// Every algorithm name filegate accepts, with what it is. The names are libssh 0.10's; names it
// does not implement (sntrup761, umac) or that are broken beyond a legacy excuse
// (diffie-hellman-group1-sha1, 3des-cbc, ssh-dss, "none") are not here, so a config naming
// them fails to load.
constexpr auto modern = AlgorithmStatus::modern;
constexpr auto legacy = AlgorithmStatus::legacy;
constexpr std::array<Known, 41> known_table{{
    // Key exchange. Strict key exchange (kex-strict-s-v00@openssh.com, the Terrapin
    // countermeasure) is added by libssh 0.10.6 itself and is not configurable.
    {AlgorithmKind::kex, "curve25519-sha256", modern, true},
    {AlgorithmKind::kex, "curve25519-sha256@libssh.org", modern, true},
    {AlgorithmKind::kex, "ecdh-sha2-nistp256", modern, true},
    {AlgorithmKind::kex, "ecdh-sha2-nistp384", modern, true},
    {AlgorithmKind::kex, "ecdh-sha2-nistp521", modern, true},
    {AlgorithmKind::kex, "diffie-hellman-group16-sha512", modern, true},
    {AlgorithmKind::kex, "diffie-hellman-group18-sha512", modern, true},
    {AlgorithmKind::kex, "diffie-hellman-group-exchange-sha256", legacy, false},
    {AlgorithmKind::kex, "diffie-hellman-group14-sha256", legacy, false},
    {AlgorithmKind::kex, "diffie-hellman-group14-sha1", legacy, false},
    // Ciphers: AEAD first.
    {AlgorithmKind::ciphers, "aes256-gcm@openssh.com", modern, true},
    {AlgorithmKind::ciphers, "aes128-gcm@openssh.com", modern, true},
    {AlgorithmKind::ciphers, "chacha20-poly1305@openssh.com", modern, true},
    {AlgorithmKind::ciphers, "aes256-ctr", modern, true},
    {AlgorithmKind::ciphers, "aes192-ctr", modern, true},
    {AlgorithmKind::ciphers, "aes128-ctr", modern, true},
    {AlgorithmKind::ciphers, "aes256-cbc", legacy, false},
    {AlgorithmKind::ciphers, "aes192-cbc", legacy, false},
    {AlgorithmKind::ciphers, "aes128-cbc", legacy, false},
    // MACs (only used with the CTR ciphers; GCM and chacha20-poly1305 authenticate
    // themselves). The non-EtM SHA-2 MACs stay on by default: Debian 12's paramiko and many
    // Java and .NET clients offer no EtM MAC, and strict key exchange closes Terrapin for them.
    {AlgorithmKind::macs, "hmac-sha2-256-etm@openssh.com", modern, true},
    {AlgorithmKind::macs, "hmac-sha2-512-etm@openssh.com", modern, true},
    {AlgorithmKind::macs, "hmac-sha2-256", modern, true},
    {AlgorithmKind::macs, "hmac-sha2-512", modern, true},
    {AlgorithmKind::macs, "hmac-sha1-etm@openssh.com", legacy, false},
    {AlgorithmKind::macs, "hmac-sha1", legacy, false},
    // Host key signatures: RSA only with SHA-2.
    {AlgorithmKind::host_keys, "ssh-ed25519", modern, true},
    {AlgorithmKind::host_keys, "ecdsa-sha2-nistp256", modern, true},
    {AlgorithmKind::host_keys, "ecdsa-sha2-nistp384", modern, true},
    {AlgorithmKind::host_keys, "ecdsa-sha2-nistp521", modern, true},
    {AlgorithmKind::host_keys, "rsa-sha2-512", modern, true},
    {AlgorithmKind::host_keys, "rsa-sha2-256", modern, true},
    {AlgorithmKind::host_keys, "ssh-rsa", legacy, false},
    // User key signatures, including FIDO security keys.
    {AlgorithmKind::public_keys, "ssh-ed25519", modern, true},
    {AlgorithmKind::public_keys, "ecdsa-sha2-nistp256", modern, true},
    {AlgorithmKind::public_keys, "ecdsa-sha2-nistp384", modern, true},
    {AlgorithmKind::public_keys, "ecdsa-sha2-nistp521", modern, true},
    {AlgorithmKind::public_keys, "sk-ssh-ed25519@openssh.com", modern, true},
    {AlgorithmKind::public_keys, "sk-ecdsa-sha2-nistp256@openssh.com", modern, true},
    {AlgorithmKind::public_keys, "rsa-sha2-512", modern, true},
    {AlgorithmKind::public_keys, "rsa-sha2-256", modern, true},
    {AlgorithmKind::public_keys, "ssh-rsa", legacy, false},
}};

}  // namespace

std::string_view algorithm_kind_name(AlgorithmKind kind) {
  switch (kind) {
    case AlgorithmKind::kex:
      return "kex";
    case AlgorithmKind::ciphers:
      return "ciphers";
    case AlgorithmKind::macs:
      return "macs";
    case AlgorithmKind::host_keys:
      return "host_keys";
    case AlgorithmKind::public_keys:
      return "public_keys";
  }
  return "unknown";
}

std::vector<std::string>& Algorithms::list(AlgorithmKind kind) {
  return const_cast<std::vector<std::string>&>(std::as_const(*this).list(kind));
}

const std::vector<std::string>& Algorithms::list(AlgorithmKind kind) const {
  switch (kind) {
    case AlgorithmKind::kex:
      return kex;
    case AlgorithmKind::ciphers:
      return ciphers;
    case AlgorithmKind::macs:
      return macs;
    case AlgorithmKind::host_keys:
      return host_keys;
    case AlgorithmKind::public_keys:
      break;
  }
  return public_keys;
}

Algorithms default_algorithms() {
  Algorithms out;
  for (const auto& known : known_table) {
    if (known.offered_by_default) out.list(known.kind).emplace_back(known.name);
  }
  return out;
}

AlgorithmStatus algorithm_status(AlgorithmKind kind, std::string_view name) {
  const auto it = std::find_if(known_table.begin(), known_table.end(),
                               [&](const Known& k) { return k.kind == kind && k.name == name; });
  return it == known_table.end() ? AlgorithmStatus::unknown : it->status;
}

std::vector<std::string_view> known_algorithms(AlgorithmKind kind) {
  std::vector<std::string_view> out;
  for (const auto& known : known_table) {
    if (known.kind == kind) out.push_back(known.name);
  }
  return out;
}

}  // namespace filegate::sftp
