#include "auth/permissions.hpp"

#include <gtest/gtest.h>

#include "vfs/errors.hpp"

namespace filegate::auth {
namespace {

vfs::Path path(std::string_view text) {
  auto p = vfs::Path::parse(text);
  EXPECT_TRUE(p) << text;
  return p ? *p : vfs::Path();
}

PermissionSet set(std::string_view letters) {
  auto s = PermissionSet::parse(letters);
  EXPECT_TRUE(s) << letters;
  return s ? *s : PermissionSet();
}

std::string effective(const PermissionRules& rules, std::string_view p) { return rules.effective(path(p)).letters(); }

TEST(PermissionSet, ParsesAllLettersInAnyOrder) {
  EXPECT_EQ(set("elradfmwMT").letters(), "elradfmwMT");
  EXPECT_EQ(set("TMwmfdarle").letters(), "elradfmwMT");
  EXPECT_EQ(set("wT").letters(), "wT");
  EXPECT_EQ(PermissionSet::all().letters(), "elradfmwMT");
  EXPECT_EQ(set("elradfmwMT"), PermissionSet::all());
}

TEST(PermissionSet, EachLetterMapsToItsPermission) {
  const std::pair<char, Permission> table[] = {
      {'e', Permission::change_directory}, {'l', Permission::list},   {'r', Permission::download},
      {'a', Permission::append},           {'d', Permission::remove}, {'f', Permission::rename},
      {'m', Permission::make_directory},   {'w', Permission::upload}, {'M', Permission::change_mode},
      {'T', Permission::set_time},
  };
  for (const auto& [letter, permission] : table) {
    const auto s = set(std::string(1, letter));
    EXPECT_TRUE(s.has(permission)) << letter;
    EXPECT_EQ(s, PermissionSet().with(permission)) << letter;
  }
}

TEST(PermissionSet, EmptyIsNoRights) {
  const auto s = set("");
  EXPECT_TRUE(s.empty());
  EXPECT_EQ(s.letters(), "");
}

TEST(PermissionSet, RejectsUnknownLetters) {
  for (const char* bad : {"x", "elrx", "E", "m w", "elr\n", "t", "W"}) {
    const auto s = PermissionSet::parse(bad);
    ASSERT_FALSE(s) << bad;
    EXPECT_TRUE(vfs::is(s.error(), vfs::Errc::invalid_argument));
  }
}

TEST(PermissionSet, RejectsRepeatedLetters) {
  for (const char* bad : {"ee", "elre", "elradfmwMTe", "MM"}) {
    const auto s = PermissionSet::parse(bad);
    ASSERT_FALSE(s) << bad;
    EXPECT_TRUE(vfs::is(s.error(), vfs::Errc::invalid_argument));
  }
}

TEST(PermissionRules, BaseAppliesWithoutRules) {
  const PermissionRules rules(set("elr"));
  EXPECT_EQ(effective(rules, "/"), "elr");
  EXPECT_EQ(effective(rules, "/a/b/c"), "elr");
  EXPECT_TRUE(rules.allows(Permission::download, path("/x")));
  EXPECT_FALSE(rules.allows(Permission::upload, path("/x")));
}

TEST(PermissionRules, DefaultConstructedAllowsNothing) {
  const PermissionRules rules;
  EXPECT_TRUE(rules.effective(path("/")).empty());
}

// The classic drop box: the user may upload into /inbox but not read back or list it, and may
// download from /outbox but not change it.
TEST(PermissionRules, UploadOnlyInboxAndDownloadOnlyOutbox) {
  const PermissionRules rules(set("el"), {{path("/inbox"), set("ew"), true}, {path("/outbox"), set("elr"), true}});
  EXPECT_EQ(effective(rules, "/"), "el");
  EXPECT_EQ(effective(rules, "/inbox"), "ew");
  EXPECT_EQ(effective(rules, "/inbox/report.pdf"), "ew");
  EXPECT_EQ(effective(rules, "/inbox/2024/q1/report.pdf"), "ew");
  EXPECT_FALSE(rules.allows(Permission::download, path("/inbox/report.pdf")));
  EXPECT_FALSE(rules.allows(Permission::list, path("/inbox")));
  EXPECT_EQ(effective(rules, "/outbox/data.csv"), "elr");
  EXPECT_FALSE(rules.allows(Permission::upload, path("/outbox/data.csv")));
  EXPECT_FALSE(rules.allows(Permission::remove, path("/outbox/data.csv")));
}

TEST(PermissionRules, PrefixOfANameIsNotAParent) {
  const PermissionRules rules(set("el"), {{path("/inbox"), set("ew"), true}});
  EXPECT_EQ(effective(rules, "/inboxes"), "el");
  EXPECT_EQ(effective(rules, "/inbox2/file"), "el");
}

TEST(PermissionRules, MostSpecificRuleWinsWhateverTheOrder) {
  const DirectoryRule outer{path("/data"), set("el"), true};
  const DirectoryRule inner{path("/data/public"), set("elr"), true};
  const DirectoryRule innermost{path("/data/public/upload"), set("elw"), true};
  for (const auto& order : {std::vector{outer, inner, innermost}, std::vector{innermost, outer, inner},
                            std::vector{inner, innermost, outer}}) {
    const PermissionRules rules(set(""), order);
    EXPECT_EQ(effective(rules, "/"), "");
    EXPECT_EQ(effective(rules, "/data"), "el");
    EXPECT_EQ(effective(rules, "/data/private/x"), "el");
    EXPECT_EQ(effective(rules, "/data/public"), "elr");
    EXPECT_EQ(effective(rules, "/data/public/a/b"), "elr");
    EXPECT_EQ(effective(rules, "/data/public/upload"), "elw");
    EXPECT_EQ(effective(rules, "/data/public/upload/deep/file"), "elw");
  }
}

TEST(PermissionRules, RulesReplaceRatherThanAdd) {
  // A more specific rule can take rights away as well as grant them.
  const PermissionRules rules(PermissionSet::all(), {{path("/readonly"), set("elr"), true}});
  EXPECT_EQ(effective(rules, "/readonly/f"), "elr");
  EXPECT_EQ(effective(rules, "/other"), "elradfmwMT");
}

TEST(PermissionRules, NonRecursiveRuleCoversDirectoryAndDirectChildrenOnly) {
  const PermissionRules rules(set("el"), {{path("/drop"), set("elw"), false}});
  EXPECT_EQ(effective(rules, "/drop"), "elw");
  EXPECT_EQ(effective(rules, "/drop/file"), "elw");
  EXPECT_EQ(effective(rules, "/drop/sub/file"), "el");
}

TEST(PermissionRules, NonRecursiveInnerRuleFallsBackToOuterRule) {
  const PermissionRules rules(set(""), {{path("/a"), set("elr"), true}, {path("/a/b"), set("elw"), false}});
  EXPECT_EQ(effective(rules, "/a/b/c"), "elw");
  EXPECT_EQ(effective(rules, "/a/b/c/d"), "elr");
}

TEST(PermissionRules, RootRuleCoversEverything) {
  const PermissionRules rules(set(""), {{path("/"), set("elr"), true}});
  EXPECT_EQ(effective(rules, "/"), "elr");
  EXPECT_EQ(effective(rules, "/x/y"), "elr");
  const PermissionRules shallow(set(""), {{path("/"), set("elr"), false}});
  EXPECT_EQ(effective(shallow, "/x"), "elr");
  EXPECT_EQ(effective(shallow, "/x/y"), "");
}

TEST(PermissionRules, RulesAreKeptMostSpecificFirst) {
  const PermissionRules rules(set("e"), {{path("/a"), set("l"), true}, {path("/a/b/c"), set("r"), true},
                                        {path("/a/b"), set("w"), true}});
  ASSERT_EQ(rules.rules().size(), 3u);
  EXPECT_EQ(rules.rules()[0].path.str(), "/a/b/c");
  EXPECT_EQ(rules.rules()[2].path.str(), "/a");
  EXPECT_EQ(rules.base().letters(), "e");
}

}  // namespace
}  // namespace filegate::auth
