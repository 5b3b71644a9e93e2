#include "ftp/error_map.hpp"

#include "vfs/errors.hpp"

namespace filegate::ftp {

Reply reply_for(const error_code& ec) {
  using vfs::Errc;
  struct Row {
    Errc errc;
    int code;
    const char* text;
  };
  static constexpr Row table[] = {
      {Errc::not_found, 550, "No such file or directory."},
      {Errc::exists, 550, "File exists."},
      {Errc::not_a_directory, 550, "Not a directory."},
      {Errc::is_a_directory, 550, "Is a directory."},
      {Errc::not_empty, 550, "Directory not empty."},
      {Errc::permission_denied, 550, "Permission denied."},
      {Errc::no_space, 452, "Insufficient storage space."},
      {Errc::quota_exceeded, 552, "Quota exceeded."},
      {Errc::file_too_large, 552, "File too large."},
      {Errc::io_error, 451, "Local error in processing."},
      {Errc::invalid_name, 553, "File name not allowed."},
      {Errc::name_too_long, 553, "File name too long."},
      {Errc::too_many_links, 550, "Too many levels of symbolic links."},
      {Errc::not_supported, 504, "Operation not supported."},
      {Errc::bad_handle, 451, "Local error in processing."},
      {Errc::busy, 450, "File busy."},
      {Errc::read_only, 550, "Read-only file system."},
      {Errc::cross_device, 550, "Cannot move across file systems."},
      {Errc::invalid_argument, 501, "Invalid argument."},
  };
  for (const auto& row : table) {
    // vfs::is also matches errno codes (generic/system category) by their VFS meaning.
    if (vfs::is(ec, row.errc)) return {row.code, row.text};
  }
  return {451, "Local error in processing."};
}

}  // namespace filegate::ftp
