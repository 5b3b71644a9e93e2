// The permission-checked view of a filesystem that front-ends receive after login.
//
// Every operation checks operation x path against the user's PermissionRules and then
// delegates, so no protocol handler can forget a check and both FTP and SFTP get the same
// decision for the same request. Refusals are vfs::Errc::permission_denied.
//
// SECURITY: when the user has per-directory rules, a path's letters are those of the path the
// client named AND of the place it really leads to (symlinks resolved by the backend), so a
// link in a writable /inbox cannot be used to overwrite a file in a download-only /outbox, nor
// a link in /outbox to read an upload-only /inbox. A dangling symlink gets no letters at all
// (creating through it would create the file wherever it points). Operations on a directory
// entry itself (remove, rename, lstat, read_link, lsetstat) act on the link, not on what it
// points at: they get the letters of the entry in its real parent directory, so a user can
// clean up a dangling link. With no per-directory rules the letters are the same everywhere
// and nothing is resolved.
//
//   open             read: r; write/create/truncate: w; append: a
//   stat, lstat,
//   stat_filesystem  l or e
//   open_directory   l          read_link   l
//   make_directory   m          remove_*    d
//   rename           f on both paths
//   symlink          w on the new link
//   hard_link        w on the new link and on the existing file
//   set_attributes   permissions: M; times: T; size: w; owner: never
//   real_path        no letter (it reveals nothing the client could not compute)
#pragma once

#include <memory>

#include "auth/permissions.hpp"
#include "vfs/filesystem.hpp"

namespace filegate::auth {

class AuthorizedFilesystem final : public vfs::Filesystem {
 public:
  AuthorizedFilesystem(std::shared_ptr<vfs::Filesystem> inner, PermissionRules rules);

  // Checks one letter for a path; for commands with no VFS call of their own. Like every call
  // here it may touch the disk (resolving where the path leads), so it runs on a worker, unless
  // checks_touch_disk() is false.
  Result<void> check(Permission permission, const vfs::Path& path) const;
  // Whether check() and effective() resolve paths on disk: only with per-directory rules.
  // Without them they read the user's letters alone and may run on the event loop.
  bool checks_touch_disk() const;
  Result<void> check_entry(Permission permission, const vfs::Path& path) const;
  // The letters set_attributes() needs for `change` on `path`; for changes made through an
  // open file (SFTP FSETSTAT), which then act on that file, not on whatever the path names now.
  Result<void> check_attribute_change(const vfs::Path& path, const vfs::AttributeChange& change,
                                      bool follow_symlinks = true) const;
  // 'e' plus "is an existing directory" (FTP CWD, SFTP has no equivalent).
  Result<void> change_directory(const vfs::Path& path);
  // The letters that apply to `path` (see SECURITY above).
  PermissionSet effective(const vfs::Path& path) const;
  // The letters for operations on the directory entry itself, which do not follow a final
  // symlink (remove, rename, lstat, read_link, lsetstat): those of its real parent directory.
  PermissionSet effective_entry(const vfs::Path& path) const;

  // Atomic uploads (upload_staging.cpp). A front-end writes an upload to a temporary name
  // beside the target and publishes it only when the transfer completed. Publishing needs 'w'
  // on the target, the letter the upload itself was checked for; discarding needs none.
  // SECURITY: both refuse any temporary that is not a staging name, so they cannot be used to
  // rename or delete arbitrary files.
  static bool is_staging_name(std::string_view name);
  Result<void> publish_upload(const vfs::Path& temporary, const vfs::Path& target);
  Result<void> discard_upload(const vfs::Path& temporary);

  Result<std::unique_ptr<vfs::File>> open(const vfs::Path& path, const vfs::OpenMode& mode) override;
  Result<vfs::Attributes> stat(const vfs::Path& path) override;
  Result<vfs::Attributes> stat_cached(const vfs::Path& path) override;
  Result<vfs::Attributes> lstat(const vfs::Path& path) override;
  Result<void> set_attributes(const vfs::Path& path, const vfs::AttributeChange& change,
                              bool follow_symlinks) override;
  Result<std::unique_ptr<vfs::Directory>> open_directory(const vfs::Path& path) override;
  Result<void> make_directory(const vfs::Path& path, std::uint32_t permissions) override;
  Result<void> remove_directory(const vfs::Path& path) override;
  Result<void> remove_file(const vfs::Path& path) override;
  Result<void> rename(const vfs::Path& from, const vfs::Path& to, vfs::RenameMode mode) override;
  Result<void> hard_link(const vfs::Path& existing, const vfs::Path& link) override;
  Result<void> symlink(const vfs::Path& link, std::string_view target) override;
  Result<std::string> read_link(const vfs::Path& path) override;
  Result<vfs::Path> real_path(const vfs::Path& path) override;
  Result<vfs::FilesystemStats> stat_filesystem(const vfs::Path& path) override;

 private:
  std::shared_ptr<vfs::Filesystem> inner_;
  PermissionRules rules_;
};

}  // namespace filegate::auth
