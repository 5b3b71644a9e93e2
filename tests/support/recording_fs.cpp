#include "support/recording_fs.hpp"

#include <optional>

namespace filegate::testing {
namespace {

class NullFile final : public vfs::File {
 public:
  Result<std::size_t> read(std::span<std::byte>, std::uint64_t) override { return std::size_t{0}; }
  Result<std::size_t> write(std::span<const std::byte> buffer, std::uint64_t) override {
    return buffer.size();
  }
  Result<vfs::Attributes> stat() override { return vfs::Attributes{}; }
  Result<void> set_attributes(const vfs::AttributeChange&) override { return {}; }
  Result<void> sync() override { return {}; }
  Result<void> close() override { return {}; }
};

class EmptyDirectory final : public vfs::Directory {
 public:
  Result<std::optional<vfs::DirectoryEntry>> next() override { return std::optional<vfs::DirectoryEntry>{}; }
};

}  // namespace

std::vector<std::string> RecordingFilesystem::calls() const {
  std::lock_guard lock(mutex_);
  return calls_;
}

void RecordingFilesystem::clear() {
  std::lock_guard lock(mutex_);
  calls_.clear();
}

void RecordingFilesystem::set_type(const std::string& path, vfs::FileType type) {
  std::lock_guard lock(mutex_);
  types_[path] = type;
}

void RecordingFilesystem::record(std::string call) {
  std::lock_guard lock(mutex_);
  calls_.push_back(std::move(call));
}

vfs::Attributes RecordingFilesystem::attributes_of(const vfs::Path& path) const {
  std::lock_guard lock(mutex_);
  vfs::Attributes attributes;
  if (const auto it = types_.find(path.str()); it != types_.end()) attributes.type = it->second;
  return attributes;
}

Result<std::unique_ptr<vfs::File>> RecordingFilesystem::open(const vfs::Path& path, const vfs::OpenMode&) {
  record("open " + path.str());
  return std::unique_ptr<vfs::File>(std::make_unique<NullFile>());
}

Result<vfs::Attributes> RecordingFilesystem::stat(const vfs::Path& path) {
  record("stat " + path.str());
  return attributes_of(path);
}

Result<vfs::Attributes> RecordingFilesystem::stat_cached(const vfs::Path& path) {
  record("stat_cached " + path.str());
  return attributes_of(path);
}

Result<vfs::Attributes> RecordingFilesystem::lstat(const vfs::Path& path) {
  record("lstat " + path.str());
  return attributes_of(path);
}

Result<void> RecordingFilesystem::set_attributes(const vfs::Path& path, const vfs::AttributeChange&, bool) {
  record("set_attributes " + path.str());
  return {};
}

Result<std::unique_ptr<vfs::Directory>> RecordingFilesystem::open_directory(const vfs::Path& path) {
  record("open_directory " + path.str());
  return std::unique_ptr<vfs::Directory>(std::make_unique<EmptyDirectory>());
}

Result<void> RecordingFilesystem::make_directory(const vfs::Path& path, std::uint32_t) {
  record("make_directory " + path.str());
  return {};
}

Result<void> RecordingFilesystem::remove_directory(const vfs::Path& path) {
  record("remove_directory " + path.str());
  return {};
}

Result<void> RecordingFilesystem::remove_file(const vfs::Path& path) {
  record("remove_file " + path.str());
  return {};
}

Result<void> RecordingFilesystem::rename(const vfs::Path& from, const vfs::Path& to, vfs::RenameMode) {
  record("rename " + from.str() + " " + to.str());
  return {};
}

Result<void> RecordingFilesystem::hard_link(const vfs::Path& existing, const vfs::Path& link) {
  record("hard_link " + existing.str() + " " + link.str());
  return {};
}

Result<void> RecordingFilesystem::symlink(const vfs::Path& link, std::string_view target) {
  record("symlink " + link.str() + " " + std::string(target));
  return {};
}

Result<std::string> RecordingFilesystem::read_link(const vfs::Path& path) {
  record("read_link " + path.str());
  return std::string("target");
}

Result<vfs::Path> RecordingFilesystem::real_path(const vfs::Path& path) {
  record("real_path " + path.str());
  return path;
}

Result<vfs::FilesystemStats> RecordingFilesystem::stat_filesystem(const vfs::Path& path) {
  record("stat_filesystem " + path.str());
  return vfs::FilesystemStats{};
}

}  // namespace filegate::testing
