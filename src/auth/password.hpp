// Password hashes in crypt(3) form, verified with Debian's libxcrypt: yescrypt ($y$),
// sha512-crypt ($6$), sha256-crypt ($5$), bcrypt ($2b$/$2y$), and the other libxcrypt formats.
// Plaintext passwords are never stored or logged.
#pragma once

#include <string>
#include <string_view>

#include "core/result.hpp"

namespace filegate::auth {

// True if `password` matches `hash`. Compares in constant time. CPU-heavy by design (the hash's
// cost): call from the worker pool, never on the event loop.
bool verify_password(std::string_view password, const std::string& hash);

// True if libxcrypt recognises the hash's format (used by config validation).
bool is_supported_hash(std::string_view hash);

// A new hash with a fresh random salt. `prefix` selects the method: "$y$" (yescrypt, the
// default), "$6$" (sha512-crypt), "$2b$" (bcrypt).
Result<std::string> hash_password(std::string_view password, std::string_view prefix = "$y$");

// Runs a hash computation of the same cost as a real check, for unknown user names, so that
// response time does not reveal which names exist.
void burn_equivalent_time(const std::string& reference_hash);

}  // namespace filegate::auth
