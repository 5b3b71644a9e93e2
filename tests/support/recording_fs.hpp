// A vfs::Filesystem that records every call and succeeds, for tests of code that decides
// whether to call the filesystem at all (the authorizing decorator, protocol handlers).
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "vfs/filesystem.hpp"

namespace filegate::testing {

class RecordingFilesystem final : public vfs::Filesystem {
 public:
  // Every call so far, as "<operation> <path>[ <path>]", e.g. "rename /a /b".
  std::vector<std::string> calls() const;
  void clear();
  // What stat()/lstat() report for a path; unlisted paths are regular files.
  void set_type(const std::string& path, vfs::FileType type);

  Result<std::unique_ptr<vfs::File>> open(const vfs::Path& path, const vfs::OpenMode& mode) override;
  Result<vfs::Attributes> stat(const vfs::Path& path) override;
  Result<vfs::Attributes> lstat(const vfs::Path& path) override;
  Result<vfs::Attributes> stat_cached(const vfs::Path& path) override;
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
  void record(std::string call);
  vfs::Attributes attributes_of(const vfs::Path& path) const;

  mutable std::mutex mutex_;  // guards calls_ and types_ (the interface must be thread-safe)
  std::vector<std::string> calls_;
  std::map<std::string, vfs::FileType> types_;
};

}  // namespace filegate::testing
