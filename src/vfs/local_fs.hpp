// The local backend: a directory on this machine serves as the root of a virtual filesystem.
//
// SECURITY: containment is the kernel's job, not string cleaning. The root directory is opened
// once; every path is resolved from that descriptor with openat2(RESOLVE_IN_ROOT |
// RESOLVE_NO_MAGICLINKS), so '..', absolute symlinks and symlinks swapped in between two
// requests all stay beneath the root. Operations that act on a name (mkdir, unlink, rename,
// symlink, lstat) resolve the parent directory that way and then use the *at() call on the
// final component with AT_SYMLINK_NOFOLLOW semantics. Attributes are changed through the
// descriptor that was resolved, never by re-walking a path.
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>

#include "vfs/filesystem.hpp"

namespace filegate::vfs {

class LocalFilesystem final : public Filesystem {
 public:
  // Opens `root_directory` (a host path). Fails if it is not an existing directory.
  static Result<std::shared_ptr<LocalFilesystem>> open_root(const std::string& root_directory);
  ~LocalFilesystem() override;

  Result<std::unique_ptr<File>> open(const Path& path, const OpenMode& mode) override;
  Result<Attributes> stat(const Path& path) override;
  Result<Attributes> lstat(const Path& path) override;
  Result<Attributes> stat_cached(const Path& path) override;
  Result<void> set_attributes(const Path& path, const AttributeChange& change,
                              bool follow_symlinks) override;
  Result<std::unique_ptr<Directory>> open_directory(const Path& path) override;
  Result<void> make_directory(const Path& path, std::uint32_t permissions) override;
  Result<void> remove_directory(const Path& path) override;
  Result<void> remove_file(const Path& path) override;
  Result<void> rename(const Path& from, const Path& to, RenameMode mode) override;
  Result<void> hard_link(const Path& existing, const Path& link) override;
  Result<void> symlink(const Path& link, std::string_view target) override;
  Result<std::string> read_link(const Path& path) override;
  Result<Path> real_path(const Path& path) override;
  Result<FilesystemStats> stat_filesystem(const Path& path) override;

 private:
  LocalFilesystem(int root_fd, std::string root_host_path, std::optional<dev_t> memory_device);
  int root_fd_;
  std::string root_host_path_;  // canonical host path of the root, for real_path()
  // The root's device when the root is on tmpfs or ramfs, whose reads never wait for a disk
  // (File::read_cached). Only files on that same device count: a mount below the root may be
  // anything.
  std::optional<dev_t> memory_device_;
};

}  // namespace filegate::vfs
