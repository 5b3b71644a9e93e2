// The one filesystem interface every protocol front-end uses, shaped after the SFTP server
// operations (open/read/write at offset, stat/lstat/setattr, opendir, mkdir, rmdir, remove,
// rename, symlink/readlink, realpath, statvfs).
//
// Calls are synchronous and may block on disk: front-ends call them from the worker pool
// (core/offload.hpp), never on the event loop. Implementations must be safe to call from
// several threads at once; a File or Directory is used by one thread at a time.
//
// The exceptions are the cached-only calls (OpenMode::cached, File::read_cached,
// Filesystem::stat_cached): they never wait for a disk, and answer Errc::would_block when they
// would have to. The event loop may try them first and go to a worker only on would_block,
// which saves a small transfer two thread hand-offs when the kernel has what it needs in
// memory. A backend without such a mode answers would_block every time.
//
// Backends: local_fs.hpp (a directory on this machine). Others (object storage, a remote SFTP
// server) implement the same interface.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "core/result.hpp"
#include "vfs/errors.hpp"
#include "vfs/path.hpp"

namespace filegate::vfs {

using TimePoint = std::chrono::time_point<std::chrono::system_clock, std::chrono::nanoseconds>;

enum class FileType : std::uint8_t { regular, directory, symlink, other };

struct Attributes {
  FileType type = FileType::regular;
  std::uint64_t size = 0;
  std::uint32_t permissions = 0;  // the 07777 bits
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::uint64_t links = 1;
  TimePoint access_time{};
  TimePoint modify_time{};
  // Identifies the object within the backend (device and inode for local files): the MLSD
  // "unique" fact.
  std::uint64_t device = 0;
  std::uint64_t inode = 0;
};

// Attributes to change; unset fields stay as they are.
struct AttributeChange {
  std::optional<std::uint32_t> permissions;
  std::optional<std::uint64_t> size;
  std::optional<TimePoint> access_time;
  std::optional<TimePoint> modify_time;
  std::optional<std::uint32_t> uid;
  std::optional<std::uint32_t> gid;
};

struct OpenMode {
  enum Flag : unsigned {
    read = 1u << 0,
    write = 1u << 1,
    append = 1u << 2,     // every write goes to the end of the file
    create = 1u << 3,
    truncate = 1u << 4,
    exclusive = 1u << 5,  // with create: fail with Errc::exists if the name exists
    // Open only if that needs no disk I/O (every step of the path in the kernel's lookup
    // cache), else Errc::would_block. Reading only: a mode that writes, creates or truncates
    // is would_block. The file's other calls are the ordinary, blocking ones.
    cached = 1u << 6,
  };
  unsigned flags = read;
  std::uint32_t create_permissions = 0644;

  bool has(Flag f) const { return (flags & f) != 0; }
};

enum class RenameMode { replace, no_replace };

struct DirectoryEntry {
  std::string name;
  Attributes attributes;    // lstat() of the entry: a symlink is reported as a symlink
  std::string link_target;  // for symlinks: what readlink() returns
};

struct FilesystemStats {
  std::uint64_t block_size = 0;
  std::uint64_t fragment_size = 0;
  std::uint64_t blocks = 0;
  std::uint64_t blocks_free = 0;
  std::uint64_t blocks_available = 0;
  std::uint64_t files = 0;
  std::uint64_t files_free = 0;
  std::uint64_t files_available = 0;
  std::uint64_t filesystem_id = 0;
  std::uint64_t flags = 0;
  std::uint64_t max_name_length = 0;
};

class File {
 public:
  virtual ~File() = default;
  // Reads up to buffer.size() bytes at `offset`; 0 at end of file.
  virtual Result<std::size_t> read(std::span<std::byte> buffer, std::uint64_t offset) = 0;
  // read() without waiting for a disk: what is in memory (possibly less than asked, never 0
  // before the end of the file), or Errc::would_block.
  virtual Result<std::size_t> read_cached(std::span<std::byte>, std::uint64_t) { return Errc::would_block; }
  // Writes at `offset` (ignored when opened with append). May write less than asked.
  virtual Result<std::size_t> write(std::span<const std::byte> buffer, std::uint64_t offset) = 0;
  virtual Result<Attributes> stat() = 0;
  virtual Result<void> set_attributes(const AttributeChange& change) = 0;
  virtual Result<void> sync() = 0;
  // Reports errors the close itself found (deferred write errors). Idempotent.
  virtual Result<void> close() = 0;
  // A kernel descriptor usable with sendfile(), or -1 when the backend has none.
  virtual int native_handle() const { return -1; }
};

// Writes all of `data` at `offset` (a backend may write less than asked), advancing `offset`
// past what reached the file, also on failure. No progress (a full disk) is Errc::io_error.
inline Result<void> write_all(File& file, std::span<const std::byte> data, std::uint64_t& offset) {
  while (!data.empty()) {
    auto n = file.write(data, offset);
    if (!n) return n.error();
    if (*n == 0) return make_error_code(Errc::io_error);
    offset += *n;
    data = data.subspan(*n);
  }
  return {};
}

class Directory {
 public:
  virtual ~Directory() = default;
  // The next entry ('.' and '..' are never returned), or nullopt at the end.
  virtual Result<std::optional<DirectoryEntry>> next() = 0;
};

class Filesystem {
 public:
  virtual ~Filesystem() = default;

  virtual Result<std::unique_ptr<File>> open(const Path& path, const OpenMode& mode) = 0;
  virtual Result<Attributes> stat(const Path& path) = 0;   // follows symlinks (within the root)
  virtual Result<Attributes> lstat(const Path& path) = 0;  // reports symlinks themselves
  // stat() without waiting for a disk (see OpenMode::cached), else Errc::would_block.
  virtual Result<Attributes> stat_cached(const Path&) { return Errc::would_block; }
  virtual Result<void> set_attributes(const Path& path, const AttributeChange& change,
                                      bool follow_symlinks = true) = 0;
  virtual Result<std::unique_ptr<Directory>> open_directory(const Path& path) = 0;
  virtual Result<void> make_directory(const Path& path, std::uint32_t permissions = 0755) = 0;
  virtual Result<void> remove_directory(const Path& path) = 0;  // must be empty
  virtual Result<void> remove_file(const Path& path) = 0;       // not for directories
  virtual Result<void> rename(const Path& from, const Path& to, RenameMode mode) = 0;
  virtual Result<void> hard_link(const Path& existing, const Path& link) = 0;
  // Creates `link` pointing at `target`, a virtual path (absolute, or relative to link's
  // directory). The stored target is always relative, so it resolves the same way for
  // every protocol and never names anything outside the root.
  virtual Result<void> symlink(const Path& link, std::string_view target) = 0;
  virtual Result<std::string> read_link(const Path& path) = 0;
  // The canonical virtual path, with symlinks resolved (within the root).
  virtual Result<Path> real_path(const Path& path) = 0;
  virtual Result<FilesystemStats> stat_filesystem(const Path& path) = 0;
};

}  // namespace filegate::vfs
