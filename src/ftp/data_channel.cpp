#include "ftp/data_channel.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/sendfile.h>

#include <random>
#include <vector>

#include "core/log.hpp"
#include "core/offload.hpp"
#include "core/tcp_stream.hpp"

namespace filegate::ftp {
namespace {

using namespace asio::experimental::awaitable_operators;
using core::Readiness;

constexpr std::size_t chunk_size = 256 * 1024;
// Downloads that cannot use sendfile() (TLS, ASCII) read this much at a time: the buffer and
// what OpenSSL encrypts from it stay in the CPU's L2 cache. With 256 KiB, FTPS RETR spent
// more system time per GiB and swung more between runs.
constexpr std::size_t send_chunk_size = 64 * 1024;
// Work one pump does before yielding its worker, so one fast transfer cannot hog the pool.
constexpr std::uint64_t pump_budget = 16 * 1024 * 1024;

enum class Step { done, wait, yield, aborted, network_error, disk_error };

struct PumpStep {
  PumpStep(Step s, Readiness d = Readiness::read, error_code e = {}) : step(s), direction(d), error(e) {}
  Step step;
  Readiness direction;
  error_code error;
};

// A pump whose stream would block after moving at least this much in one go is feeding a fast
// peer: it waits a moment on the worker rather than handing the transfer back to the event loop
// (each hand-off costs two thread wake-ups). Slow peers go back to the event loop at once, so
// they never hold a worker.
constexpr std::uint64_t fast_stream_bytes = 256 * 1024;
constexpr int fast_stream_wait_ms = 2;
// A pump on the session strand (a whole file in its head) must never wait_briefly: that would
// block the event loop.
static_assert(FileHead::head_size < fast_stream_bytes);

bool wait_briefly(core::ByteStream& stream, Readiness direction) {
  pollfd fd{stream.native_handle(), static_cast<short>(direction == Readiness::read ? POLLIN : POLLOUT), 0};
  return ::poll(&fd, 1, fast_stream_wait_ms) > 0;
}

// Ends a pump that moved everything: closes the file on the worker (a deferred write error
// surfaces here) so the session needs no further round trip.
PumpStep finish(vfs::File& file, Readiness direction) {
  if (auto closed = file.close(); !closed) return {Step::disk_error, direction, closed.error()};
  return {Step::done};
}

std::span<const std::byte> as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

// State of a file -> network transfer, touched only by one party at a time.
struct Sender {
  // Downloads keep the event loop's watch on the socket: nothing arrives on it to wake the loop
  // (only ACKs), and re-registering each time the socket fills would cost more than it saves.
  static constexpr bool receives = false;
  core::ByteStream& stream;
  vfs::File& file;
  TransferControl& control;
  bool ascii;
  bool zero_copy;
  std::uint64_t file_offset;
  std::uint64_t bytes = 0;
  bool file_done = false;
  bool last_was_cr = false;
  std::vector<std::byte> head{};  // the file's start, read when it was opened (FileHead)
  std::vector<std::byte> raw{};   // file data
  std::vector<std::byte> out{};   // ASCII: the converted data
  std::span<const std::byte> pending{};  // bytes waiting to go to the network (head, raw or out)
  bool file_closed = false;  // read to the end and closed with its head: no disk work is left

  // A pump that touches no disk runs on the session strand: no hop to a worker and back.
  bool runs_on_strand() const { return file_closed; }

  // Queues file data for the network, converted to CRLF line ends in ASCII mode.
  void stage(std::span<const std::byte> data) {
    if (!ascii) {
      // Binary data goes to the network straight from the buffer it was read into (a TLS stream
      // encrypts from it; no copy of our own).
      pending = data;
      return;
    }
    out.clear();
    for (const std::byte b : data) {
      if (b == std::byte{'\n'} && !last_was_cr) out.push_back(std::byte{'\r'});
      out.push_back(b);
      last_was_cr = b == std::byte{'\r'};
    }
    pending = out;
  }

  PumpStep pump() {
    // (Nothing left to send, as when a small file went out with the TLS handshake: no cork.)
    if (zero_copy || (pending.empty() && file_done)) return pump_data();
    // A TLS stream writes one 16 KiB record per system call, and with TCP_NODELAY each would
    // leave as its own segment (and wake the client once per record). Corked, the kernel sends
    // full segments; uncorking when the pump stops pushes out the rest at once.
    stream.cork(true);
    const PumpStep step = pump_data();
    stream.cork(false);
    return step;
  }

  PumpStep pump_data() {
    std::uint64_t moved = 0;
    while (moved < pump_budget) {
      if (control.requested.load()) return {Step::aborted};
      if (pending.empty() && file_done) return finish(file, Readiness::write);
      if (zero_copy && pending.empty()) {
        auto offset = static_cast<off_t>(file_offset);
        const ssize_t n = ::sendfile(stream.native_handle(), file.native_handle(), &offset, 1 << 20);
        if (n > 0) {
          file_offset = static_cast<std::uint64_t>(offset);
          bytes += static_cast<std::uint64_t>(n);
          moved += static_cast<std::uint64_t>(n);
          control.progress.store(bytes);
          continue;
        }
        if (n == 0) return finish(file, Readiness::write);
        if (errno == EAGAIN) {
          if (moved >= fast_stream_bytes && wait_briefly(stream, Readiness::write)) continue;
          return {Step::wait, Readiness::write};
        }
        if (errno == EINTR) continue;
        if (errno == EINVAL || errno == ENOSYS) {  // this file cannot be sent zero-copy
          zero_copy = false;
          continue;
        }
        return {Step::network_error, Readiness::write, error_code(errno, boost::system::system_category())};
      }
      if (pending.empty()) {
        auto read = file.read(raw, file_offset);
        if (!read) return {Step::disk_error, Readiness::write, read.error()};
        if (*read == 0) {
          file_done = true;
          continue;
        }
        file_offset += *read;
        stage(std::span<const std::byte>(raw).first(*read));
      }
      error_code ec;
      const std::size_t n = stream.write_some(pending, ec);
      pending = pending.subspan(n);
      bytes += n;
      moved += n;
      control.progress.store(bytes);
      if (ec == asio::error::would_block) {
        if (moved >= fast_stream_bytes && wait_briefly(stream, stream.wants())) continue;
        return {Step::wait, stream.wants()};
      }
      if (ec) return {Step::network_error, Readiness::write, ec};
    }
    return {Step::yield};
  }
};

// Bytes an upload may gather on the session strand before its file is open (Receiver).
constexpr std::size_t strand_gather_size = 64 * 1024;

struct Receiver {
  // Uploads: the event loop stops watching the socket while a worker pumps it (every arriving
  // segment would wake it otherwise; see ByteStream::unwatch).
  static constexpr bool receives = true;
  core::ByteStream& stream;
  std::unique_ptr<vfs::File>& file;
  const FileOpener* open;  // set until the first pump on a worker has opened `file`
  TransferControl& control;
  bool ascii;
  std::uint64_t file_offset;
  std::uint64_t bytes = 0;
  bool pending_cr = false;
  std::vector<std::byte> buffer{};
  // The upload starts on the strand, reading without touching the disk until the end of the
  // stream or strand_gather_size bytes: a small file then arrives whole before the one worker
  // trip that opens, writes and closes it, and a client that is slow to send its first bytes
  // costs no trip at all.
  bool gathering = true;
  std::size_t gathered = 0;  // bytes at the start of `buffer` read on the strand, not yet stored
  bool ended = false;        // the strand read the end of the stream

  bool runs_on_strand() const { return gathering; }

  PumpStep pump() {
    if (gathering) return gather();
    if (open != nullptr) {
      auto opened = (*open)();
      open = nullptr;
      if (!opened) return {Step::disk_error, Readiness::read, opened.error()};
      file = std::move(*opened);
    }
    if (gathered > 0) {
      if (auto stored = store(std::exchange(gathered, 0)); !stored) return {Step::disk_error, Readiness::read, stored.error()};
    }
    if (ended) return end();
    std::uint64_t moved = 0;
    while (moved < pump_budget) {
      if (control.requested.load()) return {Step::aborted};
      // Fill the buffer before writing: a TLS stream yields one 16 KiB record per read, and one
      // disk write per buffer costs far fewer system calls than one per record.
      std::size_t n = 0;
      error_code ec;
      while (n < buffer.size()) {
        const std::size_t got = stream.read_some(std::span(buffer).subspan(n), ec);
        n += got;
        if (ec || got == 0) break;
      }
      if (n > 0) {
        count(n);
        moved += n;
        if (auto stored = store(n); !stored) return {Step::disk_error, Readiness::read, stored.error()};
      }
      if (ec == asio::error::eof) return end();
      if (ec == asio::error::would_block) {
        acknowledge();
        if (moved >= fast_stream_bytes && wait_briefly(stream, stream.wants())) continue;
        return {Step::wait, stream.wants()};
      }
      if (ec) return {Step::network_error, Readiness::read, ec};
    }
    return {Step::yield};
  }

  // On the strand: reads what has arrived into `buffer`, no disk work.
  PumpStep gather() {
    while (gathered < strand_gather_size) {
      if (control.requested.load()) return {Step::aborted};
      error_code ec;
      const std::size_t got = stream.read_some(std::span(buffer).subspan(gathered, strand_gather_size - gathered), ec);
      gathered += got;
      count(got);
      if (ec == asio::error::eof) {
        ended = true;
        break;
      }
      if (ec == asio::error::would_block) {
        acknowledge();
        return {Step::wait, stream.wants()};
      }
      if (ec) return {Step::network_error, Readiness::read, ec};
    }
    gathering = false;  // on to a worker
    return {Step::yield};
  }

  void count(std::size_t n) {
    bytes += n;
    control.progress.store(bytes);
  }

  // Acknowledges what arrived at once: a client whose last small segment (the end of a small
  // file, a TLS close_notify) waits on Nagle for our ACK would otherwise stall for the
  // delayed-ACK time, about 40 ms per file.
  void acknowledge() {
    const int on = 1;
    ::setsockopt(stream.native_handle(), IPPROTO_TCP, TCP_QUICKACK, &on, sizeof on);
  }

  // Writes buffer[0, n) to the file, CRLF -> LF in ASCII mode (a CR at the end waits for the
  // next byte).
  Result<void> store(std::size_t n) {
    std::span<const std::byte> data(buffer.data(), n);
    if (ascii) {
      std::size_t w = 0;
      for (std::size_t i = 0; i < n; ++i) {
        const std::byte b = buffer[i];
        if (pending_cr) {
          pending_cr = false;
          if (b != std::byte{'\n'}) buffer[w++] = std::byte{'\r'};
        }
        if (b == std::byte{'\r'}) {
          pending_cr = true;
        } else {
          buffer[w++] = b;
        }
      }
      data = std::span<const std::byte>(buffer.data(), w);
    }
    return vfs::write_all(*file, data, file_offset);
  }

  // The end of the stream: a CR held back is data after all; then the file is closed.
  PumpStep end() {
    if (pending_cr) {
      const std::byte cr[] = {std::byte{'\r'}};
      if (auto written = vfs::write_all(*file, cr, file_offset); !written) {
        return {Step::disk_error, Readiness::read, written.error()};
      }
    }
    return finish(*file, Readiness::read);
  }
};

template <class Pump>
awaitable<TransferOutcome> run_pump(asio::thread_pool& pool, core::ByteStream& stream, Pump& pump,
                                    const TransferOptions& options, TransferControl& control) {
  control.stream = &stream;
  TransferOutcome outcome;
  for (;;) {
    control.in_pump = true;
    PumpStep step{Step::done};
    if (pump.runs_on_strand()) {
      step = pump.pump();
    } else {
      if constexpr (Pump::receives) stream.unwatch();
      step = co_await core::offload(pool, [&pump] { return pump.pump(); });
      if constexpr (Pump::receives) stream.watch();
    }
    control.in_pump = false;
    outcome.bytes = pump.bytes;
    if (control.requested.load()) {
      outcome.result = TransferResult::aborted;
      break;
    }
    if (step.step == Step::done) break;
    if (step.step == Step::yield) continue;
    if (step.step == Step::aborted) {
      outcome.result = TransferResult::aborted;
      break;
    }
    if (step.step == Step::disk_error || step.step == Step::network_error) {
      outcome.result = step.step == Step::disk_error ? TransferResult::disk_error : TransferResult::network_error;
      outcome.error = step.error;
      break;
    }
    const error_code ec = co_await wait_ready(stream, step.direction, options.stall_timeout);
    if (control.requested.load()) {
      outcome.result = TransferResult::aborted;
      break;
    }
    if (ec == asio::error::timed_out) {
      outcome.result = TransferResult::stalled;
      break;
    }
    if (ec) {
      outcome.result = TransferResult::network_error;
      outcome.error = ec;
      break;
    }
  }
  control.stream = nullptr;
  co_return outcome;
}

}  // namespace

std::string_view transfer_result_name(TransferResult r) {
  switch (r) {
    case TransferResult::ok: return "ok";
    case TransferResult::aborted: return "aborted";
    case TransferResult::network_error: return "failed";
    case TransferResult::disk_error: return "failed";
    case TransferResult::stalled: return "stalled";
  }
  return "failed";
}

void TransferControl::abort() {
  requested.store(true);
  // A worker holding the stream notices `requested` within one chunk; otherwise the transfer
  // waits on readiness, and closing the stream ends that wait at once.
  if (!in_pump && stream != nullptr) stream->close();
}

Result<tcp::endpoint> DataChannel::listen(const Executor& executor, const asio::ip::address& local,
                                          std::uint16_t port_min, std::uint16_t port_max) {
  reset();
  auto acceptor = std::make_shared<tcp::acceptor>(executor);
  error_code ec;
  const tcp::endpoint any_port(local, 0);
  acceptor->open(any_port.protocol(), ec);
  if (ec) return ec;
  // A port whose previous data connection we closed first stays in TIME_WAIT for a minute;
  // without SO_REUSEADDR it could not listen again, and a configured range of N ports would
  // allow only N transfers a minute ("425" for a client mirroring many small files). Linux
  // still refuses a second listener on a port, so this lets no one else take it over.
  acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  if (ec) return ec;
  if (port_min == 0 && port_max == 0) {
    acceptor->bind(any_port, ec);
  } else {
    // Start at a random port so that concurrent sessions rarely collide and ports are not
    // predictable; walk the whole range once.
    thread_local std::minstd_rand rng{std::random_device{}()};
    const unsigned span = static_cast<unsigned>(port_max - port_min) + 1;
    const unsigned start = static_cast<unsigned>(rng() % span);
    ec = asio::error::address_in_use;
    for (unsigned i = 0; i < span && ec; ++i) {
      const auto port = static_cast<std::uint16_t>(port_min + (start + i) % span);
      ec = {};
      acceptor->bind(tcp::endpoint(local, port), ec);
    }
  }
  if (!ec) acceptor->listen(4, ec);
  if (ec) return ec;
  auto endpoint = acceptor->local_endpoint(ec);
  if (ec) return ec;
  acceptor_ = std::move(acceptor);
  return endpoint;
}

void DataChannel::set_active(const tcp::endpoint& target) {
  reset();
  active_ = target;
}

void DataChannel::reset() {
  error_code ignored;
  if (acceptor_) acceptor_->close(ignored);
  if (connecting_) connecting_->close(ignored);
  acceptor_.reset();
  connecting_.reset();
  active_.reset();
}

awaitable<Result<std::unique_ptr<core::ByteStream>>> DataChannel::establish(
    const asio::ip::address& peer, const asio::ip::address& local, std::chrono::seconds timeout) {
  auto executor = co_await asio::this_coro::executor;
  asio::steady_timer deadline(executor);
  deadline.expires_after(timeout);
  if (acceptor_) {
    auto acceptor = acceptor_;  // reset() closes it to cancel the wait
    // Used up when this wait ends, unless a newer PASV/PORT has replaced it meanwhile (an early
    // accept, see Session::start_early_data, may end after the set-up changed).
    struct Consume {
      DataChannel& channel;
      const std::shared_ptr<tcp::acceptor>& acceptor;
      ~Consume() {
        if (channel.acceptor_ == acceptor) channel.reset();
      }
    } consume{*this, acceptor};
    for (;;) {
      auto result = co_await (acceptor->async_accept(as_tuple_awaitable) || deadline.async_wait(as_tuple_awaitable));
      if (result.index() == 1) co_return error_code(asio::error::timed_out);
      auto [ec, socket] = std::get<0>(std::move(result));
      if (ec) co_return ec;
      error_code peer_ec;
      const auto remote = socket.remote_endpoint(peer_ec);
      if (peer_ec) continue;
      if (remote.address() != peer) {
        // SECURITY: a data connection from any other host could steal or inject file data.
        core::log::warn("data_connection_refused")
            .str("client", peer.to_string())
            .str("from", remote.address().to_string())
            .str("reason", "address differs from the control connection");
        error_code ignored;
        socket.close(ignored);
        continue;
      }
      co_return std::make_unique<core::TcpStream>(std::move(socket));
    }
  }
  if (active_) {
    const tcp::endpoint target = *active_;
    active_.reset();
    auto socket = std::make_shared<tcp::socket>(executor);
    connecting_ = socket;  // reset() closes it to cancel the connect
    error_code ec;
    socket->open(target.protocol(), ec);
    if (!ec) socket->bind(tcp::endpoint(local, 0), ec);
    if (ec) {
      reset();
      co_return ec;
    }
    auto result = co_await (socket->async_connect(target, as_tuple_awaitable) || deadline.async_wait(as_tuple_awaitable));
    const bool cancelled = connecting_ != socket;  // reset() ran while we waited
    connecting_.reset();
    if (result.index() == 1) co_return error_code(asio::error::timed_out);
    auto [connect_ec] = std::get<0>(result);
    if (connect_ec) co_return connect_ec;
    if (cancelled) co_return error_code(asio::error::operation_aborted);
    co_return std::make_unique<core::TcpStream>(std::move(*socket));
  }
  co_return error_code(asio::error::not_connected);
}

namespace {

// `operation`, cancelled with timed_out once `timeout` has passed.
awaitable<error_code> within(awaitable<error_code> operation, std::chrono::seconds timeout) {
  auto executor = co_await asio::this_coro::executor;
  asio::steady_timer deadline(executor);
  deadline.expires_after(timeout);
  auto result = co_await (std::move(operation) || deadline.async_wait(as_tuple_awaitable));
  if (result.index() == 1) co_return error_code(asio::error::timed_out);
  co_return std::get<0>(result);
}

}  // namespace

awaitable<error_code> wait_ready(core::ByteStream& stream, core::Readiness direction,
                                 std::chrono::seconds timeout) {
  co_return co_await within(stream.wait(direction), timeout);
}

awaitable<TransferResult> end_stream(core::ByteStream& stream, std::chrono::seconds timeout) {
  const error_code ec = co_await within(stream.shutdown(), timeout);
  if (ec == asio::error::timed_out) co_return TransferResult::stalled;
  co_return ec ? TransferResult::network_error : TransferResult::ok;
}

Result<FileHead> read_head(vfs::File& file, std::uint64_t offset, bool cached) {
  FileHead head;
  head.data.resize(FileHead::head_size);
  std::size_t n = 0;
  while (n < head.data.size()) {
    const auto rest = std::span(head.data).subspan(n);
    auto read = cached ? file.read_cached(rest, offset + n) : file.read(rest, offset + n);
    if (!read) return read.error();
    if (*read == 0) {
      head.whole = true;
      break;
    }
    n += *read;
  }
  head.data.resize(n);
  if (head.whole) {
    if (auto closed = file.close(); !closed) return closed.error();
  }
  return head;
}

Result<FileHead> open_head_cached(vfs::Filesystem& fs, const vfs::Path& path, std::uint64_t offset,
                                  std::unique_ptr<vfs::File>& file) {
  auto opened = fs.open(path, vfs::OpenMode{vfs::OpenMode::read | vfs::OpenMode::cached});
  if (!opened) return opened.error();
  file = std::move(*opened);
  return read_head(*file, offset, true);
}

awaitable<TransferOutcome> send_file(asio::thread_pool& pool, core::ByteStream& stream,
                                     vfs::File& file, FileHead& head,
                                     const TransferOptions& options, TransferControl& control) {
  const bool zero_copy = !options.ascii && !head.whole && stream.zero_copy() && file.native_handle() >= 0;
  Sender sender{stream, file, control, options.ascii, zero_copy, options.offset};
  sender.head = std::move(head.data);
  sender.file_offset += sender.head.size();
  sender.file_done = sender.file_closed = head.whole;
  sender.bytes = head.sent;
  sender.stage(std::span<const std::byte>(sender.head).subspan(head.sent));
  if (!zero_copy && !head.whole) sender.raw.resize(send_chunk_size);
  co_return co_await run_pump(pool, stream, sender, options, control);
}

awaitable<TransferOutcome> receive_file(asio::thread_pool& pool, core::ByteStream& stream,
                                        std::unique_ptr<vfs::File>& file, const FileOpener* open,
                                        const TransferOptions& options, TransferControl& control) {
  Receiver receiver{stream, file, open, control, options.ascii, options.offset};
  static_assert(strand_gather_size <= chunk_size);
  receiver.buffer.resize(chunk_size);
  co_return co_await run_pump(pool, stream, receiver, options, control);
}

awaitable<TransferOutcome> send_text(core::ByteStream& stream, std::string_view text,
                                     std::chrono::seconds stall_timeout, TransferControl& control) {
  control.stream = &stream;
  TransferOutcome outcome;
  auto data = as_bytes(text);
  while (!data.empty()) {
    if (control.requested.load()) {
      outcome.result = TransferResult::aborted;
      break;
    }
    error_code ec;
    const std::size_t n = stream.write_some(data, ec);
    data = data.subspan(n);
    outcome.bytes += n;
    control.progress.store(outcome.bytes);
    if (ec == asio::error::would_block) {
      ec = co_await wait_ready(stream, stream.wants(), stall_timeout);
      if (control.requested.load()) {
        outcome.result = TransferResult::aborted;
        break;
      }
      if (ec) {
        outcome.result = ec == asio::error::timed_out ? TransferResult::stalled : TransferResult::network_error;
        outcome.error = ec;
        break;
      }
    } else if (ec) {
      outcome.result = TransferResult::network_error;
      outcome.error = ec;
      break;
    }
  }
  control.stream = nullptr;
  co_return outcome;
}

}  // namespace filegate::ftp
