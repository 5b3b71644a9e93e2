#include "auth/authorized_fs.hpp"

namespace filegate::auth {

namespace {
constexpr std::string_view staging_prefix = ".filegate-upload-";
}

bool AuthorizedFilesystem::is_staging_name(std::string_view name) {
  return name.size() > staging_prefix.size() && name.substr(0, staging_prefix.size()) == staging_prefix;
}

Result<void> AuthorizedFilesystem::publish_upload(const vfs::Path& temporary, const vfs::Path& target) {
  if (!is_staging_name(temporary.name()) || temporary.parent() != target.parent()) {
    return vfs::make_error_code(vfs::Errc::permission_denied);
  }
  if (auto allowed = check(Permission::upload, target); !allowed) return allowed.error();
  return inner_->rename(temporary, target, vfs::RenameMode::replace);
}

Result<void> AuthorizedFilesystem::discard_upload(const vfs::Path& temporary) {
  if (!is_staging_name(temporary.name())) return vfs::make_error_code(vfs::Errc::permission_denied);
  return inner_->remove_file(temporary);
}

}  // namespace filegate::auth
