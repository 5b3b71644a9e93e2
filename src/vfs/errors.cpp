#include "vfs/errors.hpp"

#include <cerrno>
#include <string>

namespace filegate::vfs {
namespace {

// boost's error_category has a protected, non-virtual destructor by design (categories are
// never deleted through a base pointer), which -Wnon-virtual-dtor flags on every subclass.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"
class Category final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "filegate.vfs"; }

  std::string message(int value) const override {
    switch (static_cast<Errc>(value)) {
      case Errc::not_found: return "no such file or directory";
      case Errc::exists: return "file exists";
      case Errc::not_a_directory: return "not a directory";
      case Errc::is_a_directory: return "is a directory";
      case Errc::not_empty: return "directory not empty";
      case Errc::permission_denied: return "permission denied";
      case Errc::no_space: return "no space left on device";
      case Errc::quota_exceeded: return "quota exceeded";
      case Errc::file_too_large: return "file too large";
      case Errc::io_error: return "input/output error";
      case Errc::invalid_name: return "invalid file name";
      case Errc::name_too_long: return "file name too long";
      case Errc::too_many_links: return "too many levels of symbolic links";
      case Errc::not_supported: return "operation not supported";
      case Errc::bad_handle: return "bad file handle";
      case Errc::busy: return "resource busy";
      case Errc::read_only: return "read-only file system";
      case Errc::cross_device: return "cross-device link";
      case Errc::invalid_argument: return "invalid argument";
      case Errc::would_block: return "not without waiting for the disk";
    }
    return "unknown filesystem error";
  }
};
#pragma GCC diagnostic pop

}  // namespace

const boost::system::error_category& category() {
  // A function-local static: one instance, safely initialised from any thread.
  static const Category instance;
  return instance;
}

error_code make_error_code(Errc e) { return error_code(static_cast<int>(e), category()); }

error_code from_errno(int err) {
  switch (err) {
    case ENOENT: return Errc::not_found;
    case EEXIST: return Errc::exists;
    case ENOTDIR: return Errc::not_a_directory;
    case EISDIR: return Errc::is_a_directory;
    case ENOTEMPTY: return Errc::not_empty;
    case EACCES:
    case EPERM: return Errc::permission_denied;
    case ENOSPC: return Errc::no_space;
    case EDQUOT: return Errc::quota_exceeded;
    case EFBIG: return Errc::file_too_large;
    case ENAMETOOLONG: return Errc::name_too_long;
    case ELOOP: return Errc::too_many_links;
    case EXDEV: return Errc::cross_device;
    case EBUSY: return Errc::busy;
    case EROFS: return Errc::read_only;
    case EINVAL: return Errc::invalid_argument;
    case EBADF: return Errc::bad_handle;
    case EOPNOTSUPP:
#if ENOTSUP != EOPNOTSUPP
    case ENOTSUP:
#endif
    case ENOSYS: return Errc::not_supported;
    default: return Errc::io_error;
  }
}

}  // namespace filegate::vfs
