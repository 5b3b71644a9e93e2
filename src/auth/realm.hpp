// The realm: who may log in, with which credentials, over which protocols, and what they may do.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/permissions.hpp"
#include "core/result.hpp"

namespace filegate::auth {

enum class Protocol : unsigned { ftp = 1u << 0, ftps = 1u << 1, sftp = 1u << 2 };
inline constexpr unsigned all_protocols = 0b111;
std::string_view protocol_name(Protocol p);

// Per-user relaxations or tightenings of the front-end's TLS policy (FTPS). Unset: the
// listener's or the server's policy applies.
struct TlsOverrides {
  std::optional<bool> control_required;
  std::optional<bool> data_required;
  // false exempts a client that cannot resume TLS sessions on data connections (e.g. Python's
  // ftplib); every such exempt connection is logged.
  std::optional<bool> session_reuse_required;
  std::optional<bool> allow_ccc;  // overrides ftp.tls.allow_ccc
};

// Mutual TLS login: the client certificate (verified against the FTPS client CA) that
// identifies this user, by its subject's common name.
struct CertificateLogin {
  std::string common_name;
  // true: certificate AND password; false: the certificate alone logs the user in.
  bool password_required = true;
};

// The SSH (SFTP) login methods an account accepts; keyboard-interactive counts as a password.
// publickey_and_password: a key first, then the password (SSH partial success), like OpenSSH's
// "AuthenticationMethods publickey,password".
enum class SshAuthentication { any, password, publickey, publickey_and_password };

struct User {
  std::string name;
  std::string password_hash;  // crypt(3) form; empty disables password login
  std::string home;           // host directory that is '/' for this user
  PermissionRules permissions;
  unsigned protocols = all_protocols;  // bits of Protocol
  bool disabled = false;
  bool anonymous = false;              // any password is accepted (it is logged as an e-mail)
  std::vector<std::string> authorized_keys;  // OpenSSH public key lines (SFTP)
  SshAuthentication ssh_authentication = SshAuthentication::any;
  TlsOverrides tls;
  std::optional<CertificateLogin> certificate;
  // Logged-in sessions at once, over all protocols; overrides limits.max_sessions_per_user
  // (0: no limit).
  std::optional<std::size_t> max_sessions;

  bool allows(Protocol p) const { return (protocols & static_cast<unsigned>(p)) != 0; }
};

// Why a login failed. Clients are told only "login incorrect"; the log gets the reason.
enum class AuthErrc { bad_credentials = 1, disabled, protocol_not_allowed, certificate_required, too_many_sessions };
const boost::system::error_category& auth_category();
error_code make_error_code(AuthErrc e);

class Realm {
 public:
  // `anonymous`, when set, is the account behind the names "anonymous" and "ftp".
  Realm(std::vector<User> users, std::optional<User> anonymous);

  // The account for a login name, or nullptr.
  std::shared_ptr<const User> find(std::string_view name) const;
  bool anonymous_enabled() const { return anonymous_ != nullptr; }

  // Checks a password login. CPU-heavy (hash): call from the worker pool. An unknown name costs
  // as much as a known one.
  Result<std::shared_ptr<const User>> authenticate(std::string_view name,
                                                   std::string_view password,
                                                   Protocol protocol) const;

 private:
  std::vector<std::shared_ptr<const User>> users_;  // sorted by name
  std::shared_ptr<const User> anonymous_;
  std::string reference_hash_;  // for burn_equivalent_time
};

}  // namespace filegate::auth

template <>
struct boost::system::is_error_code_enum<filegate::auth::AuthErrc> : std::true_type {};
