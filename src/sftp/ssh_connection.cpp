#include "sftp/ssh_connection.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "core/log.hpp"

namespace filegate::sftp {
namespace {

namespace log = core::log;
using Clock = std::chrono::steady_clock;

// Bytes handed to one ssh_channel_write: large writes matter (1 MiB moved 50% more than 64 KiB
// in the probe behind STYLE.md), and libssh splits them into packets itself.
constexpr std::size_t max_write = 1u << 20;
// ssh_event_dopoll calls in one pump: libssh reads 4 KiB per call, so this is 4 MiB.
constexpr int max_polls = 1024;
// Pump/flush rounds in one service(): then the connection yields to the others on the loop.
constexpr int max_rounds = 16;
// Messages that may wait while a login check is in flight; a client sending more is abusive.
constexpr std::size_t max_waiting_messages = 16;
// drain_input's read size.
constexpr std::size_t scratch_size = 64 * 1024;

void libssh_log(int priority, const char*, const char* message, void*) {
  log::debug("libssh").num("priority", priority).str("message", message != nullptr ? message : "");
}

// libssh's log callback and level are per thread: set them on each thread that runs libssh,
// so its messages come out as JSON lines (at log level debug) and never as raw text on stderr.
void route_libssh_logs() {
  thread_local bool routed = false;
  if (routed) return;
  routed = true;
  ssh_set_log_callback(&libssh_log);
  ssh_set_log_level(log::level() == log::Level::debug ? SSH_LOG_WARN : SSH_LOG_NOLOG);
}

std::string_view channel_type_name(int type) {
  switch (type) {
    case SSH_CHANNEL_DIRECT_TCPIP:
      return "port forwarding (direct-tcpip)";
    case SSH_CHANNEL_FORWARDED_TCPIP:
      return "port forwarding (forwarded-tcpip)";
    case SSH_CHANNEL_X11:
      return "x11";
    case SSH_CHANNEL_AUTH_AGENT:
      return "agent forwarding";
    default:
      return "unknown channel type";
  }
}

std::string_view channel_request_name(int type) {
  switch (type) {
    case SSH_CHANNEL_REQUEST_PTY:
      return "pty";
    case SSH_CHANNEL_REQUEST_SHELL:
      return "shell";
    case SSH_CHANNEL_REQUEST_EXEC:
      return "exec";
    case SSH_CHANNEL_REQUEST_X11:
      return "x11";
    default:
      return "other (agent forwarding, signal ...)";
  }
}

}  // namespace

Connection::Connection(ServerContext& context, tcp::socket socket, core::ConnectionLimiter::Slot slot,
                       std::uint64_t id, Executor strand)
    : context_(context),
      slot_(std::move(slot)),
      id_(id),
      strand_(strand),
      watch_(strand),
      started_(Clock::now()),
      last_activity_(started_),
      login_timer_(strand),
      idle_timer_(strand) {
  error_code ec;
  peer_ = socket.remote_endpoint(ec);
  // SFTP is request/response: Nagle plus delayed ACKs would add 40 ms to small replies.
  socket.set_option(tcp::no_delay(true), ec);
  fd_ = socket.release(ec);
  if (ec) fd_ = -1;
}

Connection::~Connection() {
  release_unauthenticated();
  waiting_.clear();
  if (event_ != nullptr) {
    if (session_ != nullptr) ssh_event_remove_session(event_, session_);
    ssh_event_free(event_);
  }
  if (session_ != nullptr) ssh_free(session_);  // closes the socket libssh owns
  if (fd_ >= 0) ::close(fd_);                  // never handed over
}

void Connection::start() {
  asio::post(strand_, [self = shared_from_this()] { self->begin(); });
}

void Connection::stop() {
  asio::post(strand_, [self = shared_from_this()] { self->end("server shutting down", "Server shutting down"); });
}

void Connection::release_unauthenticated() {
  if (counted_unauthenticated_) {
    counted_unauthenticated_ = false;
    context_.unauthenticated.fetch_sub(1);
  }
}

void Connection::begin() {
  route_libssh_logs();
  log::info("session_start")
      .unum("session", id_)
      .str("protocol", "sftp")
      .str("client", peer_.address().to_string())
      .num("client_port", peer_.port());
  if (fd_ < 0) {
    end("socket unusable");
    return;
  }
  // libssh only writes after poll() said POLLOUT, but it writes its whole buffer: the socket
  // must not block the event loop.
  const int flags = ::fcntl(fd_, F_GETFL);
  const int copy = flags < 0 ? -1 : ::fcntl(fd_, F_DUPFD_CLOEXEC, 0);
  if (copy < 0 || ::fcntl(fd_, F_SETFL, flags | O_NONBLOCK) < 0) {
    if (copy >= 0) ::close(copy);
    end("cannot prepare the socket");
    return;
  }
  error_code ec;
  watch_.assign(copy, ec);
  if (ec) {
    ::close(copy);
    end("cannot watch the socket");
    return;
  }
  session_ = ssh_new();
  if (session_ == nullptr) {
    end("out of memory");
    return;
  }
  int rc = SSH_ERROR;
  std::string accept_error;
  {
    // (A host key reload may replace the bind as soon as the lock is released.)
    std::lock_guard lock(context_.bind_mutex);
    rc = ssh_bind_accept_fd(context_.bind, session_, fd_);
    if (rc != SSH_OK) accept_error = ssh_get_error(context_.bind);
  }
  if (ssh_get_fd(session_) == fd_) fd_ = -1;  // libssh owns it now, whatever rc says
  if (rc != SSH_OK) {
    end("ssh accept failed: " + accept_error);
    return;
  }
  ssh_set_blocking(session_, 0);
  // No compression: it costs CPU on fast links and puts zlib in front of untrusted bytes.
  if (ssh_options_set(session_, SSH_OPTIONS_COMPRESSION, "none") != SSH_OK) {
    end("cannot turn compression off");
    return;
  }
  ssh_set_auth_methods(session_, offered_methods());
  // Sends our identification and KEXINIT; the rest of the key exchange happens in the pump.
  if (ssh_handle_key_exchange(session_) == SSH_ERROR) {
    end(std::string("key exchange failed: ") + ssh_get_error(session_));
    return;
  }
  event_ = ssh_event_new();
  if (event_ == nullptr || ssh_event_add_session(event_, session_) != SSH_OK) {
    end("cannot create the libssh event");
    return;
  }
  watch_login_deadline();
  service();
}

// ---- the pump ---------------------------------------------------------------------------------

void Connection::schedule() {
  if (service_posted_ || ended_) return;
  service_posted_ = true;
  asio::post(strand_, [self = shared_from_this()] {
    self->service_posted_ = false;
    self->service();
  });
}

void Connection::arm_read() {
  if (read_armed_ || ended_) return;
  read_armed_ = true;
  watch_.async_wait(asio::posix::stream_descriptor::wait_read, [self = shared_from_this()](const error_code& ec) {
    self->read_armed_ = false;
    if (!ec && !self->ended_) self->service();
  });
}

void Connection::arm_write() {
  if (write_armed_ || ended_) return;
  write_armed_ = true;
  watch_.async_wait(asio::posix::stream_descriptor::wait_write, [self = shared_from_this()](const error_code& ec) {
    self->write_armed_ = false;
    if (!ec && !self->ended_) self->service();
  });
  // The wait only sees edges: if the socket drained between the last poll and this wait,
  // no edge may come. A level check closes that gap.
  pollfd check{watch_.native_handle(), POLLOUT, 0};
  if (::poll(&check, 1, 0) == 1 && (check.revents & POLLOUT) != 0) schedule();
}

bool Connection::pump(bool& more) {
  for (int i = 0; i < max_polls; ++i) {
    const int rc = ssh_event_dopoll(event_, 0);
    if (rc == SSH_ERROR) return false;
    if (rc == SSH_AGAIN) {
      return (ssh_get_status(session_) & (SSH_CLOSED | SSH_CLOSED_ERROR)) == 0;
    }
  }
  more = true;  // bytes may be left in the kernel with no new edge to announce them
  return (ssh_get_status(session_) & (SSH_CLOSED | SSH_CLOSED_ERROR)) == 0;
}

void Connection::service() {
  if (ended_ || session_ == nullptr || event_ == nullptr) return;
  route_libssh_logs();
  in_service_ = true;
  // Armed before pumping: bytes that arrive while we pump wake the next round.
  arm_read();
  bool more = false;
  for (int round = 0; round < max_rounds && !ended_; ++round) {
    if (!pump(more)) {
      in_service_ = false;
      const char* error = ssh_get_error(session_);
      end(error != nullptr && *error != '\0' ? std::string("connection closed: ") + error : "connection closed");
      return;
    }
    take_messages();
    bool progress = false;
    for (auto& channel : channels_) {
      if (ended_) break;
      progress = drain_input(channel) || progress;
      progress = flush_output(channel) || progress;
    }
    if (ended_) break;
    settle_channels();
    if (!progress) break;
    if (round + 1 == max_rounds) more = true;
  }
  in_service_ = false;
  if (ended_) return;
  if ((ssh_get_poll_flags(session_) & SSH_WRITE_PENDING) != 0) arm_write();
  if (more) schedule();
}

void Connection::take_messages() {
  while (!ended_) {
    ssh_message raw = ssh_message_get(session_);
    if (raw == nullptr) break;
    MessagePtr message(raw);
    if (auth_busy_) {
      // Answered in order once the check in flight is done.
      waiting_.push_back(std::move(message));
      if (waiting_.size() > max_waiting_messages) end("too many requests during authentication", "Too many requests");
      continue;
    }
    dispatch(std::move(message));
  }
}

void Connection::dispatch(MessagePtr message) {
  ssh_message m = message.get();
  switch (ssh_message_type(m)) {
    case SSH_REQUEST_SERVICE: {
      const char* service = ssh_message_service_service(m);
      if (service != nullptr && std::strcmp(service, "ssh-userauth") == 0) {
        ssh_message_service_reply_success(m);
      } else {
        end("unknown SSH service requested", "Service not available");
      }
      return;
    }
    case SSH_REQUEST_AUTH:
      if (user_) {
        ssh_message_reply_default(m);
      } else {
        auth_request(std::move(message));
      }
      return;
    case SSH_REQUEST_CHANNEL_OPEN:
      open_channel(std::move(message));
      return;
    case SSH_REQUEST_CHANNEL:
      channel_request(std::move(message));
      return;
    case SSH_REQUEST_GLOBAL:
      global_request(std::move(message));
      return;
    default:
      ssh_message_reply_default(m);
      return;
  }
}

void Connection::end(std::string_view reason, std::string_view client_message) {
  if (ended_) return;
  ended_ = true;
  route_libssh_logs();
  const auto duration = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started_);
  log::info("session_end")
      .unum("session", id_)
      .str("protocol", "sftp")
      .str("client", peer_.address().to_string())
      .str("user", user_ ? std::string_view(user_->name) : std::string_view())
      .str("reason", reason)
      .unum("bytes_in", bytes_in_)
      .unum("bytes_out", bytes_out_)
      .num("duration_ms", duration.count());
  login_timer_.cancel();
  idle_timer_.cancel();
  for (auto& channel : channels_) {
    if (channel.handle != nullptr) {
      ssh_remove_channel_callbacks(channel.handle, &channel.callbacks);
      channel.handle = nullptr;  // ssh_disconnect frees it
    }
    channel.pending.clear();
    channel.writing.clear();
    channel.written = 0;
    close_subsystem(channel);
  }
  waiting_.clear();
  if (session_ != nullptr) {
    if (!client_message.empty()) {
      const std::string text(client_message);
      ssh_session_set_disconnect_message(session_, text.c_str());
    }
    // Best effort: the DISCONNECT goes out if the socket takes it now; then libssh closes its fd.
    ssh_disconnect(session_);
  }
  error_code ignored;
  watch_.close(ignored);  // the last descriptor of the socket: the client sees the close now
  release_unauthenticated();
}

// ---- channels ---------------------------------------------------------------------------------

void Connection::open_channel(MessagePtr message) {
  ssh_message m = message.get();
  const int type = ssh_message_subtype(m);
  if (!user_) {
    ssh_message_reply_default(m);
    return;
  }
  if (type != SSH_CHANNEL_SESSION) {
    // SECURITY: no forwarding of any kind: filegate is a file server, not a network hop.
    log::warn("ssh_refused").unum("session", id_).str("user", user_->name).str("request", channel_type_name(type));
    ssh_message_reply_default(m);
    return;
  }
  if (channels_.size() >= context_.limits.max_ssh_channels) {
    log::warn("ssh_refused").unum("session", id_).str("user", user_->name).str("request", "session channel")
        .str("reason", "channel limit");
    ssh_message_reply_default(m);
    return;
  }
  ssh_channel handle = ssh_message_channel_request_open_reply_accept(m);
  if (handle == nullptr) {
    end("cannot open a channel");
    return;
  }
  auto& channel = channels_.emplace_back();
  channel.owner = this;
  channel.number = next_channel_++;
  channel.handle = handle;
  channel.callbacks.userdata = &channel;
  channel.callbacks.channel_data_function = &Connection::on_data;
  channel.callbacks.channel_eof_function = &Connection::on_eof;
  channel.callbacks.channel_close_function = &Connection::on_close;
  ssh_callbacks_init(&channel.callbacks);
  ssh_set_channel_callbacks(handle, &channel.callbacks);
}

void Connection::channel_request(MessagePtr message) {
  ssh_message m = message.get();
  Channel* channel = find(ssh_message_channel_request_channel(m));
  const int type = ssh_message_subtype(m);
  if (type == SSH_CHANNEL_REQUEST_SUBSYSTEM) {
    const char* name = ssh_message_channel_request_subsystem(m);
    if (channel != nullptr && name != nullptr && std::strcmp(name, "sftp") == 0 && !channel->subsystem &&
        !channel->closing) {
      ssh_message_channel_request_reply_success(m);
      start_subsystem(*channel);
      return;
    }
    log::warn("ssh_refused").unum("session", id_).str("user", user_ ? std::string_view(user_->name) : "")
        .str("request", "subsystem").str("subsystem", name != nullptr ? name : "");
    ssh_message_reply_default(m);
    return;
  }
  if (type == SSH_CHANNEL_REQUEST_ENV || type == SSH_CHANNEL_REQUEST_WINDOW_CHANGE) {
    // Clients send LANG and the like unasked; ignoring them is what sshd does without AcceptEnv.
    ssh_message_reply_default(m);
    return;
  }
  // SECURITY: only the sftp subsystem runs here: no shell, no commands, no terminal.
  log::warn("ssh_refused").unum("session", id_).str("user", user_ ? std::string_view(user_->name) : "")
      .str("request", channel_request_name(type));
  ssh_message_reply_default(m);
}

void Connection::global_request(MessagePtr message) {
  ssh_message m = message.get();
  if (ssh_message_subtype(m) == SSH_GLOBAL_REQUEST_TCPIP_FORWARD) {
    log::warn("ssh_refused").unum("session", id_).str("user", user_ ? std::string_view(user_->name) : "")
        .str("request", "port forwarding (tcpip-forward)");
  }
  ssh_message_reply_default(m);
}

Connection::Channel* Connection::find(ssh_channel handle) {
  if (handle == nullptr) return nullptr;
  for (auto& channel : channels_) {
    if (channel.handle == handle) return &channel;
  }
  return nullptr;
}

Connection::Channel* Connection::find(std::uint64_t number) {
  for (auto& channel : channels_) {
    if (channel.number == number) return &channel;
  }
  return nullptr;
}

void Connection::start_subsystem(Channel& channel) {
  const std::weak_ptr<Connection> weak = weak_from_this();
  const auto number = channel.number;
  Subsystem::Callbacks callbacks;
  callbacks.send = [weak, number](std::span<const std::byte> bytes) {
    if (auto self = weak.lock()) self->queue_output(number, bytes);
  };
  callbacks.fail = [weak, number](std::string_view reason) {
    auto self = weak.lock();
    if (!self) return;
    log::warn("sftp_protocol_error").unum("session", self->id_).str("reason", reason);
    // Closed from service(), not from inside the subsystem's own call.
    if (auto* ch = self->find(number)) ch->failed = true;
    self->schedule();
  };
  callbacks.resume = [weak] {
    if (auto self = weak.lock()) self->schedule();
  };
  callbacks.output_full = [weak, number] {
    auto self = weak.lock();
    const Channel* ch = self ? self->find(number) : nullptr;
    return ch != nullptr && self->output_full(*ch);
  };
  const SubsystemContext subsystem_context{strand_, context_.workers, context_.limits};
  channel.subsystem = make_subsystem(subsystem_context, fs_, user_->name, id_, std::move(callbacks));
  // Bytes the client sent right behind its request (the SFTP INIT) wait in libssh's buffer.
  channel.input_held = true;
  schedule();
}

bool Connection::output_full(const Channel& channel) const {
  // The output side of backpressure: at most one batch's worth of replies may wait here.
  return channel.queued() >= context_.limits.sftp_max_batch_reply;
}

bool Connection::can_feed(const Channel& channel) const {
  return channel.subsystem && !channel.closing && !channel.failed && channel.subsystem->accepting() &&
         !output_full(channel);
}

int Connection::on_data(ssh_session, ssh_channel, void* data, uint32_t length, int is_stderr, void* user) {
  auto& channel = *static_cast<Channel*>(user);
  Connection& self = *channel.owner;
  if (is_stderr != 0 || channel.closing || channel.failed) return static_cast<int>(length);  // nobody reads it
  if (!self.can_feed(channel)) {
    // Left in libssh's buffer, which keeps the client's window from growing: it stops sending.
    channel.input_held = true;
    return 0;
  }
  channel.input_held = false;
  self.bytes_in_ += length;
  self.touch();
  channel.subsystem->receive(std::span<const std::byte>(static_cast<const std::byte*>(data), length));
  return static_cast<int>(length);
}

void Connection::on_eof(ssh_session, ssh_channel, void* user) { static_cast<Channel*>(user)->eof = true; }

void Connection::on_close(ssh_session, ssh_channel, void* user) {
  auto& channel = *static_cast<Channel*>(user);
  channel.remote_closed = true;
  channel.eof = true;
}

bool Connection::drain_input(Channel& channel) {
  if (!channel.input_held || channel.handle == nullptr) return false;
  if (channel.closing || channel.remote_closed) {
    channel.input_held = false;
    return false;
  }
  bool progress = false;
  while (!ended_ && channel.handle != nullptr && can_feed(channel)) {
    if (scratch_.size() < scratch_size) scratch_.resize(scratch_size);
    const int n = ssh_channel_read_nonblocking(channel.handle, scratch_.data(),
                                               static_cast<uint32_t>(scratch_.size()), 0);
    if (n <= 0) {
      channel.input_held = false;  // empty (or EOF): new bytes come through on_data
      break;
    }
    bytes_in_ += static_cast<std::uint64_t>(n);
    touch();
    channel.subsystem->receive(std::span<const std::byte>(scratch_.data(), static_cast<std::size_t>(n)));
    progress = true;
  }
  return progress;
}

void Connection::queue_output(std::uint64_t number, std::span<const std::byte> bytes) {
  Channel* channel = find(number);
  if (channel == nullptr || channel->handle == nullptr || channel->remote_closed || ended_) return;
  channel->pending.insert(channel->pending.end(), bytes.begin(), bytes.end());
  if (!in_service_) schedule();
}

bool Connection::flush_output(Channel& channel) {
  if (channel.handle == nullptr || channel.remote_closed) {
    channel.pending.clear();
    channel.writing.clear();
    channel.written = 0;
    return false;
  }
  bool progress = false;
  for (;;) {
    if (channel.written == channel.writing.size()) {
      channel.writing.clear();
      channel.written = 0;
      if (channel.pending.empty()) break;
      // `writing` is what libssh reads from; callbacks run inside ssh_channel_write only ever
      // append to `pending`, so the bytes under libssh's feet never move.
      std::swap(channel.writing, channel.pending);
    }
    // libssh's output buffer still holds the last write: let the pump send it first, so
    // that buffer stays at about one write.
    if ((ssh_get_poll_flags(session_) & SSH_WRITE_PENDING) != 0) break;
    const std::uint32_t window = ssh_channel_window_size(channel.handle);
    if (window == 0) break;  // the client's window adjustment arrives through the pump
    const std::size_t n = std::min({channel.writing.size() - channel.written, std::size_t{window}, max_write});
    const int rc = ssh_channel_write(channel.handle, channel.writing.data() + channel.written,
                                     static_cast<uint32_t>(n));
    if (rc == SSH_ERROR) {
      log::debug("ssh_channel_write_failed").unum("session", id_).str("error", ssh_get_error(session_));
      channel.pending.clear();
      channel.writing.clear();
      channel.written = 0;
      channel.failed = true;
      break;
    }
    if (rc <= 0) break;  // a key re-exchange is running
    channel.written += static_cast<std::size_t>(rc);
    bytes_out_ += static_cast<std::uint64_t>(rc);
    touch();
    progress = true;
  }
  if (progress && channel.subsystem && !channel.closing && !output_full(channel)) {
    channel.subsystem->output_drained();
  }
  return progress;
}

void Connection::close_subsystem(Channel& channel) {
  if (channel.closing) return;
  channel.closing = true;
  channel.input_held = false;
  if (!channel.subsystem) {
    channel.finished = true;
    return;
  }
  // The subsystem closes its handles on a worker and then calls back. This connection stays
  // alive until then; the reset happens from a fresh handler, not inside the subsystem's call.
  auto self = shared_from_this();
  const auto number = channel.number;
  channel.subsystem->close([self, number] {
    asio::post(self->strand_, [self, number] {
      if (auto* ch = self->find(number)) {
        ch->finished = true;
        ch->subsystem.reset();
      }
      self->schedule();
    });
  });
}

void Connection::settle_channels() {
  for (auto it = channels_.begin(); it != channels_.end();) {
    Channel& channel = *it;
    if (!channel.closing && (channel.failed || channel.remote_closed || (channel.eof && !channel.input_held))) {
      close_subsystem(channel);
    }
    if (channel.finished && (channel.queued() == 0 || channel.remote_closed || channel.handle == nullptr)) {
      if (channel.handle != nullptr) {
        ssh_remove_channel_callbacks(channel.handle, &channel.callbacks);
        if (!channel.remote_closed) {
          // As sshd does when sftp-server exits: ssh (and so scp, which runs SFTP through
          // it) exits with this status.
          ssh_channel_send_eof(channel.handle);
          ssh_channel_request_send_exit_status(channel.handle, channel.failed ? 1 : 0);
        }
        ssh_channel_free(channel.handle);  // sends CLOSE; libssh frees it when the client's arrives
        channel.handle = nullptr;
      }
      it = channels_.erase(it);
      continue;
    }
    ++it;
  }
}

}  // namespace filegate::sftp
