#include "auth/authorized_fs.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "support/recording_fs.hpp"

namespace filegate::auth {
namespace {

using vfs::OpenMode;

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

bool denied(const error_code& ec) { return vfs::is(ec, vfs::Errc::permission_denied); }

// One AuthorizedFilesystem over a recording fake; each test gives the letters for "/" and,
// optionally, for "/other" (to test two-path operations).
// The calls an operation made, without the real_path look-ups the permission check itself
// does to see where a path leads.
std::vector<std::string> operations(const testing::RecordingFilesystem& fs) {
  std::vector<std::string> out;
  for (const auto& call : fs.calls()) {
    if (!call.starts_with("real_path ")) out.push_back(call);
  }
  return out;
}

struct Fixture {
  explicit Fixture(std::string_view letters, std::string_view other_letters = "")
      : inner(std::make_shared<testing::RecordingFilesystem>()),
        fs(inner, PermissionRules(set(letters), {{path("/other"), set(other_letters), true}})) {}

  // True if the operation reached the inner filesystem (resolving where a path leads, which
  // the permission check itself does, does not count).
  bool reached() const { return !operations(*inner).empty(); }

  std::shared_ptr<testing::RecordingFilesystem> inner;
  AuthorizedFilesystem fs;
};

OpenMode mode(unsigned flags) {
  OpenMode m;
  m.flags = flags;
  return m;
}

struct OpenCase {
  unsigned flags;
  const char* letters;
  bool allowed;
};

TEST(AuthorizedFilesystem, OpenChecksTheLetterForTheMode) {
  const OpenCase cases[] = {
      {OpenMode::read, "r", true},
      {OpenMode::read, "elwadfmMT", false},
      {OpenMode::write | OpenMode::create | OpenMode::truncate, "w", true},
      {OpenMode::write | OpenMode::create | OpenMode::truncate, "elradfmMT", false},
      {OpenMode::write, "w", true},
      {OpenMode::write, "a", false},
      {OpenMode::create, "w", true},
      {OpenMode::create | OpenMode::exclusive | OpenMode::write, "w", true},
      {OpenMode::create | OpenMode::exclusive | OpenMode::write, "a", false},
      // Append without truncation cannot destroy data: 'a' alone is enough.
      {OpenMode::write | OpenMode::append, "a", true},
      {OpenMode::write | OpenMode::append | OpenMode::create, "a", true},
      {OpenMode::write | OpenMode::append, "w", false},
      {OpenMode::write | OpenMode::append, "elrdfmMT", false},
      // Truncating needs 'w' even with append.
      {OpenMode::write | OpenMode::append | OpenMode::truncate, "a", false},
      {OpenMode::write | OpenMode::append | OpenMode::truncate, "wa", true},
      // Read and write at once needs both.
      {OpenMode::read | OpenMode::write, "r", false},
      {OpenMode::read | OpenMode::write, "w", false},
      {OpenMode::read | OpenMode::write, "rw", true},
      // A mode with no access flags is treated as a read.
      {0, "r", true},
      {0, "elwadfmMT", false},
  };
  for (const auto& c : cases) {
    Fixture f(c.letters);
    const auto result = f.fs.open(path("/file"), mode(c.flags));
    EXPECT_EQ(bool(result), c.allowed) << "flags " << c.flags << " letters " << c.letters;
    EXPECT_EQ(f.reached(), c.allowed) << "flags " << c.flags << " letters " << c.letters;
    if (!c.allowed) {
      EXPECT_TRUE(denied(result.error()));
    }
  }
}

TEST(AuthorizedFilesystem, CachedOpenChecksTheSameLettersOrWaitsForAWorker) {
  // Without per-directory rules the letters need no disk: a cached open is checked as any.
  {
    auto inner = std::make_shared<testing::RecordingFilesystem>();
    AuthorizedFilesystem fs(inner, PermissionRules(set("elwadfmMT")));
    const auto result = fs.open(path("/file"), mode(OpenMode::read | OpenMode::cached));
    ASSERT_FALSE(result);
    EXPECT_TRUE(denied(result.error()));
    EXPECT_TRUE(inner->calls().empty());
    EXPECT_TRUE(fs.stat_cached(path("/file")));  // 'l' is enough to stat
    EXPECT_EQ(inner->calls(), std::vector<std::string>{"stat_cached /file"});
    inner->clear();
    EXPECT_TRUE(denied(AuthorizedFilesystem(inner, PermissionRules(set("r"))).stat_cached(path("/file")).error()));
    EXPECT_TRUE(inner->calls().empty());
  }
  {
    auto inner = std::make_shared<testing::RecordingFilesystem>();
    AuthorizedFilesystem fs(inner, PermissionRules(set("r")));
    EXPECT_TRUE(fs.open(path("/file"), mode(OpenMode::read | OpenMode::cached)));
    EXPECT_EQ(inner->calls().size(), 1u);
  }
  // With them the check resolves the path on disk: would_block, before anything is looked up.
  Fixture f("r", "r");
  const auto result = f.fs.open(path("/file"), mode(OpenMode::read | OpenMode::cached));
  ASSERT_FALSE(result);
  EXPECT_TRUE(vfs::is(result.error(), vfs::Errc::would_block));
  EXPECT_TRUE(vfs::is(f.fs.stat_cached(path("/file")).error(), vfs::Errc::would_block));
  EXPECT_TRUE(f.inner->calls().empty());
}

TEST(AuthorizedFilesystem, StatNeedsListOrChangeDirectory) {
  for (const auto& [letters, allowed] : std::vector<std::pair<const char*, bool>>{
           {"l", true}, {"e", true}, {"el", true}, {"radfmwMT", false}, {"", false}}) {
    Fixture f(letters);
    EXPECT_EQ(bool(f.fs.stat(path("/x"))), allowed) << letters;
    EXPECT_EQ(bool(f.fs.lstat(path("/x"))), allowed) << letters;
    EXPECT_EQ(bool(f.fs.stat_filesystem(path("/x"))), allowed) << letters;
    EXPECT_EQ(operations(*f.inner).size(), allowed ? 3u : 0u) << letters;
  }
}

TEST(AuthorizedFilesystem, SingleLetterOperations) {
  struct Case {
    const char* name;
    Permission needed;
    std::function<bool(AuthorizedFilesystem&)> call;
  };
  const std::vector<Case> cases = {
      {"open_directory", Permission::list, [](auto& fs) { return bool(fs.open_directory(path("/d"))); }},
      {"read_link", Permission::list, [](auto& fs) { return bool(fs.read_link(path("/l"))); }},
      {"make_directory", Permission::make_directory,
       [](auto& fs) { return bool(fs.make_directory(path("/d"), 0755)); }},
      {"remove_directory", Permission::remove, [](auto& fs) { return bool(fs.remove_directory(path("/d"))); }},
      {"remove_file", Permission::remove, [](auto& fs) { return bool(fs.remove_file(path("/f"))); }},
      {"symlink", Permission::upload, [](auto& fs) { return bool(fs.symlink(path("/l"), "target")); }},
      {"hard_link", Permission::upload, [](auto& fs) { return bool(fs.hard_link(path("/f"), path("/l"))); }},
  };
  for (const auto& c : cases) {
    Fixture with(PermissionSet().with(c.needed).letters());
    EXPECT_TRUE(c.call(with.fs)) << c.name;
    EXPECT_TRUE(with.reached()) << c.name;
    // Every other letter together is still not enough.
    std::string others;
    for (const char l : std::string("elradfmwMT")) {
      if (l != PermissionSet().with(c.needed).letters()[0]) others.push_back(l);
    }
    Fixture without(others);
    EXPECT_FALSE(c.call(without.fs)) << c.name;
    EXPECT_FALSE(without.reached()) << c.name;
  }
}

TEST(AuthorizedFilesystem, RenameNeedsRenameOnBothPaths) {
  {
    Fixture f("elf", "elf");
    EXPECT_TRUE(f.fs.rename(path("/a"), path("/other/b"), vfs::RenameMode::replace));
    EXPECT_EQ(operations(*f.inner), std::vector<std::string>{"rename /a /other/b"});
  }
  {
    Fixture f("elf", "elrw");  // may not rename into /other
    const auto r = f.fs.rename(path("/a"), path("/other/b"), vfs::RenameMode::replace);
    ASSERT_FALSE(r);
    EXPECT_TRUE(denied(r.error()));
    EXPECT_FALSE(f.reached());
  }
  {
    Fixture f("elrw", "elf");  // may not rename out of /
    EXPECT_FALSE(f.fs.rename(path("/a"), path("/other/b"), vfs::RenameMode::no_replace));
    EXPECT_FALSE(f.reached());
  }
}

TEST(AuthorizedFilesystem, LinksAreCheckedOnTheNewName) {
  Fixture f("elr", "elw");
  EXPECT_TRUE(f.fs.symlink(path("/other/link"), "/secret"));
  EXPECT_FALSE(f.fs.symlink(path("/link"), "/other/x"));
  EXPECT_TRUE(f.fs.hard_link(path("/other/file"), path("/other/link")));
  EXPECT_FALSE(f.fs.hard_link(path("/other/file"), path("/link")));
}

TEST(AuthorizedFilesystem, HardLinkNeedsUploadOnTheExistingFileToo) {
  // Linking a download-only file into a writable directory would make it overwritable there.
  Fixture f("elr", "elw");
  EXPECT_FALSE(f.fs.hard_link(path("/file"), path("/other/link")));
  EXPECT_FALSE(f.reached());
}

TEST(AuthorizedFilesystem, SetAttributesNeedsALetterPerField) {
  vfs::AttributeChange mode_change;
  mode_change.permissions = 0600;
  vfs::AttributeChange time_change;
  time_change.modify_time = vfs::TimePoint{};
  vfs::AttributeChange atime_change;
  atime_change.access_time = vfs::TimePoint{};
  vfs::AttributeChange size_change;
  size_change.size = 0;
  vfs::AttributeChange both;
  both.permissions = 0644;
  both.modify_time = vfs::TimePoint{};

  struct Case {
    const vfs::AttributeChange* change;
    const char* letters;
    bool allowed;
  };
  const Case cases[] = {
      {&mode_change, "M", true},      {&mode_change, "elradfmwT", false}, {&time_change, "T", true},
      {&time_change, "elradfmwM", false}, {&atime_change, "T", true},  {&atime_change, "M", false},
      {&size_change, "w", true},      {&size_change, "elradfmMT", false}, {&both, "MT", true},
      {&both, "M", false},            {&both, "T", false},
  };
  for (const auto& c : cases) {
    Fixture f(c.letters);
    const auto r = f.fs.set_attributes(path("/f"), *c.change, true);
    EXPECT_EQ(bool(r), c.allowed) << c.letters;
    EXPECT_EQ(f.reached(), c.allowed) << c.letters;
    if (!c.allowed) {
      EXPECT_TRUE(denied(r.error()));
    }
  }
}

TEST(AuthorizedFilesystem, OwnershipChangesAreAlwaysRefused) {
  vfs::AttributeChange uid;
  uid.uid = 0;
  vfs::AttributeChange gid;
  gid.gid = 0;
  Fixture f("elradfmwMT");
  EXPECT_TRUE(denied(f.fs.set_attributes(path("/f"), uid, true).error()));
  EXPECT_TRUE(denied(f.fs.set_attributes(path("/f"), gid, false).error()));
  EXPECT_FALSE(f.reached());
}

TEST(AuthorizedFilesystem, RealPathNeedsNoLetter) {
  Fixture f("");
  EXPECT_TRUE(f.fs.real_path(path("/a/b")));
  EXPECT_EQ(f.inner->calls(), std::vector<std::string>{"real_path /a/b"});
}

TEST(AuthorizedFilesystem, ChangeDirectoryNeedsEAndADirectory) {
  {
    Fixture f("e");
    f.inner->set_type("/dir", vfs::FileType::directory);
    EXPECT_TRUE(f.fs.change_directory(path("/dir")));
    const auto r = f.fs.change_directory(path("/file"));
    ASSERT_FALSE(r);
    EXPECT_TRUE(vfs::is(r.error(), vfs::Errc::not_a_directory));
  }
  {
    Fixture f("lradfmwMT");
    f.inner->set_type("/dir", vfs::FileType::directory);
    const auto r = f.fs.change_directory(path("/dir"));
    ASSERT_FALSE(r);
    EXPECT_TRUE(denied(r.error()));
    EXPECT_FALSE(f.reached());
  }
}

TEST(AuthorizedFilesystem, CheckAndEffectiveFollowTheRules) {
  Fixture f("el", "ew");
  EXPECT_TRUE(f.fs.check(Permission::list, path("/x")));
  EXPECT_TRUE(denied(f.fs.check(Permission::list, path("/other/x")).error()));
  EXPECT_TRUE(f.fs.check(Permission::upload, path("/other/x")));
  EXPECT_EQ(f.fs.effective(path("/other/deep/x")).letters(), "ew");
  EXPECT_FALSE(f.reached());
}

// The drop-box layout end to end: upload-only /inbox, download-only /outbox.
TEST(AuthorizedFilesystem, DropBox) {
  auto inner = std::make_shared<testing::RecordingFilesystem>();
  AuthorizedFilesystem fs(inner, PermissionRules(set("el"), {{path("/inbox"), set("ew"), true},
                                                          {path("/outbox"), set("elr"), true}}));
  EXPECT_TRUE(fs.open(path("/inbox/up.bin"), mode(OpenMode::write | OpenMode::create | OpenMode::truncate)));
  EXPECT_FALSE(fs.open(path("/inbox/up.bin"), mode(OpenMode::read)));
  EXPECT_FALSE(fs.open_directory(path("/inbox")));
  EXPECT_FALSE(fs.remove_file(path("/inbox/up.bin")));
  EXPECT_TRUE(fs.open(path("/outbox/down.bin"), mode(OpenMode::read)));
  EXPECT_FALSE(fs.open(path("/outbox/down.bin"), mode(OpenMode::write | OpenMode::truncate)));
  EXPECT_TRUE(fs.open_directory(path("/outbox")));
  EXPECT_FALSE(fs.rename(path("/outbox/down.bin"), path("/inbox/x"), vfs::RenameMode::replace));
  EXPECT_FALSE(fs.make_directory(path("/new"), 0755));
  EXPECT_EQ(operations(*inner),
            (std::vector<std::string>{"open /inbox/up.bin", "open /outbox/down.bin", "open_directory /outbox"}));
}

}  // namespace
}  // namespace filegate::auth
