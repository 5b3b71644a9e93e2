#include "auth/realm.hpp"

#include <gtest/gtest.h>

#include <string>

namespace filegate::auth {
namespace {

using namespace std::string_literals;

// sha256-crypt of "correct horse": fast enough to check many times in one test.
constexpr const char* hash = "$5$ecI0AdQdYGww.KeC$FGygoV.oakq95k7zgVnSqh3QHiITWTJApMdu5MMjJN8";

User make_user(std::string name, unsigned protocols = all_protocols, bool disabled = false) {
  User u;
  u.name = std::move(name);
  u.password_hash = hash;
  u.home = "/srv/files/" + u.name;
  u.permissions = PermissionRules(PermissionSet::all());
  u.protocols = protocols;
  u.disabled = disabled;
  return u;
}

User make_anonymous() {
  User u;
  u.name = "anonymous";
  u.home = "/srv/files/public";
  u.permissions = PermissionRules(*PermissionSet::parse("elr"));
  u.protocols = static_cast<unsigned>(Protocol::ftp) | static_cast<unsigned>(Protocol::ftps);
  return u;
}

Realm make_realm(bool with_anonymous = true) {
  User keyonly = make_user("keyonly");
  keyonly.password_hash.clear();
  keyonly.authorized_keys.push_back("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeFakeFake k@h");
  std::vector<User> users{make_user("zoe"), make_user("alice"),
                          make_user("sftponly", static_cast<unsigned>(Protocol::sftp)),
                          make_user("gone", all_protocols, true), std::move(keyonly)};
  std::optional<User> anonymous;
  if (with_anonymous) anonymous = make_anonymous();
  return Realm(std::move(users), std::move(anonymous));
}

error_code failure(const Result<std::shared_ptr<const User>>& r) { return r ? error_code() : r.error(); }

TEST(Realm, FindsUsersByExactName) {
  const Realm realm = make_realm();
  ASSERT_TRUE(realm.find("alice"));
  EXPECT_EQ(realm.find("alice")->name, "alice");
  EXPECT_EQ(realm.find("zoe")->name, "zoe");
  EXPECT_EQ(realm.find("gone")->name, "gone");
  EXPECT_FALSE(realm.find("Alice"));
  EXPECT_FALSE(realm.find("alic"));
  EXPECT_FALSE(realm.find("alice "));
  EXPECT_FALSE(realm.find(""));
  EXPECT_FALSE(realm.find("bob"));
}

TEST(Realm, AnonymousNamesMapToTheAnonymousAccount) {
  const Realm realm = make_realm();
  EXPECT_TRUE(realm.anonymous_enabled());
  for (const char* name : {"anonymous", "ftp"}) {
    const auto user = realm.find(name);
    ASSERT_TRUE(user) << name;
    EXPECT_TRUE(user->anonymous);
    EXPECT_EQ(user->home, "/srv/files/public");
  }
}

TEST(Realm, NoAnonymousAccountUnlessConfigured) {
  const Realm realm = make_realm(false);
  EXPECT_FALSE(realm.anonymous_enabled());
  EXPECT_FALSE(realm.find("anonymous"));
  EXPECT_FALSE(realm.find("ftp"));
  EXPECT_EQ(failure(realm.authenticate("anonymous", "me@example.com", Protocol::ftp)), AuthErrc::bad_credentials);
}

TEST(Realm, RightPasswordLogsIn) {
  const Realm realm = make_realm();
  for (const auto protocol : {Protocol::ftp, Protocol::ftps, Protocol::sftp}) {
    const auto result = realm.authenticate("alice", "correct horse", protocol);
    ASSERT_TRUE(result) << result.error().message();
    EXPECT_EQ((*result)->name, "alice");
  }
}

TEST(Realm, WrongPasswordIsBadCredentials) {
  const Realm realm = make_realm();
  EXPECT_EQ(failure(realm.authenticate("alice", "wrong", Protocol::ftp)), AuthErrc::bad_credentials);
  EXPECT_EQ(failure(realm.authenticate("alice", "", Protocol::ftp)), AuthErrc::bad_credentials);
  EXPECT_EQ(failure(realm.authenticate("alice", "correct horse\0x"s, Protocol::ftp)), AuthErrc::bad_credentials);
}

TEST(Realm, UnknownUserIsBadCredentials) {
  const Realm realm = make_realm();
  EXPECT_EQ(failure(realm.authenticate("mallory", "correct horse", Protocol::ftp)), AuthErrc::bad_credentials);
  EXPECT_EQ(failure(realm.authenticate("", "", Protocol::ftp)), AuthErrc::bad_credentials);
}

TEST(Realm, AccountWithoutPasswordHashIsBadCredentials) {
  const Realm realm = make_realm();
  EXPECT_EQ(failure(realm.authenticate("keyonly", "", Protocol::sftp)), AuthErrc::bad_credentials);
  EXPECT_EQ(failure(realm.authenticate("keyonly", "anything", Protocol::sftp)), AuthErrc::bad_credentials);
}

TEST(Realm, DisabledIsReportedOnlyAfterTheRightPassword) {
  const Realm realm = make_realm();
  EXPECT_EQ(failure(realm.authenticate("gone", "correct horse", Protocol::ftp)), AuthErrc::disabled);
  EXPECT_EQ(failure(realm.authenticate("gone", "wrong", Protocol::ftp)), AuthErrc::bad_credentials);
}

TEST(Realm, ProtocolNotAllowedIsReportedOnlyAfterTheRightPassword) {
  const Realm realm = make_realm();
  EXPECT_EQ(failure(realm.authenticate("sftponly", "correct horse", Protocol::ftp)), AuthErrc::protocol_not_allowed);
  EXPECT_EQ(failure(realm.authenticate("sftponly", "correct horse", Protocol::ftps)), AuthErrc::protocol_not_allowed);
  EXPECT_EQ(failure(realm.authenticate("sftponly", "wrong", Protocol::ftp)), AuthErrc::bad_credentials);
  EXPECT_TRUE(realm.authenticate("sftponly", "correct horse", Protocol::sftp));
}

TEST(Realm, AnonymousAcceptsAnyPasswordOnItsProtocols) {
  const Realm realm = make_realm();
  for (const char* name : {"anonymous", "ftp"}) {
    for (const char* password : {"", "me@example.com", "whatever"}) {
      const auto result = realm.authenticate(name, password, Protocol::ftp);
      ASSERT_TRUE(result) << name << " / " << password;
      EXPECT_TRUE((*result)->anonymous);
    }
  }
  EXPECT_TRUE(realm.authenticate("anonymous", "x", Protocol::ftps));
  EXPECT_EQ(failure(realm.authenticate("anonymous", "x", Protocol::sftp)), AuthErrc::protocol_not_allowed);
}

TEST(Realm, AuthCategoryHasMessages) {
  const error_code ec = AuthErrc::bad_credentials;
  EXPECT_STREQ(ec.category().name(), "filegate.auth");
  EXPECT_EQ(&ec.category(), &auth_category());
  EXPECT_FALSE(ec.message().empty());
  EXPECT_NE(make_error_code(AuthErrc::disabled).message(), make_error_code(AuthErrc::protocol_not_allowed).message());
  EXPECT_NE(ec, make_error_code(AuthErrc::disabled));
}

TEST(Realm, ProtocolNames) {
  EXPECT_EQ(protocol_name(Protocol::ftp), "ftp");
  EXPECT_EQ(protocol_name(Protocol::ftps), "ftps");
  EXPECT_EQ(protocol_name(Protocol::sftp), "sftp");
}

TEST(Realm, EmptyRealmRefusesEveryone) {
  const Realm realm({}, std::nullopt);
  EXPECT_EQ(failure(realm.authenticate("alice", "correct horse", Protocol::ftp)), AuthErrc::bad_credentials);
}

}  // namespace
}  // namespace filegate::auth
