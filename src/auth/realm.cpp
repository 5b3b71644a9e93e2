#include "auth/realm.hpp"

#include <algorithm>
#include <utility>

#include "auth/password.hpp"

namespace filegate::auth {
namespace {

// boost's error_category has a protected, non-virtual destructor by design (categories are never
// deleted through a base pointer); -Wnon-virtual-dtor flags every subclass regardless.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"
class AuthCategory final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "filegate.auth"; }
  std::string message(int value) const override {
    switch (static_cast<AuthErrc>(value)) {
      case AuthErrc::bad_credentials:
        return "unknown user or wrong password";
      case AuthErrc::disabled:
        return "account disabled";
      case AuthErrc::protocol_not_allowed:
        return "protocol not allowed for this account";
      case AuthErrc::certificate_required:
        return "the account's client certificate was not presented";
      case AuthErrc::too_many_sessions:
        return "too many sessions for this user";
    }
    return "unknown authentication error";
  }
};
#pragma GCC diagnostic pop

// The login names that mean "the anonymous account" (RFC 1635).
bool is_anonymous_name(std::string_view name) { return name == "anonymous" || name == "ftp"; }

// Used for burn_equivalent_time when no configured user has a password hash: a yescrypt hash at
// the default cost, so an unknown name still costs what a real check would. The password behind
// it is irrelevant (and unknown).
constexpr const char* fallback_reference_hash =
    "$y$j9T$0NSBd8CzP2ke2cMBqL67D/$w24XQ0h0DQJZ7Q3YyUKNQd2ZO3PCU.Zoc9l0iDYD3WB";

}  // namespace

std::string_view protocol_name(Protocol p) {
  switch (p) {
    case Protocol::ftp:
      return "ftp";
    case Protocol::ftps:
      return "ftps";
    case Protocol::sftp:
      return "sftp";
  }
  return "unknown";
}

const boost::system::error_category& auth_category() {
  static const AuthCategory category;
  return category;
}

error_code make_error_code(AuthErrc e) { return error_code(static_cast<int>(e), auth_category()); }

Realm::Realm(std::vector<User> users, std::optional<User> anonymous) {
  users_.reserve(users.size());
  for (auto& user : users) {
    if (reference_hash_.empty() && !user.password_hash.empty() && is_supported_hash(user.password_hash)) {
      // A real user's hash has the method and cost the site actually uses, so failing for an
      // unknown name takes as long as failing for a known one.
      reference_hash_ = user.password_hash;
    }
    users_.push_back(std::make_shared<const User>(std::move(user)));
  }
  std::stable_sort(users_.begin(), users_.end(),
                   [](const auto& a, const auto& b) { return a->name < b->name; });
  if (reference_hash_.empty()) reference_hash_ = fallback_reference_hash;
  if (anonymous) {
    anonymous->anonymous = true;
    anonymous_ = std::make_shared<const User>(std::move(*anonymous));
  }
}

std::shared_ptr<const User> Realm::find(std::string_view name) const {
  // SECURITY: the reserved names only ever reach the anonymous account; with anonymous access
  // off they match nobody (the config refuses them as ordinary user names too).
  if (is_anonymous_name(name)) return anonymous_;
  const auto it = std::lower_bound(users_.begin(), users_.end(), name,
                                   [](const auto& user, std::string_view n) { return user->name < n; });
  if (it == users_.end() || (*it)->name != name) return nullptr;
  return *it;
}

Result<std::shared_ptr<const User>> Realm::authenticate(std::string_view name,
                                                        std::string_view password,
                                                        Protocol protocol) const {
  auto user = find(name);
  if (!user) {
    // SECURITY: an unknown name costs a full hash, so timing does not reveal which names exist.
    burn_equivalent_time(reference_hash_);
    return make_error_code(AuthErrc::bad_credentials);
  }
  if (!user->anonymous) {
    if (user->password_hash.empty()) {
      // SECURITY: key-only accounts answer exactly like a wrong password, in the same time.
      burn_equivalent_time(reference_hash_);
      return make_error_code(AuthErrc::bad_credentials);
    }
    if (!verify_password(password, user->password_hash)) {
      return make_error_code(AuthErrc::bad_credentials);
    }
  }
  // SECURITY: "disabled" and "protocol not allowed" are only reported after the password was
  // right, so they reveal nothing to someone guessing; front-ends still tell the client only
  // "login incorrect".
  if (user->disabled) return make_error_code(AuthErrc::disabled);
  if (!user->allows(protocol)) return make_error_code(AuthErrc::protocol_not_allowed);
  return user;
}

}  // namespace filegate::auth
