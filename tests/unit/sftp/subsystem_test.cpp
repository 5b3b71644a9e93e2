// The SFTP subsystem end to end over an in-memory pipe against a real local filesystem in a
// temporary directory: every message type, handles, error paths.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <future>
#include <set>

#include "sftp/engine.hpp"
#include "sftp_harness.hpp"

namespace filegate::sftp::test {
namespace {

namespace fs = std::filesystem;

constexpr auto status_type = static_cast<std::uint8_t>(Message::status);
constexpr auto handle_type = static_cast<std::uint8_t>(Message::handle);
constexpr auto data_type = static_cast<std::uint8_t>(Message::data);
constexpr auto name_type = static_cast<std::uint8_t>(Message::name);
constexpr auto attrs_type = static_cast<std::uint8_t>(Message::attrs);

struct Attrs {
  std::uint32_t flags = 0;
  std::uint64_t size = 0;
  std::uint32_t uid = 0, gid = 0, permissions = 0, atime = 0, mtime = 0;
};

Attrs parse_attrs(Reader& r) {
  Attrs a;
  a.flags = r.u32().value();
  if (a.flags & attr::size) a.size = r.u64().value();
  if (a.flags & attr::uidgid) {
    a.uid = r.u32().value();
    a.gid = r.u32().value();
  }
  if (a.flags & attr::permissions) a.permissions = r.u32().value();
  if (a.flags & attr::acmodtime) {
    a.atime = r.u32().value();
    a.mtime = r.u32().value();
  }
  return a;
}

struct NameEntry {
  std::string name, longname;
  Attrs attrs;
};

std::vector<NameEntry> parse_names(const Reply& reply) {
  EXPECT_EQ(reply.type, name_type) << reply.message();
  if (reply.type != name_type) return {};
  Reader r = reply.reader();
  const auto count = r.u32().value();
  std::vector<NameEntry> out;
  for (std::uint32_t i = 0; i < count; ++i) {
    NameEntry e;
    e.name = std::string(r.string().value());
    e.longname = std::string(r.string().value());
    e.attrs = parse_attrs(r);
    out.push_back(e);
  }
  EXPECT_EQ(r.remaining(), 0u);
  return out;
}

std::string single_name(const Reply& reply) {
  auto names = parse_names(reply);
  EXPECT_EQ(names.size(), 1u);
  return names.empty() ? std::string() : names[0].name;
}

// The status of a reply that must be a STATUS for request `id`.
Status status_of(const Reply& reply, std::uint32_t id) {
  EXPECT_EQ(reply.type, status_type);
  EXPECT_EQ(reply.id, id);
  return reply.status();
}

Status call_status(SftpHarness& h, Bytes frame, std::uint32_t id) { return status_of(h.call(std::move(frame)), id); }

class SftpSubsystemTest : public ::testing::Test {
 protected:
  SftpHarness h;
  void SetUp() override { ASSERT_EQ(h.init().type, static_cast<std::uint8_t>(Message::version)); }
};

// --- version and framing --------------------------------------------------------------------

TEST(SftpSubsystem, VersionAdvertisesTheExtensionTable) {
  SftpHarness h;
  auto reply = h.init();
  ASSERT_EQ(reply.type, static_cast<std::uint8_t>(Message::version));
  Reader r(reply.body);
  EXPECT_EQ(r.u32(), 3u);
  std::vector<std::pair<std::string, std::string>> advertised;
  while (r.remaining() > 0) {
    auto name = r.string();
    auto data = r.string();
    ASSERT_TRUE(name && data);
    advertised.emplace_back(*name, *data);
  }
  const auto table = Engine::extensions();
  ASSERT_EQ(advertised.size(), table.size());
  for (std::size_t i = 0; i < table.size(); ++i) {
    EXPECT_EQ(advertised[i].first, table[i].first);
    EXPECT_EQ(advertised[i].second, table[i].second);
  }
  const std::set<std::string> expected = {
      "posix-rename@openssh.com", "statvfs@openssh.com", "fstatvfs@openssh.com", "hardlink@openssh.com",
      "fsync@openssh.com",        "lsetstat@openssh.com", "limits@openssh.com", "expand-path@openssh.com",
      "copy-data",                "home-directory",      "check-file-handle",  "check-file-name"};
  std::set<std::string> names;
  for (const auto& [name, data] : advertised) names.insert(name);
  EXPECT_EQ(names, expected);
}

TEST(SftpSubsystem, InitTwiceEndsTheSession) {
  SftpHarness h;
  h.init();
  h.feed(Msg(Message::init).u32(3).frame());
  ASSERT_TRUE(h.run_until([&] { return h.failure().has_value(); }));
  EXPECT_FALSE(h.has_reply());
  // Nothing is answered after the failure.
  h.feed(path_frame(Message::stat, 1, "/"));
  h.settle();
  EXPECT_FALSE(h.has_reply());
}

TEST(SftpSubsystem, RequestBeforeInitEndsTheSession) {
  SftpHarness h;
  h.feed(path_frame(Message::stat, 1, "/"));
  ASSERT_TRUE(h.run_until([&] { return h.failure().has_value(); }));
  EXPECT_FALSE(h.has_reply());
}

TEST(SftpSubsystem, OversizeFrameEndsTheSessionBeforeItIsBuffered) {
  SftpHarness h;
  h.init();
  // Only the length field: the session fails at once, without waiting for the body.
  h.feed(Bytes{std::byte{0}, std::byte{4}, std::byte{0}, std::byte{1}});  // 256 KiB + 1
  ASSERT_TRUE(h.run_until([&] { return h.failure().has_value(); }));
  EXPECT_FALSE(h.has_reply());
}

TEST(SftpSubsystem, FrameTooShortForARequestIdEndsTheSession) {
  SftpHarness h;
  h.init();
  h.feed(Bytes{std::byte{0}, std::byte{0}, std::byte{0}, std::byte{3}, std::byte{17}, std::byte{0}, std::byte{0}});
  ASSERT_TRUE(h.run_until([&] { return h.failure().has_value(); }));
  EXPECT_FALSE(h.has_reply());
}

TEST(SftpSubsystem, ZeroLengthFrameEndsTheSession) {
  SftpHarness h;
  h.feed(Bytes{std::byte{0}, std::byte{0}, std::byte{0}, std::byte{0}});
  ASSERT_TRUE(h.run_until([&] { return h.failure().has_value(); }));
}

TEST(SftpSubsystem, FramesSplitAnywhereAreReassembled) {
  SftpHarness h;
  Bytes stream = Msg(Message::init).u32(3).frame();
  for (std::uint32_t id = 1; id <= 3; ++id) {
    auto frame = path_frame(Message::realpath, id, ".");
    stream.insert(stream.end(), frame.begin(), frame.end());
  }
  for (std::byte b : stream) h.feed(Bytes{b});
  EXPECT_EQ(h.next_reply()->type, static_cast<std::uint8_t>(Message::version));
  for (std::uint32_t id = 1; id <= 3; ++id) {
    auto reply = h.next_reply();
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->id, id);
    EXPECT_EQ(single_name(*reply), "/");
  }
}

TEST_F(SftpSubsystemTest, UnknownTypeIsUnsupportedWithItsId) {
  EXPECT_EQ(call_status(h, Msg(static_cast<Message>(99), 42).str("x").frame(), 42), Status::op_unsupported);
  // Types the server sends are not requests either.
  EXPECT_EQ(call_status(h, Msg(Message::status, 43).u32(0).frame(), 43), Status::op_unsupported);
}

TEST_F(SftpSubsystemTest, ShortMessageWithAnIdIsBadMessage) {
  EXPECT_EQ(call_status(h, Msg(Message::open, 7).frame(), 7), Status::bad_message);
  EXPECT_EQ(call_status(h, Msg(Message::open, 8).str("/x").frame(), 8), Status::bad_message);
  EXPECT_EQ(call_status(h, Msg(Message::read, 9).bytes(to_bytes("12345678")).u64(0).frame(), 9), Status::bad_message);
  // A string whose length runs past the end of the message.
  EXPECT_EQ(call_status(h, Msg(Message::stat, 10).u32(1000).frame(), 10), Status::bad_message);
  EXPECT_EQ(call_status(h, Msg(Message::extended, 11).frame(), 11), Status::bad_message);
  // Attributes announcing fields that are missing.
  EXPECT_EQ(call_status(h, Msg(Message::setstat, 12).str("/").u32(attr::size).frame(), 12), Status::bad_message);
  EXPECT_EQ(call_status(h, Msg(Message::setstat, 13).str("/").u32(attr::extended).u32(0xffffffff).frame(), 13),
            Status::bad_message);
  EXPECT_FALSE(h.failure());
}

TEST_F(SftpSubsystemTest, UnknownExtensionIsUnsupported) {
  EXPECT_EQ(call_status(h, Msg(Message::extended, 5).str("nonsense@example.com").frame(), 5), Status::op_unsupported);
}

// --- files ----------------------------------------------------------------------------------

TEST_F(SftpSubsystemTest, WriteThenReadBack) {
  const auto handle = open_handle(h, "/f.txt", write_create);
  EXPECT_EQ(call_status(h, write_frame(2, handle, 0, "hello world"), 2), Status::ok);
  EXPECT_EQ(call_status(h, handle_frame(Message::close, 3, handle), 3), Status::ok);
  EXPECT_EQ(h.read_file("f.txt"), "hello world");

  const auto rh = open_handle(h, "f.txt", open_flag::read);
  auto data = h.call(read_frame(4, rh, 6, 100));
  ASSERT_EQ(data.type, data_type);
  EXPECT_EQ(data.id, 4u);
  EXPECT_EQ(to_text(data.reader().bytes().value()), "world");
  EXPECT_EQ(call_status(h, read_frame(5, rh, 11, 100), 5), Status::eof);
  EXPECT_EQ(call_status(h, read_frame(6, rh, 1000, 100), 6), Status::eof);
  EXPECT_EQ(call_status(h, handle_frame(Message::close, 7, rh), 7), Status::ok);
}

TEST_F(SftpSubsystemTest, WritesAtOffsetsAndAppends) {
  h.write_file("f", "0123456789");
  const auto handle = open_handle(h, "/f", open_flag::write);
  EXPECT_EQ(call_status(h, write_frame(2, handle, 3, "abc"), 2), Status::ok);
  EXPECT_EQ(call_status(h, write_frame(3, handle, 12, "z"), 3), Status::ok);
  h.call(handle_frame(Message::close, 4, handle));
  EXPECT_EQ(h.read_file("f"), std::string("012abc6789\0\0z", 13));

  const auto append = open_handle(h, "/f", open_flag::write | open_flag::append);
  EXPECT_EQ(call_status(h, write_frame(5, append, 0, "END"), 5), Status::ok);
  h.call(handle_frame(Message::close, 6, append));
  EXPECT_EQ(h.read_file("f"), std::string("012abc6789\0\0zEND", 16));
}

TEST_F(SftpSubsystemTest, OpenFlagsMapToTheFilesystem) {
  EXPECT_EQ(call_status(h, open_frame(2, "/missing", open_flag::read), 2), Status::no_such_file);
  h.write_file("exists", "x");
  EXPECT_EQ(call_status(h, open_frame(3, "/exists", open_flag::write | open_flag::create | open_flag::exclusive), 3),
            Status::failure);
  const auto truncated = open_handle(h, "/exists", open_flag::write | open_flag::truncate);
  h.call(handle_frame(Message::close, 4, truncated));
  EXPECT_EQ(h.read_file("exists"), "");
  // The permissions of the attributes are the new file's mode.
  auto reply = h.call(Msg(Message::open, 5).str("/private").u32(write_create).u32(attr::permissions).u32(0600).frame());
  ASSERT_EQ(reply.type, handle_type);
  h.call(handle_frame(Message::close, 6, reply.handle()));
  EXPECT_EQ(fs::status(h.home() / "private").permissions(), fs::perms::owner_read | fs::perms::owner_write);
  // Opening a directory as a file fails.
  fs::create_directory(h.home() / "dir");
  EXPECT_NE(call_status(h, open_frame(7, "/dir", write_create), 7), Status::ok);
}

TEST(SftpSubsystem, ReadLengthIsCappedAtTheLimit) {
  core::Limits limits;
  limits.sftp_max_read = 1000;
  SftpHarness small("elradfmwMT", limits);
  small.init();
  small.write_file("big", std::string(5000, 'x'));
  const auto handle = open_handle(small, "/big", open_flag::read);
  auto data = small.call(read_frame(2, handle, 0, 4000));
  ASSERT_EQ(data.type, data_type);
  EXPECT_EQ(data.reader().bytes()->size(), 1000u);
}

TEST_F(SftpSubsystemTest, StaleForgedAndWrongKindHandlesFail) {
  h.write_file("f", "data");
  const auto handle = open_handle(h, "/f", open_flag::read);
  EXPECT_EQ(call_status(h, handle_frame(Message::close, 2, handle), 2), Status::ok);
  // Closed: every use fails, closing again too.
  EXPECT_EQ(call_status(h, read_frame(3, handle, 0, 10), 3), Status::failure);
  EXPECT_EQ(call_status(h, handle_frame(Message::close, 4, handle), 4), Status::failure);
  EXPECT_EQ(call_status(h, handle_frame(Message::fstat, 5, handle), 5), Status::failure);
  // The slot is reused by the next open, but the old handle still names nothing.
  const auto reused = open_handle(h, "/f", open_flag::read);
  EXPECT_NE(reused, handle);
  EXPECT_EQ(call_status(h, read_frame(6, handle, 0, 10), 6), Status::failure);
  EXPECT_EQ(h.call(read_frame(7, reused, 0, 10)).type, data_type);
  // Forged: wrong length, unknown slot, empty.
  EXPECT_EQ(call_status(h, read_frame(8, "abc", 0, 10), 8), Status::failure);
  EXPECT_EQ(call_status(h, read_frame(9, std::string(8, '\xff'), 0, 10), 9), Status::failure);
  EXPECT_EQ(call_status(h, read_frame(10, "", 0, 10), 10), Status::failure);
  EXPECT_EQ(call_status(h, handle_frame(Message::readdir, 11, std::string(4096, 'h')), 11), Status::failure);
  // A directory handle is not a file handle and the other way round.
  const auto dir = open_dir(h, "/");
  EXPECT_EQ(call_status(h, read_frame(12, dir, 0, 10), 12), Status::failure);
  EXPECT_EQ(call_status(h, write_frame(13, dir, 0, "x"), 13), Status::failure);
  EXPECT_EQ(call_status(h, handle_frame(Message::fstat, 14, dir), 14), Status::failure);
  EXPECT_EQ(call_status(h, handle_frame(Message::readdir, 15, reused), 15), Status::failure);
  EXPECT_EQ(call_status(h, handle_frame(Message::close, 16, dir), 16), Status::ok);
  EXPECT_FALSE(h.failure());
}

TEST(SftpSubsystem, HandleCapPerSession) {
  core::Limits limits;
  limits.sftp_max_handles = 3;
  SftpHarness capped("elradfmwMT", limits);
  capped.init();
  capped.write_file("f", "x");
  std::vector<std::string> handles;
  for (int i = 0; i < 2; ++i) handles.push_back(open_handle(capped, "/f", open_flag::read));
  handles.push_back(open_dir(capped, "/"));
  EXPECT_EQ(call_status(capped, open_frame(5, "/f", open_flag::read), 5), Status::failure);
  EXPECT_EQ(call_status(capped, path_frame(Message::opendir, 6, "/"), 6), Status::failure);
  EXPECT_EQ(call_status(capped, handle_frame(Message::close, 7, handles[0]), 7), Status::ok);
  EXPECT_EQ(capped.call(open_frame(8, "/f", open_flag::read)).type, handle_type);
}

TEST_F(SftpSubsystemTest, StatLstatFstat) {
  h.write_file("f", "12345");
  fs::create_symlink("f", h.home() / "link");
  fs::create_directory(h.home() / "d");

  auto st = h.call(path_frame(Message::stat, 2, "/link"));
  ASSERT_EQ(st.type, attrs_type);
  Reader r = st.reader();
  auto a = parse_attrs(r);
  EXPECT_EQ(a.flags, attr::size | attr::uidgid | attr::permissions | attr::acmodtime);
  EXPECT_EQ(a.size, 5u);
  EXPECT_TRUE(S_ISREG(a.permissions));
  EXPECT_EQ(a.uid, ::getuid());

  auto lst = h.call(path_frame(Message::lstat, 3, "/link"));
  r = lst.reader();
  EXPECT_TRUE(S_ISLNK(parse_attrs(r).permissions));

  auto dir = h.call(path_frame(Message::stat, 4, "d"));
  r = dir.reader();
  EXPECT_TRUE(S_ISDIR(parse_attrs(r).permissions));

  const auto handle = open_handle(h, "/f", open_flag::read);
  auto fst = h.call(handle_frame(Message::fstat, 5, handle));
  ASSERT_EQ(fst.type, attrs_type);
  r = fst.reader();
  EXPECT_EQ(parse_attrs(r).size, 5u);

  EXPECT_EQ(call_status(h, path_frame(Message::stat, 6, "/missing"), 6), Status::no_such_file);
  EXPECT_EQ(call_status(h, path_frame(Message::lstat, 7, "/f/below"), 7), Status::no_such_file);
  EXPECT_EQ(call_status(h, path_frame(Message::stat, 8, ""), 8), Status::no_such_file);
}

TEST_F(SftpSubsystemTest, SetstatChangesSizeModeAndTimes) {
  h.write_file("f", "0123456789");
  EXPECT_EQ(call_status(h, Msg(Message::setstat, 2).str("/f").u32(attr::size).u64(4).frame(), 2), Status::ok);
  EXPECT_EQ(h.read_file("f"), "0123");
  EXPECT_EQ(call_status(h, Msg(Message::setstat, 3).str("/f").u32(attr::permissions).u32(0100600).frame(), 3),
            Status::ok);
  EXPECT_EQ(fs::status(h.home() / "f").permissions(), fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_EQ(
      call_status(h, Msg(Message::setstat, 4).str("/f").u32(attr::acmodtime).u32(1000000000).u32(1200000000).frame(),
                  4),
      Status::ok);
  struct stat st {};
  ASSERT_EQ(::stat((h.home() / "f").c_str(), &st), 0);
  EXPECT_EQ(st.st_mtime, 1200000000);
  EXPECT_EQ(st.st_atime, 1000000000);
  // The current owner may be sent along; another owner is refused.
  EXPECT_EQ(call_status(h, Msg(Message::setstat, 5).str("/f").u32(attr::uidgid).u32(::getuid()).u32(::getgid()).frame(),
                        5),
            Status::ok);
  EXPECT_EQ(call_status(h, Msg(Message::setstat, 6).str("/f").u32(attr::uidgid).u32(::getuid() + 1).u32(::getgid()).frame(),
                        6),
            Status::permission_denied);
  EXPECT_EQ(call_status(h, Msg(Message::setstat, 7).str("/missing").u32(attr::size).u64(0).frame(), 7),
            Status::no_such_file);
  // Extended attribute pairs are read past.
  EXPECT_EQ(call_status(h, Msg(Message::setstat, 8).str("/f").u32(attr::size | attr::extended).u64(2).u32(1).str("a").str("b").frame(), 8),
            Status::ok);
  EXPECT_EQ(h.read_file("f"), "01");
}

TEST_F(SftpSubsystemTest, FsetstatIsCheckedByTheHandlesPath) {
  h.write_file("f", "0123456789");
  const auto handle = open_handle(h, "/f", open_flag::write);
  EXPECT_EQ(call_status(h, Msg(Message::fsetstat, 2).bytes(to_bytes(handle)).u32(attr::size).u64(3).frame(), 2),
            Status::ok);
  EXPECT_EQ(h.read_file("f"), "012");
  EXPECT_EQ(call_status(h, Msg(Message::fsetstat, 3).bytes(to_bytes(handle)).u32(attr::acmodtime).u32(5).u32(7).frame(), 3),
            Status::ok);
  struct stat st {};
  ASSERT_EQ(::stat((h.home() / "f").c_str(), &st), 0);
  EXPECT_EQ(st.st_mtime, 7);
  EXPECT_EQ(call_status(h, Msg(Message::fsetstat, 4).bytes(to_bytes(handle)).u32(attr::uidgid).u32(::getuid() + 1).u32(::getgid()).frame(), 4),
            Status::permission_denied);
  EXPECT_EQ(call_status(h, Msg(Message::fsetstat, 5).bytes(to_bytes("bogus")).u32(0).frame(), 5), Status::failure);
}

TEST_F(SftpSubsystemTest, FsetstatActsOnTheOpenFileNotOnWhatThePathNamesNow) {
  h.write_file("f", "0123456789");
  const auto handle = open_handle(h, "/f", open_flag::write);
  // Another session renames the file away and puts a different one at the old name.
  ASSERT_EQ(::rename((h.home() / "f").c_str(), (h.home() / "moved").c_str()), 0);
  h.write_file("f", "other content");
  EXPECT_EQ(call_status(h, Msg(Message::fsetstat, 2).bytes(to_bytes(handle)).u32(attr::size).u64(3).frame(), 2),
            Status::ok);
  EXPECT_EQ(h.read_file("moved"), "012");
  EXPECT_EQ(h.read_file("f"), "other content");
}

// --- directories ----------------------------------------------------------------------------

TEST_F(SftpSubsystemTest, ReaddirReturnsEveryEntryInBatchesThenEof) {
  for (int i = 0; i < 250; ++i) h.write_file("file" + std::to_string(i), "abc");
  fs::create_directory(h.home() / "sub");
  fs::create_symlink("file1", h.home() / "link");
  const auto dir = open_dir(h, "/");
  std::set<std::string> seen;
  int batches = 0;
  for (std::uint32_t id = 10;; ++id) {
    auto reply = h.call(handle_frame(Message::readdir, id, dir));
    EXPECT_EQ(reply.id, id);
    if (reply.type == status_type) {
      EXPECT_EQ(reply.status(), Status::eof);
      break;
    }
    ++batches;
    auto entries = parse_names(reply);
    EXPECT_LE(entries.size(), 100u);
    for (const auto& e : entries) {
      EXPECT_TRUE(seen.insert(e.name).second) << e.name;
      if (e.name == "file7") {
        EXPECT_TRUE(e.longname.starts_with("-rw")) << e.longname;
        EXPECT_TRUE(e.longname.ends_with(" file7")) << e.longname;
        EXPECT_EQ(e.attrs.size, 3u);
      }
      if (e.name == "sub") {
        EXPECT_TRUE(e.longname.starts_with("d")) << e.longname;
      }
      if (e.name == "link") {
        EXPECT_TRUE(e.longname.ends_with("link -> file1")) << e.longname;
        EXPECT_TRUE(S_ISLNK(e.attrs.permissions));
      }
    }
    ASSERT_LT(batches, 10);
  }
  EXPECT_EQ(seen.size(), 252u);
  EXPECT_GE(batches, 3);
  // EOF again after the end.
  EXPECT_EQ(call_status(h, handle_frame(Message::readdir, 99, dir), 99), Status::eof);
  EXPECT_EQ(call_status(h, handle_frame(Message::close, 100, dir), 100), Status::ok);
}

TEST_F(SftpSubsystemTest, OpendirErrors) {
  h.write_file("f", "x");
  EXPECT_EQ(call_status(h, path_frame(Message::opendir, 2, "/missing"), 2), Status::no_such_file);
  EXPECT_EQ(call_status(h, path_frame(Message::opendir, 3, "/f"), 3), Status::no_such_file);  // ENOTDIR
}

TEST_F(SftpSubsystemTest, MkdirRmdirRemove) {
  EXPECT_EQ(call_status(h, Msg(Message::mkdir, 2).str("/d").attrs_none().frame(), 2), Status::ok);
  EXPECT_TRUE(fs::is_directory(h.home() / "d"));
  EXPECT_EQ(call_status(h, Msg(Message::mkdir, 3).str("/d").attrs_none().frame(), 3), Status::failure);
  EXPECT_EQ(call_status(h, Msg(Message::mkdir, 4).str("/e").u32(attr::permissions).u32(0700).frame(), 4), Status::ok);
  EXPECT_EQ(fs::status(h.home() / "e").permissions(), fs::perms::owner_all);
  h.write_file("d/inner", "x");
  EXPECT_EQ(call_status(h, path_frame(Message::rmdir, 5, "/d"), 5), Status::failure);  // not empty
  EXPECT_EQ(call_status(h, path_frame(Message::remove, 6, "/d/inner"), 6), Status::ok);
  EXPECT_EQ(call_status(h, path_frame(Message::remove, 7, "/d/inner"), 7), Status::no_such_file);
  EXPECT_EQ(call_status(h, path_frame(Message::remove, 8, "/d"), 8), Status::failure);  // a directory
  EXPECT_EQ(call_status(h, path_frame(Message::rmdir, 9, "/d"), 9), Status::ok);
  EXPECT_FALSE(fs::exists(h.home() / "d"));
}

// --- names ----------------------------------------------------------------------------------

TEST_F(SftpSubsystemTest, RealpathIsRootedAtTheHome) {
  fs::create_directory(h.home() / "a");
  fs::create_directory(h.home() / "b");
  fs::create_symlink("b", h.home() / "to_b");
  EXPECT_EQ(single_name(h.call(path_frame(Message::realpath, 2, "."))), "/");
  EXPECT_EQ(single_name(h.call(path_frame(Message::realpath, 3, ""))), "/");
  EXPECT_EQ(single_name(h.call(path_frame(Message::realpath, 4, "a/../b"))), "/b");
  EXPECT_EQ(single_name(h.call(path_frame(Message::realpath, 5, "/../../.."))), "/");
  EXPECT_EQ(single_name(h.call(path_frame(Message::realpath, 6, "to_b"))), "/b");
  // The last component may not exist yet (where an upload will go).
  EXPECT_EQ(single_name(h.call(path_frame(Message::realpath, 7, "to_b/new.txt"))), "/b/new.txt");
  EXPECT_EQ(call_status(h, path_frame(Message::realpath, 8, "/missing/new.txt"), 8), Status::no_such_file);
}

TEST_F(SftpSubsystemTest, RenameRefusesToReplaceButPosixRenameReplaces) {
  h.write_file("a", "A");
  h.write_file("b", "B");
  EXPECT_EQ(call_status(h, Msg(Message::rename, 2).str("/a").str("/b").frame(), 2), Status::failure);
  EXPECT_EQ(h.read_file("b"), "B");
  EXPECT_EQ(call_status(h, Msg(Message::rename, 3).str("/a").str("/c").frame(), 3), Status::ok);
  EXPECT_EQ(h.read_file("c"), "A");
  EXPECT_EQ(call_status(h, Msg(Message::rename, 4).str("/missing").str("/d").frame(), 4), Status::no_such_file);
  EXPECT_EQ(call_status(h, Msg(Message::extended, 5).str("posix-rename@openssh.com").str("/c").str("/b").frame(), 5),
            Status::ok);
  EXPECT_EQ(h.read_file("b"), "A");
  EXPECT_FALSE(fs::exists(h.home() / "c"));
}

TEST_F(SftpSubsystemTest, SymlinkTakesTheTargetFirstAndReadlinkReturnsIt) {
  h.write_file("target.txt", "T");
  EXPECT_EQ(call_status(h, Msg(Message::symlink, 2).str("target.txt").str("/link").frame(), 2), Status::ok);
  EXPECT_EQ(fs::read_symlink(h.home() / "link"), "target.txt");
  EXPECT_EQ(single_name(h.call(path_frame(Message::readlink, 3, "/link"))), "target.txt");
  EXPECT_EQ(h.read_file("link"), "T");
  EXPECT_EQ(call_status(h, path_frame(Message::readlink, 4, "/target.txt"), 4), Status::bad_message);  // EINVAL
  EXPECT_EQ(call_status(h, path_frame(Message::readlink, 5, "/missing"), 5), Status::no_such_file);
  EXPECT_EQ(call_status(h, Msg(Message::symlink, 6).str("target.txt").str("/link").frame(), 6), Status::failure);
}

// --- extensions -----------------------------------------------------------------------------

Msg extension(std::uint32_t id, std::string_view name) { return std::move(Msg(Message::extended, id).str(name)); }

TEST_F(SftpSubsystemTest, StatvfsAndFstatvfs) {
  auto reply = h.call(extension(2, "statvfs@openssh.com").str("/").frame());
  ASSERT_EQ(reply.type, static_cast<std::uint8_t>(Message::extended_reply));
  Reader r = reply.reader();
  std::vector<std::uint64_t> fields;
  while (auto v = r.u64()) fields.push_back(*v);
  ASSERT_EQ(fields.size(), 11u);
  EXPECT_GT(fields[0], 0u);      // f_bsize
  EXPECT_EQ(fields[10], 255u);   // f_namemax
  EXPECT_LE(fields[9], 3u);      // only ST_RDONLY and ST_NOSUID are passed on

  h.write_file("f", "x");
  const auto handle = open_handle(h, "/f", open_flag::read);
  auto f = h.call(extension(3, "fstatvfs@openssh.com").bytes(to_bytes(handle)).frame());
  ASSERT_EQ(f.type, static_cast<std::uint8_t>(Message::extended_reply));
  EXPECT_EQ(f.body.size(), 11u * 8u);
  EXPECT_EQ(call_status(h, extension(4, "fstatvfs@openssh.com").bytes(to_bytes("nope")).frame(), 4), Status::failure);
  EXPECT_EQ(call_status(h, extension(5, "statvfs@openssh.com").str("/missing").frame(), 5), Status::no_such_file);
}

TEST_F(SftpSubsystemTest, HardlinkFsyncLsetstat) {
  h.write_file("f", "data");
  EXPECT_EQ(call_status(h, extension(2, "hardlink@openssh.com").str("/f").str("/g").frame(), 2), Status::ok);
  EXPECT_EQ(fs::hard_link_count(h.home() / "f"), 2u);
  EXPECT_EQ(call_status(h, extension(3, "hardlink@openssh.com").str("/f").str("/g").frame(), 3), Status::failure);

  const auto handle = open_handle(h, "/f", open_flag::write);
  EXPECT_EQ(call_status(h, extension(4, "fsync@openssh.com").bytes(to_bytes(handle)).frame(), 4), Status::ok);
  EXPECT_EQ(call_status(h, extension(5, "fsync@openssh.com").bytes(to_bytes("x")).frame(), 5), Status::failure);

  fs::create_symlink("f", h.home() / "link");
  EXPECT_EQ(call_status(h, extension(6, "lsetstat@openssh.com").str("/link").u32(attr::acmodtime).u32(10).u32(20).frame(), 6),
            Status::ok);
  struct stat st {};
  ASSERT_EQ(::lstat((h.home() / "link").c_str(), &st), 0);
  EXPECT_EQ(st.st_mtime, 20);
  ASSERT_EQ(::stat((h.home() / "f").c_str(), &st), 0);
  EXPECT_NE(st.st_mtime, 20);
  // Links have no mode of their own on Linux.
  EXPECT_EQ(call_status(h, extension(7, "lsetstat@openssh.com").str("/link").u32(attr::permissions).u32(0600).frame(), 7),
            Status::op_unsupported);
}

TEST_F(SftpSubsystemTest, LimitsReportTheConfiguredLimits) {
  auto reply = h.call(extension(2, "limits@openssh.com").frame());
  ASSERT_EQ(reply.type, static_cast<std::uint8_t>(Message::extended_reply));
  Reader r = reply.reader();
  const core::Limits defaults;
  EXPECT_EQ(r.u64(), defaults.sftp_max_packet);
  EXPECT_EQ(r.u64(), defaults.sftp_max_read);
  EXPECT_EQ(r.u64(), defaults.sftp_max_write);
  EXPECT_EQ(r.u64(), defaults.sftp_max_handles);
  EXPECT_EQ(r.remaining(), 0u);
  // OpenSSH's client keeps 64 requests of 32 KiB in flight: they must fit the frame cap.
  EXPECT_GE(defaults.sftp_max_read, 32u * 1024);
  EXPECT_GE(defaults.sftp_max_queued_bytes, 64u * (32 * 1024 + 64));
}

TEST_F(SftpSubsystemTest, ExpandPathMapsTildeToTheHome) {
  fs::create_directory(h.home() / "docs");
  EXPECT_EQ(single_name(h.call(extension(2, "expand-path@openssh.com").str("~").frame())), "/");
  EXPECT_EQ(single_name(h.call(extension(3, "expand-path@openssh.com").str("~/docs").frame())), "/docs");
  EXPECT_EQ(single_name(h.call(extension(4, "expand-path@openssh.com").str("~/docs/../docs/new").frame())), "/docs/new");
  EXPECT_EQ(single_name(h.call(extension(5, "expand-path@openssh.com").str("~alice/docs").frame())), "/docs");
  EXPECT_EQ(single_name(h.call(extension(6, "expand-path@openssh.com").str("docs").frame())), "/docs");
  EXPECT_EQ(call_status(h, extension(7, "expand-path@openssh.com").str("~bob/x").frame(), 7), Status::no_such_file);
}

TEST_F(SftpSubsystemTest, HomeDirectoryIsTheRoot) {
  EXPECT_EQ(single_name(h.call(extension(2, "home-directory").str("").frame())), "/");
  EXPECT_EQ(single_name(h.call(extension(3, "home-directory").str("alice").frame())), "/");
  EXPECT_EQ(call_status(h, extension(4, "home-directory").str("bob").frame(), 4), Status::failure);
}

TEST_F(SftpSubsystemTest, CopyDataCopiesBetweenHandles) {
  std::string content;
  for (int i = 0; i < 20000; ++i) content += static_cast<char>('a' + i % 26);
  h.write_file("src", content);
  const auto src = open_handle(h, "/src", open_flag::read);
  const auto dst = open_handle(h, "/dst", write_create);
  const auto copy = [&](std::uint32_t id, std::string_view from, std::uint64_t ro, std::uint64_t len,
                        std::string_view to, std::uint64_t wo) {
    return call_status(h, extension(id, "copy-data").bytes(to_bytes(from)).u64(ro).u64(len).bytes(to_bytes(to)).u64(wo).frame(), id);
  };
  EXPECT_EQ(copy(2, src, 0, 0, dst, 0), Status::ok);  // to EOF
  EXPECT_EQ(h.read_file("dst"), content);
  EXPECT_EQ(copy(3, src, 100, 10, dst, 5), Status::ok);
  EXPECT_EQ(h.read_file("dst").substr(5, 10), content.substr(100, 10));
  // Wrong directions, bad handles, overlap within one handle.
  EXPECT_EQ(copy(4, dst, 0, 0, src, 0), Status::permission_denied);
  EXPECT_EQ(copy(5, "bogus", 0, 0, dst, 0), Status::failure);
  const auto both = open_handle(h, "/src", open_flag::read | open_flag::write);
  EXPECT_EQ(copy(6, both, 0, 100, both, 50), Status::failure);
  EXPECT_EQ(copy(7, both, 0, 0, both, 10), Status::failure);
  EXPECT_EQ(copy(8, both, 100, 10, both, 0), Status::ok);
  EXPECT_EQ(h.read_file("src").substr(0, 10), content.substr(100, 10));
  EXPECT_EQ(call_status(h, extension(9, "copy-data").bytes(to_bytes(src)).u64(0).frame(), 9), Status::bad_message);
}

TEST_F(SftpSubsystemTest, CopyDataRefusesOverlapThroughTwoHandlesOnOneFile) {
  std::string content;
  for (int i = 0; i < 20000; ++i) content += static_cast<char>('a' + i % 26);
  h.write_file("one", content);
  fs::create_hard_link(h.home() / "one", h.home() / "same");
  const auto copy = [&](std::uint32_t id, std::string_view from, std::uint64_t ro, std::uint64_t len,
                        std::string_view to, std::uint64_t wo) {
    return call_status(h, extension(id, "copy-data").bytes(to_bytes(from)).u64(ro).u64(len).bytes(to_bytes(to)).u64(wo).frame(), id);
  };
  const auto reader = open_handle(h, "/one", open_flag::read);
  const auto writer = open_handle(h, "/one", open_flag::write);
  const auto linked = open_handle(h, "/same", open_flag::write);
  // A bounded overlap would read back what it wrote; refused as on one handle.
  ASSERT_EQ(copy(2, reader, 0, 10000, writer, 100), Status::failure);
  ASSERT_EQ(copy(3, reader, 0, 10000, linked, 100), Status::failure);
  EXPECT_EQ(h.read_file("one"), content);
  // To EOF ahead of the reading: this one would never end.
  EXPECT_EQ(copy(4, reader, 0, 0, writer, 10), Status::failure);
  // Apart is fine.
  EXPECT_EQ(copy(5, reader, 100, 10, linked, 0), Status::ok);
  EXPECT_EQ(h.read_file("one").substr(0, 10), content.substr(100, 10));
}

std::string digest_hex(std::span<const std::byte> bytes) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (std::byte b : bytes) {
    out += hex[std::to_integer<unsigned>(b) >> 4];
    out += hex[std::to_integer<unsigned>(b) & 15];
  }
  return out;
}

// The algorithm and the hex digests of a check-file reply.
std::pair<std::string, std::vector<std::string>> check_file_reply(const Reply& reply, std::size_t digest_size) {
  EXPECT_EQ(reply.type, static_cast<std::uint8_t>(Message::extended_reply)) << reply.message();
  if (reply.type != static_cast<std::uint8_t>(Message::extended_reply)) return {};
  Reader r = reply.reader();
  std::string algorithm(r.string().value());
  std::vector<std::string> digests;
  std::span<const std::byte> rest(reply.body);
  rest = rest.subspan(reply.body.size() - r.remaining());
  EXPECT_EQ(rest.size() % digest_size, 0u);
  for (std::size_t i = 0; i + digest_size <= rest.size(); i += digest_size) {
    digests.push_back(digest_hex(rest.subspan(i, digest_size)));
  }
  return {algorithm, digests};
}

TEST_F(SftpSubsystemTest, CheckFileHashesRangesAndBlocks) {
  h.write_file("hw", "hello world");
  const auto handle = open_handle(h, "/hw", open_flag::read);
  const auto by_handle = [&](std::uint32_t id, std::string_view algorithms, std::uint64_t start, std::uint64_t length,
                             std::uint32_t block) {
    return h.call(extension(id, "check-file-handle").bytes(to_bytes(handle)).str(algorithms).u64(start).u64(length).u32(block).frame());
  };
  auto [algorithm, digests] = check_file_reply(by_handle(2, "sha256,sha1,md5", 0, 0, 0), 32);
  EXPECT_EQ(algorithm, "sha256");
  EXPECT_EQ(digests, std::vector<std::string>{"b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"});
  // The client's order decides.
  std::tie(algorithm, digests) = check_file_reply(by_handle(3, "crc32,md5,sha256", 0, 0, 0), 16);
  EXPECT_EQ(algorithm, "md5");
  EXPECT_EQ(digests, std::vector<std::string>{"5eb63bbbe01eeed093cb22bb8f5acdc3"});
  std::tie(algorithm, digests) = check_file_reply(by_handle(4, "sha1", 0, 0, 0), 20);
  EXPECT_EQ(digests, std::vector<std::string>{"2aae6c35c94fcfb415dbe95f408b9ce91ee846ed"});
  // A range: "hello" is md5 5d41402abc4b2a76b9719d911017c592.
  std::tie(algorithm, digests) = check_file_reply(by_handle(5, "md5", 0, 5, 0), 16);
  EXPECT_EQ(digests, std::vector<std::string>{"5d41402abc4b2a76b9719d911017c592"});
  EXPECT_EQ(by_handle(6, "crc32", 0, 0, 0).status(), Status::op_unsupported);
  EXPECT_EQ(by_handle(7, "md5", 0, 0, 100).status(), Status::bad_message);

  // Blocks: 600 bytes in blocks of 256 are three hashes (the last of 88 bytes).
  std::string blocks = std::string(256, 'a') + std::string(256, 'b') + std::string(88, 'c');
  h.write_file("blocks", blocks);
  auto blocks_reply = h.call(extension(8, "check-file-name").str("/blocks").str("md5").u64(0).u64(0).u32(256).frame());
  std::tie(algorithm, digests) = check_file_reply(blocks_reply, 16);
  ASSERT_EQ(digests.size(), 3u);
  auto single = h.call(extension(9, "check-file-name").str("/blocks").str("md5").u64(512).u64(0).u32(0).frame());
  EXPECT_EQ(check_file_reply(single, 16).second, std::vector<std::string>{digests[2]});
  auto first = h.call(extension(10, "check-file-name").str("/blocks").str("md5").u64(0).u64(256).u32(0).frame());
  EXPECT_EQ(check_file_reply(first, 16).second, std::vector<std::string>{digests[0]});

  // Empty range: one hash of nothing (md5 of "" is d41d8cd98f00b204e9800998ecf8427e).
  auto empty = h.call(extension(11, "check-file-name").str("/hw").str("md5").u64(100).u64(0).u32(0).frame());
  EXPECT_EQ(check_file_reply(empty, 16).second, std::vector<std::string>{"d41d8cd98f00b204e9800998ecf8427e"});

  EXPECT_EQ(call_status(h, extension(12, "check-file-name").str("/missing").str("md5").u64(0).u64(0).u32(0).frame(), 12),
            Status::no_such_file);
  EXPECT_EQ(call_status(h, extension(13, "check-file-handle").bytes(to_bytes("bogus")).str("md5").u64(0).u64(0).u32(0).frame(), 13),
            Status::failure);
  const auto write_only = open_handle(h, "/hw", open_flag::write);
  EXPECT_EQ(call_status(h, extension(14, "check-file-handle").bytes(to_bytes(write_only)).str("md5").u64(0).u64(0).u32(0).frame(), 14),
            Status::permission_denied);
  EXPECT_EQ(call_status(h, extension(15, "check-file-name").str("/hw").str("md5").frame(), 15), Status::bad_message);
}

TEST_F(SftpSubsystemTest, CheckFileRefusesMoreBlocksThanOneReplyHolds) {
  h.write_file("big", std::string(4 * 1024 * 1024, 'x'));
  // 16384 blocks of 256 bytes x 32-byte sha256 = 512 KiB of hashes: over the 256 KiB frame.
  auto reply = h.call(extension(2, "check-file-name").str("/big").str("sha256").u64(0).u64(0).u32(256).frame());
  EXPECT_EQ(status_of(reply, 2), Status::failure);
  // md5 of 4 MiB in 4 KiB blocks is 1024 x 16 bytes: fine.
  auto ok = h.call(extension(3, "check-file-name").str("/big").str("md5").u64(0).u64(0).u32(4096).frame());
  EXPECT_EQ(check_file_reply(ok, 16).second.size(), 1024u);
}

// --- long requests in slices --------------------------------------------------------------

std::string hex_digest(const EVP_MD* md, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EXPECT_EQ(EVP_Digest(data.data(), data.size(), out, &size, md, nullptr), 1);
  return digest_hex(std::span<const std::byte>(reinterpret_cast<const std::byte*>(out), size));
}

std::string patterned(std::size_t size) {
  std::string out(size, '\0');
  for (std::size_t i = 0; i < size; ++i) out[i] = static_cast<char>((i * 7 + i / 4093) % 251);
  return out;
}

// With one worker thread: copy-data and check-file give it back after each slice, so work that
// another session queues behind them runs in between, and they still finish with the right
// result.
class SftpLongRequestTest : public ::testing::Test {
 protected:
  static core::Limits sliced() {
    core::Limits limits;
    limits.sftp_request_slice = slice;
    return limits;
  }
  static constexpr std::uint64_t slice = 64 * 1024;
  SftpHarness h{"elradfmwMT", sliced(), 1};
  const std::string content = patterned(1024 * 1024 + 777);
  void SetUp() override {
    ASSERT_EQ(h.init().type, static_cast<std::uint8_t>(Message::version));
    h.write_file("big", content);
  }
  // Sends `frame`, then queues work on the pool as another session would (`other`). While that
  // work holds the pool's one thread, reports whether `frame` was answered already: a request
  // that gives the thread back after one slice is not. Then lets it finish; returns its reply.
  std::pair<bool, Reply> answered_before_other_work(const Bytes& frame, const std::function<void()>& other = {}) {
    h.feed(frame);
    std::promise<void> started, release;
    auto has_started = started.get_future();
    auto released = release.get_future();
    asio::post(h.workers(), [&] {
      if (other) other();
      started.set_value();
      released.wait();
    });
    has_started.wait();
    h.settle();  // delivers whatever the long request finished before the other work began
    const bool answered = h.has_reply();
    release.set_value();
    auto reply = h.next_reply();
    EXPECT_TRUE(reply);
    return {answered, reply.value_or(Reply{})};
  }
};

TEST_F(SftpLongRequestTest, CopyDataGivesItsWorkerBackAfterEachSlice) {
  const auto src = open_handle(h, "/big", open_flag::read);
  const auto dst = open_handle(h, "/copy", write_create);
  const auto copy = extension(2, "copy-data").bytes(to_bytes(src)).u64(0).u64(0).bytes(to_bytes(dst)).u64(10).frame();
  std::uintmax_t size_seen = 0;
  auto [answered, reply] = answered_before_other_work(copy, [&] { size_seen = fs::file_size(h.home() / "copy"); });
  EXPECT_FALSE(answered);
  // The other work ran after the first slice, not after the whole file.
  EXPECT_EQ(size_seen, 10 + slice);
  EXPECT_EQ(status_of(reply, 2), Status::ok);
  EXPECT_EQ(h.read_file("copy"), std::string(10, '\0') + content);

  // A bounded range over several slices, from an offset that is not a multiple of the chunk.
  const auto part = open_handle(h, "/part", write_create);
  EXPECT_EQ(call_status(h, extension(3, "copy-data").bytes(to_bytes(src)).u64(1000).u64(300000).bytes(to_bytes(part)).u64(0).frame(), 3),
            Status::ok);
  EXPECT_EQ(h.read_file("part"), content.substr(1000, 300000));
  // The next request of the session is answered normally.
  EXPECT_EQ(call_status(h, path_frame(Message::remove, 4, "/part"), 4), Status::ok);
}

TEST_F(SftpLongRequestTest, CheckFileGivesItsWorkerBackAndHashesAcrossSlices) {
  auto [answered, whole] =
      answered_before_other_work(extension(2, "check-file-name").str("/big").str("sha256").u64(0).u64(0).u32(0).frame());
  EXPECT_FALSE(answered);
  EXPECT_EQ(check_file_reply(whole, 32).second, std::vector<std::string>{hex_digest(EVP_sha256(), content)});

  // Blocks of 100000 bytes, which straddle the slice boundaries; the last one is short.
  auto blocks = h.call(extension(3, "check-file-name").str("/big").str("md5").u64(5).u64(0).u32(100000).frame());
  std::vector<std::string> expected;
  for (std::size_t at = 5; at < content.size(); at += 100000) {
    expected.push_back(hex_digest(EVP_md5(), std::string_view(content).substr(at, 100000)));
  }
  EXPECT_EQ(check_file_reply(blocks, 16).second, expected);
}

TEST_F(SftpLongRequestTest, ClosingTheSessionDuringALongRequestEndsIt) {
  const auto src = open_handle(h, "/big", open_flag::read);
  const auto dst = open_handle(h, "/copy", write_create);
  h.feed(extension(2, "copy-data").bytes(to_bytes(src)).u64(0).u64(0).bytes(to_bytes(dst)).u64(0).frame());
  EXPECT_TRUE(h.close());
  EXPECT_LT(fs::file_size(h.home() / "copy"), content.size());
}

}  // namespace
}  // namespace filegate::sftp::test
