// One FTP control connection: the RFC 959 state machine.
//
// Concurrency: everything here runs on the session's strand. Three coroutines share the state:
//   reader    reads control lines (bounded), queues them, and handles ABOR/STAT/QUIT at once
//             while a transfer runs;
//   commands  executes queued commands in order (a transfer command runs to completion here);
//   watchdog  enforces the login and idle deadlines.
// Disk work and password hashing go to the worker pool (core::offload) and resume here.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "auth/authorized_fs.hpp"
#include "auth/realm.hpp"
#include "core/asio.hpp"
#include "core/byte_stream.hpp"
#include "core/limits.hpp"
#include "core/offload.hpp"
#include "core/tls.hpp"
#include "core/line_reader.hpp"
#include "core/listener.hpp"
#include "ftp/data_channel.hpp"
#include "ftp/error_map.hpp"
#include "ftp/listing.hpp"
#include "ftp/reply.hpp"
#include "ftp/settings.hpp"
#include "vfs/filesystem.hpp"

namespace filegate::ftp {

// Opens the filesystem behind a user's home (the local backend in production, fakes in tests).
using HomeOpener = std::function<Result<std::shared_ptr<vfs::Filesystem>>(const auth::User&)>;

// What all sessions of one front-end share. Outlives every session.
struct SessionContext {
  const Settings& settings;
  const core::Limits& limits;
  std::function<std::shared_ptr<const auth::Realm>()> realm;
  asio::thread_pool& workers;
  HomeOpener open_home;
  // FTPS: nullptr when ftp.tls is not configured (AUTH, PBSZ and PROT then answer 502).
  std::shared_ptr<core::TlsServer> tls;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(SessionContext& context, const ListenerSettings& listener,
          std::unique_ptr<core::ByteStream> control, core::ConnectionLimiter::Slot slot,
          std::uint64_t id, Executor strand);
  ~Session();

  void start();
  // Ends the session from outside (shutdown). Safe from any thread.
  void stop();

  enum class Arg { none, required, optional };
  struct CommandSpec {
    std::string_view verb;
    awaitable<void> (Session::*handler)(const std::string&);
    bool login_required;
    Arg arg;
    std::string_view feature;  // FEAT line, if the command is an extension
    std::string_view syntax;   // HELP text
    bool tls_only = false;     // offered only when TLS is configured
  };

 private:
  // The command table (session.cpp). FEAT and HELP are generated from it.
  static std::span<const CommandSpec> commands();
  static const CommandSpec* find_command(std::string_view verb);

  // A one-shot wake-up for a coroutine waiting on this strand.
  class Event {
   public:
    explicit Event(const Executor& executor);
    void notify();
    awaitable<void> wait();

   private:
    asio::steady_timer timer_;
  };

  struct QueuedLine {
    core::LineReader::Status status;
    std::string text;
  };

  enum class TransferKind { download, upload, append, unique_upload };

  class TransferScope {
   public:
    explicit TransferScope(Session& session);
    ~TransferScope();
    TransferScope(const TransferScope&) = delete;
    TransferScope& operator=(const TransferScope&) = delete;

   private:
    Session& session_;
  };

  awaitable<void> run();
  awaitable<void> reader_loop();
  awaitable<void> watchdog();
  awaitable<void> command_loop();
  awaitable<void> on_line(core::LineReader::Line line);
  awaitable<void> execute(QueuedLine line);
  awaitable<void> handle_urgent(const std::string& verb);
  void close();

  awaitable<void> send(std::string text);
  awaitable<void> reply(int code, std::string_view text);
  awaitable<void> reply(Reply r);
  // The session's last reply (221, 421), then the end of the control connection: TLS
  // close_notify and FIN, within farewell_grace however slowly the client reads; then close().
  awaitable<void> farewell(int code, std::string_view text);
  awaitable<void> reply_multi(int code, std::string_view first, const std::vector<std::string>& body,
                              std::string_view last);

  template <class Function>
  auto offload(Function function) {
    return core::offload(context_.workers, std::move(function));
  }

  // Runs a filesystem operation (a [&] lambda returning Result<void>) on the worker pool;
  // on failure replies with the mapped error and returns false.
  template <class Operation>
  awaitable<bool> fs_call(Operation operation) {
    auto result = co_await offload(operation);
    if (!result) {
      co_await reply(reply_for(result.error()));
      co_return false;
    }
    co_return true;
  }

  // Resolves a client path against the cwd; replies and returns nullopt when it is invalid.
  awaitable<std::optional<vfs::Path>> resolve(std::string_view argument);
  auth::Protocol protocol() const;
  bool logged_in() const { return fs_ != nullptr; }
  void log_out();

  // Data connection, 150, the transfer itself, 226/426/4xx, the transfer log line. For uploads
  // the file is opened only once the data connection is up; `open` may update `path` (STOU).
  // With `staged`, the upload went to that temporary name and is published on success.
  // `open` runs on the worker pool; passed by reference (see core/offload.hpp on temporaries
  // in co_await expressions).
  awaitable<void> run_transfer(TransferKind kind, vfs::Path& path, FileOpener& open,
                               std::uint64_t offset, const std::optional<vfs::Path>& staged);
  Result<vfs::Attributes> stat_listed(const vfs::Path& path) const;
  awaitable<void> send_listing(std::string text, std::string_view what);
  // Before any transfer: a PASV/PORT set-up exists and the data policy allows it (425 / 521).
  awaitable<bool> data_channel_ready();
  awaitable<bool> control_alive();
  // The listing of `path`, which the client typed as `typed`. For LIST, NLST and STAT (not
  // MLSD) a last component that does not exist but holds wildcards is a pattern: the matching
  // entries of its directory, named as typed ("d/*.csv" gives "d/a.csv"), as `ls` prints them.
  // MLSD (`machine`) takes a directory only.
  Result<std::string> build_listing(vfs::Path path, std::string_view typed, bool names_only, bool machine) const;

  // Command handlers (see the table in session.cpp).
  awaitable<void> cmd_user(const std::string& arg);
  awaitable<void> cmd_pass(const std::string& arg);
  awaitable<void> cmd_quit(const std::string& arg);
  awaitable<void> cmd_rein(const std::string& arg);
  awaitable<void> cmd_noop(const std::string& arg);
  awaitable<void> cmd_syst(const std::string& arg);
  awaitable<void> cmd_feat(const std::string& arg);
  awaitable<void> cmd_opts(const std::string& arg);
  awaitable<void> cmd_help(const std::string& arg);
  awaitable<void> cmd_stat(const std::string& arg);
  awaitable<void> cmd_pwd(const std::string& arg);
  awaitable<void> cmd_cwd(const std::string& arg);
  awaitable<void> cmd_cdup(const std::string& arg);
  awaitable<void> cmd_mkd(const std::string& arg);
  awaitable<void> cmd_rmd(const std::string& arg);
  awaitable<void> cmd_dele(const std::string& arg);
  awaitable<void> cmd_rnfr(const std::string& arg);
  awaitable<void> cmd_rnto(const std::string& arg);
  awaitable<void> cmd_size(const std::string& arg);
  awaitable<void> cmd_mdtm(const std::string& arg);
  awaitable<void> cmd_mfmt(const std::string& arg);
  awaitable<void> cmd_type(const std::string& arg);
  awaitable<void> cmd_mode(const std::string& arg);
  awaitable<void> cmd_stru(const std::string& arg);
  awaitable<void> cmd_allo(const std::string& arg);
  awaitable<void> cmd_pasv(const std::string& arg);
  awaitable<void> cmd_epsv(const std::string& arg);
  awaitable<void> cmd_port(const std::string& arg);
  awaitable<void> cmd_eprt(const std::string& arg);
  awaitable<void> cmd_rest(const std::string& arg);
  awaitable<void> cmd_retr(const std::string& arg);
  awaitable<void> cmd_stor(const std::string& arg);
  awaitable<void> cmd_stou(const std::string& arg);
  awaitable<void> cmd_appe(const std::string& arg);
  awaitable<void> cmd_abor(const std::string& arg);
  awaitable<void> cmd_list(const std::string& arg);
  awaitable<void> cmd_nlst(const std::string& arg);
  awaitable<void> cmd_mlsd(const std::string& arg);
  awaitable<void> cmd_mlst(const std::string& arg);
  awaitable<void> cmd_site(const std::string& arg);
  awaitable<void> cmd_host(const std::string& arg);
  awaitable<void> cmd_not_implemented(const std::string& arg);
  awaitable<void> cmd_auth(const std::string& arg);
  awaitable<void> cmd_pbsz(const std::string& arg);
  awaitable<void> cmd_prot(const std::string& arg);
  awaitable<void> cmd_ccc(const std::string& arg);

  // FTPS policy: the user's override, else the listener's, else the front-end's.
  bool control_tls_required(const auth::User* user) const;
  bool data_tls_required() const;
  bool session_reuse_required() const;
  bool ccc_allowed() const;
  // A login whose user already has limits.max_sessions_per_user (or users[].max_sessions).
  awaitable<void> refuse_session(const std::string& name, error_code why);
  // The "login" line of a refused login; `failures` when it counts as a login failure.
  void log_failed_login(std::string_view name, std::string_view reason, std::optional<unsigned> failures);
  // True when the control connection presented a verified client certificate naming `user`.
  bool certificate_identifies(const auth::User& user) const;
  // The end of every successful login: the checked view of the home, the log line, the reply.
  awaitable<void> complete_login(std::shared_ptr<const auth::User> user,
                                 std::shared_ptr<vfs::Filesystem> home, std::string_view method);
  // Replaces the control stream with a TLS one (AUTH TLS, implicit listeners); false: the
  // handshake failed and the session is over.
  awaitable<bool> secure_control();
  // TLS on an established data connection (PROT P), bound to this control connection's session.
  // A null `plain` (from connect_data) means the early handshake's result, awaited with the
  // data-connection deadline. `first` (may be null): a download's head for the handshake to
  // send (core::FirstFlight).
  awaitable<Result<std::unique_ptr<core::ByteStream>>> protect_data_connection(
      std::unique_ptr<core::ByteStream> plain, core::FirstFlight* first = nullptr);

  // The data connection of a transfer or listing, before its 150: accepted on demand, or the
  // early one (then a null stream: its handshake holds it; protect_data_connection finishes it).
  awaitable<Result<std::unique_ptr<core::ByteStream>>> connect_data();
  // PASV/EPSV with PROT P: accept the client's data connection as soon as it arrives and run
  // its TLS handshake at once, instead of when the transfer command comes. Clients such as curl
  // and Go's jlaffaye/ftp start TLS the moment they connect; curl meanwhile sends TYPE and SIZE
  // and reads their replies only every 0.2-1 s until its handshake completes, and a client that
  // handshakes before sending the command would otherwise wait for a server waiting for it.
  struct EarlyData;  // session.cpp
  void start_early_data();
  awaitable<void> run_early_data(std::shared_ptr<EarlyData> early);
  // Cancels the early connection's accept or handshake (a new PASV/PORT, PROT, ABOR, REIN, an
  // error before 150, the end of the session).
  void drop_early_data();
  // After 150: the early handshake's result, waited for with the data-connection deadline.
  awaitable<Result<std::unique_ptr<core::ByteStream>>> finish_early_data(core::FirstFlight* first);
  // Until `event` (an early connection's step) or the data-connection deadline, whichever first.
  awaitable<void> wait_for_data_connection(Event& event);
  void reset_data() {
    data_.reset();
    drop_early_data();
  }

  awaitable<void> start_upload(TransferKind kind, const std::string& arg);
  awaitable<void> set_active(std::optional<tcp::endpoint> target);
  // PASV/EPSV: a passive listener on the control connection's address; replies on failure.
  awaitable<std::optional<unsigned short>> open_passive();
  awaitable<void> list_command(const std::string& arg, bool names_only, bool machine);

  SessionContext& context_;
  const ListenerSettings& listener_;
  std::unique_ptr<core::ByteStream> control_;
  core::ConnectionLimiter::Slot slot_;
  const std::uint64_t id_;
  Executor executor_;
  tcp::endpoint peer_;
  tcp::endpoint local_;
  std::chrono::steady_clock::time_point started_;
  std::chrono::steady_clock::time_point last_activity_;

  // Control input and output.
  core::LineReader reader_;
  std::string input_;          // bytes read but not yet framed into a line
  // At most max_queued_commands lines; a vector allocates nothing while idle (a deque would).
  std::vector<QueuedLine> queue_;
  Event command_ready_;  // the command loop's: a line was queued, or the session closed
  // The reader's, for everything it waits on (room in the queue, the end of AUTH, the end of
  // a transfer it is aborting); it re-checks its condition after each wake-up.
  Event reader_wake_;
  asio::steady_timer watchdog_timer_;
  std::string output_;
  bool writing_ = false;
  bool closed_ = false;
  bool reader_paused_ = false;

  // Login state.
  std::optional<std::string> pending_user_;
  std::shared_ptr<const auth::User> user_;
  std::shared_ptr<auth::AuthorizedFilesystem> fs_;
  unsigned login_failures_ = 0;
  // The control connection went TLS (it stays set after CCC, when control_ is no longer secure).
  bool secured_ = false;
  bool pbsz_ = false;          // PBSZ 0 received on a protected control connection
  bool prot_private_ = false;  // PROT P: data connections are TLS-protected

  // Command state.
  vfs::Path cwd_;
  bool ascii_ = false;
  std::uint64_t rest_offset_ = 0;
  std::optional<vfs::Path> rename_from_;
  bool epsv_all_ = false;
  FactSet facts_;
  DataChannel data_;
  std::shared_ptr<EarlyData> early_data_;  // see start_early_data
  TransferControl transfer_;
  bool transfer_active_ = false;

  // Totals for the session_end log line.
  std::uint64_t bytes_in_ = 0;
  std::uint64_t bytes_out_ = 0;
};

}  // namespace filegate::ftp
