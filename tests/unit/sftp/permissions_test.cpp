// Each permission letter, through SFTP: the gate (auth::AuthorizedFilesystem) refuses what the
// letters do not allow, and SFTP answers SSH_FX_PERMISSION_DENIED without touching the disk.
#include <gtest/gtest.h>

#include <filesystem>

#include "sftp_harness.hpp"

namespace filegate::sftp::test {
namespace {

namespace fs = std::filesystem;

struct LetterCase {
  const char* letter;
  const char* name;
  // Sends the request (id 5) that needs the letter; the home holds a file "f" ("0123") and a
  // directory "d".
  Bytes (*request)();
};

Bytes open_read() { return Msg(Message::open, 5).str("/f").u32(open_flag::read).u32(0).frame(); }
Bytes open_write() { return Msg(Message::open, 5).str("/new").u32(write_create).u32(0).frame(); }
Bytes open_append() {
  return Msg(Message::open, 5).str("/f").u32(open_flag::write | open_flag::append).u32(0).frame();
}
Bytes remove_file() { return Msg(Message::remove, 5).str("/f").frame(); }
Bytes rename_file() { return Msg(Message::rename, 5).str("/f").str("/g").frame(); }
Bytes make_dir() { return Msg(Message::mkdir, 5).str("/e").u32(0).frame(); }
Bytes list_dir() { return Msg(Message::opendir, 5).str("/d").frame(); }
Bytes change_mode() { return Msg(Message::setstat, 5).str("/f").u32(attr::permissions).u32(0600).frame(); }
Bytes set_times() { return Msg(Message::setstat, 5).str("/f").u32(attr::acmodtime).u32(1).u32(2).frame(); }

constexpr LetterCase letter_cases[] = {
    {"r", "OpenForReading", open_read},   {"w", "OpenForWriting", open_write},
    {"a", "OpenForAppending", open_append}, {"d", "Remove", remove_file},
    {"f", "Rename", rename_file},          {"m", "MakeDirectory", make_dir},
    {"l", "ListDirectory", list_dir},      {"M", "ChangeMode", change_mode},
    {"T", "SetTimes", set_times},
};

class SftpLetterTest : public ::testing::TestWithParam<LetterCase> {};

std::string without(std::string letters, const char* letter) {
  letters.erase(letters.find(letter), 1);
  return letters;
}

TEST_P(SftpLetterTest, DeniedWithoutTheLetterAllowedWithIt) {
  const auto& c = GetParam();
  for (const bool granted : {false, true}) {
    // 'a' alone must be enough for appending: take 'w' away too when testing it.
    std::string letters = "elradfmwMT";
    if (std::string_view(c.letter) == "a") letters = without(letters, "w");
    if (!granted) letters = without(letters, c.letter);
    SCOPED_TRACE(letters);
    SftpHarness h(letters);
    h.init();
    h.write_file("f", "0123");
    fs::create_directory(h.home() / "d");
    auto reply = h.call(c.request());
    EXPECT_EQ(reply.id, 5u);
    if (granted) {
      EXPECT_TRUE(reply.type != static_cast<std::uint8_t>(Message::status) || reply.status() == Status::ok)
          << reply.message();
    } else {
      ASSERT_EQ(reply.type, static_cast<std::uint8_t>(Message::status));
      EXPECT_EQ(reply.status(), Status::permission_denied);
      // Nothing changed on disk.
      EXPECT_EQ(h.read_file("f"), "0123");
      EXPECT_FALSE(fs::exists(h.home() / "new"));
      EXPECT_FALSE(fs::exists(h.home() / "g"));
      EXPECT_FALSE(fs::exists(h.home() / "e"));
    }
  }
}

std::string case_name(const ::testing::TestParamInfo<LetterCase>& c) { return c.param.name; }

INSTANTIATE_TEST_SUITE_P(Letters, SftpLetterTest, ::testing::ValuesIn(letter_cases), case_name);

TEST(SftpPermissions, StatNeedsListOrChangeDirectory) {
  SftpHarness h("rw");
  h.init();
  h.write_file("f", "x");
  EXPECT_EQ(h.call(Msg(Message::stat, 2).str("/f").frame()).status(), Status::permission_denied);
  EXPECT_EQ(h.call(Msg(Message::lstat, 3).str("/f").frame()).status(), Status::permission_denied);
  EXPECT_EQ(h.call(Msg(Message::extended, 4).str("statvfs@openssh.com").str("/").frame()).status(),
            Status::permission_denied);
  // REALPATH needs no letter: it reveals nothing the client could not compute.
  EXPECT_EQ(h.call(Msg(Message::realpath, 5).str(".").frame()).type, static_cast<std::uint8_t>(Message::name));
}

TEST(SftpPermissions, HandlesDoNotBypassTheGate) {
  // Reading and writing only: a handle does not carry the right to chmod, set times or
  // truncate through FSETSTAT.
  SftpHarness h("elrw");
  h.init();
  h.write_file("f", "0123");
  auto open = h.call(Msg(Message::open, 2).str("/f").u32(open_flag::read).u32(0).frame());
  ASSERT_EQ(open.type, static_cast<std::uint8_t>(Message::handle));
  const auto handle = to_bytes(open.handle());
  EXPECT_EQ(h.call(Msg(Message::fsetstat, 3).bytes(handle).u32(attr::permissions).u32(0600).frame()).status(),
            Status::permission_denied);
  EXPECT_EQ(h.call(Msg(Message::fsetstat, 4).bytes(handle).u32(attr::acmodtime).u32(1).u32(2).frame()).status(),
            Status::permission_denied);
  // 'w' is the right to truncate, but FSETSTAT acts on the open file, and a file opened for
  // reading cannot be truncated through: EINVAL, which maps to BAD_MESSAGE as in OpenSSH.
  EXPECT_EQ(h.call(Msg(Message::fsetstat, 5).bytes(handle).u32(attr::size).u64(1).frame()).status(),
            Status::bad_message);
  EXPECT_EQ(h.read_file("f"), "0123");
}

TEST(SftpPermissions, LinksNeedWriteOnTheNewName) {
  SftpHarness h("elr");
  h.init();
  h.write_file("f", "x");
  EXPECT_EQ(h.call(Msg(Message::symlink, 2).str("f").str("/link").frame()).status(), Status::permission_denied);
  EXPECT_EQ(h.call(Msg(Message::extended, 3).str("hardlink@openssh.com").str("/f").str("/hard").frame()).status(),
            Status::permission_denied);
  EXPECT_EQ(h.call(Msg(Message::extended, 4).str("posix-rename@openssh.com").str("/f").str("/g").frame()).status(),
            Status::permission_denied);
  EXPECT_EQ(h.call(Msg(Message::rmdir, 5).str("/f").frame()).status(), Status::permission_denied);
  EXPECT_FALSE(fs::exists(h.home() / "link"));
  EXPECT_FALSE(fs::exists(h.home() / "hard"));
}

TEST(SftpPermissions, CheckFileNameNeedsRead) {
  SftpHarness h("el");
  h.init();
  h.write_file("f", "x");
  auto reply = h.call(
      Msg(Message::extended, 2).str("check-file-name").str("/f").str("md5").u64(0).u64(0).u32(0).frame());
  EXPECT_EQ(reply.status(), Status::permission_denied);
}

TEST(SftpPermissions, CopyDataCannotWriteThroughAReadHandle) {
  SftpHarness h("elr");
  h.init();
  h.write_file("f", "data");
  auto open = h.call(Msg(Message::open, 2).str("/f").u32(open_flag::read).u32(0).frame());
  const auto handle = to_bytes(open.handle());
  EXPECT_EQ(h.call(Msg(Message::open, 3).str("/g").u32(write_create).u32(0).frame()).status(),
            Status::permission_denied);
  EXPECT_EQ(h.call(Msg(Message::extended, 4).str("copy-data").bytes(handle).u64(0).u64(0).bytes(handle).u64(10).frame())
                .status(),
            Status::permission_denied);
  EXPECT_EQ(h.read_file("f"), "data");
}

}  // namespace
}  // namespace filegate::sftp::test
