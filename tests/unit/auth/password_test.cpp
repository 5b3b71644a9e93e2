#include "auth/password.hpp"

#include <gtest/gtest.h>

#include <string>

namespace filegate::auth {
namespace {

using namespace std::string_literals;

// Fixed hashes of "correct horse", made with libxcrypt outside the test, so verification is
// checked against hashes this code did not produce itself.
constexpr const char* yescrypt_hash = "$y$j9T$EP84zqWmQLfMfI2fvzYdy.$0Mv5iM0Qre8kmQ0gi1FcJhKt3MTmvMMbQ2iLJawV/Y7";
constexpr const char* sha512_hash =
    "$6$I6oWYb2DZyK.oNET$t0zXuulTVSXS7lpyQ2Ihc.9N00PJ1Foqe3iKTwuBCBve0v1J9NOIbV.0zRz/rJUK8Yh53YljZKaiyfohXfOq51";
constexpr const char* sha256_hash = "$5$ecI0AdQdYGww.KeC$FGygoV.oakq95k7zgVnSqh3QHiITWTJApMdu5MMjJN8";
constexpr const char* bcrypt_hash = "$2b$05$zTeRgFo0hu4qllQwFKZ5X.GY3lHv6Q6gLtifv3QNeLrKTY7.md7hK";
constexpr const char* md5_hash = "$1$zbT3TPyK$Ht9rao3ftYkp8FOusviB51";

class KnownHash : public ::testing::TestWithParam<const char*> {};

TEST_P(KnownHash, VerifiesTheRightPassword) { EXPECT_TRUE(verify_password("correct horse", GetParam())); }

TEST_P(KnownHash, RejectsWrongPasswords) {
  const std::string hash = GetParam();
  EXPECT_FALSE(verify_password("correct horsE", hash));
  EXPECT_FALSE(verify_password("correct hors", hash));
  EXPECT_FALSE(verify_password("correct horse ", hash));
  EXPECT_FALSE(verify_password("", hash));
}

TEST_P(KnownHash, RejectsPasswordsWithNul) {
  // crypt(3) would see only "correct horse" and match; the NUL must make it fail instead.
  EXPECT_FALSE(verify_password("correct horse\0extra"s, GetParam()));
  EXPECT_FALSE(verify_password("\0correct horse"s, GetParam()));
}

TEST(Password, ModernMethodsAreSupportedForConfig) {
  EXPECT_TRUE(is_supported_hash(yescrypt_hash));
  EXPECT_TRUE(is_supported_hash(sha512_hash));
  EXPECT_TRUE(is_supported_hash(bcrypt_hash));
  // Debian's libxcrypt classes sha256-crypt as legacy (crypt_checksalt says so); it still
  // verifies, but new configs should not use it.
  EXPECT_FALSE(is_supported_hash(sha256_hash));
}

TEST_P(KnownHash, TruncatedHashNeverMatches) {
  std::string hash = GetParam();
  hash.pop_back();
  EXPECT_FALSE(verify_password("correct horse", hash));
}

INSTANTIATE_TEST_SUITE_P(Methods, KnownHash,
                         ::testing::Values(yescrypt_hash, sha512_hash, sha256_hash, bcrypt_hash));

TEST(Password, MalformedHashesNeverMatch) {
  for (const std::string& hash : {""s, "*"s, "*0"s, "!"s, "!!"s, "$y$"s, "$6$"s, "$6$salt"s, "$x$abc$def"s,
                                 "not a hash"s}) {
    EXPECT_FALSE(verify_password("correct horse", hash)) << hash;
    EXPECT_FALSE(verify_password("", hash)) << hash;
    EXPECT_FALSE(is_supported_hash(hash)) << hash;
  }
}

TEST(Password, ImpossibleCostNeverMatches) {
  // crypt_checksalt() looks at the method only, so this passes config validation; crypt refuses
  // it at login, and that must read as "wrong password", never as a match.
  EXPECT_FALSE(verify_password("correct horse", "$2b$99$zTeRgFo0hu4qllQwFKZ5X.GY3lHv6Q6gLtifv3QNeLrKTY7.md7hK"));
}

TEST(Password, HashWithNulIsRejected) {
  const std::string hash = std::string(sha256_hash) + "\0junk"s;
  EXPECT_FALSE(verify_password("correct horse", hash));
  EXPECT_FALSE(is_supported_hash(hash));
}

TEST(Password, LegacyMethodsAreNotSupportedForConfig) {
  EXPECT_FALSE(is_supported_hash(md5_hash));
  EXPECT_FALSE(is_supported_hash("abJnggxhB/yWI"));  // traditional DES
}

TEST(Password, LockedAccountMarkersNeverMatch) {
  // "!" prefixes (as in /etc/shadow) lock an account; crypt refuses them.
  EXPECT_FALSE(verify_password("correct horse", "!"s + sha256_hash));
  EXPECT_FALSE(is_supported_hash("!"s + sha256_hash));
}

class NewHash : public ::testing::TestWithParam<const char*> {};

TEST_P(NewHash, RoundTrips) {
  const auto hash = hash_password("s3cret pass", GetParam());
  ASSERT_TRUE(hash) << hash.error().message();
  EXPECT_EQ(hash->rfind(GetParam(), 0), 0u) << *hash;
  EXPECT_EQ(is_supported_hash(*hash), std::string(GetParam()) != "$5$");
  EXPECT_TRUE(verify_password("s3cret pass", *hash));
  EXPECT_FALSE(verify_password("s3cret pasS", *hash));
  EXPECT_FALSE(verify_password("s3cret pass\0"s, *hash));
}

INSTANTIATE_TEST_SUITE_P(Methods, NewHash, ::testing::Values("$y$", "$6$", "$5$", "$2b$"));

TEST(Password, FreshSaltEachTime) {
  const auto a = hash_password("same", "$5$");
  const auto b = hash_password("same", "$5$");
  ASSERT_TRUE(a && b);
  EXPECT_NE(*a, *b);
}

TEST(Password, DefaultMethodIsYescrypt) {
  const auto hash = hash_password("x");
  ASSERT_TRUE(hash);
  EXPECT_EQ(hash->rfind("$y$", 0), 0u);
}

TEST(Password, HashPasswordRefusesNulAndUnknownMethods) {
  EXPECT_FALSE(hash_password("a\0b"s, "$6$"));
  EXPECT_FALSE(hash_password("x", "$nope$"));
}

TEST(Password, BurnEquivalentTimeToleratesAnyInput) {
  burn_equivalent_time(sha256_hash);
  burn_equivalent_time("");
  burn_equivalent_time("garbage");
  burn_equivalent_time("x\0y"s);
}

}  // namespace
}  // namespace filegate::auth
