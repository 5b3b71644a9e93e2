#include "auth/authorized_fs.hpp"

#include <utility>

namespace filegate::auth {
namespace {

error_code denied() { return vfs::make_error_code(vfs::Errc::permission_denied); }

}  // namespace

AuthorizedFilesystem::AuthorizedFilesystem(std::shared_ptr<vfs::Filesystem> inner, PermissionRules rules)
    : inner_(std::move(inner)), rules_(std::move(rules)) {}

// SECURITY: every decision below uses the path the client named, before the backend resolves
// symlinks. A symlink inside the home that points into a more permissive directory therefore
// gets the rights of where the link lives, never more: the backend keeps it inside the home,
// and the link itself could only be created with 'w' on its own location.
Result<void> AuthorizedFilesystem::check(Permission permission, const vfs::Path& path) const {
  if (!rules_.allows(permission, path)) return denied();
  return {};
}

Result<void> AuthorizedFilesystem::change_directory(const vfs::Path& path) {
  if (auto ok = check(Permission::change_directory, path); !ok) return ok;
  auto attributes = inner_->stat(path);
  if (!attributes) return attributes.error();
  if (attributes->type != vfs::FileType::directory) {
    return vfs::make_error_code(vfs::Errc::not_a_directory);
  }
  return {};
}

Result<std::unique_ptr<vfs::File>> AuthorizedFilesystem::open(const vfs::Path& path,
                                                              const vfs::OpenMode& mode) {
  using Flag = vfs::OpenMode::Flag;
  const bool appending = mode.has(Flag::append) && !mode.has(Flag::truncate);
  const bool modifies = mode.has(Flag::write) || mode.has(Flag::create) || mode.has(Flag::truncate) ||
                        mode.has(Flag::append);
  // A mode asking for neither reading nor writing still opens (and so reveals) the file: treat
  // it as a read rather than letting it through unchecked.
  if ((mode.has(Flag::read) || !modifies) && !rules_.allows(Permission::download, path)) {
    return denied();
  }
  if (modifies) {
    // SECURITY: append-only writes cannot destroy existing content, which is what lets an
    // "a"-only directory accept resumed uploads (APPE, REST+STOR in append mode) without 'w'.
    // Truncating or writing at arbitrary offsets needs 'w'.
    const Permission needed = appending ? Permission::append : Permission::upload;
    if (!rules_.allows(needed, path)) return denied();
    if (mode.has(Flag::append) && !appending && !rules_.allows(Permission::append, path)) {
      return denied();
    }
  }
  return inner_->open(path, mode);
}

Result<vfs::Attributes> AuthorizedFilesystem::stat(const vfs::Path& path) {
  const auto set = rules_.effective(path);
  if (!set.has(Permission::list) && !set.has(Permission::change_directory)) return denied();
  return inner_->stat(path);
}

Result<vfs::Attributes> AuthorizedFilesystem::lstat(const vfs::Path& path) {
  const auto set = rules_.effective(path);
  if (!set.has(Permission::list) && !set.has(Permission::change_directory)) return denied();
  return inner_->lstat(path);
}

Result<void> AuthorizedFilesystem::set_attributes(const vfs::Path& path, const vfs::AttributeChange& change,
                                                  bool follow_symlinks) {
  // SECURITY: changing ownership is never delegated to clients, whatever their letters.
  if (change.uid || change.gid) return denied();
  const auto set = rules_.effective(path);
  if (change.permissions && !set.has(Permission::change_mode)) return denied();
  if ((change.access_time || change.modify_time) && !set.has(Permission::set_time)) return denied();
  // Changing the size truncates or extends the file: the same right as overwriting it.
  if (change.size && !set.has(Permission::upload)) return denied();
  return inner_->set_attributes(path, change, follow_symlinks);
}

Result<std::unique_ptr<vfs::Directory>> AuthorizedFilesystem::open_directory(const vfs::Path& path) {
  if (auto ok = check(Permission::list, path); !ok) return ok.error();
  return inner_->open_directory(path);
}

Result<void> AuthorizedFilesystem::make_directory(const vfs::Path& path, std::uint32_t permissions) {
  if (auto ok = check(Permission::make_directory, path); !ok) return ok;
  return inner_->make_directory(path, permissions);
}

Result<void> AuthorizedFilesystem::remove_directory(const vfs::Path& path) {
  if (auto ok = check(Permission::remove, path); !ok) return ok;
  return inner_->remove_directory(path);
}

Result<void> AuthorizedFilesystem::remove_file(const vfs::Path& path) {
  if (auto ok = check(Permission::remove, path); !ok) return ok;
  return inner_->remove_file(path);
}

Result<void> AuthorizedFilesystem::rename(const vfs::Path& from, const vfs::Path& to, vfs::RenameMode mode) {
  // SECURITY: both ends, or a rename would move a file out of a download-only area into a
  // writable one (or over a file the user may not replace).
  if (auto ok = check(Permission::rename, from); !ok) return ok;
  if (auto ok = check(Permission::rename, to); !ok) return ok;
  return inner_->rename(from, to, mode);
}

Result<void> AuthorizedFilesystem::hard_link(const vfs::Path& existing, const vfs::Path& link) {
  if (auto ok = check(Permission::upload, link); !ok) return ok;
  return inner_->hard_link(existing, link);
}

Result<void> AuthorizedFilesystem::symlink(const vfs::Path& link, std::string_view target) {
  if (auto ok = check(Permission::upload, link); !ok) return ok;
  return inner_->symlink(link, target);
}

Result<std::string> AuthorizedFilesystem::read_link(const vfs::Path& path) {
  if (auto ok = check(Permission::list, path); !ok) return ok.error();
  return inner_->read_link(path);
}

Result<vfs::Path> AuthorizedFilesystem::real_path(const vfs::Path& path) {
  return inner_->real_path(path);
}

Result<vfs::FilesystemStats> AuthorizedFilesystem::stat_filesystem(const vfs::Path& path) {
  const auto set = rules_.effective(path);
  if (!set.has(Permission::list) && !set.has(Permission::change_directory)) return denied();
  return inner_->stat_filesystem(path);
}

}  // namespace filegate::auth
