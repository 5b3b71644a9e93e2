// One SSH connection: libssh driven without blocking from the Asio event loop, the login, and
// the SFTP channels. Internal to the SSH transport (ssh_server.cpp creates these).
//
// Concurrency: everything here runs on the connection's strand; every member is guarded by
// it. libssh never runs anywhere else for this session. Password hashing and opening the
// home run on the worker pool (core::offload) and resume on the strand.
//
// The pump. libssh owns the socket's file descriptor; Asio watches a dup of it. When the dup
// is readable (or writable while libssh has output queued) service() runs: it calls
// ssh_event_dopoll(ev, 0) until nothing is ready (libssh reads 4 KiB per call and Asio's epoll
// is edge-triggered, so stopping early could strand bytes in the kernel), answers the messages
// libssh queued, moves channel data both ways, and re-arms the waits. The read wait is armed
// before the pumping starts, so bytes that arrive meanwhile wake it.
//
// Flow control. Input: the data callback hands bytes to the SFTP subsystem only while it is
// accepting and this channel's queued output is under its cap; otherwise it leaves them in
// libssh's channel buffer, which then stops growing the client's window, so the client stops
// sending (like OpenSSH's sftp-server, which stops reading while its output is backed up).
// Output: the subsystem's replies are queued here and written within the client's window, at
// most 1 MiB per write and only while libssh's own output buffer is empty; the rest waits for
// a window adjustment or for the socket to drain. While a channel's queued output is over its
// cap the subsystem starts no new batch either (output_full / output_drained), so requests it
// took earlier cannot pile their replies up here.
//
// The local (receive) window is libssh 0.10's: 32000 bytes when a channel is accepted, then
// topped up to 1,280,000 bytes whenever window plus unconsumed bytes fall under 640,000. Since
// the data callback consumes at once, a client always has 0.64 to 1.28 MB in flight, far above
// loopback's bandwidth-delay product: growing it further (reading through
// ssh_channel_read_timeout with a larger count, which raises the window) measured no faster.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <libssh/server.h>

#include "auth/authorized_fs.hpp"
#include "auth/realm.hpp"
#include "core/asio.hpp"
#include "core/limits.hpp"
#include "core/listener.hpp"
#include "sftp/ssh_server.hpp"
#include "sftp/ssh_settings.hpp"
#include "sftp/subsystem.hpp"

namespace filegate::sftp {

// What every connection of one SSH server shares. Outlives every connection.
struct ServerContext {
  ServerContext(const Settings& s, const core::Limits& l, std::function<std::shared_ptr<const auth::Realm>()> r,
                asio::thread_pool& w, HomeOpener o)
      : settings(s), limits(l), realm(std::move(r)), workers(w), open_home(std::move(o)) {}

  const Settings& settings;
  const core::Limits& limits;
  std::function<std::shared_ptr<const auth::Realm>()> realm;
  asio::thread_pool& workers;
  HomeOpener open_home;
  // Configured at start-up and replaced by a host key reload; ssh_bind_accept_fd copies its
  // options and keys into each session.
  ssh_bind bind = nullptr;
  // Guards `bind`: ssh_bind_accept_fd may mutate it (lazy config parsing), and a reload swaps it.
  std::mutex bind_mutex;
  // Connections admitted and not logged in yet (limits.max_unauthenticated).
  std::atomic<std::size_t> unauthenticated{0};
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(ServerContext& context, tcp::socket socket, core::ConnectionLimiter::Slot slot,
             std::uint64_t id, Executor strand);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void start();
  // Ends the connection from outside (shutdown). Safe from any thread.
  void stop();

 private:
  struct MessageDeleter {
    void operator()(ssh_message m) const { ssh_message_free(m); }
  };
  using MessagePtr = std::unique_ptr<ssh_message_struct, MessageDeleter>;

  // One SSH session channel. Lives in a std::list: libssh holds a pointer to `callbacks`.
  struct Channel {
    Connection* owner = nullptr;
    std::uint64_t number = 0;        // stable name for the subsystem's callbacks
    ssh_channel handle = nullptr;    // null once freed
    ssh_channel_callbacks_struct callbacks{};
    std::shared_ptr<Subsystem> subsystem;
    std::vector<std::byte> pending;  // replies queued by the subsystem
    std::vector<std::byte> writing;  // being written; never touched by callbacks
    std::size_t written = 0;         // bytes of `writing` already written
    bool input_held = false;         // the data callback left bytes in libssh's buffer
    bool eof = false;                // the client sent EOF
    bool failed = false;             // the subsystem reported a protocol error
    bool remote_closed = false;      // the client closed the channel
    bool closing = false;            // subsystem->close() was called
    bool finished = false;           // the subsystem is done (or never started)
    std::size_t queued() const { return pending.size() + (writing.size() - written); }
  };

  // ---- the pump (ssh_connection.cpp)
  void begin();
  void service();
  void schedule();
  // ssh_event_dopoll until nothing is ready; false when the session is over. Sets `more` if it
  // stopped at its round limit with input still waiting.
  bool pump(bool& more);
  void arm_read();
  void arm_write();
  void take_messages();
  void dispatch(MessagePtr message);
  void end(std::string_view reason, std::string_view client_message = {});
  void release_unauthenticated();

  // ---- channels (ssh_connection.cpp)
  void open_channel(MessagePtr message);
  void channel_request(MessagePtr message);
  void global_request(MessagePtr message);
  Channel* find(ssh_channel handle);
  Channel* find(std::uint64_t number);
  void start_subsystem(Channel& channel);
  // The channel's queued replies are at their cap (one batch's worth): it takes no requests
  // and its subsystem starts no batch until they drain.
  bool output_full(const Channel& channel) const;
  bool can_feed(const Channel& channel) const;
  bool drain_input(Channel& channel);
  bool flush_output(Channel& channel);
  void close_subsystem(Channel& channel);
  // Frees channels whose subsystem finished and whose output is out (or that the client closed).
  void settle_channels();
  void queue_output(std::uint64_t number, std::span<const std::byte> bytes);
  void touch() { last_activity_ = std::chrono::steady_clock::now(); }

  static int on_data(ssh_session session, ssh_channel channel, void* data, uint32_t length, int is_stderr,
                     void* user);
  static void on_eof(ssh_session session, ssh_channel channel, void* user);
  static void on_close(ssh_session session, ssh_channel channel, void* user);

  // ---- login (ssh_auth.cpp)
  void auth_request(MessagePtr message);
  void publickey(MessagePtr message, const std::string& name);
  void keyboard_interactive(MessagePtr message, const std::string& name);
  awaitable<void> check_password(MessagePtr message, std::string name, std::string password, std::string method);
  awaitable<void> login_with_key(MessagePtr message, std::shared_ptr<const auth::User> user, std::string key);
  awaitable<void> refuse(MessagePtr message, std::string name, std::string method, std::string reason);
  // A login whose user already has its maximum of sessions: logged, then the connection ends
  // with a disconnect message that says so.
  void refuse_session(const std::string& name, const std::string& method, error_code why);
  // The "login" line of a refused login; `failures` when it counts as a login failure.
  void log_failed_login(std::string_view name, std::string_view method, std::string_view reason,
                        std::optional<unsigned> failures);
  void complete_login(MessagePtr message, std::shared_ptr<const auth::User> user,
                      std::shared_ptr<vfs::Filesystem> home, std::string_view method, std::string_view key);
  void reply_failure(MessagePtr message, bool partial = false);
  int offered_methods() const;
  void auth_done();
  void watch_login_deadline();
  void watch_idle();

  ServerContext& context_;
  core::ConnectionLimiter::Slot slot_;
  const std::uint64_t id_;
  Executor strand_;
  tcp::endpoint peer_;
  int fd_ = -1;                               // owned by libssh once handed over
  asio::posix::stream_descriptor watch_;      // a dup of fd_, for readiness only
  ssh_session session_ = nullptr;
  ssh_event event_ = nullptr;
  bool counted_unauthenticated_ = true;
  std::chrono::steady_clock::time_point started_;
  std::chrono::steady_clock::time_point last_activity_;

  bool read_armed_ = false;
  bool write_armed_ = false;
  bool service_posted_ = false;
  bool in_service_ = false;
  bool ended_ = false;

  // Login state.
  bool auth_busy_ = false;               // a check (hashing, delay, home) is in flight
  std::deque<MessagePtr> waiting_;       // messages that arrived meanwhile, answered in order
  unsigned failures_ = 0;
  unsigned key_offers_ = 0;
  bool none_seen_ = false;
  std::string partial_user_;             // verified a key; the password is still due
  std::string kbdint_user_;              // the account a keyboard-interactive prompt is for
  std::shared_ptr<const auth::User> user_;
  std::shared_ptr<auth::AuthorizedFilesystem> fs_;
  asio::steady_timer login_timer_;
  asio::steady_timer idle_timer_;

  // Channels.
  std::list<Channel> channels_;
  std::uint64_t next_channel_ = 1;
  std::vector<std::byte> scratch_;       // drain_input's read buffer

  std::uint64_t bytes_in_ = 0;
  std::uint64_t bytes_out_ = 0;
};

}  // namespace filegate::sftp
