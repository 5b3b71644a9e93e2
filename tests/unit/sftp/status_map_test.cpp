// The one mapping from VFS errors to SFTP status codes, row by row.
#include "sftp/status_map.hpp"

#include <gtest/gtest.h>

#include <cerrno>

#include "core/asio.hpp"
#include "vfs/errors.hpp"

namespace filegate::sftp {
namespace {

using vfs::Errc;

struct Row {
  Errc errc;
  Status status;
};

constexpr Row rows[] = {
    {Errc::not_found, Status::no_such_file},
    {Errc::exists, Status::failure},
    {Errc::not_a_directory, Status::no_such_file},
    {Errc::is_a_directory, Status::failure},
    {Errc::not_empty, Status::failure},
    {Errc::permission_denied, Status::permission_denied},
    {Errc::no_space, Status::failure},
    {Errc::quota_exceeded, Status::failure},
    {Errc::file_too_large, Status::failure},
    {Errc::io_error, Status::failure},
    {Errc::invalid_name, Status::bad_message},
    {Errc::name_too_long, Status::bad_message},
    {Errc::too_many_links, Status::no_such_file},
    {Errc::not_supported, Status::op_unsupported},
    {Errc::bad_handle, Status::failure},
    {Errc::busy, Status::failure},
    {Errc::read_only, Status::failure},
    {Errc::cross_device, Status::failure},
    {Errc::invalid_argument, Status::bad_message},
};

TEST(SftpStatusMap, EveryVfsErrorHasItsStatusAndAMessage) {
  for (const auto& row : rows) {
    const auto reply = status_for(vfs::make_error_code(row.errc));
    EXPECT_EQ(reply.status, row.status) << static_cast<int>(row.errc);
    EXPECT_FALSE(reply.message.empty());
  }
}

TEST(SftpStatusMap, ErrnoCodesMapByTheirVfsMeaning) {
  EXPECT_EQ(status_for(error_code(ENOENT, boost::system::generic_category())).status, Status::no_such_file);
  EXPECT_EQ(status_for(error_code(EACCES, boost::system::system_category())).status, Status::permission_denied);
  EXPECT_EQ(status_for(error_code(ENOSYS, boost::system::system_category())).status, Status::op_unsupported);
}

TEST(SftpStatusMap, UnknownErrorsAreFailure) {
  EXPECT_EQ(status_for(boost::asio::error::operation_aborted).status, Status::failure);
  EXPECT_EQ(status_for(error_code()).status, Status::failure);
}

TEST(SftpStatusMap, StandardMessages) {
  EXPECT_EQ(status_message(Status::ok), "Success");
  EXPECT_EQ(status_message(Status::eof), "End of file");
  EXPECT_EQ(status_message(Status::op_unsupported), "Operation unsupported");
  EXPECT_EQ(status_message(static_cast<Status>(1000)), "Unknown error");
}

}  // namespace
}  // namespace filegate::sftp
