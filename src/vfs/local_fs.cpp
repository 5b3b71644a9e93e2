#include "vfs/local_fs.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <limits>
#include <utility>
#include <vector>

namespace filegate::vfs {
namespace {

// A descriptor that closes itself.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

error_code last_error() { return from_errno(errno); }

// openat2 reports EAGAIN when a rename elsewhere raced with a '..' step. Retrying is what the
// kernel asks for, but a client renaming in a loop must not be able to pin a worker forever.
constexpr int max_resolve_attempts = 64;

// The magic link naming one of our own descriptors. We build it ourselves from an fd we hold,
// so following it is trusted (unlike a magic link reached through a client path).
std::string proc_fd_path(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

Result<std::string> read_proc_fd_link(int fd) {
  char buffer[PATH_MAX + 1];
  const auto path = proc_fd_path(fd);
  const ssize_t n = ::readlink(path.c_str(), buffer, sizeof buffer);
  if (n < 0) return last_error();
  if (static_cast<std::size_t>(n) >= sizeof buffer) return Errc::name_too_long;
  // Exactly sized: the root's host path lives as long as the session (a PATH_MAX string
  // would cost 4 KiB per logged-in user).
  return std::string(buffer, static_cast<std::size_t>(n));
}

TimePoint to_time_point(const struct timespec& ts) {
  return TimePoint(std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec));
}

struct timespec to_timespec(const std::optional<TimePoint>& t) {
  struct timespec ts {};
  if (!t) {
    ts.tv_nsec = UTIME_OMIT;
    return ts;
  }
  const auto ns = t->time_since_epoch().count();
  auto secs = ns / 1'000'000'000;
  auto rest = ns % 1'000'000'000;
  if (rest < 0) {  // times before 1970: tv_nsec must stay in [0, 1e9)
    rest += 1'000'000'000;
    --secs;
  }
  ts.tv_sec = static_cast<time_t>(secs);
  ts.tv_nsec = static_cast<long>(rest);
  return ts;
}

FileType type_of(mode_t mode) {
  if (S_ISREG(mode)) return FileType::regular;
  if (S_ISDIR(mode)) return FileType::directory;
  if (S_ISLNK(mode)) return FileType::symlink;
  return FileType::other;
}

Attributes to_attributes(const struct stat& st) {
  Attributes a;
  a.type = type_of(st.st_mode);
  a.size = static_cast<std::uint64_t>(st.st_size);
  a.permissions = static_cast<std::uint32_t>(st.st_mode & 07777);
  a.uid = st.st_uid;
  a.gid = st.st_gid;
  a.links = static_cast<std::uint64_t>(st.st_nlink);
  a.access_time = to_time_point(st.st_atim);
  a.modify_time = to_time_point(st.st_mtim);
  a.device = static_cast<std::uint64_t>(st.st_dev);
  a.inode = static_cast<std::uint64_t>(st.st_ino);
  return a;
}

Result<struct stat> stat_fd(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return last_error();
  return st;
}

// SECURITY: clients never get to set setuid/setgid bits, whatever the server runs as; the
// bits are dropped rather than refused so that uploads of such files still work.
constexpr std::uint32_t allowed_mode_bits = 01777;

// uid/gid "changes" are accepted only when they change nothing: the server does not give files
// away, and clients such as sftp send the current owner along with every setstat.
Result<void> check_owner(const struct stat& st, const AttributeChange& change) {
  if (change.uid && *change.uid != st.st_uid) return Errc::permission_denied;
  if (change.gid && *change.gid != st.st_gid) return Errc::permission_denied;
  return {};
}

bool changes_times(const AttributeChange& change) {
  return change.access_time.has_value() || change.modify_time.has_value();
}

Result<void> check_offset(std::uint64_t offset) {
  if (offset > static_cast<std::uint64_t>(std::numeric_limits<off_t>::max())) {
    return Errc::invalid_argument;
  }
  return {};
}

class LocalFile final : public File {
 public:
  LocalFile(int fd, bool append, bool in_memory) : fd_(fd), append_(append), in_memory_(in_memory) {}
  ~LocalFile() override {
    if (fd_ >= 0) ::close(fd_);
  }
  LocalFile(const LocalFile&) = delete;
  LocalFile& operator=(const LocalFile&) = delete;

  Result<std::size_t> read(std::span<std::byte> buffer, std::uint64_t offset) override {
    if (fd_ < 0) return Errc::bad_handle;
    if (auto r = check_offset(offset); !r) return r.error();
    for (;;) {
      const ssize_t n = ::pread(fd_, buffer.data(), buffer.size(), static_cast<off_t>(offset));
      if (n >= 0) return static_cast<std::size_t>(n);
      if (errno != EINTR) return last_error();
    }
  }

  Result<std::size_t> read_cached(std::span<std::byte> buffer, std::uint64_t offset) override {
    if (fd_ < 0) return Errc::bad_handle;
    if (auto r = check_offset(offset); !r) return r.error();
    // tmpfs has no RWF_NOWAIT, and needs none: its pages are memory, as the caller's own are
    // (only swapping makes either wait, and then both alike).
    if (in_memory_) return read(buffer, offset);
    iovec vector{buffer.data(), buffer.size()};
    for (;;) {
      // RWF_NOWAIT: only what is in the page cache, no disk read and no waiting for a lock.
      const ssize_t n = ::preadv2(fd_, &vector, 1, static_cast<off_t>(offset), RWF_NOWAIT);
      if (n >= 0) return static_cast<std::size_t>(n);
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EOPNOTSUPP) return Errc::would_block;
      return last_error();
    }
  }

  Result<std::size_t> write(std::span<const std::byte> buffer, std::uint64_t offset) override {
    if (fd_ < 0) return Errc::bad_handle;
    if (auto r = check_offset(offset); !r) return r.error();
    for (;;) {
      // With O_APPEND the kernel picks the offset; plain write() says so instead of relying on
      // Linux's pwrite-ignores-offset quirk.
      const ssize_t n = append_ ? ::write(fd_, buffer.data(), buffer.size())
                                : ::pwrite(fd_, buffer.data(), buffer.size(),
                                           static_cast<off_t>(offset));
      if (n >= 0) return static_cast<std::size_t>(n);
      if (errno != EINTR) return last_error();
    }
  }

  Result<Attributes> stat() override {
    if (fd_ < 0) return Errc::bad_handle;
    auto st = stat_fd(fd_);
    if (!st) return st.error();
    return to_attributes(*st);
  }

  Result<void> set_attributes(const AttributeChange& change) override {
    if (fd_ < 0) return Errc::bad_handle;
    auto st = stat_fd(fd_);
    if (!st) return st.error();
    if (auto r = check_owner(*st, change); !r) return r;
    if (change.size) {
      if (auto r = check_offset(*change.size); !r) return r;
      if (::ftruncate(fd_, static_cast<off_t>(*change.size)) != 0) return last_error();
    }
    if (change.permissions &&
        ::fchmod(fd_, static_cast<mode_t>(*change.permissions & allowed_mode_bits)) != 0) {
      return last_error();
    }
    // Times last, so that a truncate in the same request does not overwrite them.
    if (changes_times(change)) {
      const struct timespec times[2] = {to_timespec(change.access_time),
                                        to_timespec(change.modify_time)};
      if (::futimens(fd_, times) != 0) return last_error();
    }
    return {};
  }

  Result<void> sync() override {
    if (fd_ < 0) return Errc::bad_handle;
    if (::fsync(fd_) != 0) return last_error();
    return {};
  }

  Result<void> close() override {
    if (fd_ < 0) return {};
    const int fd = std::exchange(fd_, -1);
    // On Linux the descriptor is gone even when close() fails, so it is never retried.
    if (::close(fd) != 0 && errno != EINTR) return last_error();
    return {};
  }

  int native_handle() const override { return fd_; }

 private:
  int fd_;
  bool append_;
  bool in_memory_;  // on the root's tmpfs/ramfs (LocalFilesystem::memory_device_)
};

class LocalDirectory final : public Directory {
 public:
  explicit LocalDirectory(DIR* dir) : dir_(dir) {}
  ~LocalDirectory() override { ::closedir(dir_); }
  LocalDirectory(const LocalDirectory&) = delete;
  LocalDirectory& operator=(const LocalDirectory&) = delete;

  Result<std::optional<DirectoryEntry>> next() override {
    for (;;) {
      errno = 0;
      const dirent* entry = ::readdir(dir_);
      if (entry == nullptr) {
        if (errno != 0) return last_error();
        return std::optional<DirectoryEntry>{};
      }
      const std::string_view name(entry->d_name);
      if (name == "." || name == "..") continue;
      struct stat st {};
      if (::fstatat(::dirfd(dir_), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) continue;  // removed since readdir saw it
        return last_error();
      }
      DirectoryEntry out;
      out.name = std::string(name);
      out.attributes = to_attributes(st);
      if (S_ISLNK(st.st_mode)) {
        std::string target(PATH_MAX + 1, '\0');
        const ssize_t n = ::readlinkat(::dirfd(dir_), entry->d_name, target.data(), target.size());
        if (n >= 0 && static_cast<std::size_t>(n) < target.size()) {
          target.resize(static_cast<std::size_t>(n));
          out.link_target = std::move(target);
        }
      }
      return std::optional<DirectoryEntry>(std::move(out));
    }
  }

 private:
  DIR* dir_;
};

// The components of a normalised path, for computing relative link targets.
std::vector<std::string_view> components(const Path& path) {
  std::vector<std::string_view> parts;
  std::string_view rest = path.relative();
  while (!rest.empty()) {
    const auto slash = rest.find('/');
    parts.push_back(rest.substr(0, slash));
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  return parts;
}

// The relative path that leads from directory `from` to `to`.
std::string relative_path(const Path& from, const Path& to) {
  const auto base = components(from);
  const auto target = components(to);
  std::size_t common = 0;
  while (common < base.size() && common < target.size() && base[common] == target[common]) {
    ++common;
  }
  std::string out;
  for (std::size_t i = common; i < base.size(); ++i) out += out.empty() ? ".." : "/..";
  for (std::size_t i = common; i < target.size(); ++i) {
    if (!out.empty()) out.push_back('/');
    out.append(target[i]);
  }
  return out.empty() ? std::string(".") : out;
}

// Everything below resolves client paths through this one function.
//
// SECURITY: RESOLVE_IN_ROOT makes the root descriptor act as '/' for the whole walk: '..' at
// the top stays there and absolute symlinks restart at the root, including symlinks that are
// swapped in while we walk. RESOLVE_NO_MAGICLINKS refuses /proc-style links, which could
// otherwise jump to any open file.
//
// `cached` adds RESOLVE_CACHED: the walk fails with EAGAIN (would_block here) unless every step
// is in the kernel's lookup cache, so it never waits for a disk (see OpenMode::cached).
Result<UniqueFd> resolve_at(int root_fd, const Path& path, int flags, mode_t mode = 0, bool cached = false) {
  open_how how{};
  how.flags = static_cast<std::uint64_t>(flags | O_CLOEXEC);
  how.mode = (flags & O_CREAT) != 0 ? mode : 0;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | (cached ? RESOLVE_CACHED : 0);
  for (int attempt = 0; attempt < max_resolve_attempts;) {
    const long fd = ::syscall(SYS_openat2, root_fd, path.str().c_str(), &how, sizeof how);
    if (fd >= 0) return UniqueFd(static_cast<int>(fd));
    if (errno == EINTR) continue;
    // ENXIO: a FIFO without a reader or a device without its driver, opened non-blocking.
    // Neither is a file we serve.
    if (errno == ENXIO) return Errc::not_supported;
    // (A kernel older than 5.12 rejects RESOLVE_CACHED with EINVAL: not without the disk then.)
    if (cached && (errno == EAGAIN || errno == EINVAL)) return Errc::would_block;
    if (errno != EAGAIN) return last_error();
    ++attempt;
  }
  return Errc::busy;
}

// The directory holding `path`'s final component. After normalisation that component is a
// plain name (never '.', '..' or containing '/'), so *at() calls on it cannot leave the
// parent.
Result<UniqueFd> resolve_parent(int root_fd, const Path& path) {
  return resolve_at(root_fd, path.parent(), O_PATH | O_DIRECTORY);
}

std::string name_of(const Path& path) { return std::string(path.name()); }

// stat() following symlinks, within the root; `cached` as for resolve_at.
Result<Attributes> stat_at(int root_fd, const Path& path, bool cached) {
  auto fd = resolve_at(root_fd, path, O_PATH, 0, cached);
  if (!fd) return fd.error();
  auto st = stat_fd(fd->get());
  if (!st) return st.error();
  return to_attributes(*st);
}

}  // namespace

LocalFilesystem::LocalFilesystem(int root_fd, std::string root_host_path, std::optional<dev_t> memory_device)
    : root_fd_(root_fd), root_host_path_(std::move(root_host_path)), memory_device_(memory_device) {}

LocalFilesystem::~LocalFilesystem() {
  if (root_fd_ >= 0) ::close(root_fd_);
}

Result<std::shared_ptr<LocalFilesystem>> LocalFilesystem::open_root(
    const std::string& root_directory) {
  if (root_directory.empty() || root_directory.find('\0') != std::string::npos) {
    return Errc::invalid_argument;
  }
  // The root path comes from the configuration (trusted), so a plain open is fine here.
  UniqueFd fd(::open(root_directory.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return last_error();
  // The canonical host path as the kernel reports it, so real_path() can strip it exactly.
  auto host = read_proc_fd_link(fd.get());
  if (!host) return host.error();
  std::optional<dev_t> memory_device;
  struct statfs fs {};
  if (::fstatfs(fd.get(), &fs) == 0 && (fs.f_type == TMPFS_MAGIC || fs.f_type == RAMFS_MAGIC)) {
    if (auto st = stat_fd(fd.get())) memory_device = st->st_dev;
  }
  return std::shared_ptr<LocalFilesystem>(new LocalFilesystem(fd.release(), std::move(*host), memory_device));
}

Result<std::unique_ptr<File>> LocalFilesystem::open(const Path& path, const OpenMode& mode) {
  const bool writing = mode.has(OpenMode::write) || mode.has(OpenMode::append);
  const bool reading = mode.has(OpenMode::read) || !writing;
  // O_TRUNC with O_RDONLY truncates on Linux; a read-only open must never change the file.
  if (mode.has(OpenMode::truncate) && !writing) return Errc::invalid_argument;
  const bool cached = mode.has(OpenMode::cached);
  if (cached && (writing || mode.has(OpenMode::create))) return Errc::would_block;

  int flags = reading && writing ? O_RDWR : writing ? O_WRONLY : O_RDONLY;
  // SECURITY: O_NONBLOCK so that opening a FIFO (or a device) a client planted cannot block a
  // worker thread; O_NOCTTY so that a terminal can never become ours.
  flags |= O_NOCTTY | O_NONBLOCK;
  if (mode.has(OpenMode::create)) {
    flags |= O_CREAT;
    if (mode.has(OpenMode::exclusive)) flags |= O_EXCL;
  }
  if (mode.has(OpenMode::truncate)) flags |= O_TRUNC;
  if (mode.has(OpenMode::append)) flags |= O_APPEND;

  auto fd = resolve_at(root_fd_, path, flags,
                       static_cast<mode_t>(mode.create_permissions & 0777), cached);
  if (!fd) return fd.error();
  // SECURITY: check the object we actually opened, not the name: only regular files are served.
  auto st = stat_fd(fd->get());
  if (!st) return st.error();
  if (S_ISDIR(st->st_mode)) return Errc::is_a_directory;
  if (!S_ISREG(st->st_mode)) return Errc::not_supported;

  const int status = ::fcntl(fd->get(), F_GETFL);
  if (status < 0 || ::fcntl(fd->get(), F_SETFL, status & ~O_NONBLOCK) != 0) return last_error();
  const bool in_memory = memory_device_ && st->st_dev == *memory_device_;
  return std::unique_ptr<File>(
      std::make_unique<LocalFile>(fd->release(), mode.has(OpenMode::append), in_memory));
}

Result<Attributes> LocalFilesystem::stat(const Path& path) { return stat_at(root_fd_, path, false); }

Result<Attributes> LocalFilesystem::stat_cached(const Path& path) { return stat_at(root_fd_, path, true); }

Result<Attributes> LocalFilesystem::lstat(const Path& path) {
  if (path.is_root()) {
    auto st = stat_fd(root_fd_);
    if (!st) return st.error();
    return to_attributes(*st);
  }
  auto parent = resolve_parent(root_fd_, path);
  if (!parent) return parent.error();
  struct stat st {};
  if (::fstatat(parent->get(), name_of(path).c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return last_error();
  }
  return to_attributes(st);
}

Result<void> LocalFilesystem::set_attributes(const Path& path, const AttributeChange& change,
                                             bool follow_symlinks) {
  // SECURITY: resolve once and apply every change through that descriptor (via its
  // /proc/self/fd link, which names exactly this inode), so a concurrent swap of a path
  // component cannot redirect a chmod or truncate to another file.
  auto fd = resolve_at(root_fd_, path, O_PATH | (follow_symlinks ? 0 : O_NOFOLLOW));
  if (!fd) return fd.error();
  auto st = stat_fd(fd->get());
  if (!st) return st.error();
  if (auto r = check_owner(*st, change); !r) return r;

  if (S_ISLNK(st->st_mode)) {
    // Only reached with follow_symlinks == false: the link itself. Linux has no link modes,
    // and a link has no contents to truncate.
    if (change.permissions || change.size) return Errc::not_supported;
    if (!changes_times(change)) return {};
    auto parent = resolve_parent(root_fd_, path);
    if (!parent) return parent.error();
    const struct timespec times[2] = {to_timespec(change.access_time),
                                      to_timespec(change.modify_time)};
    if (::utimensat(parent->get(), name_of(path).c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) {
      return last_error();
    }
    return {};
  }

  const auto self = proc_fd_path(fd->get());
  if (change.size) {
    if (S_ISDIR(st->st_mode)) return Errc::is_a_directory;
    // SECURITY: the inode is pinned by our descriptor, so this check cannot be raced: only
    // regular files are truncated (never reopen a FIFO or device for writing).
    if (!S_ISREG(st->st_mode)) return Errc::not_supported;
    if (auto r = check_offset(*change.size); !r) return r;
    if (::truncate(self.c_str(), static_cast<off_t>(*change.size)) != 0) return last_error();
  }
  if (change.permissions &&
      ::chmod(self.c_str(), static_cast<mode_t>(*change.permissions & allowed_mode_bits)) != 0) {
    return last_error();
  }
  if (changes_times(change)) {
    const struct timespec times[2] = {to_timespec(change.access_time),
                                      to_timespec(change.modify_time)};
    if (::utimensat(AT_FDCWD, self.c_str(), times, 0) != 0) return last_error();
  }
  return {};
}

Result<std::unique_ptr<Directory>> LocalFilesystem::open_directory(const Path& path) {
  auto fd = resolve_at(root_fd_, path, O_RDONLY | O_DIRECTORY);
  if (!fd) return fd.error();
  DIR* dir = ::fdopendir(fd->get());
  if (dir == nullptr) return last_error();
  fd->release();  // now owned by dir
  return std::unique_ptr<Directory>(std::make_unique<LocalDirectory>(dir));
}

Result<void> LocalFilesystem::make_directory(const Path& path, std::uint32_t permissions) {
  if (path.is_root()) return Errc::exists;
  auto parent = resolve_parent(root_fd_, path);
  if (!parent) return parent.error();
  if (::mkdirat(parent->get(), name_of(path).c_str(),
                static_cast<mode_t>(permissions & allowed_mode_bits)) != 0) {
    return last_error();
  }
  return {};
}

Result<void> LocalFilesystem::remove_directory(const Path& path) {
  // SECURITY: the root is the client's whole world; it can neither be removed nor renamed.
  if (path.is_root()) return Errc::permission_denied;
  auto parent = resolve_parent(root_fd_, path);
  if (!parent) return parent.error();
  if (::unlinkat(parent->get(), name_of(path).c_str(), AT_REMOVEDIR) != 0) {
    // POSIX lets rmdir report a non-empty directory as EEXIST.
    if (errno == EEXIST) return Errc::not_empty;
    return last_error();
  }
  return {};
}

Result<void> LocalFilesystem::remove_file(const Path& path) {
  if (path.is_root()) return Errc::permission_denied;
  auto parent = resolve_parent(root_fd_, path);
  if (!parent) return parent.error();
  // unlinkat without AT_REMOVEDIR removes a symlink itself, never its target, and fails with
  // EISDIR on a directory.
  if (::unlinkat(parent->get(), name_of(path).c_str(), 0) != 0) return last_error();
  return {};
}

Result<void> LocalFilesystem::rename(const Path& from, const Path& to, RenameMode mode) {
  if (from.is_root() || to.is_root()) return Errc::permission_denied;
  auto from_parent = resolve_parent(root_fd_, from);
  if (!from_parent) return from_parent.error();
  auto to_parent = resolve_parent(root_fd_, to);
  if (!to_parent) return to_parent.error();
  const unsigned flags = mode == RenameMode::no_replace ? RENAME_NOREPLACE : 0;
  if (::renameat2(from_parent->get(), name_of(from).c_str(), to_parent->get(),
                  name_of(to).c_str(), flags) != 0) {
    return last_error();
  }
  return {};
}

Result<void> LocalFilesystem::hard_link(const Path& existing, const Path& link) {
  if (existing.is_root()) return Errc::permission_denied;
  if (link.is_root()) return Errc::exists;
  auto existing_parent = resolve_parent(root_fd_, existing);
  if (!existing_parent) return existing_parent.error();
  auto link_parent = resolve_parent(root_fd_, link);
  if (!link_parent) return link_parent.error();
  // SECURITY: no AT_SYMLINK_FOLLOW: following `existing` here would resolve a symlink's target
  // outside RESOLVE_IN_ROOT, so the link is made to the symlink itself.
  if (::linkat(existing_parent->get(), name_of(existing).c_str(), link_parent->get(),
               name_of(link).c_str(), 0) != 0) {
    return last_error();
  }
  return {};
}

Result<void> LocalFilesystem::symlink(const Path& link, std::string_view target) {
  if (link.is_root()) return Errc::exists;
  auto virtual_target = Path::resolve(link.parent(), target);
  if (!virtual_target) return virtual_target.error();
  auto parent = resolve_parent(root_fd_, link);
  if (!parent) return parent.error();
  // SECURITY: the '..' steps are counted from where the link really lives (the parent's
  // canonical path, from the descriptor we create it in), not from the client's spelling of
  // it, which may run through symlinks. Then the stored relative target never climbs above the
  // root for any program on the host that follows it.
  auto host = read_proc_fd_link(parent->get());
  if (!host) return host.error();
  auto real_parent = Path();
  if (*host != root_host_path_) {
    const std::string prefix = root_host_path_ == "/" ? root_host_path_ : root_host_path_ + "/";
    if (host->compare(0, prefix.size(), prefix) != 0) return Errc::not_found;
    auto parsed = Path::parse(host->substr(prefix.size() - 1));
    if (!parsed) return parsed.error();
    real_parent = std::move(*parsed);
  }
  const auto stored = relative_path(real_parent, *virtual_target);
  if (::symlinkat(stored.c_str(), parent->get(), name_of(link).c_str()) != 0) {
    return last_error();
  }
  return {};
}

Result<std::string> LocalFilesystem::read_link(const Path& path) {
  if (path.is_root()) return Errc::invalid_argument;
  auto parent = resolve_parent(root_fd_, path);
  if (!parent) return parent.error();
  std::string buffer(PATH_MAX + 1, '\0');
  const ssize_t n =
      ::readlinkat(parent->get(), name_of(path).c_str(), buffer.data(), buffer.size());
  if (n < 0) return last_error();
  if (static_cast<std::size_t>(n) >= buffer.size()) return Errc::name_too_long;
  buffer.resize(static_cast<std::size_t>(n));
  return buffer;
}

Result<Path> LocalFilesystem::real_path(const Path& path) {
  auto fd = resolve_at(root_fd_, path, O_PATH);
  if (!fd) return fd.error();
  auto host = read_proc_fd_link(fd->get());
  if (!host) return host.error();
  if (*host == root_host_path_) return Path();
  // SECURITY: whatever the kernel resolved must lie beneath the root; anything else (the root
  // was moved, or a bind mount in between) is reported as missing rather than leaking a host
  // path.
  const std::string prefix = root_host_path_ == "/" ? root_host_path_ : root_host_path_ + "/";
  if (host->compare(0, prefix.size(), prefix) != 0) return Errc::not_found;
  return Path::parse(host->substr(prefix.size() - 1));
}

Result<FilesystemStats> LocalFilesystem::stat_filesystem(const Path& path) {
  auto fd = resolve_at(root_fd_, path, O_PATH);
  if (!fd) return fd.error();
  struct statvfs sv {};
  if (::fstatvfs(fd->get(), &sv) != 0) return last_error();
  FilesystemStats out;
  out.block_size = sv.f_bsize;
  out.fragment_size = sv.f_frsize;
  out.blocks = sv.f_blocks;
  out.blocks_free = sv.f_bfree;
  out.blocks_available = sv.f_bavail;
  out.files = sv.f_files;
  out.files_free = sv.f_ffree;
  out.files_available = sv.f_favail;
  out.filesystem_id = sv.f_fsid;
  out.flags = sv.f_flag;
  out.max_name_length = sv.f_namemax;
  return out;
}

}  // namespace filegate::vfs
