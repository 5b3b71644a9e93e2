// The VFS's own error codes. Backends translate their native errors into these; each protocol
// front-end maps them to its replies in exactly one place (ftp/error_map.cpp, sftp's status map).
#pragma once

#include <type_traits>

#include "core/result.hpp"

namespace filegate::vfs {

enum class Errc {
  not_found = 1,
  exists,
  not_a_directory,
  is_a_directory,
  not_empty,
  permission_denied,  // refused by the realm's permission rules or by the backend
  no_space,
  quota_exceeded,
  file_too_large,     // past the largest file the system or the process limit (RLIMIT_FSIZE) allows
  io_error,
  invalid_name,       // NUL bytes, over-long names, names the backend cannot store
  name_too_long,
  too_many_links,     // symlink loop
  not_supported,
  bad_handle,         // closed or unknown file/directory handle
  busy,
  read_only,
  cross_device,
  invalid_argument,
  would_block,        // a cached-only call (OpenMode::cached, read_cached, stat_cached) needs the disk
};

const boost::system::error_category& category();
error_code make_error_code(Errc e);

// Translates an errno value from a local system call.
error_code from_errno(int err);

// True when `ec` is the given VFS error (works for codes of any category that map to it).
// error_code's operator== compares category and value exactly, so errno codes of the generic
// and system categories are translated here to keep that promise.
inline bool is(const error_code& ec, Errc e) {
  if (ec == make_error_code(e)) return true;
  if (!ec) return false;
  if (ec.category() == boost::system::generic_category() ||
      ec.category() == boost::system::system_category()) {
    return from_errno(ec.value()) == make_error_code(e);
  }
  return false;
}

}  // namespace filegate::vfs

template <>
struct boost::system::is_error_code_enum<filegate::vfs::Errc> : std::true_type {};
