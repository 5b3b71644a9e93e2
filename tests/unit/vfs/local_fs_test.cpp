// LocalFilesystem on a real temporary directory: every operation, then the containment
// guarantees (escapes through '..', symlinks, and symlinks swapped in concurrently).
#include "vfs/local_fs.hpp"

#include <fcntl.h>
#include <stdio.h>  // renameat2, RENAME_EXCHANGE
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace filegate::vfs {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view outside_marker = "OUTSIDE-SECRET-MARKER";

template <class T>
::testing::AssertionResult ok(const Result<T>& r) {
  if (r) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << r.error().message();
}

Path P(std::string_view text) {
  auto p = Path::parse(text);
  EXPECT_TRUE(p) << text;
  return p ? *p : Path();
}

std::span<const std::byte> bytes(std::string_view s) {
  return std::as_bytes(std::span(s.data(), s.size()));
}

std::string read_all(File& file) {
  std::string out;
  std::byte buffer[4096];
  for (;;) {
    auto n = file.read(buffer, out.size());
    if (!n || *n == 0) break;
    out.append(reinterpret_cast<const char*>(buffer), *n);
  }
  return out;
}

void write_host(const fs::path& path, std::string_view content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

std::string read_host(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

class LocalFsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "filegate-vfs-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    base_ = tmpl;
    root_ = base_ / "root";
    outside_ = base_ / "outside";
    fs::create_directory(root_);
    fs::create_directory(outside_);
    write_host(outside_ / "secret", outside_marker);
    auto opened = LocalFilesystem::open_root(root_.string());
    ASSERT_TRUE(ok(opened));
    fs_ = *opened;
  }

  void TearDown() override {
    fs_.reset();
    std::error_code ec;
    // Make everything removable again (tests chmod things), then delete. remove_all never
    // follows symlinks, so the links pointing outside cannot take anything else with them.
    for (auto it = fs::recursive_directory_iterator(base_, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_directory(ec) && !it->is_symlink(ec)) ::chmod(it->path().c_str(), 0700);
    }
    fs::remove_all(base_, ec);
  }

  std::unique_ptr<File> open(std::string_view path, unsigned flags) {
    OpenMode mode;
    mode.flags = flags;
    auto f = fs_->open(P(path), mode);
    EXPECT_TRUE(ok(f)) << path;
    return f ? std::move(*f) : nullptr;
  }

  error_code open_error(std::string_view path, unsigned flags) {
    OpenMode mode;
    mode.flags = flags;
    auto f = fs_->open(P(path), mode);
    EXPECT_FALSE(f) << path;
    return f ? error_code() : f.error();
  }

  // Reads `path` through the VFS; "" if it cannot be opened.
  std::string try_read(std::string_view path) {
    OpenMode mode;
    auto f = fs_->open(P(path), mode);
    if (!f) return "";
    return read_all(**f);
  }

  // Results that must succeed; a failure is reported and a default value returned, so a
  // broken backend fails the test instead of dereferencing an empty result.
  Attributes stat_of(const Path& path) {
    auto r = fs_->stat(path);
    EXPECT_TRUE(ok(r)) << path.str();
    return r ? *r : Attributes{};
  }
  Attributes lstat_of(const Path& path) {
    auto r = fs_->lstat(path);
    EXPECT_TRUE(ok(r)) << path.str();
    return r ? *r : Attributes{};
  }
  std::string real(const Path& path) {
    auto r = fs_->real_path(path);
    if (!r) return "error: " + r.error().message();
    return r->str();
  }

  std::vector<DirectoryEntry> list(std::string_view path) {
    std::vector<DirectoryEntry> out;
    auto dir = fs_->open_directory(P(path));
    EXPECT_TRUE(ok(dir)) << path;
    if (!dir) return out;
    for (;;) {
      auto e = (*dir)->next();
      EXPECT_TRUE(ok(e));
      if (!e || !*e) break;
      out.push_back(std::move(**e));
    }
    return out;
  }

  fs::path base_;
  fs::path root_;
  fs::path outside_;
  std::shared_ptr<LocalFilesystem> fs_;
};

// --- basic operations -----------------------------------------------------------------------

TEST_F(LocalFsTest, OpenRootRefusesMissingOrNonDirectory) {
  auto missing = LocalFilesystem::open_root((base_ / "nope").string());
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error(), Errc::not_found);
  auto file = LocalFilesystem::open_root((outside_ / "secret").string());
  ASSERT_FALSE(file);
  EXPECT_EQ(file.error(), Errc::not_a_directory);
  auto empty = LocalFilesystem::open_root("");
  EXPECT_FALSE(empty);
}

TEST_F(LocalFsTest, CreateWriteReadStat) {
  auto f = open("/hello.txt", OpenMode::write | OpenMode::create);
  ASSERT_TRUE(f);
  auto n = f->write(bytes("hello world"), 0);
  ASSERT_TRUE(ok(n));
  EXPECT_EQ(*n, 11u);
  ASSERT_TRUE(ok(f->write(bytes("W"), 6)));
  ASSERT_TRUE(ok(f->sync()));
  auto st = f->stat();
  ASSERT_TRUE(ok(st));
  EXPECT_EQ(st->type, FileType::regular);
  EXPECT_EQ(st->size, 11u);
  EXPECT_GE(f->native_handle(), 0);
  ASSERT_TRUE(ok(f->close()));
  EXPECT_EQ(read_host(root_ / "hello.txt"), "hello World");

  auto r = open("/hello.txt", OpenMode::read);
  ASSERT_TRUE(r);
  EXPECT_EQ(read_all(*r), "hello World");
  std::byte buf[5];
  auto part = r->read(buf, 6);
  ASSERT_TRUE(ok(part));
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(buf), *part), "World");
  auto eof = r->read(buf, 100);
  ASSERT_TRUE(ok(eof));
  EXPECT_EQ(*eof, 0u);
  // A read-only file refuses writes.
  EXPECT_FALSE(r->write(bytes("x"), 0));

  auto s = fs_->stat(P("/hello.txt"));
  ASSERT_TRUE(ok(s));
  EXPECT_EQ(s->size, 11u);
  EXPECT_EQ(s->uid, ::geteuid());
  EXPECT_NE(s->inode, 0u);
}

TEST_F(LocalFsTest, CreatePermissionsDropSpecialBits) {
  OpenMode mode;
  mode.flags = OpenMode::write | OpenMode::create;
  mode.create_permissions = 04755;
  auto f = fs_->open(P("/p"), mode);
  ASSERT_TRUE(ok(f));
  struct stat st {};
  ASSERT_EQ(::stat((root_ / "p").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 04000, 0u);
}

TEST_F(LocalFsTest, FileCloseIsIdempotentAndInvalidatesHandle) {
  auto f = open("/c", OpenMode::write | OpenMode::create);
  ASSERT_TRUE(f);
  EXPECT_TRUE(ok(f->close()));
  EXPECT_TRUE(ok(f->close()));
  EXPECT_EQ(f->native_handle(), -1);
  std::byte buf[4];
  auto r = f->read(buf, 0);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Errc::bad_handle);
  EXPECT_EQ(f->write(bytes("x"), 0).error(), Errc::bad_handle);
  EXPECT_EQ(f->stat().error(), Errc::bad_handle);
  EXPECT_EQ(f->sync().error(), Errc::bad_handle);
  EXPECT_EQ(f->set_attributes({}).error(), Errc::bad_handle);
}

TEST_F(LocalFsTest, ExclusiveCreate) {
  const unsigned excl = OpenMode::write | OpenMode::create | OpenMode::exclusive;
  ASSERT_TRUE(open("/x", excl));
  EXPECT_EQ(open_error("/x", excl), Errc::exists);
  // Exclusive create does not follow a symlink at the final name either.
  fs::create_symlink("dangling-target", root_ / "dangling");
  EXPECT_EQ(open_error("/dangling", excl), Errc::exists);
  EXPECT_FALSE(fs::exists(root_ / "dangling-target"));
}

TEST_F(LocalFsTest, CreateThroughDanglingLinkStaysInside) {
  fs::create_symlink(outside_ / "created", root_ / "dangling");
  auto f = fs_->open(P("/dangling"), OpenMode{OpenMode::write | OpenMode::create, 0644});
  // Either refused, or created beneath the root: never next to the outside secret.
  EXPECT_FALSE(fs::exists(outside_ / "created"));
  (void)f;
}

TEST_F(LocalFsTest, AppendWritesAtEnd) {
  write_host(root_ / "log", "abc");
  auto f = open("/log", OpenMode::write | OpenMode::append);
  ASSERT_TRUE(f);
  ASSERT_TRUE(ok(f->write(bytes("def"), 0)));
  ASSERT_TRUE(ok(f->write(bytes("ghi"), 1)));
  f->close();
  EXPECT_EQ(read_host(root_ / "log"), "abcdefghi");
}

TEST_F(LocalFsTest, Truncate) {
  write_host(root_ / "t", "0123456789");
  ASSERT_TRUE(open("/t", OpenMode::write | OpenMode::truncate));
  EXPECT_EQ(read_host(root_ / "t"), "");
  write_host(root_ / "t", "0123456789");
  // Without truncate, writing overwrites in place.
  auto f = open("/t", OpenMode::write);
  ASSERT_TRUE(f);
  f->write(bytes("ab"), 0);
  f->close();
  EXPECT_EQ(read_host(root_ / "t"), "ab23456789");
  // A read-only open must not truncate.
  EXPECT_EQ(open_error("/t", OpenMode::read | OpenMode::truncate), Errc::invalid_argument);
  EXPECT_EQ(read_host(root_ / "t"), "ab23456789");
}

TEST_F(LocalFsTest, OpenErrors) {
  EXPECT_EQ(open_error("/missing", OpenMode::read), Errc::not_found);
  EXPECT_EQ(open_error("/missing/child", OpenMode::write | OpenMode::create), Errc::not_found);
  fs::create_directory(root_ / "d");
  EXPECT_EQ(open_error("/d", OpenMode::read), Errc::is_a_directory);
  EXPECT_EQ(open_error("/d", OpenMode::write), Errc::is_a_directory);
  write_host(root_ / "f", "x");
  EXPECT_EQ(open_error("/f/child", OpenMode::read), Errc::not_a_directory);
}

// The event loop's first try at a download (OpenMode::cached, File::read_cached): it answers
// from memory when it can and would_block when it would have to wait, never anything else.
std::string read_all_cached(File& file) {
  std::string out;
  std::byte buffer[4096];
  for (;;) {
    auto n = file.read_cached(buffer, out.size());
    if (!n) return "error: " + n.error().message();
    if (*n == 0) break;
    out.append(reinterpret_cast<const char*>(buffer), *n);
  }
  return out;
}

TEST_F(LocalFsTest, CachedOpenAndReadAnswerFromMemory) {
  fs::create_directory(root_ / "d");
  write_host(root_ / "d" / "f", "cached content");
  EXPECT_EQ(try_read("/d/f"), "cached content");  // now the path and the page are in memory
  auto file = fs_->open(P("/d/f"), OpenMode{OpenMode::read | OpenMode::cached});
  ASSERT_TRUE(ok(file));
  EXPECT_EQ(read_all_cached(**file), "cached content");
  // Past the end: 0, as read() says.
  std::byte buffer[16];
  auto past = (*file)->read_cached(buffer, 1 << 20);
  ASSERT_TRUE(ok(past));
  EXPECT_EQ(*past, 0u);
  // The usual answers still come through: a missing file (its parent is cached), a directory.
  EXPECT_TRUE(try_read("/d/missing").empty());
  auto missing = fs_->open(P("/d/missing"), OpenMode{OpenMode::read | OpenMode::cached});
  ASSERT_FALSE(missing);
  EXPECT_TRUE(is(missing.error(), Errc::not_found) || is(missing.error(), Errc::would_block)) << missing.error().message();
  auto directory = fs_->open(P("/d"), OpenMode{OpenMode::read | OpenMode::cached});
  ASSERT_FALSE(directory);
  EXPECT_EQ(directory.error(), Errc::is_a_directory);
  // stat_cached: the same attributes as stat.
  auto folder = fs_->stat_cached(P("/d"));
  ASSERT_TRUE(ok(folder));
  EXPECT_EQ(folder->type, FileType::directory);
  EXPECT_EQ(folder->inode, stat_of(P("/d")).inode);
  auto cached_file = fs_->stat_cached(P("/d/f"));
  ASSERT_TRUE(ok(cached_file));
  EXPECT_EQ(cached_file->size, 14u);
  auto gone = fs_->stat_cached(P("/d/missing"));
  ASSERT_FALSE(gone);
  EXPECT_TRUE(is(gone.error(), Errc::not_found) || is(gone.error(), Errc::would_block)) << gone.error().message();
}

TEST_F(LocalFsTest, CachedOpenNeverWritesCreatesOrTruncates) {
  write_host(root_ / "f", "keep me");
  EXPECT_EQ(try_read("/f"), "keep me");
  EXPECT_EQ(open_error("/f", OpenMode::write | OpenMode::cached), Errc::would_block);
  EXPECT_EQ(open_error("/f", OpenMode::write | OpenMode::truncate | OpenMode::cached), Errc::would_block);
  EXPECT_EQ(open_error("/f", OpenMode::append | OpenMode::cached), Errc::would_block);
  EXPECT_EQ(open_error("/new", OpenMode::write | OpenMode::create | OpenMode::cached), Errc::would_block);
  EXPECT_EQ(read_host(root_ / "f"), "keep me");
  EXPECT_FALSE(fs::exists(root_ / "new"));
}

TEST_F(LocalFsTest, CachedOpenDoesNotWaitForADirectoryNotYetLookedUp) {
  // Made behind the VFS's back and never looked up through it: the lookup cache may not hold
  // it, and then the answer is would_block (go to a worker), not not_found.
  fs::create_directories(root_ / "fresh" / "deeper");
  write_host(root_ / "fresh" / "deeper" / "f", "x");
  auto file = fs_->open(P("/fresh/deeper/f"), OpenMode{OpenMode::read | OpenMode::cached});
  if (file) {
    EXPECT_EQ(read_all(**file), "x");
  } else {
    EXPECT_EQ(file.error(), Errc::would_block);  // never not_found: the file is there
  }
}

TEST_F(LocalFsTest, CachedReadOnTmpfsRoot) {
  // tmpfs has no RWF_NOWAIT; its pages are memory, so a root there reads all the same. A mount
  // below such a root is not trusted that way (only the root's own device).
  struct stat shm {};
  if (::stat("/dev/shm", &shm) != 0 || !S_ISDIR(shm.st_mode)) GTEST_SKIP() << "no /dev/shm";
  std::string tmpl = "/dev/shm/filegate-vfs-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
  const fs::path root = tmpl;
  write_host(root / "f", "in memory");
  {
    auto opened = LocalFilesystem::open_root(root.string());
    ASSERT_TRUE(ok(opened));
    auto file = (*opened)->open(P("/f"), OpenMode{OpenMode::read});
    ASSERT_TRUE(ok(file));
    EXPECT_EQ(read_all(**file), "in memory");
    auto cached = (*opened)->open(P("/f"), OpenMode{OpenMode::read | OpenMode::cached});
    ASSERT_TRUE(ok(cached));
    EXPECT_EQ(read_all_cached(**cached), "in memory");
  }
  std::error_code ec;
  fs::remove_all(root, ec);
}

TEST_F(LocalFsTest, OpenFifoDoesNotBlock) {
  ASSERT_EQ(::mkfifo((root_ / "fifo").c_str(), 0644), 0);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(open_error("/fifo", OpenMode::read), Errc::not_supported);
  EXPECT_EQ(open_error("/fifo", OpenMode::write), Errc::not_supported);
  EXPECT_EQ(open_error("/fifo", OpenMode::read | OpenMode::write), Errc::not_supported);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  // Listing and stat still describe it.
  auto st = fs_->stat(P("/fifo"));
  ASSERT_TRUE(ok(st));
  EXPECT_EQ(st->type, FileType::other);
  // Nor can it be truncated through a path.
  AttributeChange change;
  change.size = 0;
  EXPECT_EQ(fs_->set_attributes(P("/fifo"), change, true).error(), Errc::not_supported);
}

TEST_F(LocalFsTest, StatFollowsLstatDoesNot) {
  write_host(root_ / "target", "12345");
  fs::create_symlink("target", root_ / "link");
  auto st = fs_->stat(P("/link"));
  ASSERT_TRUE(ok(st));
  EXPECT_EQ(st->type, FileType::regular);
  EXPECT_EQ(st->size, 5u);
  auto lst = fs_->lstat(P("/link"));
  ASSERT_TRUE(ok(lst));
  EXPECT_EQ(lst->type, FileType::symlink);
  auto root = fs_->lstat(Path());
  ASSERT_TRUE(ok(root));
  EXPECT_EQ(root->type, FileType::directory);
  auto root_stat = fs_->stat(Path());
  ASSERT_TRUE(ok(root_stat));
  EXPECT_EQ(root_stat->inode, root->inode);
  EXPECT_EQ(fs_->lstat(P("/nope")).error(), Errc::not_found);
  EXPECT_EQ(fs_->stat(P("/nope")).error(), Errc::not_found);
}

TEST_F(LocalFsTest, SymlinkLoop) {
  fs::create_symlink("b", root_ / "a");
  fs::create_symlink("a", root_ / "b");
  EXPECT_EQ(fs_->stat(P("/a")).error(), Errc::too_many_links);
  EXPECT_EQ(open_error("/a", OpenMode::read), Errc::too_many_links);
}

TEST_F(LocalFsTest, SetAttributesByPath) {
  write_host(root_ / "f", "0123456789");
  AttributeChange change;
  change.permissions = 0600;
  change.size = 4;
  const TimePoint when{std::chrono::seconds(1'000'000'000) + std::chrono::nanoseconds(5)};
  change.modify_time = when;
  change.access_time = when;
  ASSERT_TRUE(ok(fs_->set_attributes(P("/f"), change, true)));
  auto st = fs_->stat(P("/f"));
  ASSERT_TRUE(ok(st));
  EXPECT_EQ(st->permissions, 0600u);
  EXPECT_EQ(st->size, 4u);
  EXPECT_EQ(st->modify_time, when);
  EXPECT_EQ(st->access_time, when);

  // Owner "changes" that change nothing are fine; real ones are refused and change nothing.
  AttributeChange same;
  same.uid = st->uid;
  same.gid = st->gid;
  EXPECT_TRUE(ok(fs_->set_attributes(P("/f"), same, true)));
  AttributeChange give_away;
  give_away.uid = st->uid + 1;
  give_away.permissions = 0644;
  EXPECT_EQ(fs_->set_attributes(P("/f"), give_away, true).error(), Errc::permission_denied);
  EXPECT_EQ(stat_of(P("/f")).permissions, 0600u);
  AttributeChange other_group;
  other_group.gid = st->gid + 1;
  EXPECT_EQ(fs_->set_attributes(P("/f"), other_group, true).error(), Errc::permission_denied);

  // setuid/setgid are dropped.
  AttributeChange suid;
  suid.permissions = 06755;
  ASSERT_TRUE(ok(fs_->set_attributes(P("/f"), suid, true)));
  EXPECT_EQ(stat_of(P("/f")).permissions, 0755u);

  EXPECT_EQ(fs_->set_attributes(P("/missing"), change, true).error(), Errc::not_found);
  fs::create_directory(root_ / "d");
  AttributeChange trunc;
  trunc.size = 0;
  EXPECT_EQ(fs_->set_attributes(P("/d"), trunc, true).error(), Errc::is_a_directory);
  AttributeChange dir_mode;
  dir_mode.permissions = 0711;
  EXPECT_TRUE(ok(fs_->set_attributes(P("/d"), dir_mode, true)));
  EXPECT_EQ(stat_of(P("/d")).permissions, 0711u);
}

TEST_F(LocalFsTest, SetAttributesOnSymlinkItself) {
  write_host(root_ / "target", "x");
  fs::create_symlink("target", root_ / "link");
  const auto target_before = fs_->stat(P("/target"));
  ASSERT_TRUE(ok(target_before));

  AttributeChange mode;
  mode.permissions = 0600;
  EXPECT_EQ(fs_->set_attributes(P("/link"), mode, false).error(), Errc::not_supported);
  EXPECT_EQ(stat_of(P("/target")).permissions, target_before->permissions);

  AttributeChange times;
  const TimePoint when{std::chrono::seconds(1'500'000'000)};
  times.modify_time = when;
  ASSERT_TRUE(ok(fs_->set_attributes(P("/link"), times, false)));
  EXPECT_EQ(lstat_of(P("/link")).modify_time, when);
  EXPECT_EQ(stat_of(P("/target")).modify_time, target_before->modify_time);

  // Following the link changes the target.
  ASSERT_TRUE(ok(fs_->set_attributes(P("/link"), mode, true)));
  EXPECT_EQ(stat_of(P("/target")).permissions, 0600u);

  // follow_symlinks=false on a plain file behaves like the default.
  AttributeChange plain;
  plain.permissions = 0640;
  ASSERT_TRUE(ok(fs_->set_attributes(P("/target"), plain, false)));
  EXPECT_EQ(stat_of(P("/target")).permissions, 0640u);
}

TEST_F(LocalFsTest, SetAttributesOnOpenFile) {
  auto f = open("/g", OpenMode::read | OpenMode::write | OpenMode::create);
  ASSERT_TRUE(f);
  f->write(bytes("0123456789"), 0);
  AttributeChange change;
  change.size = 3;
  change.permissions = 0604;
  const TimePoint when{std::chrono::seconds(1'234'567'890)};
  change.modify_time = when;
  ASSERT_TRUE(ok(f->set_attributes(change)));
  auto st = f->stat();
  ASSERT_TRUE(ok(st));
  EXPECT_EQ(st->size, 3u);
  EXPECT_EQ(st->permissions, 0604u);
  EXPECT_EQ(st->modify_time, when);
  AttributeChange chown;
  chown.uid = st->uid + 1;
  EXPECT_EQ(f->set_attributes(chown).error(), Errc::permission_denied);
}

TEST_F(LocalFsTest, ListDirectory) {
  fs::create_directory(root_ / "d");
  write_host(root_ / "d" / "file", "abc");
  fs::create_directory(root_ / "d" / "sub");
  fs::create_symlink("file", root_ / "d" / "link");
  auto entries = list("/d");
  ASSERT_EQ(entries.size(), 3u);
  std::set<std::string> names;
  for (const auto& e : entries) {
    names.insert(e.name);
    if (e.name == "file") {
      EXPECT_EQ(e.attributes.type, FileType::regular);
      EXPECT_EQ(e.attributes.size, 3u);
    } else if (e.name == "sub") {
      EXPECT_EQ(e.attributes.type, FileType::directory);
    } else if (e.name == "link") {
      EXPECT_EQ(e.attributes.type, FileType::symlink);
      EXPECT_EQ(e.link_target, "file");
    }
  }
  EXPECT_EQ(names, (std::set<std::string>{"file", "sub", "link"}));
  EXPECT_TRUE(list("/d/sub").empty());
  EXPECT_EQ(fs_->open_directory(P("/d/file")).error(), Errc::not_a_directory);
  EXPECT_EQ(fs_->open_directory(P("/none")).error(), Errc::not_found);
  // The root lists too.
  EXPECT_EQ(list("/").size(), 1u);
}

TEST_F(LocalFsTest, MakeAndRemoveDirectories) {
  ASSERT_TRUE(ok(fs_->make_directory(P("/a"), 0755)));
  EXPECT_TRUE(fs::is_directory(root_ / "a"));
  EXPECT_EQ(fs_->make_directory(P("/a"), 0755).error(), Errc::exists);
  EXPECT_EQ(fs_->make_directory(Path(), 0755).error(), Errc::exists);
  EXPECT_EQ(fs_->make_directory(P("/x/y"), 0755).error(), Errc::not_found);
  ASSERT_TRUE(ok(fs_->make_directory(P("/a/b"), 0700)));
  EXPECT_EQ(stat_of(P("/a/b")).permissions & 0777, 0700u);

  EXPECT_EQ(fs_->remove_directory(P("/a")).error(), Errc::not_empty);
  EXPECT_EQ(fs_->remove_file(P("/a/b")).error(), Errc::is_a_directory);
  ASSERT_TRUE(ok(fs_->remove_directory(P("/a/b"))));
  ASSERT_TRUE(ok(fs_->remove_directory(P("/a"))));
  EXPECT_FALSE(fs::exists(root_ / "a"));
  EXPECT_EQ(fs_->remove_directory(P("/a")).error(), Errc::not_found);

  write_host(root_ / "f", "x");
  EXPECT_EQ(fs_->remove_directory(P("/f")).error(), Errc::not_a_directory);
  ASSERT_TRUE(ok(fs_->remove_file(P("/f"))));
  EXPECT_EQ(fs_->remove_file(P("/f")).error(), Errc::not_found);
}

TEST_F(LocalFsTest, RootCannotBeRemovedOrRenamed) {
  EXPECT_EQ(fs_->remove_directory(Path()).error(), Errc::permission_denied);
  EXPECT_EQ(fs_->remove_file(Path()).error(), Errc::permission_denied);
  EXPECT_EQ(fs_->rename(Path(), P("/x"), RenameMode::replace).error(), Errc::permission_denied);
  fs::create_directory(root_ / "d");
  EXPECT_EQ(fs_->rename(P("/d"), Path(), RenameMode::replace).error(), Errc::permission_denied);
  EXPECT_TRUE(fs::is_directory(root_));
  EXPECT_TRUE(fs::is_directory(root_ / "d"));
}

TEST_F(LocalFsTest, RemoveFileRemovesLinkNotTarget) {
  write_host(root_ / "target", "keep");
  fs::create_symlink("target", root_ / "link");
  ASSERT_TRUE(ok(fs_->remove_file(P("/link"))));
  EXPECT_EQ(read_host(root_ / "target"), "keep");
}

TEST_F(LocalFsTest, RenameReplaceAndNoReplace) {
  write_host(root_ / "a", "A");
  write_host(root_ / "b", "B");
  EXPECT_EQ(fs_->rename(P("/a"), P("/b"), RenameMode::no_replace).error(), Errc::exists);
  EXPECT_EQ(read_host(root_ / "b"), "B");
  ASSERT_TRUE(ok(fs_->rename(P("/a"), P("/b"), RenameMode::replace)));
  EXPECT_EQ(read_host(root_ / "b"), "A");
  EXPECT_FALSE(fs::exists(root_ / "a"));
  ASSERT_TRUE(ok(fs_->rename(P("/b"), P("/c"), RenameMode::no_replace)));
  EXPECT_EQ(read_host(root_ / "c"), "A");
  EXPECT_EQ(fs_->rename(P("/missing"), P("/d"), RenameMode::replace).error(), Errc::not_found);
  fs::create_directory(root_ / "dir");
  ASSERT_TRUE(ok(fs_->rename(P("/c"), P("/dir/c"), RenameMode::replace)));
  EXPECT_EQ(read_host(root_ / "dir" / "c"), "A");
  // A directory cannot move beneath itself.
  EXPECT_EQ(fs_->rename(P("/dir"), P("/dir/inner"), RenameMode::replace).error(),
            Errc::invalid_argument);
}

TEST_F(LocalFsTest, HardLink) {
  write_host(root_ / "orig", "data");
  ASSERT_TRUE(ok(fs_->hard_link(P("/orig"), P("/copy"))));
  EXPECT_EQ(try_read("/copy"), "data");
  EXPECT_EQ(stat_of(P("/orig")).links, 2u);
  EXPECT_EQ(fs_->hard_link(P("/orig"), P("/copy")).error(), Errc::exists);
  EXPECT_EQ(fs_->hard_link(P("/nope"), P("/x")).error(), Errc::not_found);
}

TEST_F(LocalFsTest, SymlinkStoresRelativeTargets) {
  fs::create_directories(root_ / "a" / "b");
  ASSERT_TRUE(ok(fs_->symlink(P("/a/b/l"), "/c/f")));
  EXPECT_EQ(fs::read_symlink(root_ / "a" / "b" / "l").string(), "../../c/f");
  auto rl = fs_->read_link(P("/a/b/l"));
  ASSERT_TRUE(ok(rl));
  EXPECT_EQ(*rl, "../../c/f");

  ASSERT_TRUE(ok(fs_->symlink(P("/a/b/rel"), "x/y")));
  EXPECT_EQ(fs::read_symlink(root_ / "a" / "b" / "rel").string(), "x/y");
  ASSERT_TRUE(ok(fs_->symlink(P("/a/b/up"), "../sib")));
  EXPECT_EQ(fs::read_symlink(root_ / "a" / "b" / "up").string(), "../sib");
  ASSERT_TRUE(ok(fs_->symlink(P("/a/b/self"), "/a/b")));
  EXPECT_EQ(fs::read_symlink(root_ / "a" / "b" / "self").string(), ".");
  ASSERT_TRUE(ok(fs_->symlink(P("/a/b/top"), "/")));
  EXPECT_EQ(fs::read_symlink(root_ / "a" / "b" / "top").string(), "../..");
  ASSERT_TRUE(ok(fs_->symlink(P("/a/b/deeper"), "/a/b/c/d")));
  EXPECT_EQ(fs::read_symlink(root_ / "a" / "b" / "deeper").string(), "c/d");

  EXPECT_EQ(fs_->symlink(P("/a/b/l"), "/other").error(), Errc::exists);
  EXPECT_EQ(fs_->symlink(P("/a/b/empty"), "").error(), Errc::invalid_name);
  EXPECT_EQ(fs_->symlink(Path(), "/x").error(), Errc::exists);
  EXPECT_EQ(fs_->read_link(P("/a")).error(), Errc::invalid_argument);
  EXPECT_EQ(fs_->read_link(Path()).error(), Errc::invalid_argument);

  // The relative target works through the VFS.
  write_host(root_ / "real", "R");
  ASSERT_TRUE(ok(fs_->symlink(P("/a/b/to_real"), "/real")));
  EXPECT_EQ(try_read("/a/b/to_real"), "R");
}

TEST_F(LocalFsTest, SymlinkCountsDepthFromTheRealParent) {
  // /shallow is really /deep/x: a link made in it must climb two levels on the host, not one.
  fs::create_directories(root_ / "deep" / "x");
  fs::create_symlink("deep/x", root_ / "shallow");
  ASSERT_TRUE(ok(fs_->symlink(P("/shallow/l"), "/t")));
  EXPECT_EQ(fs::read_symlink(root_ / "deep" / "x" / "l").string(), "../../t");
  write_host(root_ / "t", "T");
  EXPECT_EQ(read_host(root_ / "deep" / "x" / "l"), "T");  // also right for host programs
  EXPECT_EQ(try_read("/shallow/l"), "T");
}

TEST_F(LocalFsTest, RealPath) {
  fs::create_directories(root_ / "a" / "b");
  fs::create_symlink("a/b", root_ / "ab");
  auto r = fs_->real_path(P("/ab"));
  ASSERT_TRUE(ok(r));
  EXPECT_EQ(r->str(), "/a/b");
  EXPECT_EQ(real(Path()), "/");
  EXPECT_EQ(real(P("/a/b/..")), "/a");
  EXPECT_EQ(fs_->real_path(P("/nope")).error(), Errc::not_found);
  fs::create_symlink("/a", root_ / "abs");
  EXPECT_EQ(real(P("/abs/b")), "/a/b");
}

TEST_F(LocalFsTest, StatFilesystem) {
  auto st = fs_->stat_filesystem(Path());
  ASSERT_TRUE(ok(st));
  EXPECT_GT(st->block_size, 0u);
  EXPECT_GT(st->blocks, 0u);
  EXPECT_GE(st->max_name_length, 255u);
  EXPECT_EQ(fs_->stat_filesystem(P("/none")).error(), Errc::not_found);
}

// --- containment ----------------------------------------------------------------------------

class LocalFsEscapeTest : public LocalFsTest {
 protected:
  void SetUp() override {
    LocalFsTest::SetUp();
    // Decoys inside the root, where a clamped '..' or a re-rooted absolute link lands.
    fs::create_directory(root_ / "outside");
    write_host(root_ / "outside" / "secret", "INSIDE-DECOY");
    fs::create_symlink(outside_, root_ / "abs_dir");                  // absolute host path
    fs::create_symlink(outside_ / "secret", root_ / "abs_file");      // absolute host path
    fs::create_symlink("/etc", root_ / "etc_link");                   // absolute "/etc"
    fs::create_symlink("../../..", root_ / "up");                     // relative, climbing
    fs::create_symlink("../outside", root_ / "rel_dir");              // the sibling of root
    fs::create_symlink("../outside/secret", root_ / "rel_file");
  }

  void expect_no_marker(std::string_view path) {
    const auto content = try_read(path);
    EXPECT_EQ(content.find(outside_marker), std::string::npos) << path;
  }
};

TEST_F(LocalFsEscapeTest, DotDotNeverLeaves) {
  for (auto p : {"/../outside/secret", "../../outside/secret", "/a/../../outside/secret",
                 "/./../.././outside/secret"}) {
    expect_no_marker(p);
    EXPECT_EQ(try_read(p), "INSIDE-DECOY") << p;  // lexically clamped at the root
  }
  // Paths spelled with the host location of the secret name nothing inside.
  const auto host = (outside_ / "secret").string();
  EXPECT_EQ(open_error(host, OpenMode::read), Errc::not_found);
  EXPECT_EQ(fs_->stat(P(host)).error(), Errc::not_found);
}

TEST_F(LocalFsEscapeTest, AbsoluteSymlinksAreReRooted) {
  expect_no_marker("/abs_file");
  EXPECT_EQ(open_error("/abs_file", OpenMode::read), Errc::not_found);
  EXPECT_EQ(open_error("/abs_dir/secret", OpenMode::read), Errc::not_found);
  EXPECT_EQ(fs_->stat(P("/abs_file")).error(), Errc::not_found);
  EXPECT_EQ(fs_->open_directory(P("/abs_dir")).error(), Errc::not_found);
  EXPECT_EQ(fs_->stat(P("/etc_link/passwd")).error(), Errc::not_found);
  EXPECT_EQ(open_error("/etc_link/passwd", OpenMode::read), Errc::not_found);
  EXPECT_EQ(fs_->real_path(P("/abs_dir")).error(), Errc::not_found);
  // lstat describes the link itself, which is fine.
  EXPECT_EQ(lstat_of(P("/abs_file")).type, FileType::symlink);
}

TEST_F(LocalFsEscapeTest, CachedOpenStaysInsideToo) {
  // The cached walk is the same RESOLVE_IN_ROOT walk: links are re-rooted and clamped.
  for (auto p : {"/abs_file", "/abs_dir/secret", "/etc_link/passwd", "/rel_file", "/up/outside/secret",
                 "/../outside/secret"}) {
    (void)try_read(p);  // look it up once, so the cached walk has what it needs
    auto file = fs_->open(P(p), OpenMode{OpenMode::read | OpenMode::cached});
    if (!file) {
      EXPECT_TRUE(is(file.error(), Errc::not_found) || is(file.error(), Errc::would_block)) << p;
      continue;
    }
    EXPECT_EQ(read_all(**file).find(outside_marker), std::string::npos) << p;
  }
  // stat_cached too: "/abs_dir" names the host's outside folder, re-rooted to nothing.
  (void)fs_->stat(P("/abs_dir"));
  auto outside = fs_->stat_cached(P("/abs_dir"));
  ASSERT_FALSE(outside);
  EXPECT_TRUE(is(outside.error(), Errc::not_found) || is(outside.error(), Errc::would_block));
}

TEST_F(LocalFsEscapeTest, RelativeSymlinksAreClampedAtTheRoot) {
  EXPECT_EQ(try_read("/rel_file"), "INSIDE-DECOY");
  EXPECT_EQ(try_read("/rel_dir/secret"), "INSIDE-DECOY");
  EXPECT_EQ(try_read("/up/outside/secret"), "INSIDE-DECOY");
  EXPECT_EQ(real(P("/up")), "/");
  EXPECT_EQ(real(P("/rel_dir")), "/outside");
  for (const auto& e : list("/rel_dir")) EXPECT_EQ(e.name, "secret");
  auto st = fs_->stat(P("/rel_file"));
  ASSERT_TRUE(ok(st));
  EXPECT_EQ(st->size, std::string_view("INSIDE-DECOY").size());
  // The up-link lists the root itself, not the host's parent directories.
  std::set<std::string> names;
  for (const auto& e : list("/up")) names.insert(e.name);
  EXPECT_TRUE(names.count("abs_dir"));
  EXPECT_FALSE(names.count("root"));
}

TEST_F(LocalFsEscapeTest, WritesThroughLinksStayInside) {
  struct stat before {};
  ASSERT_EQ(::stat((outside_ / "secret").c_str(), &before), 0);
  const unsigned create = OpenMode::write | OpenMode::create | OpenMode::truncate;
  EXPECT_FALSE(fs_->open(P("/abs_dir/new"), OpenMode{create, 0644}));
  EXPECT_FALSE(fs::exists(outside_ / "new"));
  EXPECT_FALSE(fs_->open(P("/abs_file"), OpenMode{create, 0644}));
  EXPECT_FALSE(fs_->make_directory(P("/abs_dir/newdir"), 0755));
  EXPECT_FALSE(fs::exists(outside_ / "newdir"));
  EXPECT_FALSE(fs_->remove_file(P("/abs_dir/secret")));
  EXPECT_FALSE(fs_->rename(P("/abs_dir/secret"), P("/stolen"), RenameMode::replace));
  AttributeChange wipe;
  wipe.size = 0;
  wipe.permissions = 0;
  EXPECT_FALSE(fs_->set_attributes(P("/abs_file"), wipe, true));
  EXPECT_FALSE(fs_->set_attributes(P("/abs_dir/secret"), wipe, true));
  // A hard link to the absolute link links the link, not the outside file.
  ASSERT_TRUE(ok(fs_->hard_link(P("/abs_file"), P("/hl"))));
  expect_no_marker("/hl");
  // Through relative links, the decoy inside is what changes.
  ASSERT_TRUE(ok(fs_->set_attributes(P("/rel_file"), wipe, true)));
  ::chmod((root_ / "outside" / "secret").c_str(), 0644);
  EXPECT_EQ(read_host(root_ / "outside" / "secret"), "");
  ASSERT_TRUE(ok(fs_->rename(P("/rel_dir/secret"), P("/stolen"), RenameMode::replace)));

  EXPECT_EQ(read_host(outside_ / "secret"), outside_marker);
  struct stat after {};
  ASSERT_EQ(::stat((outside_ / "secret").c_str(), &after), 0);
  EXPECT_EQ(after.st_mode, before.st_mode);
}

TEST_F(LocalFsEscapeTest, SymlinkCreatedWithEscapingTargetStaysInside) {
  ASSERT_TRUE(ok(fs_->symlink(P("/evil"), "/../../etc/passwd")));
  const auto stored = fs::read_symlink(root_ / "evil").string();
  EXPECT_EQ(stored, "etc/passwd");
  EXPECT_NE(stored.front(), '/');
  EXPECT_EQ(stored.find(".."), std::string::npos);
  EXPECT_EQ(open_error("/evil", OpenMode::read), Errc::not_found);

  fs::create_directories(root_ / "x" / "y");
  ASSERT_TRUE(ok(fs_->symlink(P("/x/y/evil"), "../../../../../../outside/secret")));
  EXPECT_EQ(fs::read_symlink(root_ / "x" / "y" / "evil").string(), "../../outside/secret");
  // Even a host program following it lands on the decoy, inside the root.
  EXPECT_EQ(read_host(root_ / "x" / "y" / "evil"), "INSIDE-DECOY");
  EXPECT_EQ(try_read("/x/y/evil"), "INSIDE-DECOY");

  ASSERT_TRUE(ok(fs_->symlink(P("/hostpath"), (outside_ / "secret").string())));
  EXPECT_NE(fs::read_symlink(root_ / "hostpath").string().front(), '/');
  expect_no_marker("/hostpath");
  EXPECT_EQ(read_host(root_ / "hostpath"), "");  // names a non-existent path inside the root
}

TEST_F(LocalFsEscapeTest, ListingThroughLinksNeverShowsOutside) {
  ASSERT_TRUE(fs::exists(outside_ / "secret"));
  write_host(outside_ / "only-outside", "x");
  for (auto p : {"/rel_dir", "/up", "/up/outside", "/up/up/up"}) {
    for (const auto& e : list(p)) EXPECT_NE(e.name, "only-outside") << p;
  }
}

// One thread keeps swapping a real directory inside the root with a symlink to an outside
// directory; another keeps opening dir/secret. Whatever interleaving happens, the kernel
// resolves beneath the root, so the outside secret is never read.
TEST_F(LocalFsEscapeTest, SwappedSymlinkRace) {
  fs::create_directory(root_ / "dir");
  write_host(root_ / "dir" / "secret", "INSIDE");
  fs::create_symlink(outside_, root_ / "swap_abs");
  fs::create_symlink("../outside", root_ / "swap_rel");

  for (const char* swap : {"swap_abs", "swap_rel"}) {
    std::atomic<bool> stop{false};
    std::atomic<long> swaps{0};
    std::thread attacker([&] {
      const auto a = (root_ / "dir").string();
      const auto b = (root_ / swap).string();
      while (!stop.load(std::memory_order_relaxed)) {
        if (::renameat2(AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), RENAME_EXCHANGE) == 0) {
          swaps.fetch_add(1, std::memory_order_relaxed);
        }
      }
    });
    long inside = 0;
    long leaked = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(1500);
    for (int i = 0; i < 20000 && std::chrono::steady_clock::now() < deadline; ++i) {
      const auto content = try_read("/dir/secret");
      if (content.find(outside_marker) != std::string::npos) ++leaked;
      if (content == "INSIDE") ++inside;
      auto st = fs_->stat(P("/dir/secret"));
      if (st && st->size == outside_marker.size()) ++leaked;
    }
    stop = true;
    attacker.join();
    EXPECT_EQ(leaked, 0) << swap;
    EXPECT_GT(swaps.load(), 0) << swap;
    EXPECT_GT(inside, 0) << swap;
    // Leave "dir" as the real directory for the next round.
    if (fs::is_symlink(root_ / "dir")) {
      ASSERT_EQ(::renameat2(AT_FDCWD, (root_ / "dir").c_str(), AT_FDCWD,
                            (root_ / swap).c_str(), RENAME_EXCHANGE),
                0);
    }
  }
  EXPECT_EQ(read_host(outside_ / "secret"), outside_marker);
}

// --- concurrency ----------------------------------------------------------------------------

TEST_F(LocalFsTest, ConcurrentUseFromThreads) {
  ASSERT_TRUE(ok(fs_->make_directory(P("/shared"), 0755)));
  constexpr int threads = 4;
  constexpr int rounds = 50;
  std::atomic<int> failures{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; i < rounds; ++i) {
        const auto name = "/shared/t" + std::to_string(t) + "_" + std::to_string(i);
        const auto content = "thread " + std::to_string(t) + " round " + std::to_string(i);
        auto f = fs_->open(*Path::parse(name),
                           OpenMode{OpenMode::read | OpenMode::write | OpenMode::create |
                                        OpenMode::exclusive,
                                    0644});
        if (!f) { ++failures; continue; }
        if (!(*f)->write(bytes(content), 0)) ++failures;
        if (read_all(**f) != content) ++failures;
        (*f)->close();
        if (!fs_->rename(*Path::parse(name), *Path::parse(name + ".done"), RenameMode::no_replace))
          ++failures;
        if (!fs_->stat(*Path::parse(name + ".done"))) ++failures;
        if (i % 2 == 0 && !fs_->remove_file(*Path::parse(name + ".done"))) ++failures;
        auto dir = fs_->open_directory(*Path::parse("/shared"));
        if (!dir) { ++failures; continue; }
        for (;;) {
          auto e = (*dir)->next();
          if (!e) { ++failures; break; }
          if (!*e) break;
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(list("/shared").size(), static_cast<std::size_t>(threads * rounds / 2));
}

}  // namespace
}  // namespace filegate::vfs
