#include "auth/authorized_fs.hpp"

#include <utility>

namespace filegate::auth {
namespace {

error_code denied() { return vfs::make_error_code(vfs::Errc::permission_denied); }

// stat, lstat and stat_filesystem: 'l' or 'e'.
bool may_stat(const PermissionSet& set) {
  return set.has(Permission::list) || set.has(Permission::change_directory);
}

}  // namespace

AuthorizedFilesystem::AuthorizedFilesystem(std::shared_ptr<vfs::Filesystem> inner, PermissionRules rules)
    : inner_(std::move(inner)), rules_(std::move(rules)) {}

PermissionSet AuthorizedFilesystem::effective(const vfs::Path& path) const {
  const PermissionSet named = rules_.effective(path);
  if (rules_.rules().empty() || named.empty()) return named;
  // SECURITY: also the letters of where the path really leads (header comment).
  if (auto real = inner_->real_path(path)) return named.intersect(rules_.effective(*real));
  if (auto own = inner_->lstat(path); own && own->type == vfs::FileType::symlink) return PermissionSet{};
  // Does not exist yet: the letters of the real parent directory, for the new name.
  auto parent = inner_->real_path(path.parent());
  if (!parent) return named;  // the operation itself will fail
  auto target = parent->child(path.name());
  return target ? named.intersect(rules_.effective(*target)) : named;
}

PermissionSet AuthorizedFilesystem::effective_entry(const vfs::Path& path) const {
  const PermissionSet named = rules_.effective(path);
  if (rules_.rules().empty() || named.empty() || path.is_root()) return named;
  // SECURITY: the entry itself lives in its real parent directory; what a symlink entry
  // points at is not touched by removing, renaming or reading the link.
  auto parent = inner_->real_path(path.parent());
  if (!parent) return named;  // the operation itself will fail
  auto entry = parent->child(path.name());
  return entry ? named.intersect(rules_.effective(*entry)) : named;
}

Result<void> AuthorizedFilesystem::check_entry(Permission permission, const vfs::Path& path) const {
  if (!effective_entry(path).has(permission)) return denied();
  return {};
}

bool AuthorizedFilesystem::checks_touch_disk() const { return !rules_.rules().empty(); }

Result<void> AuthorizedFilesystem::check(Permission permission, const vfs::Path& path) const {
  if (!effective(path).has(permission)) return denied();
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
  // A cached-only open must not wait for a disk, and per-directory rules resolve the path.
  if (mode.has(Flag::cached) && checks_touch_disk()) return vfs::make_error_code(vfs::Errc::would_block);
  const auto effective_set = effective(path);
  const bool appending = mode.has(Flag::append) && !mode.has(Flag::truncate);
  const bool modifies = mode.has(Flag::write) || mode.has(Flag::create) || mode.has(Flag::truncate) ||
                        mode.has(Flag::append);
  // A mode asking for neither reading nor writing still opens (and so reveals) the file: treat
  // it as a read rather than letting it through unchecked.
  if ((mode.has(Flag::read) || !modifies) && !effective_set.has(Permission::download)) {
    return denied();
  }
  if (modifies) {
    // SECURITY: append-only writes cannot destroy existing content, which is what lets an
    // "a"-only directory accept resumed uploads (APPE, REST+STOR in append mode) without 'w'.
    // Truncating or writing at arbitrary offsets needs 'w'.
    const Permission needed = appending ? Permission::append : Permission::upload;
    if (!effective_set.has(needed)) return denied();
    if (mode.has(Flag::append) && !appending && !effective_set.has(Permission::append)) {
      return denied();
    }
  }
  return inner_->open(path, mode);
}

Result<vfs::Attributes> AuthorizedFilesystem::stat(const vfs::Path& path) {
  if (!may_stat(effective(path))) return denied();
  return inner_->stat(path);
}

Result<vfs::Attributes> AuthorizedFilesystem::stat_cached(const vfs::Path& path) {
  if (checks_touch_disk()) return vfs::make_error_code(vfs::Errc::would_block);  // as open()
  if (!may_stat(effective(path))) return denied();
  return inner_->stat_cached(path);
}

Result<vfs::Attributes> AuthorizedFilesystem::lstat(const vfs::Path& path) {
  if (!may_stat(effective_entry(path))) return denied();
  return inner_->lstat(path);
}

Result<void> AuthorizedFilesystem::check_attribute_change(const vfs::Path& path,
                                                          const vfs::AttributeChange& change,
                                                          bool follow_symlinks) const {
  // SECURITY: changing ownership is never delegated to clients, whatever their letters.
  if (change.uid || change.gid) return denied();
  const auto set = follow_symlinks ? effective(path) : effective_entry(path);
  if (change.permissions && !set.has(Permission::change_mode)) return denied();
  if ((change.access_time || change.modify_time) && !set.has(Permission::set_time)) return denied();
  // Changing the size truncates or extends the file: the same right as overwriting it.
  if (change.size && !set.has(Permission::upload)) return denied();
  return {};
}

Result<void> AuthorizedFilesystem::set_attributes(const vfs::Path& path, const vfs::AttributeChange& change,
                                                  bool follow_symlinks) {
  if (auto ok = check_attribute_change(path, change, follow_symlinks); !ok) return ok;
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
  if (auto ok = check_entry(Permission::remove, path); !ok) return ok;
  return inner_->remove_directory(path);
}

Result<void> AuthorizedFilesystem::remove_file(const vfs::Path& path) {
  if (auto ok = check_entry(Permission::remove, path); !ok) return ok;
  return inner_->remove_file(path);
}

Result<void> AuthorizedFilesystem::rename(const vfs::Path& from, const vfs::Path& to, vfs::RenameMode mode) {
  // SECURITY: both ends, or a rename would move a file out of a download-only area into a
  // writable one (or over a file the user may not replace).
  if (auto ok = check_entry(Permission::rename, from); !ok) return ok;
  if (auto ok = check_entry(Permission::rename, to); !ok) return ok;
  return inner_->rename(from, to, mode);
}

Result<void> AuthorizedFilesystem::hard_link(const vfs::Path& existing, const vfs::Path& link) {
  if (auto ok = check(Permission::upload, link); !ok) return ok;
  // SECURITY: a hard link shares the file: linking a download-only file into a writable
  // directory would let the user overwrite it there.
  if (auto ok = check(Permission::upload, existing); !ok) return ok;
  return inner_->hard_link(existing, link);
}

Result<void> AuthorizedFilesystem::symlink(const vfs::Path& link, std::string_view target) {
  if (auto ok = check(Permission::upload, link); !ok) return ok;
  return inner_->symlink(link, target);
}

Result<std::string> AuthorizedFilesystem::read_link(const vfs::Path& path) {
  if (auto ok = check_entry(Permission::list, path); !ok) return ok.error();
  return inner_->read_link(path);
}

Result<vfs::Path> AuthorizedFilesystem::real_path(const vfs::Path& path) {
  return inner_->real_path(path);
}

Result<vfs::FilesystemStats> AuthorizedFilesystem::stat_filesystem(const vfs::Path& path) {
  if (!may_stat(effective(path))) return denied();
  return inner_->stat_filesystem(path);
}

}  // namespace filegate::auth
