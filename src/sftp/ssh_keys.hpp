// SSH keys: the server's host keys and the users' authorized public keys (OpenSSH lines).
//
// check_authorized_key() is what the config loader uses, so a key pasted wrong stops start-up
// instead of silently never matching; the SSH transport then matches offered keys with
// key_is_authorized().
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

struct ssh_key_struct;

namespace filegate::sftp {

struct KeyDeleter {
  void operator()(ssh_key_struct* key) const;
};
using KeyPtr = std::unique_ptr<ssh_key_struct, KeyDeleter>;

// RSA keys shorter than this are refused, as user keys (config) and as host keys (start-up).
inline constexpr unsigned min_rsa_bits = 2048;

// Why an OpenSSH public key line ("<type> <base64> [comment]") is not acceptable, or nullopt
// when it is. Refused: key options (from=, command=, restrict ...: ignoring them would grant
// more than the line says), certificates, DSA, RSA under min_rsa_bits, a blob that does not
// match its type.
std::optional<std::string> check_authorized_key(std::string_view line);

// Whether `offered` (a public key from a client) is one of the OpenSSH lines in `lines`.
bool key_is_authorized(const ssh_key_struct* offered, const std::vector<std::string>& lines);

// "SHA256:<base64>", as OpenSSH prints it; "" if the key cannot be hashed.
std::string fingerprint(const ssh_key_struct* key);
// The key's type name, e.g. "ssh-ed25519".
std::string key_type_name(const ssh_key_struct* key);

struct HostKey {
  KeyPtr key;
  std::string file;
  std::string type;         // ssh-ed25519, ecdsa-sha2-nistp256 ... ssh-rsa
  std::string fingerprint;  // of the public half, for the start-up log
};

// Loads private host keys. SECURITY: like sshd, a key file that group or others may read is
// refused. At most one key per slot (Ed25519, ECDSA, RSA): libssh serves one of each. On
// failure `error` names the file and says why.
std::optional<std::vector<HostKey>> load_host_keys(const std::vector<std::string>& files, std::string& error);

}  // namespace filegate::sftp
