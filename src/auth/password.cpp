#include "auth/password.hpp"

#include <crypt.h>
#include <openssl/crypto.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "vfs/errors.hpp"

namespace filegate::auth {
namespace {

// struct crypt_data is about 32 KiB: too large for the small stacks of coroutine-driven worker
// threads, so it lives on the heap. It holds the plaintext and intermediate state while hashing,
// so it is wiped before it is freed.
struct CryptScratch {
  CryptScratch() : data(std::make_unique<crypt_data>()) { std::memset(data.get(), 0, sizeof(crypt_data)); }
  ~CryptScratch() { OPENSSL_cleanse(data.get(), sizeof(crypt_data)); }
  CryptScratch(const CryptScratch&) = delete;
  CryptScratch& operator=(const CryptScratch&) = delete;
  std::unique_ptr<crypt_data> data;
};

// A NUL-terminated copy of a password that is wiped when it goes out of scope.
class SecretString {
 public:
  explicit SecretString(std::string_view text) : text_(text) {}
  ~SecretString() { OPENSSL_cleanse(text_.data(), text_.size()); }
  SecretString(const SecretString&) = delete;
  SecretString& operator=(const SecretString&) = delete;
  const char* c_str() const { return text_.c_str(); }

 private:
  std::string text_;
};

bool contains_nul(std::string_view text) { return text.find('\0') != std::string_view::npos; }

// Hashes `password` with the settings (method, cost, salt) in `setting`. nullptr when libxcrypt
// refuses; the result points into `scratch`.
const char* run_crypt(const char* password, const char* setting, CryptScratch& scratch) {
  const char* result = crypt_rn(password, setting, scratch.data.get(), sizeof(crypt_data));
  // SECURITY: libxcrypt signals failure with a null pointer and, in the output buffer, a string
  // starting with '*' that can never equal a real hash. Treat both as "no hash", so a broken
  // stored hash can never be matched by a crafted password.
  if (result == nullptr || result[0] == '*' || result[0] == '\0') return nullptr;
  return result;
}

}  // namespace

bool verify_password(std::string_view password, const std::string& hash) {
  // SECURITY: crypt(3) takes C strings; a NUL would silently truncate the password (or the
  // hash), so "secret\0anything" would match "secret".
  if (contains_nul(password) || contains_nul(hash) || hash.empty()) return false;
  const SecretString phrase(password);
  CryptScratch scratch;
  const char* computed = run_crypt(phrase.c_str(), hash.c_str(), scratch);
  if (computed == nullptr) return false;
  const std::size_t length = std::strlen(computed);
  // The length of a hash is public (it follows from its method), so only the contents need a
  // constant-time comparison.
  if (length != hash.size()) return false;
  return CRYPTO_memcmp(computed, hash.data(), length) == 0;
}

bool is_supported_hash(std::string_view hash) {
  if (hash.empty() || contains_nul(hash)) return false;
  const std::string copy(hash);
  // SECURITY: legacy methods (DES, bigcrypt, BSDi, md5) are weak enough to brute-force; refuse
  // them at configuration time rather than accepting them at login.
  if (crypt_checksalt(copy.c_str()) != CRYPT_SALT_OK) return false;
  // crypt_checksalt() looks at the setting only, so it accepts a bare "$y$" or "$6$salt". A
  // complete modern hash is "$id$[params$]salt$checksum": at least three '$' and a non-empty
  // checksum. Catching a truncated paste here beats an account nobody can log in to.
  const auto dollars = std::count(hash.begin(), hash.end(), '$');
  return hash.front() == '$' && dollars >= 3 && hash.back() != '$';
}

Result<std::string> hash_password(std::string_view password, std::string_view prefix) {
  if (contains_nul(password) || contains_nul(prefix)) {
    return vfs::make_error_code(vfs::Errc::invalid_argument);
  }
  const std::string method(prefix);
  char setting[CRYPT_GENSALT_OUTPUT_SIZE] = {};
  // No random bytes passed: libxcrypt reads the salt from the OS RNG (getrandom) itself. A count
  // of 0 selects the method's default cost.
  if (crypt_gensalt_rn(method.c_str(), 0, nullptr, 0, setting, sizeof(setting)) == nullptr ||
      setting[0] == '*') {
    return vfs::make_error_code(vfs::Errc::invalid_argument);
  }
  const SecretString phrase(password);
  CryptScratch scratch;
  const char* result = run_crypt(phrase.c_str(), setting, scratch);
  if (result == nullptr) return vfs::make_error_code(vfs::Errc::invalid_argument);
  return std::string(result);
}

void burn_equivalent_time(const std::string& reference_hash) {
  if (reference_hash.empty() || contains_nul(reference_hash)) return;
  CryptScratch scratch;
  // The result is irrelevant; only the work matters. The compiler cannot elide an external call.
  (void)run_crypt("filegate-no-such-user", reference_hash.c_str(), scratch);
}

}  // namespace filegate::auth
