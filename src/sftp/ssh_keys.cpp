#include "sftp/ssh_keys.hpp"

#include <fcntl.h>
#include <libssh/libssh.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cerrno>
#include <cstdint>
#include <cstring>

namespace filegate::sftp {

void KeyDeleter::operator()(ssh_key_struct* key) const { ssh_key_free(key); }

namespace {

struct CharDeleter {
  void operator()(char* p) const { ssh_string_free_char(p); }
};

// Strict RFC 4648 base64 (padding optional at the end only); nullopt on anything else.
std::optional<std::string> decode_base64(std::string_view text) {
  static constexpr std::string_view alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(text.size() * 3 / 4);
  std::uint32_t bits = 0;
  int count = 0;
  for (const char c : text) {
    const auto value = alphabet.find(c);
    if (value == std::string_view::npos) return std::nullopt;
    bits = (bits << 6) | static_cast<std::uint32_t>(value);
    count += 6;
    if (count >= 8) {
      count -= 8;
      out.push_back(static_cast<char>((bits >> count) & 0xff));
    }
  }
  return out;
}

// Reads one SSH "string" (uint32 length + bytes) from the front of `blob`.
std::optional<std::string_view> read_string(std::string_view& blob) {
  if (blob.size() < 4) return std::nullopt;
  const auto* p = reinterpret_cast<const unsigned char*>(blob.data());
  const std::uint32_t length = (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) |
                               (std::uint32_t{p[2]} << 8) | std::uint32_t{p[3]};
  if (blob.size() - 4 < length) return std::nullopt;
  const auto out = blob.substr(4, length);
  blob.remove_prefix(4 + length);
  return out;
}

// Bits of an SSH mpint (leading zero bytes ignored).
unsigned mpint_bits(std::string_view value) {
  while (!value.empty() && value.front() == '\0') value.remove_prefix(1);
  if (value.empty()) return 0;
  unsigned bits = static_cast<unsigned>(value.size() - 1) * 8;
  for (auto top = static_cast<unsigned char>(value.front()); top != 0; top >>= 1) ++bits;
  return bits;
}

constexpr std::array<std::string_view, 7> user_key_types{
    "ssh-ed25519",         "ecdsa-sha2-nistp256",        "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521", "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com",
    "ssh-rsa"};

struct KeyLine {
  std::string_view type;
  std::string_view base64;
};

std::optional<KeyLine> split_key_line(std::string_view line) {
  const auto blank = [](char c) { return c == ' ' || c == '\t'; };
  std::size_t i = 0;
  while (i < line.size() && blank(line[i])) ++i;
  std::size_t start = i;
  while (i < line.size() && !blank(line[i])) ++i;
  KeyLine out{line.substr(start, i - start), {}};
  while (i < line.size() && blank(line[i])) ++i;
  start = i;
  while (i < line.size() && !blank(line[i])) ++i;
  out.base64 = line.substr(start, i - start);
  if (out.type.empty() || out.base64.empty()) return std::nullopt;
  return out;
}

// The decoded key blob of an OpenSSH public key line, or nullopt (without reasons: see
// check_authorized_key for those).
std::optional<std::string> line_blob(std::string_view line) {
  const auto parts = split_key_line(line);
  if (!parts) return std::nullopt;
  return decode_base64(parts->base64);
}

std::optional<std::string> key_blob(const ssh_key_struct* key) {
  char* raw = nullptr;
  if (ssh_pki_export_pubkey_base64(const_cast<ssh_key>(key), &raw) != SSH_OK || raw == nullptr) return std::nullopt;
  std::unique_ptr<char, CharDeleter> text(raw);
  return decode_base64(text.get());
}

}  // namespace

std::optional<std::string> check_authorized_key(std::string_view line) {
  const auto parts = split_key_line(line);
  if (!parts) return "expected an OpenSSH public key line \"<type> <base64> [comment]\"";
  const std::string type(parts->type);
  const bool known_type =
      std::find(user_key_types.begin(), user_key_types.end(), parts->type) != user_key_types.end();
  if (!known_type) {
    if (type.find('=') != std::string::npos || type == "restrict" || type.find(',') != std::string::npos ||
        type.rfind("no-", 0) == 0 || type == "cert-authority") {
      return "authorized_keys options (from=, command=, restrict ...) are not supported; give the bare key";
    }
    if (type.find("-cert-v01@openssh.com") != std::string::npos) return "certificates are not supported";
    if (type == "ssh-dss") return "DSA keys are not accepted (insecure); use Ed25519 or ECDSA";
    return "unsupported key type '" + type.substr(0, 40) +
           "' (ssh-ed25519, ecdsa-sha2-nistp256/384/521, sk-ssh-ed25519@openssh.com, "
           "sk-ecdsa-sha2-nistp256@openssh.com, ssh-rsa)";
  }
  auto blob = decode_base64(parts->base64);
  if (!blob) return "the key is not valid base64";
  std::string_view rest(*blob);
  const auto inner_type = read_string(rest);
  if (!inner_type || *inner_type != parts->type) return "the key data does not match its type '" + type + "'";
  if (type == "ssh-rsa") {
    const auto exponent = read_string(rest);
    const auto modulus = exponent ? read_string(rest) : std::nullopt;
    if (!modulus) return "malformed RSA key";
    const unsigned bits = mpint_bits(*modulus);
    if (bits < min_rsa_bits) {
      return "RSA key of " + std::to_string(bits) + " bits is too short (at least " +
             std::to_string(min_rsa_bits) + ")";
    }
  }
  ssh_key key = nullptr;
  const std::string base64(parts->base64);
  if (ssh_pki_import_pubkey_base64(base64.c_str(), ssh_key_type_from_name(type.c_str()), &key) != SSH_OK ||
      key == nullptr) {
    return "not a valid " + type + " public key";
  }
  ssh_key_free(key);
  return std::nullopt;
}

bool key_is_authorized(const ssh_key_struct* offered, const std::vector<std::string>& lines) {
  const auto wanted = key_blob(offered);
  if (!wanted) return false;
  bool found = false;
  // Every line is compared, so the time taken does not say which line matched.
  for (const auto& line : lines) {
    const auto blob = line_blob(line);
    if (blob && blob->size() == wanted->size() && std::memcmp(blob->data(), wanted->data(), blob->size()) == 0) {
      found = true;
    }
  }
  return found;
}

std::string fingerprint(const ssh_key_struct* key) {
  unsigned char* hash = nullptr;
  size_t length = 0;
  if (ssh_get_publickey_hash(const_cast<ssh_key>(key), SSH_PUBLICKEY_HASH_SHA256, &hash, &length) != SSH_OK) {
    return "";
  }
  char* text = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, length);
  ssh_clean_pubkey_hash(&hash);
  if (text == nullptr) return "";
  std::string out(text);
  ssh_string_free_char(text);
  return out;
}

std::string key_type_name(const ssh_key_struct* key) {
  const char* name = ssh_key_type_to_char(ssh_key_type(const_cast<ssh_key>(key)));
  if (name == nullptr) return "unknown";
  // libssh names every ECDSA key "ecdsa" here; the curve is in the signature algorithm name.
  const char* ecdsa = ssh_pki_key_ecdsa_name(const_cast<ssh_key>(key));
  if (ecdsa != nullptr && std::strncmp(name, "ecdsa", 5) == 0) return ecdsa;
  return name;
}

std::optional<std::vector<HostKey>> load_host_keys(const std::vector<std::string>& files, std::string& error) {
  std::vector<HostKey> keys;
  bool have_ed25519 = false;
  bool have_ecdsa = false;
  bool have_rsa = false;
  for (std::size_t i = 0; i < files.size(); ++i) {
    const std::string& file = files[i];
    const std::string setting = "host_keys[" + std::to_string(i) + "]: ";
    // The permission check opens the file itself, so it judges what libssh then reads.
    const int fd = ::open(file.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
      error = setting + "cannot read host key " + file + ": " + std::strerror(errno);
      return std::nullopt;
    }
    struct stat st {};
    const int stat_rc = ::fstat(fd, &st);
    ::close(fd);
    if (stat_rc != 0 || !S_ISREG(st.st_mode)) {
      error = setting + "host key " + file + " is not a regular file";
      return std::nullopt;
    }
    if ((st.st_mode & 077) != 0) {
      // SECURITY: sshd refuses such keys too; anyone who can read it can impersonate the server.
      char mode[8];
      std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
      error = setting + "host key " + file + " is readable by group or others (mode " + mode + "); chmod 600 it";
      return std::nullopt;
    }
    ssh_key raw = nullptr;
    const int rc = ssh_pki_import_privkey_file(file.c_str(), nullptr, nullptr, nullptr, &raw);
    if (rc != SSH_OK || raw == nullptr) {
      error = setting + "cannot load host key " + file +
              ": not an unencrypted private key in OpenSSH or PEM format (make one with "
              "ssh-keygen -t ed25519 -N '' -f FILE)";
      return std::nullopt;
    }
    HostKey host;
    host.key.reset(raw);
    host.file = file;
    host.type = key_type_name(raw);
    host.fingerprint = fingerprint(raw);
    bool* slot = nullptr;
    switch (ssh_key_type(raw)) {
      case SSH_KEYTYPE_ED25519:
        slot = &have_ed25519;
        break;
      case SSH_KEYTYPE_ECDSA_P256:
      case SSH_KEYTYPE_ECDSA_P384:
      case SSH_KEYTYPE_ECDSA_P521:
        slot = &have_ecdsa;
        break;
      case SSH_KEYTYPE_RSA: {
        slot = &have_rsa;
        // The public blob carries the modulus: refuse short keys like user keys are refused.
        const auto blob = key_blob(raw);
        std::string_view rest = blob ? std::string_view(*blob) : std::string_view();
        const auto type = read_string(rest);
        const auto exponent = type ? read_string(rest) : std::nullopt;
        const auto modulus = exponent ? read_string(rest) : std::nullopt;
        if (!modulus || mpint_bits(*modulus) < min_rsa_bits) {
          error = setting + "host key " + file + ": RSA keys need at least " + std::to_string(min_rsa_bits) + " bits";
          return std::nullopt;
        }
        break;
      }
      default:
        error = setting + "host key " + file + ": unsupported key type " + host.type + " (use Ed25519, ECDSA or RSA)";
        return std::nullopt;
    }
    if (*slot) {
      error = setting + "host key " + file + ": a second " + host.type +
              " key (at most one Ed25519, one ECDSA and one RSA key)";
      return std::nullopt;
    }
    *slot = true;
    keys.push_back(std::move(host));
  }
  if (keys.empty()) {
    error = "no host key configured";
    return std::nullopt;
  }
  return keys;
}

}  // namespace filegate::sftp
