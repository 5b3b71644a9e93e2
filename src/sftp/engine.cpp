#include "sftp/engine.hpp"

#include <openssl/evp.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <chrono>
#include <limits>
#include <utility>
#include <variant>

#include "core/log.hpp"
#include "sftp/protocol.hpp"
#include "sftp/status_map.hpp"
#include "vfs/errors.hpp"
#include "vfs/listing.hpp"

namespace filegate::sftp {
namespace {

namespace log = core::log;
using Clock = std::chrono::steady_clock;
using vfs::Errc;

// Default modes when a client sends no permissions: the same as FTP's STOR and MKD.
constexpr std::uint32_t default_file_mode = 0644;
constexpr std::uint32_t default_directory_mode = 0755;
// READDIR answers at most this many entries at once (as OpenSSH's sftp-server).
constexpr std::size_t max_directory_entries = 100;
// Chunk size for server-side copies and hashing (copy-data, check-file).
constexpr std::size_t copy_chunk = 64 * 1024;
// check-file: a block size under this is refused (draft-ietf-secsh-filexfer-extensions).
constexpr std::uint32_t min_check_block = 256;
// Handles on the wire: uint32 slot index + uint32 generation.
constexpr std::size_t handle_size = 8;

struct FileHandle {
  std::unique_ptr<vfs::File> file;
  vfs::Path path;
  vfs::OpenMode mode;
  std::uint64_t bytes_read = 0;
  std::uint64_t bytes_written = 0;
  // The first READ or WRITE that failed (a full disk, say): the transfer is logged as failed
  // with it, even when the client closes the handle as if all went well.
  error_code error;
  Clock::time_point opened = Clock::now();
};

struct DirectoryHandle {
  std::unique_ptr<vfs::Directory> directory;
  vfs::Path path;
  // An entry read but not sent because the reply was full: it leads the next READDIR.
  std::optional<vfs::DirectoryEntry> held;
  bool at_end = false;
};

struct Slot {
  std::uint32_t generation = 0;  // bumped on close, so old handles stop matching
  std::variant<std::monostate, FileHandle, DirectoryHandle> object;
};

// An attribute block as the client sent it (v3: flags, then the fields they announce).
struct ClientAttributes {
  std::uint32_t flags = 0;
  std::uint64_t size = 0;
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::uint32_t permissions = 0;
  std::uint32_t access_time = 0;
  std::uint32_t modify_time = 0;
  bool has(std::uint32_t flag) const { return (flags & flag) != 0; }
};

struct DigestDeleter {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};

// Where a long request (copy-data, check-file) stopped when it handed its worker back after
// limits.sftp_request_slice bytes (Engine::unfinished). The same message comes back next and
// goes on from here.
struct Progress {
  std::uint64_t done = 0;  // bytes of the requested range handled so far
  // check-file: the hashes of the finished blocks, and the block in progress.
  std::vector<std::byte> hashes;
  std::unique_ptr<EVP_MD_CTX, DigestDeleter> digest;
  std::uint64_t in_block = 0;
  bool started = false;
};

}  // namespace

struct Engine::State {
  std::shared_ptr<auth::AuthorizedFilesystem> fs;
  core::Limits limits;
  std::string user;
  std::uint64_t session_id = 0;
  bool initialized = false;
  std::vector<Slot> slots;
  std::size_t open_count = 0;
  // Set when the last request handled stopped part-way (see Progress).
  std::optional<Progress> unfinished;
};

namespace {

using State = Engine::State;

// One request being answered: the handler reads its arguments from `in` and writes exactly
// one reply frame with `out`, or returns false (malformed; nothing written) and the
// dispatcher answers SSH_FX_BAD_MESSAGE.
struct Request {
  State& state;
  std::uint32_t id;
  Reader& in;
  Writer out;
  // A long request coming back after a slice (its progress); empty the first time. A handler
  // that stops part-way again puts its progress in state.unfinished and replies nothing.
  std::optional<Progress> resume{};
};

using Handler = bool (*)(Request&);

// --- replies --------------------------------------------------------------------------------

void send_status(Request& r, Status status, std::string_view message) {
  const auto start = r.out.begin_frame(static_cast<std::uint8_t>(Message::status));
  r.out.u32(r.id);
  r.out.u32(static_cast<std::uint32_t>(status));
  r.out.string(message);
  r.out.string("");  // language tag
  r.out.end_frame(start);
}

void send_status(Request& r, Status status) { send_status(r, status, status_message(status)); }

void send_error(Request& r, const error_code& ec) {
  const auto reply = status_for(ec);
  send_status(r, reply.status, reply.message);
}

void send_result(Request& r, const Result<void>& result) {
  if (result) {
    send_status(r, Status::ok);
  } else {
    send_error(r, result.error());
  }
}

void send_bad_handle(Request& r) { send_status(r, Status::failure, "Invalid handle"); }

std::uint32_t mode_bits(const vfs::Attributes& a) {
  std::uint32_t type = 0;
  switch (a.type) {
    case vfs::FileType::regular: type = S_IFREG; break;
    case vfs::FileType::directory: type = S_IFDIR; break;
    case vfs::FileType::symlink: type = S_IFLNK; break;
    case vfs::FileType::other: type = 0; break;
  }
  return type | (a.permissions & 07777u);
}

std::uint32_t wire_time(vfs::TimePoint t) {
  const auto secs = std::chrono::floor<std::chrono::seconds>(t).time_since_epoch().count();
  return static_cast<std::uint32_t>(std::clamp<std::int64_t>(secs, 0, std::numeric_limits<std::uint32_t>::max()));
}

void write_attributes(Writer& out, const vfs::Attributes& a) {
  out.u32(attr::size | attr::uidgid | attr::permissions | attr::acmodtime);
  out.u64(a.size);
  out.u32(a.uid);
  out.u32(a.gid);
  out.u32(mode_bits(a));
  out.u32(wire_time(a.access_time));
  out.u32(wire_time(a.modify_time));
}

void send_attributes(Request& r, const vfs::Attributes& a) {
  const auto start = r.out.begin_frame(static_cast<std::uint8_t>(Message::attrs));
  r.out.u32(r.id);
  write_attributes(r.out, a);
  r.out.end_frame(start);
}

// A NAME reply with one entry and no attributes (REALPATH, READLINK and friends).
void send_single_name(Request& r, std::string_view name) {
  const auto start = r.out.begin_frame(static_cast<std::uint8_t>(Message::name));
  r.out.u32(r.id);
  r.out.u32(1);
  r.out.string(name);
  r.out.string(name);
  r.out.u32(0);  // attribute flags: none
  r.out.end_frame(start);
}

void send_handle(Request& r, std::uint32_t index, std::uint32_t generation) {
  const auto start = r.out.begin_frame(static_cast<std::uint8_t>(Message::handle));
  r.out.u32(r.id);
  r.out.u32(handle_size);
  r.out.u32(index);
  r.out.u32(generation);
  r.out.end_frame(start);
}

std::size_t begin_extended_reply(Request& r) {
  const auto start = r.out.begin_frame(static_cast<std::uint8_t>(Message::extended_reply));
  r.out.u32(r.id);
  return start;
}

// --- arguments ------------------------------------------------------------------------------

std::optional<ClientAttributes> read_attributes(Reader& in) {
  ClientAttributes a;
  // Stores a field that was read; false if the message ended first.
  const auto get = [](auto value, auto& field) {
    if (value) field = *value;
    return value.has_value();
  };
  if (!get(in.u32(), a.flags)) return std::nullopt;
  if (a.has(attr::size) && !get(in.u64(), a.size)) return std::nullopt;
  if (a.has(attr::uidgid) && !(get(in.u32(), a.uid) && get(in.u32(), a.gid))) return std::nullopt;
  if (a.has(attr::permissions) && !get(in.u32(), a.permissions)) return std::nullopt;
  if (a.has(attr::acmodtime) && !(get(in.u32(), a.access_time) && get(in.u32(), a.modify_time))) {
    return std::nullopt;
  }
  if (a.has(attr::extended)) {
    // Extended attributes are read past and ignored (OpenSSH does the same). A failed read
    // leaves the reader at its end, so a huge count stops at the first missing string.
    auto count = in.u32();
    if (!count) return std::nullopt;
    for (std::uint32_t i = 0; i < *count; ++i) {
      if (!in.bytes() || !in.bytes()) return std::nullopt;
    }
  }
  return a;
}

// A client path as a virtual path: relative paths are relative to the home ("/"), which is
// also the only directory the client ever starts in. The empty path names nothing (as
// stat("") fails with ENOENT).
Result<vfs::Path> to_path(std::string_view text) {
  if (text.empty()) return vfs::make_error_code(Errc::not_found);
  return vfs::Path::parse(text);
}

vfs::TimePoint from_wire_time(std::uint32_t seconds) {
  return vfs::TimePoint(std::chrono::seconds(seconds));
}

// The change a SETSTAT asks for. `owner` is consulted only when the client sent uid/gid:
// SECURITY: files are never given away; uid/gid are accepted only when they name the current
// owner (sftp's `put -p` and others send them along with every change) and then dropped.
template <class OwnerLookup>
Result<vfs::AttributeChange> to_change(const ClientAttributes& a, OwnerLookup owner) {
  vfs::AttributeChange change;
  if (a.has(attr::uidgid)) {
    Result<vfs::Attributes> current = owner();
    if (!current) return current.error();
    if (current->uid != a.uid || current->gid != a.gid) return vfs::make_error_code(Errc::permission_denied);
  }
  if (a.has(attr::size)) change.size = a.size;
  if (a.has(attr::permissions)) change.permissions = a.permissions & 07777u;
  if (a.has(attr::acmodtime)) {
    change.access_time = from_wire_time(a.access_time);
    change.modify_time = from_wire_time(a.modify_time);
  }
  return change;
}

bool changes_nothing(const vfs::AttributeChange& c) {
  return !c.size && !c.permissions && !c.access_time && !c.modify_time && !c.uid && !c.gid;
}

// --- handles --------------------------------------------------------------------------------

Slot* find_slot(State& state, std::span<const std::byte> handle) {
  if (handle.size() != handle_size) return nullptr;
  const std::uint32_t index = load_u32(handle.data());
  const std::uint32_t generation = load_u32(handle.data() + 4);
  if (index >= state.slots.size()) return nullptr;
  Slot& slot = state.slots[index];
  if (slot.generation != generation || std::holds_alternative<std::monostate>(slot.object)) return nullptr;
  return &slot;
}

template <class T>
T* find_handle(State& state, std::span<const std::byte> handle) {
  Slot* slot = find_slot(state, handle);
  return slot ? std::get_if<T>(&slot->object) : nullptr;
}

bool handles_full(const State& state) { return state.open_count >= state.limits.sftp_max_handles; }

template <class T>
void store_handle(Request& r, T object) {
  State& state = r.state;
  assert(!handles_full(state));
  auto free = std::find_if(state.slots.begin(), state.slots.end(),
                           [](const Slot& s) { return std::holds_alternative<std::monostate>(s.object); });
  if (free == state.slots.end()) {
    state.slots.emplace_back();
    free = state.slots.end() - 1;
  }
  if (++free->generation == 0) free->generation = 1;  // 0 never names a live handle
  free->object = std::move(object);
  ++state.open_count;
  send_handle(r, static_cast<std::uint32_t>(free - state.slots.begin()), free->generation);
}

// Logs the `transfer` line of a file handle that moved data (like FTP's, one per direction).
// `result` stands unless a READ, WRITE or the close failed: then it is `failed`, with the error.
void log_transfer(const State& state, const FileHandle& handle, std::string_view result, const error_code& close_error) {
  const error_code& error = handle.error ? handle.error : close_error;
  if (error) result = "failed";
  const auto duration = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - handle.opened);
  const auto line = [&](std::string_view direction, std::uint64_t bytes) {
    log::info("transfer")
        .unum("session", state.session_id)
        .str("protocol", "sftp")
        .str("user", state.user)
        .str("direction", direction)
        .str("path", handle.path.str())
        .unum("bytes", bytes)
        .num("duration_ms", duration.count())
        .str("result", result)
        .str("error", error ? error.message() : std::string());
  };
  if (handle.bytes_written > 0) line("upload", handle.bytes_written);
  if (handle.bytes_read > 0) line("download", handle.bytes_read);
}

Result<void> close_slot(State& state, Slot& slot, std::string_view result_name) {
  Result<void> result;
  if (auto* file = std::get_if<FileHandle>(&slot.object)) {
    result = file->file->close();
    log_transfer(state, *file, result_name, result ? error_code() : result.error());
  }
  slot.object = std::monostate{};
  ++slot.generation;
  --state.open_count;
  return result;
}

// --- requests -------------------------------------------------------------------------------

// Requests whose arguments are one path (or two): a malformed message is BAD_MESSAGE, a path
// that is not valid gets its error status, and `use` answers the rest.
template <class Use>
bool with_path(Request& r, Use use) {
  auto name = r.in.string();
  if (!name) return false;
  auto path = to_path(*name);
  if (!path) return send_error(r, path.error()), true;
  use(*path);
  return true;
}

template <class Use>
bool with_two_paths(Request& r, Use use) {
  auto first_name = r.in.string();
  auto second_name = r.in.string();
  if (!first_name || !second_name) return false;
  auto first = to_path(*first_name);
  if (!first) return send_error(r, first.error()), true;
  auto second = to_path(*second_name);
  if (!second) return send_error(r, second.error()), true;
  use(*first, *second);
  return true;
}

bool handle_open(Request& r) {
  auto name = r.in.string();
  auto flags = r.in.u32();
  if (!name || !flags) return false;
  auto attributes = read_attributes(r.in);
  if (!attributes) return false;
  auto path = to_path(*name);
  if (!path) return send_error(r, path.error()), true;
  vfs::OpenMode mode;
  mode.flags = 0;
  struct FlagRow {
    std::uint32_t wire;
    vfs::OpenMode::Flag flag;
  };
  static constexpr FlagRow flag_table[] = {
      {open_flag::read, vfs::OpenMode::read},         {open_flag::write, vfs::OpenMode::write},
      {open_flag::append, vfs::OpenMode::append},     {open_flag::create, vfs::OpenMode::create},
      {open_flag::truncate, vfs::OpenMode::truncate}, {open_flag::exclusive, vfs::OpenMode::exclusive},
  };
  for (const auto& row : flag_table) {
    if (*flags & row.wire) mode.flags |= row.flag;
  }
  mode.create_permissions =
      attributes->has(attr::permissions) ? attributes->permissions & 07777u : default_file_mode;
  if (handles_full(r.state)) return send_status(r, Status::failure, "Too many open handles"), true;
  auto file = r.state.fs->open(*path, mode);
  if (!file) return send_error(r, file.error()), true;
  FileHandle handle;
  handle.file = std::move(*file);
  handle.path = std::move(*path);
  handle.mode = mode;
  store_handle(r, std::move(handle));
  return true;
}

bool handle_close(Request& r) {
  auto handle = r.in.bytes();
  if (!handle) return false;
  Slot* slot = find_slot(r.state, *handle);
  if (!slot) return send_bad_handle(r), true;
  send_result(r, close_slot(r.state, *slot, "ok"));
  return true;
}

bool handle_read(Request& r) {
  auto handle = r.in.bytes();
  auto offset = r.in.u64();
  auto length = r.in.u32();
  if (!handle || !offset || !length) return false;
  auto* file = find_handle<FileHandle>(r.state, *handle);
  if (!file) return send_bad_handle(r), true;
  const std::size_t wanted = std::min(*length, r.state.limits.sftp_max_read);
  // The data goes from the file straight into the reply: header first, read in place, then
  // the lengths are patched to what was read.
  Buffer& buffer = r.out.buffer();
  const auto start = r.out.begin_frame(static_cast<std::uint8_t>(Message::data));
  r.out.u32(r.id);
  const std::size_t length_at = buffer.size();
  r.out.u32(0);
  const auto space = buffer.extend(wanted);
  std::size_t got = 0;
  error_code error;
  while (got < wanted) {
    auto n = file->file->read(space.subspan(got), *offset + got);
    if (!n) {
      error = n.error();
      break;
    }
    if (*n == 0) break;
    got += *n;
  }
  if (error && !file->error) file->error = error;
  if (got == 0) {
    buffer.truncate(start);
    if (error) return send_error(r, error), true;
    return send_status(r, Status::eof), true;
  }
  // A read error after some data: answer the data; the error comes back on the next READ.
  buffer.truncate(length_at + 4 + got);
  r.out.patch_u32(length_at, static_cast<std::uint32_t>(got));
  r.out.end_frame(start);
  file->bytes_read += got;
  return true;
}

// Writes all of `data` at `offset` + `written`; `written` counts what reached the file, also
// on failure.
Result<void> write_all(vfs::File& file, std::span<const std::byte> data, std::uint64_t offset,
                       std::uint64_t& written) {
  std::uint64_t at = offset + written;
  auto result = vfs::write_all(file, data, at);
  written = at - offset;
  return result;
}

bool handle_write(Request& r) {
  auto handle = r.in.bytes();
  auto offset = r.in.u64();
  auto data = r.in.bytes();
  if (!handle || !offset || !data) return false;
  auto* file = find_handle<FileHandle>(r.state, *handle);
  if (!file) return send_bad_handle(r), true;
  std::uint64_t written = 0;
  auto result = write_all(*file->file, *data, *offset, written);
  if (!result && !file->error) file->error = result.error();
  send_result(r, result);
  file->bytes_written += written;
  return true;
}

bool reply_path_attributes(Request& r, bool follow_symlinks) {
  return with_path(r, [&](const vfs::Path& path) {
    auto attributes = follow_symlinks ? r.state.fs->stat(path) : r.state.fs->lstat(path);
    if (!attributes) return send_error(r, attributes.error());
    send_attributes(r, *attributes);
  });
}

bool handle_lstat(Request& r) { return reply_path_attributes(r, false); }
bool handle_stat(Request& r) { return reply_path_attributes(r, true); }

bool handle_fstat(Request& r) {
  auto handle = r.in.bytes();
  if (!handle) return false;
  auto* file = find_handle<FileHandle>(r.state, *handle);
  if (!file) return send_bad_handle(r), true;
  auto attributes = file->file->stat();
  if (!attributes) return send_error(r, attributes.error()), true;
  send_attributes(r, *attributes);
  return true;
}

// SETSTAT and lsetstat@openssh.com: a path and an attribute block.
bool set_path_attributes(Request& r, bool follow_symlinks) {
  auto name = r.in.string();
  if (!name) return false;
  auto attributes = read_attributes(r.in);
  if (!attributes) return false;
  auto path = to_path(*name);
  if (!path) return send_error(r, path.error()), true;
  auto change = to_change(*attributes, [&] {
    return follow_symlinks ? r.state.fs->stat(*path) : r.state.fs->lstat(*path);
  });
  if (!change) return send_error(r, change.error()), true;
  if (changes_nothing(*change)) return send_status(r, Status::ok), true;
  send_result(r, r.state.fs->set_attributes(*path, *change, follow_symlinks));
  return true;
}

bool handle_setstat(Request& r) { return set_path_attributes(r, true); }

bool handle_fsetstat(Request& r) {
  auto handle = r.in.bytes();
  if (!handle) return false;
  auto attributes = read_attributes(r.in);
  if (!attributes) return false;
  auto* file = find_handle<FileHandle>(r.state, *handle);
  if (!file) return send_bad_handle(r), true;
  auto change = to_change(*attributes, [&] { return file->file->stat(); });
  if (!change) return send_error(r, change.error()), true;
  if (changes_nothing(*change)) return send_status(r, Status::ok), true;
  // SECURITY: a handle opened for reading carries no right to chmod, set times or truncate:
  // the realm's gate decides those letters by the path the handle was opened with. The change
  // itself acts on the open file, so a rename or a swapped symlink since the open cannot
  // redirect it to another file.
  if (auto allowed = r.state.fs->check_attribute_change(file->path, *change); !allowed) {
    return send_error(r, allowed.error()), true;
  }
  send_result(r, file->file->set_attributes(*change));
  return true;
}

bool handle_opendir(Request& r) {
  return with_path(r, [&](const vfs::Path& path) {
    if (handles_full(r.state)) return send_status(r, Status::failure, "Too many open handles");
    auto directory = r.state.fs->open_directory(path);
    if (!directory) return send_error(r, directory.error());
    DirectoryHandle handle;
    handle.directory = std::move(*directory);
    handle.path = path;
    store_handle(r, std::move(handle));
  });
}

bool handle_readdir(Request& r) {
  auto handle = r.in.bytes();
  if (!handle) return false;
  auto* dir = find_handle<DirectoryHandle>(r.state, *handle);
  if (!dir) return send_bad_handle(r), true;
  if (dir->at_end && !dir->held) return send_status(r, Status::eof), true;

  Buffer& buffer = r.out.buffer();
  const auto start = r.out.begin_frame(static_cast<std::uint8_t>(Message::name));
  r.out.u32(r.id);
  const std::size_t count_at = buffer.size();
  r.out.u32(0);
  // Room for the entries: the frame cap, less the header and one attribute block's slack.
  const std::size_t budget = r.state.limits.sftp_max_packet - 64;
  const auto now = std::chrono::time_point_cast<vfs::TimePoint::duration>(std::chrono::system_clock::now());
  std::uint32_t count = 0;
  error_code error;
  while (count < max_directory_entries) {
    std::optional<vfs::DirectoryEntry> entry = std::exchange(dir->held, std::nullopt);
    if (!entry && !dir->at_end) {
      auto next = dir->directory->next();
      if (!next) {
        error = next.error();
        break;
      }
      if (!*next) dir->at_end = true;
      entry = std::move(*next);
    }
    if (!entry) break;
    const std::string longname = vfs::list_line(*entry, now);
    const std::size_t size = 4 + entry->name.size() + 4 + longname.size() + 32;
    if (buffer.size() - start + size > budget) {
      dir->held = std::move(entry);
      if (count == 0) {  // a single entry over the cap: skip it rather than stall the listing
        dir->held.reset();
        continue;
      }
      break;
    }
    r.out.string(entry->name);
    r.out.string(longname);
    write_attributes(r.out, entry->attributes);
    ++count;
  }
  if (count == 0) {
    buffer.truncate(start);
    if (error) return send_error(r, error), true;
    return send_status(r, Status::eof), true;
  }
  r.out.patch_u32(count_at, count);
  r.out.end_frame(start);
  return true;
}

bool handle_remove(Request& r) {
  return with_path(r, [&](const vfs::Path& path) { send_result(r, r.state.fs->remove_file(path)); });
}

bool handle_rmdir(Request& r) {
  return with_path(r, [&](const vfs::Path& path) { send_result(r, r.state.fs->remove_directory(path)); });
}

bool handle_mkdir(Request& r) {
  auto name = r.in.string();
  if (!name) return false;
  auto attributes = read_attributes(r.in);
  if (!attributes) return false;
  auto path = to_path(*name);
  if (!path) return send_error(r, path.error()), true;
  const std::uint32_t mode =
      attributes->has(attr::permissions) ? attributes->permissions & 07777u : default_directory_mode;
  send_result(r, r.state.fs->make_directory(*path, mode));
  return true;
}

// The canonical form of a path that may not exist yet (as OpenSSH's realpath: the last
// component may be missing, so `put` can ask where a new file will go).
Result<vfs::Path> canonical(auth::AuthorizedFilesystem& fs, const vfs::Path& path) {
  auto real = fs.real_path(path);
  if (real || path.is_root() || !vfs::is(real.error(), Errc::not_found)) return real;
  auto parent = fs.real_path(path.parent());
  if (!parent) return parent.error();
  return parent->child(path.name());
}

void send_canonical(Request& r, std::string_view text) {
  // REALPATH of "" is ".": the home.
  auto path = text.empty() ? Result<vfs::Path>(vfs::Path()) : vfs::Path::parse(text);
  if (!path) return send_error(r, path.error());
  auto real = canonical(*r.state.fs, *path);
  if (!real) return send_error(r, real.error());
  send_single_name(r, real->str());
}

bool handle_realpath(Request& r) {
  auto name = r.in.string();
  if (!name) return false;
  send_canonical(r, *name);
  return true;
}

// RENAME and posix-rename@openssh.com: two paths.
bool rename_paths(Request& r, vfs::RenameMode mode) {
  return with_two_paths(r, [&](const vfs::Path& from, const vfs::Path& to) {
    send_result(r, r.state.fs->rename(from, to, mode));
  });
}

// Version 3 RENAME never replaces: an existing target is an error.
bool handle_rename(Request& r) { return rename_paths(r, vfs::RenameMode::no_replace); }

bool handle_readlink(Request& r) {
  return with_path(r, [&](const vfs::Path& path) {
    auto target = r.state.fs->read_link(path);
    if (!target) return send_error(r, target.error());
    send_single_name(r, *target);
  });
}

bool handle_symlink(Request& r) {
  // OpenSSH's order (the draft's is the other way round): the target, then the new link.
  // OpenSSH's sftp, paramiko and most clients send it so.
  auto target = r.in.string();
  auto link_name = r.in.string();
  if (!target || !link_name) return false;
  auto link = to_path(*link_name);
  if (!link) return send_error(r, link.error()), true;
  if (target->empty()) return send_error(r, vfs::make_error_code(Errc::not_found)), true;
  send_result(r, r.state.fs->symlink(*link, *target));
  return true;
}

bool handle_extended(Request& r);

struct MessageEntry {
  Message type;
  std::string_view name;
  Handler handler;
  bool does_write;  // changes the filesystem (shown in the request log)
};

constexpr MessageEntry message_table[] = {
    {Message::open, "open", handle_open, false},
    {Message::close, "close", handle_close, false},
    {Message::read, "read", handle_read, false},
    {Message::write, "write", handle_write, true},
    {Message::lstat, "lstat", handle_lstat, false},
    {Message::fstat, "fstat", handle_fstat, false},
    {Message::setstat, "setstat", handle_setstat, true},
    {Message::fsetstat, "fsetstat", handle_fsetstat, true},
    {Message::opendir, "opendir", handle_opendir, false},
    {Message::readdir, "readdir", handle_readdir, false},
    {Message::remove, "remove", handle_remove, true},
    {Message::mkdir, "mkdir", handle_mkdir, true},
    {Message::rmdir, "rmdir", handle_rmdir, true},
    {Message::realpath, "realpath", handle_realpath, false},
    {Message::stat, "stat", handle_stat, false},
    {Message::rename, "rename", handle_rename, true},
    {Message::readlink, "readlink", handle_readlink, false},
    {Message::symlink, "symlink", handle_symlink, true},
    {Message::extended, "extended", handle_extended, false},
};

// --- extensions -----------------------------------------------------------------------------

bool handle_posix_rename(Request& r) { return rename_paths(r, vfs::RenameMode::replace); }

void send_statvfs(Request& r, const Result<vfs::FilesystemStats>& stats) {
  if (!stats) return send_error(r, stats.error());
  const auto start = begin_extended_reply(r);
  std::uint64_t flags = 0;
  if (stats->flags & ST_RDONLY) flags |= statvfs_flag::read_only;
  if (stats->flags & ST_NOSUID) flags |= statvfs_flag::no_suid;
  for (std::uint64_t value : {stats->block_size, stats->fragment_size, stats->blocks, stats->blocks_free,
                              stats->blocks_available, stats->files, stats->files_free, stats->files_available,
                              stats->filesystem_id, flags, stats->max_name_length}) {
    r.out.u64(value);
  }
  r.out.end_frame(start);
}

bool handle_statvfs(Request& r) {
  return with_path(r, [&](const vfs::Path& path) { send_statvfs(r, r.state.fs->stat_filesystem(path)); });
}

bool handle_fstatvfs(Request& r) {
  auto handle = r.in.bytes();
  if (!handle) return false;
  Slot* slot = find_slot(r.state, *handle);
  if (!slot) return send_bad_handle(r), true;
  const vfs::Path& path = std::holds_alternative<FileHandle>(slot->object)
                              ? std::get<FileHandle>(slot->object).path
                              : std::get<DirectoryHandle>(slot->object).path;
  send_statvfs(r, r.state.fs->stat_filesystem(path));
  return true;
}

bool handle_hardlink(Request& r) {
  return with_two_paths(r, [&](const vfs::Path& existing, const vfs::Path& link) {
    send_result(r, r.state.fs->hard_link(existing, link));
  });
}

bool handle_fsync(Request& r) {
  auto handle = r.in.bytes();
  if (!handle) return false;
  auto* file = find_handle<FileHandle>(r.state, *handle);
  if (!file) return send_bad_handle(r), true;
  send_result(r, file->file->sync());
  return true;
}

bool handle_lsetstat(Request& r) { return set_path_attributes(r, false); }

bool handle_limits(Request& r) {
  const auto& limits = r.state.limits;
  const auto start = begin_extended_reply(r);
  r.out.u64(limits.sftp_max_packet);
  r.out.u64(limits.sftp_max_read);
  r.out.u64(limits.sftp_max_write);
  r.out.u64(limits.sftp_max_handles);
  r.out.end_frame(start);
  return true;
}

bool handle_expand_path(Request& r) {
  auto name = r.in.string();
  if (!name) return false;
  std::string_view text = *name;
  // "~" and "~/x" are the home and below it ("~user" only for this user: other users' homes
  // are not this session's to reveal).
  if (text.starts_with('~')) {
    const auto slash = text.find('/');
    const auto user = text.substr(1, slash == std::string_view::npos ? text.size() - 1 : slash - 1);
    if (!user.empty() && user != r.state.user) return send_status(r, Status::no_such_file), true;
    text = slash == std::string_view::npos ? std::string_view() : text.substr(slash);
  }
  send_canonical(r, text);
  return true;
}

bool handle_home_directory(Request& r) {
  auto user = r.in.string();
  if (!user) return false;
  if (!user->empty() && *user != r.state.user) return send_status(r, Status::failure, "No such user"), true;
  send_single_name(r, "/");
  return true;
}

bool readable(const FileHandle& h) { return h.mode.has(vfs::OpenMode::read); }
bool writable(const FileHandle& h) {
  return h.mode.has(vfs::OpenMode::write) || h.mode.has(vfs::OpenMode::append);
}

// Reads the range of `length` bytes (0: to the end of the file) at `offset` in chunks, from
// `done` bytes into it, handing each chunk to `consume` and counting it in `done`. Stops early
// when `consume` returns an error, and after one slice (limits.sftp_request_slice bytes) so a
// long request does not hold its worker: returns which.
enum class RangeRead { finished, paused };

template <class Consumer>
Result<RangeRead> read_range(const Request& r, vfs::File& file, std::uint64_t offset, std::uint64_t length,
                             std::uint64_t& done, Consumer consume) {
  auto chunk = std::make_unique_for_overwrite<std::byte[]>(copy_chunk);
  std::uint64_t moved = 0;
  while (length == 0 || done < length) {
    if (moved >= r.state.limits.sftp_request_slice) return RangeRead::paused;
    const std::size_t want =
        length == 0 ? copy_chunk : static_cast<std::size_t>(std::min<std::uint64_t>(copy_chunk, length - done));
    auto n = file.read(std::span<std::byte>(chunk.get(), want), offset + done);
    if (!n) return n.error();
    if (*n == 0) break;
    if (auto ok = consume(std::span<const std::byte>(chunk.get(), *n)); !ok) return ok.error();
    done += *n;
    moved += *n;
  }
  return RangeRead::finished;
}

bool handle_copy_data(Request& r) {
  auto read_handle = r.in.bytes();
  auto read_offset = r.in.u64();
  auto read_length = r.in.u64();
  auto write_handle = r.in.bytes();
  auto write_offset = r.in.u64();
  if (!read_handle || !read_offset || !read_length || !write_handle || !write_offset) return false;
  auto* source = find_handle<FileHandle>(r.state, *read_handle);
  auto* target = find_handle<FileHandle>(r.state, *write_handle);
  if (!source || !target) return send_bad_handle(r), true;
  if (!readable(*source) || !writable(*target)) return send_status(r, Status::permission_denied), true;
  bool same_file = source == target;
  if (!same_file) {
    // SECURITY: two handles on one file (opened twice, or through a hard link or symlink) are
    // the same file too: a copy to EOF ahead of its own reading would never end.
    auto from = source->file->stat();
    if (!from) return send_error(r, from.error()), true;
    auto to = target->file->stat();
    if (!to) return send_error(r, to.error()), true;
    same_file = from->inode != 0 && from->device == to->device && from->inode == to->inode;
  }
  if (same_file) {
    // Copying a range onto itself (or ahead of itself up to EOF) would read what it wrote.
    const auto end = [](std::uint64_t offset, std::uint64_t length) {  // saturating
      return length > std::numeric_limits<std::uint64_t>::max() - offset ? std::numeric_limits<std::uint64_t>::max()
                                                                        : offset + length;
    };
    const std::uint64_t ro = *read_offset, wo = *write_offset, len = *read_length;
    const bool overlap = len == 0 ? wo >= ro : (wo < end(ro, len) && ro < end(wo, len));
    if (overlap) return send_status(r, Status::failure, "Source and destination overlap"), true;
  }
  Progress progress = r.resume ? std::move(*r.resume) : Progress{};
  auto copied = read_range(r, *source->file, *read_offset, *read_length, progress.done,
                           [&](std::span<const std::byte> data) {
                             // (progress.done counts this chunk once it is written)
                             std::uint64_t at = *write_offset + progress.done;
                             return vfs::write_all(*target->file, data, at);
                           });
  if (copied && *copied == RangeRead::paused) {
    r.state.unfinished = std::move(progress);
    return true;
  }
  send_result(r, copied ? Result<void>() : Result<void>(copied.error()));
  return true;
}

struct HashAlgorithm {
  std::string_view name;
  const EVP_MD* (*md)();
};

constexpr HashAlgorithm hash_algorithms[] = {
    {"sha256", EVP_sha256},
    {"sha1", EVP_sha1},
    {"md5", EVP_md5},
};

// The first algorithm of the client's comma-separated list that is supported.
const HashAlgorithm* pick_algorithm(std::string_view list) {
  while (!list.empty()) {
    const auto comma = list.find(',');
    const auto name = list.substr(0, comma);
    for (const auto& algorithm : hash_algorithms) {
      if (algorithm.name == name) return &algorithm;
    }
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return nullptr;
}

// check-file-handle / check-file-name after the file argument: hashes a range of `file`.
bool check_file(Request& r, vfs::File* file) {
  auto algorithms = r.in.string();
  auto start_offset = r.in.u64();
  auto length = r.in.u64();
  auto block_size = r.in.u32();
  if (!algorithms || !start_offset || !length || !block_size) return false;
  if (!file) return send_bad_handle(r), true;
  if (*block_size != 0 && *block_size < min_check_block) {
    return send_status(r, Status::bad_message, "Block size below 256"), true;
  }
  const HashAlgorithm* algorithm = pick_algorithm(*algorithms);
  if (!algorithm) return send_status(r, Status::op_unsupported, "No supported hash algorithm"), true;
  const EVP_MD* md = algorithm->md();
  const auto digest_size = static_cast<std::size_t>(EVP_MD_get_size(md));
  // Every hash must fit in one reply frame.
  const std::size_t max_hashes = (r.state.limits.sftp_max_packet - 1024) / digest_size;

  Progress p = r.resume ? std::move(*r.resume) : Progress{};
  if (!p.digest) p.digest.reset(EVP_MD_CTX_new());
  if (!p.digest) return send_error(r, vfs::make_error_code(Errc::io_error)), true;
  bool too_many = false;
  const auto finish_hash = [&]() -> Result<void> {
    if (p.hashes.size() / digest_size >= max_hashes) {
      too_many = true;
      return vfs::make_error_code(Errc::invalid_argument);
    }
    const std::size_t at = p.hashes.size();
    p.hashes.resize(at + digest_size);
    unsigned int size = 0;
    if (EVP_DigestFinal_ex(p.digest.get(), reinterpret_cast<unsigned char*>(p.hashes.data() + at), &size) != 1) {
      return vfs::make_error_code(Errc::io_error);
    }
    p.started = false;
    p.in_block = 0;
    return {};
  };
  const auto begin_hash = [&]() -> Result<void> {
    if (EVP_DigestInit_ex(p.digest.get(), md, nullptr) != 1) return vfs::make_error_code(Errc::io_error);
    p.started = true;
    return {};
  };
  auto read = read_range(r, *file, *start_offset, *length, p.done, [&](std::span<const std::byte> data) {
    while (!data.empty()) {
      if (!p.started) {
        if (auto ok = begin_hash(); !ok) return ok;
      }
      std::size_t take = data.size();
      if (*block_size != 0) take = static_cast<std::size_t>(std::min<std::uint64_t>(take, *block_size - p.in_block));
      if (EVP_DigestUpdate(p.digest.get(), data.data(), take) != 1) return Result<void>(vfs::make_error_code(Errc::io_error));
      p.in_block += take;
      data = data.subspan(take);
      if (*block_size != 0 && p.in_block == *block_size) {
        if (auto ok = finish_hash(); !ok) return ok;
      }
    }
    return Result<void>();
  });
  if (read && *read == RangeRead::paused) {
    r.state.unfinished = std::move(p);
    return true;
  }
  Result<void> hashed = read ? Result<void>() : Result<void>(read.error());
  // The last partial block, or the one hash of the whole range (even an empty one).
  if (hashed && (p.started || (*block_size == 0 && p.hashes.empty()))) {
    if (!p.started) hashed = begin_hash();
    if (hashed) hashed = finish_hash();
  }
  if (!hashed) {
    if (too_many) return send_status(r, Status::failure, "Too many blocks for one reply"), true;
    return send_error(r, hashed.error()), true;
  }
  const auto start = begin_extended_reply(r);
  r.out.string(algorithm->name);
  r.out.raw(p.hashes);
  r.out.end_frame(start);
  return true;
}

bool handle_check_file_handle(Request& r) {
  auto handle = r.in.bytes();
  if (!handle) return false;
  auto* file = find_handle<FileHandle>(r.state, *handle);
  if (file && !readable(*file)) {
    // Parse the rest first: a malformed request stays BAD_MESSAGE whatever the handle.
    if (!r.in.string() || !r.in.u64() || !r.in.u64() || !r.in.u32()) return false;
    return send_status(r, Status::permission_denied), true;
  }
  return check_file(r, file ? file->file.get() : nullptr);
}

bool handle_check_file_name(Request& r) {
  auto name = r.in.string();
  if (!name) return false;
  auto path = to_path(*name);
  Result<std::unique_ptr<vfs::File>> file = path.error();
  if (path) file = r.state.fs->open(*path, vfs::OpenMode{});
  if (!file) {
    if (!r.in.string() || !r.in.u64() || !r.in.u64() || !r.in.u32()) return false;
    return send_error(r, file.error()), true;
  }
  const bool parsed = check_file(r, file->get());
  (void)(*file)->close();
  return parsed;
}

struct ExtensionEntry {
  std::string_view name;
  std::string_view version;  // the data advertised with the name in VERSION
  Handler handler;
  bool does_write;
};

// Every extension implemented, and so advertised (VERSION lists this table in order).
constexpr ExtensionEntry extension_table[] = {
    {"posix-rename@openssh.com", "1", handle_posix_rename, true},
    {"statvfs@openssh.com", "2", handle_statvfs, false},
    {"fstatvfs@openssh.com", "2", handle_fstatvfs, false},
    {"hardlink@openssh.com", "1", handle_hardlink, true},
    {"fsync@openssh.com", "1", handle_fsync, true},
    {"lsetstat@openssh.com", "1", handle_lsetstat, true},
    {"limits@openssh.com", "1", handle_limits, false},
    {"expand-path@openssh.com", "1", handle_expand_path, false},
    {"copy-data", "1", handle_copy_data, true},
    {"home-directory", "1", handle_home_directory, false},
    {"check-file-handle", "1", handle_check_file_handle, false},
    {"check-file-name", "1", handle_check_file_name, false},
};

void log_request(const State& state, std::string_view op, bool does_write) {
  log::debug("sftp_request").unum("session", state.session_id).str("op", op).flag("write", does_write);
}

bool handle_extended(Request& r) {
  auto name = r.in.string();
  if (!name) return false;
  for (const auto& entry : extension_table) {
    if (entry.name == *name) {
      log_request(r.state, entry.name, entry.does_write);
      return entry.handler(r);
    }
  }
  send_status(r, Status::op_unsupported, "Unsupported extension");
  return true;
}

std::optional<std::string_view> handle_init(State& state, Reader& in, Buffer& out) {
  if (state.initialized) return "INIT received twice";
  // The client's version is read and not negotiated: we speak 3, which every client that
  // sends a higher version also speaks (the draft lets the server answer its own).
  if (!in.u32()) return "malformed INIT";
  state.initialized = true;
  Writer w(out);
  const auto start = w.begin_frame(static_cast<std::uint8_t>(Message::version));
  w.u32(protocol_version);
  for (const auto& entry : extension_table) {
    w.string(entry.name);
    w.string(entry.version);
  }
  w.end_frame(start);
  return std::nullopt;
}

}  // namespace

Engine::Engine(std::shared_ptr<auth::AuthorizedFilesystem> fs, const core::Limits& limits, std::string user,
               std::uint64_t session_id)
    : state_(std::make_unique<State>()) {
  state_->fs = std::move(fs);
  state_->limits = limits;
  state_->user = std::move(user);
  state_->session_id = session_id;
}

Engine::~Engine() { close_all(); }

void Engine::close_all() {
  state_->unfinished.reset();
  for (auto& slot : state_->slots) {
    if (!std::holds_alternative<std::monostate>(slot.object)) (void)close_slot(*state_, slot, "aborted");
  }
}

std::size_t Engine::open_handles() const { return state_->open_count; }

bool Engine::unfinished() const { return state_->unfinished.has_value(); }

std::vector<std::pair<std::string_view, std::string_view>> Engine::extensions() {
  std::vector<std::pair<std::string_view, std::string_view>> out;
  for (const auto& entry : extension_table) out.emplace_back(entry.name, entry.version);
  return out;
}

std::size_t Engine::reply_size_hint(std::span<const std::byte> message) const {
  constexpr std::size_t small_reply = 64;
  Reader in(message);
  auto type = in.u8();
  if (!type || *type != static_cast<std::uint8_t>(Message::read)) return small_reply;
  // READ: id, handle, offset, length.
  if (!in.u32() || !in.bytes() || !in.u64()) return small_reply;
  auto length = in.u32();
  if (!length) return small_reply;
  return 13 + std::min(*length, state_->limits.sftp_max_read);
}

std::optional<std::string_view> Engine::handle(std::span<const std::byte> message, Buffer& out) {
  Reader in(message);
  auto type = in.u8();
  if (!type) return "empty message";
  if (*type == static_cast<std::uint8_t>(Message::init)) return handle_init(*state_, in, out);
  // SECURITY: nothing is served before the version exchange.
  if (!state_->initialized) return "request before INIT";
  auto id = in.u32();
  if (!id) return "message too short for a request id";

  Request request{*state_, *id, in, Writer(out)};
  // A request that stopped part-way last time comes back now: it picks up its progress (any
  // other path through the handler simply drops it).
  request.resume = std::exchange(state_->unfinished, std::nullopt);
  [[maybe_unused]] const std::size_t before = out.size();
  const MessageEntry* entry = nullptr;
  for (const auto& candidate : message_table) {
    if (static_cast<std::uint8_t>(candidate.type) == *type) entry = &candidate;
  }
  if (!entry) {
    log_request(*state_, "unknown", false);
    send_status(request, Status::op_unsupported, "Unsupported request");
  } else {
    if (entry->type != Message::extended) log_request(*state_, entry->name, entry->does_write);
    if (!entry->handler(request)) {
      assert(out.size() == before);  // handlers parse everything before they reply
      out.truncate(before);
      send_status(request, Status::bad_message);
    }
  }
  // Exactly one reply per request, or none yet from one that stopped part-way.
  assert(state_->unfinished ? out.size() == before
                            : out.size() > before + length_field_size &&
                                  load_u32(out.data() + before) == out.size() - before - 4);
  return std::nullopt;
}

}  // namespace filegate::sftp
