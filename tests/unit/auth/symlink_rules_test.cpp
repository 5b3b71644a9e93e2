// Per-directory rules hold against symlinks and hard links on a real filesystem: a link cannot
// carry a user's letters from one directory into another.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "auth/authorized_fs.hpp"
#include "vfs/local_fs.hpp"

namespace filegate::auth {
namespace {

namespace fs = std::filesystem;

vfs::Path path(std::string_view text) { return vfs::Path::parse(text).value(); }
PermissionSet set(std::string_view letters) { return PermissionSet::parse(letters).value(); }

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

class SymlinkRules : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/filegate-auth-XXXXXX";
    root_ = mkdtemp(pattern);
    fs::create_directories(root_ / "inbox");
    fs::create_directories(root_ / "outbox");
    std::ofstream(root_ / "outbox" / "report.txt") << "original";
    std::ofstream(root_ / "inbox" / "upload.txt") << "confidential";
    auto local = vfs::LocalFilesystem::open_root(root_.string()).value();
    // The B2B layout: upload-only /inbox, download-only /outbox, nothing else.
    view_ = std::make_unique<AuthorizedFilesystem>(
        local, PermissionRules(set("e"), {{path("/inbox"), set("elw"), true},
                                          {path("/outbox"), set("elr"), true}}));
  }
  void TearDown() override { fs::remove_all(root_); }

  fs::path root_;
  std::unique_ptr<AuthorizedFilesystem> view_;
};

TEST_F(SymlinkRules, LinkInWritableDirectoryCannotOverwriteDownloadOnlyFile) {
  fs::create_symlink("../outbox/report.txt", root_ / "inbox" / "link");
  auto file = view_->open(path("/inbox/link"),
                          vfs::OpenMode{vfs::OpenMode::write | vfs::OpenMode::truncate});
  EXPECT_FALSE(file);
  EXPECT_EQ(read_all(root_ / "outbox" / "report.txt"), "original");
}

TEST_F(SymlinkRules, LinkInReadableDirectoryCannotReadUploadOnlyFile) {
  fs::create_symlink("../inbox/upload.txt", root_ / "outbox" / "peek");
  EXPECT_FALSE(view_->open(path("/outbox/peek"), vfs::OpenMode{vfs::OpenMode::read}));
  // The real file in /outbox is still readable.
  EXPECT_TRUE(view_->open(path("/outbox/report.txt"), vfs::OpenMode{vfs::OpenMode::read}));
}

TEST_F(SymlinkRules, DanglingLinkCannotCreateElsewhere) {
  fs::create_symlink("../outbox/new.txt", root_ / "inbox" / "dangling");
  EXPECT_FALSE(view_->open(path("/inbox/dangling"),
                           vfs::OpenMode{vfs::OpenMode::write | vfs::OpenMode::create}));
  EXPECT_FALSE(fs::exists(root_ / "outbox" / "new.txt"));
}

TEST_F(SymlinkRules, LinkedDirectoryCarriesTheRulesOfItsTarget) {
  fs::create_directory_symlink("../outbox", root_ / "inbox" / "out");
  EXPECT_FALSE(view_->open(path("/inbox/out/fresh.txt"),
                           vfs::OpenMode{vfs::OpenMode::write | vfs::OpenMode::create}));
  EXPECT_FALSE(fs::exists(root_ / "outbox" / "fresh.txt"));
  // An ordinary upload into /inbox still works.
  EXPECT_TRUE(view_->open(path("/inbox/fresh.txt"),
                          vfs::OpenMode{vfs::OpenMode::write | vfs::OpenMode::create}));
}

TEST_F(SymlinkRules, HardLinkOfDownloadOnlyFileIntoWritableDirectoryIsRefused) {
  EXPECT_FALSE(view_->hard_link(path("/outbox/report.txt"), path("/inbox/copy")));
  EXPECT_FALSE(fs::exists(root_ / "inbox" / "copy"));
}

TEST_F(SymlinkRules, LinksThemselvesAreManagedWithTheLettersOfTheirDirectory) {
  auto local = vfs::LocalFilesystem::open_root(root_.string()).value();
  AuthorizedFilesystem view(local, PermissionRules(set("e"), {{path("/inbox"), set("elwdf"), true},
                                                            {path("/outbox"), set("elr"), true}}));
  fs::create_symlink("../outbox/report.txt", root_ / "inbox" / "to-report");
  fs::create_symlink("../outbox/gone.txt", root_ / "inbox" / "dangling");
  fs::create_directory_symlink("../outbox", root_ / "inbox" / "out");
  // A dangling link can be inspected, renamed and removed where it lives.
  EXPECT_TRUE(view.lstat(path("/inbox/dangling")));
  EXPECT_TRUE(view.read_link(path("/inbox/dangling")));
  EXPECT_TRUE(view.rename(path("/inbox/dangling"), path("/inbox/dangling2"), vfs::RenameMode::no_replace));
  EXPECT_TRUE(view.remove_file(path("/inbox/dangling2")));
  EXPECT_FALSE(fs::is_symlink(root_ / "inbox" / "dangling2"));
  // Removing a link into /outbox removes the link only.
  EXPECT_TRUE(view.remove_file(path("/inbox/to-report")));
  EXPECT_EQ(read_all(root_ / "outbox" / "report.txt"), "original");
  // But an entry reached through a linked directory lives in /outbox: no 'd' or 'f' there.
  EXPECT_FALSE(view.remove_file(path("/inbox/out/report.txt")));
  EXPECT_FALSE(view.rename(path("/inbox/out/report.txt"), path("/inbox/stolen.txt"), vfs::RenameMode::no_replace));
  EXPECT_EQ(read_all(root_ / "outbox" / "report.txt"), "original");
}

}  // namespace
}  // namespace filegate::auth
