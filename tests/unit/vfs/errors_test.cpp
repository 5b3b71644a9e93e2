#include "vfs/errors.hpp"

#include <gtest/gtest.h>

#include <cerrno>

namespace filegate::vfs {
namespace {

TEST(VfsErrors, CategoryAndMessages) {
  const error_code ec = Errc::not_found;  // implicit: is_error_code_enum
  EXPECT_STREQ(ec.category().name(), "filegate.vfs");
  EXPECT_EQ(&ec.category(), &category());
  EXPECT_EQ(ec.message(), "no such file or directory");
  for (int v = static_cast<int>(Errc::not_found); v <= static_cast<int>(Errc::invalid_argument);
       ++v) {
    const auto m = make_error_code(static_cast<Errc>(v)).message();
    EXPECT_FALSE(m.empty());
    EXPECT_NE(m, "unknown filesystem error") << v;
  }
  EXPECT_EQ(error_code(999, category()).message(), "unknown filesystem error");
}

TEST(VfsErrors, ComparesWithEnum) {
  const error_code ec = make_error_code(Errc::exists);
  EXPECT_TRUE(ec == Errc::exists);
  EXPECT_FALSE(ec == Errc::not_found);
  EXPECT_TRUE(ec != Errc::not_found);
  EXPECT_TRUE(is(ec, Errc::exists));
  EXPECT_FALSE(is(error_code(), Errc::io_error));
}

TEST(VfsErrors, FromErrno) {
  struct Case {
    int err;
    Errc expected;
  };
  const Case cases[] = {
      {ENOENT, Errc::not_found},          {EEXIST, Errc::exists},
      {ENOTDIR, Errc::not_a_directory},   {EISDIR, Errc::is_a_directory},
      {ENOTEMPTY, Errc::not_empty},       {EACCES, Errc::permission_denied},
      {EPERM, Errc::permission_denied},   {ENOSPC, Errc::no_space},
      {EDQUOT, Errc::quota_exceeded},     {ENAMETOOLONG, Errc::name_too_long},
      {EFBIG, Errc::file_too_large},
      {ELOOP, Errc::too_many_links},      {EXDEV, Errc::cross_device},
      {EBUSY, Errc::busy},                {EROFS, Errc::read_only},
      {EINVAL, Errc::invalid_argument},   {EBADF, Errc::bad_handle},
      {EOPNOTSUPP, Errc::not_supported},  {ENOTSUP, Errc::not_supported},
      {ENOSYS, Errc::not_supported},      {EIO, Errc::io_error},
      {EMFILE, Errc::io_error},           {ENXIO, Errc::io_error},
      {12345, Errc::io_error},
  };
  for (const auto& c : cases) {
    const auto ec = from_errno(c.err);
    EXPECT_EQ(ec, c.expected) << "errno " << c.err;
    EXPECT_EQ(&ec.category(), &category());
  }
}

TEST(VfsErrors, IsMatchesErrnoCodesOfOtherCategories) {
  EXPECT_TRUE(is(error_code(ENOENT, boost::system::generic_category()), Errc::not_found));
  EXPECT_TRUE(is(error_code(EACCES, boost::system::system_category()), Errc::permission_denied));
  EXPECT_FALSE(is(error_code(ENOENT, boost::system::generic_category()), Errc::exists));
}

}  // namespace
}  // namespace filegate::vfs
