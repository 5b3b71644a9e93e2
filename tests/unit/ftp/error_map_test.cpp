// The one VFS-error-to-reply table of the FTP front-end.
#include "ftp/error_map.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <string>

#include "auth/realm.hpp"
#include "vfs/errors.hpp"

namespace filegate::ftp {
namespace {

using vfs::Errc;

struct Expected {
  Errc errc;
  int code;
};

// Every vfs::Errc, with the reply it is meant to produce.
constexpr Expected table[] = {
    {Errc::not_found, 550},         {Errc::exists, 550},          {Errc::not_a_directory, 550},
    {Errc::is_a_directory, 550},    {Errc::not_empty, 550},       {Errc::permission_denied, 550},
    {Errc::no_space, 452},          {Errc::quota_exceeded, 552},  {Errc::file_too_large, 552},
    {Errc::io_error, 451},          {Errc::invalid_name, 553},    {Errc::name_too_long, 553},
    {Errc::too_many_links, 550},    {Errc::not_supported, 504},   {Errc::bad_handle, 451},
    {Errc::busy, 450},              {Errc::read_only, 550},       {Errc::cross_device, 550},
    {Errc::invalid_argument, 501},
};

TEST(ReplyFor, EveryVfsErrorHasItsIntendedCode) {
  // The table above covers the enum from its first to its last value.
  ASSERT_EQ(std::size(table), static_cast<std::size_t>(Errc::invalid_argument));
  for (int v = static_cast<int>(Errc::not_found); v <= static_cast<int>(Errc::invalid_argument); ++v) {
    const auto errc = static_cast<Errc>(v);
    const auto& expected = table[v - 1];
    ASSERT_EQ(expected.errc, errc);
    const Reply r = reply_for(vfs::make_error_code(errc));
    EXPECT_EQ(r.code, expected.code) << vfs::make_error_code(errc).message();
    EXPECT_FALSE(r.text.empty());
    EXPECT_EQ(r.text.find_first_of("\r\n"), std::string::npos);
  }
}

TEST(ReplyFor, SpecificTexts) {
  EXPECT_EQ(reply_for(Errc::not_found).text, "No such file or directory.");
  EXPECT_EQ(reply_for(Errc::permission_denied).text, "Permission denied.");
  EXPECT_EQ(reply_for(Errc::invalid_name).text, "File name not allowed.");
  EXPECT_EQ(reply_for(Errc::name_too_long).text, "File name too long.");
  EXPECT_EQ(reply_for(Errc::no_space).text, "Insufficient storage space.");
  EXPECT_EQ(reply_for(Errc::quota_exceeded).text, "Quota exceeded.");
  EXPECT_EQ(reply_for(Errc::io_error).text, "Local error in processing.");
}

TEST(ReplyFor, UnknownCodesAreLocalErrors) {
  // A value outside the enum, in the VFS category.
  const Reply out_of_range = reply_for(error_code(999, vfs::category()));
  EXPECT_EQ(out_of_range.code, 451);
  EXPECT_EQ(out_of_range.text, "Local error in processing.");
  EXPECT_EQ(reply_for(error_code(0x7fffffff, vfs::category())).code, 451);
  // A code of an unrelated category with the same value as a VFS error is not that error:
  // AuthErrc::bad_credentials is 1, like Errc::not_found.
  EXPECT_EQ(reply_for(auth::make_error_code(auth::AuthErrc::bad_credentials)).code, 451);
  EXPECT_EQ(reply_for(auth::make_error_code(auth::AuthErrc::disabled)).code, 451);
}

TEST(ReplyFor, ErrnoCodesMapLikeTheirVfsEquivalent) {
  // vfs::is() promises that errno codes of the generic and system categories compare as the
  // VFS error they translate to; the reply table honours that too.
  using boost::system::generic_category;
  using boost::system::system_category;
  EXPECT_EQ(reply_for(error_code(ENOENT, generic_category())).code, 550);
  EXPECT_EQ(reply_for(error_code(EACCES, system_category())).code, 550);
  EXPECT_EQ(reply_for(error_code(ENOSPC, system_category())).code, 452);
  EXPECT_EQ(reply_for(error_code(EDQUOT, generic_category())).code, 552);
  EXPECT_EQ(reply_for(error_code(ENAMETOOLONG, system_category())).code, 553);
  EXPECT_EQ(reply_for(error_code(EIO, system_category())).code, 451);
}

}  // namespace
}  // namespace filegate::ftp
