// The FTP data connection: set up by PASV/EPSV (we listen) or PORT/EPRT (we connect), then
// established for one transfer, then gone.
//
// Bulk transfers run as "pumps" on the worker pool: a pump moves bytes between the file and the
// non-blocking data stream until the stream would block (or a budget is spent), then returns to
// the session strand, which waits for readiness with the stall deadline. So neither disk latency
// nor a slow client ever blocks the event loop, and at most one hop happens per socket-buffer.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/asio.hpp"
#include "core/byte_stream.hpp"
#include "core/result.hpp"
#include "vfs/filesystem.hpp"

namespace filegate::ftp {

enum class TransferResult { ok, aborted, network_error, disk_error, stalled };
std::string_view transfer_result_name(TransferResult r);

struct TransferOutcome {
  TransferResult result = TransferResult::ok;
  std::uint64_t bytes = 0;  // bytes that crossed the network
  error_code error;         // the disk error for disk_error, the socket error for network_error
};

class DataChannel {
 public:
  // Opens a passive listener on `local` (the control connection's local address), on a port
  // from [port_min, port_max] (0,0: any). Replaces any earlier set-up.
  Result<tcp::endpoint> listen(const Executor& executor, const asio::ip::address& local,
                               std::uint16_t port_min, std::uint16_t port_max);
  // Remembers an active-mode target (already vetted by the session's policy).
  void set_active(const tcp::endpoint& target);
  bool configured() const { return acceptor_ != nullptr || active_.has_value(); }

  // Accepts the client's connection (SECURITY: only from `peer`; others are closed and logged)
  // or connects to the active target from `local`. Bounded by `timeout`. Consumes the set-up.
  awaitable<Result<std::unique_ptr<core::ByteStream>>> establish(const asio::ip::address& peer,
                                                                 const asio::ip::address& local,
                                                                 std::chrono::seconds timeout);
  // Drops the set-up (REIN, a new PASV, ABOR); an establish() in progress ends with
  // operation_aborted.
  void reset();

 private:
  // Shared with a running establish(), which keeps the object alive while reset() closes it.
  std::shared_ptr<tcp::acceptor> acceptor_;
  std::shared_ptr<tcp::socket> connecting_;
  std::optional<tcp::endpoint> active_;
};

// Shared between a running transfer and the control channel. Owned by the session strand
// except `requested`, which a pump on a worker polls.
struct TransferControl {
  std::atomic<bool> requested{false};  // ABOR (or QUIT, or shutdown) asked to stop
  bool in_pump = false;                // a worker is using the stream right now
  core::ByteStream* stream = nullptr;  // the data stream while a transfer runs
  std::atomic<std::uint64_t> progress{0};  // bytes so far, for STAT during a transfer

  // Asks the running transfer to stop as soon as it can. Safe on the strand.
  void abort();
};

struct TransferOptions {
  bool ascii = false;
  std::uint64_t offset = 0;  // REST
  std::chrono::seconds stall_timeout{300};
};

using FileOpener = std::function<Result<std::unique_ptr<vfs::File>>()>;

// The start of a download, read by the worker that opened the file (read_head), so that a
// small file needs no second trip to a worker once the data connection is up: the transfer
// then runs on the session strand and touches no disk.
struct FileHead {
  std::vector<std::byte> data;  // the file's bytes from the REST offset, at most head_size
  bool whole = false;           // data runs to the end of the file, and the file is closed
  std::size_t sent = 0;         // of data, already sent with the TLS handshake (core::FirstFlight)
  static constexpr std::size_t head_size = 64 * 1024;
};
// On a worker. A close error of a file read to its end is reported like a read error.
// `cached`: with File::read_cached, so on the strand; Errc::would_block when that is not enough.
Result<FileHead> read_head(vfs::File& file, std::uint64_t offset, bool cached = false);
// On the strand: opens `path` for reading and reads its head without waiting for a disk
// (vfs::OpenMode::cached), so a download the kernel has in memory needs no worker at all.
// Errc::would_block means: finish on a worker, with `file` if it is already open. (Closing a
// file read to its end, as read_head does, needs no disk either: it was only read.)
Result<FileHead> open_head_cached(vfs::Filesystem& fs, const vfs::Path& path, std::uint64_t offset,
                                  std::unique_ptr<vfs::File>& file);

// File -> network (RETR). Sends `head` (from read_head at options.offset; may be empty) first,
// from head.sent on.
// Uses sendfile() for binary transfers on plain sockets. On success the file is already closed
// (TransferOutcome::ok); otherwise the caller closes it.
awaitable<TransferOutcome> send_file(asio::thread_pool& pool, core::ByteStream& stream,
                                     vfs::File& file, FileHead& head,
                                     const TransferOptions& options, TransferControl& control);
// Network -> file (STOR, APPE, STOU). Stops at end of stream, closing the file (a close error is
// a disk_error); the caller decides whether that end was complete. With `open`, `file` is still
// empty: the first pump opens it on its worker (one hop fewer), and an open error ends the
// transfer as a disk_error with `file` left empty. The first 64 KiB are read on the strand
// (no disk work), so a small upload arrives whole before its one trip to a worker.
awaitable<TransferOutcome> receive_file(asio::thread_pool& pool, core::ByteStream& stream,
                                        std::unique_ptr<vfs::File>& file, const FileOpener* open,
                                        const TransferOptions& options, TransferControl& control);
// Memory -> network (listings). The text is already generated; this only moves bytes.
awaitable<TransferOutcome> send_text(core::ByteStream& stream, std::string_view text,
                                     std::chrono::seconds stall_timeout, TransferControl& control);

// Waits for readiness, at most `timeout`. Returns timed_out on expiry.
awaitable<error_code> wait_ready(core::ByteStream& stream, core::Readiness direction,
                                 std::chrono::seconds timeout);

// Ends a sending stream in order (TLS close_notify, then FIN), so the client knows it has
// everything: ok, network_error, or stalled when a client that does not read let `timeout` pass.
awaitable<TransferResult> end_stream(core::ByteStream& stream, std::chrono::seconds timeout);

}  // namespace filegate::ftp
