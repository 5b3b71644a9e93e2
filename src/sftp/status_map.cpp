#include "sftp/status_map.hpp"

#include "vfs/errors.hpp"

namespace filegate::sftp {

StatusReply status_for(const error_code& ec) {
  using vfs::Errc;
  struct Row {
    Errc errc;
    Status status;
    std::string_view message;
  };
  // Version 3 has few codes: like OpenSSH, what a missing path means (ENOENT, ENOTDIR, ELOOP)
  // is NO_SUCH_FILE, malformed names are BAD_MESSAGE and the rest FAILURE, with a message
  // that says which failure it was (sftp prints it).
  static constexpr Row table[] = {
      {Errc::not_found, Status::no_such_file, "No such file"},
      {Errc::exists, Status::failure, "File exists"},
      {Errc::not_a_directory, Status::no_such_file, "Not a directory"},
      {Errc::is_a_directory, Status::failure, "Is a directory"},
      {Errc::not_empty, Status::failure, "Directory not empty"},
      {Errc::permission_denied, Status::permission_denied, "Permission denied"},
      {Errc::no_space, Status::failure, "No space left on device"},
      {Errc::quota_exceeded, Status::failure, "Quota exceeded"},
      {Errc::file_too_large, Status::failure, "File too large"},
      {Errc::io_error, Status::failure, "Input/output error"},
      {Errc::invalid_name, Status::bad_message, "Invalid file name"},
      {Errc::name_too_long, Status::bad_message, "File name too long"},
      {Errc::too_many_links, Status::no_such_file, "Too many levels of symbolic links"},
      {Errc::not_supported, Status::op_unsupported, "Operation unsupported"},
      {Errc::bad_handle, Status::failure, "Invalid handle"},
      {Errc::busy, Status::failure, "Resource busy"},
      {Errc::read_only, Status::failure, "Read-only file system"},
      {Errc::cross_device, Status::failure, "Cannot move across file systems"},
      {Errc::invalid_argument, Status::bad_message, "Invalid argument"},
  };
  for (const auto& row : table) {
    // vfs::is also matches errno codes (generic/system category) by their VFS meaning.
    if (vfs::is(ec, row.errc)) return {row.status, row.message};
  }
  return {Status::failure, "Failure"};
}

std::string_view status_message(Status status) {
  static constexpr std::string_view messages[] = {
      "Success",         "End of file",     "No such file",  "Permission denied",     "Failure",
      "Bad message",     "No connection",   "Connection lost", "Operation unsupported",
  };
  const auto index = static_cast<std::size_t>(status);
  return index < std::size(messages) ? messages[index] : "Unknown error";
}

}  // namespace filegate::sftp
