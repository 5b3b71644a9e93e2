#include "ftp/session.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <random>
#include <span>

#include "core/log.hpp"
#include "core/offload.hpp"
#include "ftp/address.hpp"
#include "ftp/command.hpp"
#include "ftp/error_map.hpp"
#include "vfs/errors.hpp"

namespace filegate::ftp {

namespace log = core::log;
using auth::Permission;
using Clock = std::chrono::steady_clock;

namespace {

// Commands are answered in order; while a transfer runs only these are acted on at once
// (RFC 959 section 4.1.3), everything else waits for the transfer to end.
bool is_urgent(std::string_view verb) { return verb == "ABOR" || verb == "STAT" || verb == "QUIT"; }

// How many received commands may wait while one executes; past that the reader stops
// reading (backpressure) until the queue drains.
constexpr std::size_t max_queued_commands = 16;
// Replies a client has not read are buffered up to this much; a further reply ends the session.
constexpr std::size_t max_pending_output = 256 * 1024;
// How long the last reply and the end of the connection may take with a client that does not
// read; then the connection is dropped.
constexpr std::chrono::seconds farewell_grace{10};
constexpr std::string_view staging_prefix = ".filegate-upload-";

std::string random_hex(std::size_t bytes) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < bytes; ++i) {
    const auto v = static_cast<unsigned>(rng() & 0xFF);
    out.push_back(digits[v >> 4]);
    out.push_back(digits[v & 0xF]);
  }
  return out;
}

// LIST/NLST arguments may start with ls options ("-la"); they are accepted and ignored.
std::string_view strip_list_options(std::string_view arg) {
  while (!arg.empty() && arg.front() == '-') {
    const auto space = arg.find(' ');
    if (space == std::string_view::npos) return {};
    arg.remove_prefix(space + 1);
    while (!arg.empty() && arg.front() == ' ') arg.remove_prefix(1);
  }
  return arg;
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

// The command table: verb, handler, login required, argument, FEAT line, HELP syntax.
// FEAT and HELP are generated from it, so they list exactly what is implemented.
std::span<const Session::CommandSpec> Session::commands() {
  static constexpr CommandSpec table[] = {
    {"USER", &Session::cmd_user, false, Arg::required, "", "USER <name>"},
    {"PASS", &Session::cmd_pass, false, Arg::optional, "", "PASS <password>"},
    {"QUIT", &Session::cmd_quit, false, Arg::none, "", "QUIT"},
    {"REIN", &Session::cmd_rein, false, Arg::none, "", "REIN"},
    {"NOOP", &Session::cmd_noop, false, Arg::none, "", "NOOP"},
    {"SYST", &Session::cmd_syst, false, Arg::none, "", "SYST"},
    {"FEAT", &Session::cmd_feat, false, Arg::none, "", "FEAT"},
    {"OPTS", &Session::cmd_opts, false, Arg::required, "UTF8", "OPTS UTF8 ON | OPTS MLST <facts>"},
    {"HELP", &Session::cmd_help, false, Arg::optional, "", "HELP [<command>]"},
    {"HOST", &Session::cmd_host, false, Arg::required, "HOST", "HOST <host-name>"},
    {"STAT", &Session::cmd_stat, true, Arg::optional, "", "STAT [<path>]"},
    {"PWD", &Session::cmd_pwd, true, Arg::none, "", "PWD"},
    {"XPWD", &Session::cmd_pwd, true, Arg::none, "", "XPWD"},
    {"CWD", &Session::cmd_cwd, true, Arg::required, "", "CWD <path>"},
    {"XCWD", &Session::cmd_cwd, true, Arg::required, "", "XCWD <path>"},
    {"CDUP", &Session::cmd_cdup, true, Arg::none, "", "CDUP"},
    {"XCUP", &Session::cmd_cdup, true, Arg::none, "", "XCUP"},
    {"MKD", &Session::cmd_mkd, true, Arg::required, "", "MKD <path>"},
    {"XMKD", &Session::cmd_mkd, true, Arg::required, "", "XMKD <path>"},
    {"RMD", &Session::cmd_rmd, true, Arg::required, "", "RMD <path>"},
    {"XRMD", &Session::cmd_rmd, true, Arg::required, "", "XRMD <path>"},
    {"DELE", &Session::cmd_dele, true, Arg::required, "", "DELE <path>"},
    {"RNFR", &Session::cmd_rnfr, true, Arg::required, "", "RNFR <path>"},
    {"RNTO", &Session::cmd_rnto, true, Arg::required, "", "RNTO <path>"},
    {"SIZE", &Session::cmd_size, true, Arg::required, "SIZE", "SIZE <path>"},
    {"MDTM", &Session::cmd_mdtm, true, Arg::required, "MDTM", "MDTM <path>"},
    {"MFMT", &Session::cmd_mfmt, true, Arg::required, "MFMT", "MFMT <YYYYMMDDHHMMSS> <path>"},
    {"TYPE", &Session::cmd_type, true, Arg::required, "", "TYPE A | I | L 8"},
    {"MODE", &Session::cmd_mode, true, Arg::required, "", "MODE S"},
    {"STRU", &Session::cmd_stru, true, Arg::required, "", "STRU F"},
    {"ALLO", &Session::cmd_allo, true, Arg::optional, "", "ALLO <bytes>"},
    {"PASV", &Session::cmd_pasv, true, Arg::none, "PASV", "PASV"},
    {"EPSV", &Session::cmd_epsv, true, Arg::optional, "EPSV", "EPSV [1 | 2 | ALL]"},
    {"PORT", &Session::cmd_port, true, Arg::required, "", "PORT h1,h2,h3,h4,p1,p2"},
    {"EPRT", &Session::cmd_eprt, true, Arg::required, "EPRT", "EPRT |<af>|<address>|<port>|"},
    {"REST", &Session::cmd_rest, true, Arg::required, "REST STREAM", "REST <offset>"},
    {"RETR", &Session::cmd_retr, true, Arg::required, "", "RETR <path>"},
    {"STOR", &Session::cmd_stor, true, Arg::required, "", "STOR <path>"},
    {"STOU", &Session::cmd_stou, true, Arg::optional, "", "STOU [<name>]"},
    {"APPE", &Session::cmd_appe, true, Arg::required, "", "APPE <path>"},
    {"ABOR", &Session::cmd_abor, true, Arg::none, "", "ABOR"},
    {"LIST", &Session::cmd_list, true, Arg::optional, "", "LIST [<path>]"},
    {"NLST", &Session::cmd_nlst, true, Arg::optional, "", "NLST [<path>]"},
    {"MLSD", &Session::cmd_mlsd, true, Arg::optional, "", "MLSD [<path>]"},
    {"MLST", &Session::cmd_mlst, true, Arg::optional, "MLST", "MLST [<path>]"},
    {"SITE", &Session::cmd_site, true, Arg::required, "", "SITE CHMOD <mode> <path> | SITE HELP"},
    // Recognised but not offered: 502 (RFC 959). The TLS commands answer 502 as well when
    // TLS is not configured.
    {"ACCT", &Session::cmd_not_implemented, false, Arg::optional, "", "ACCT (not implemented)"},
    {"SMNT", &Session::cmd_not_implemented, false, Arg::optional, "", "SMNT (not implemented)"},
    {"AUTH", &Session::cmd_auth, false, Arg::required, "AUTH TLS", "AUTH TLS", true},
    {"PBSZ", &Session::cmd_pbsz, false, Arg::required, "PBSZ", "PBSZ 0", true},
    {"PROT", &Session::cmd_prot, false, Arg::required, "PROT", "PROT P | C", true},
    {"CCC", &Session::cmd_ccc, false, Arg::none, "", "CCC", true},
  };
  return table;
}

const Session::CommandSpec* Session::find_command(std::string_view verb) {
  for (const auto& spec : commands()) {
    if (spec.verb == verb) return &spec;
  }
  return nullptr;
}

// --- Event -------------------------------------------------------------------------------

// The timer never expires; notify() cancels whatever wait is pending. Each Event has a single
// waiter, which re-checks its condition after every wake-up.
Session::Event::Event(const Executor& executor) : timer_(executor, asio::steady_timer::time_point::max()) {}

void Session::Event::notify() { timer_.cancel(); }

awaitable<void> Session::Event::wait() { co_await timer_.async_wait(as_tuple_awaitable); }

// --- Lifetime ----------------------------------------------------------------------------

Session::Session(SessionContext& context, const ListenerSettings& listener,
                 std::unique_ptr<core::ByteStream> control, core::ConnectionLimiter::Slot slot,
                 std::uint64_t id, Executor strand)
    : context_(context),
      listener_(listener),
      control_(std::move(control)),
      slot_(std::move(slot)),
      id_(id),
      executor_(std::move(strand)),
      peer_(control_->remote_endpoint()),
      local_(control_->local_endpoint()),
      started_(Clock::now()),
      last_activity_(started_),
      reader_(context.limits.max_command_line),
      command_ready_(executor_),
      reader_wake_(executor_),
      watchdog_timer_(executor_) {}

Session::~Session() {
  const auto duration = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started_);
  log::info("session_end")
      .unum("session", id_)
      .str("protocol", secured_ ? "ftps" : "ftp")
      .str("client", peer_.address().to_string())
      .str("user", user_ ? std::string_view(user_->name) : std::string_view())
      .unum("bytes_in", bytes_in_)
      .unum("bytes_out", bytes_out_)
      .num("duration_ms", duration.count());
}

void Session::start() {
  auto self = shared_from_this();
  asio::co_spawn(executor_, [self]() { return self->run(); }, asio::detached);
}

void Session::stop() {
  asio::post(executor_, [self = shared_from_this()] { self->close(); });
}

void Session::close() {
  if (closed_) return;
  closed_ = true;
  transfer_.abort();
  reset_data();
  if (control_) control_->close();  // (null while a TLS handshake holds the stream)
  watchdog_timer_.cancel();
  command_ready_.notify();
  reader_wake_.notify();
}

awaitable<void> Session::run() {
  log::info("session_start")
      .unum("session", id_)
      .str("protocol", listener_.implicit_tls ? "ftps" : "ftp")
      .str("client", peer_.address().to_string())
      .num("client_port", peer_.port());
  // SECURITY: urgent data (the Telnet "synch" clients send with ABOR) stays in the stream, so
  // a line is never silently cut short.
  const int on = 1;
  ::setsockopt(control_->native_handle(), SOL_SOCKET, SO_OOBINLINE, &on, sizeof on);
  if (listener_.implicit_tls) {
    // Implicit FTPS: TLS before the greeting, and data channels protected from the start.
    if (!context_.tls || !co_await secure_control()) co_return;
    pbsz_ = true;
    prot_private_ = true;
  }
  co_await reply(220, context_.settings.banner);
  auto self = shared_from_this();
  asio::co_spawn(executor_, [self]() { return self->reader_loop(); }, asio::detached);
  asio::co_spawn(executor_, [self]() { return self->watchdog(); }, asio::detached);
  co_await command_loop();
  close();
}

// --- Control input -----------------------------------------------------------------------

awaitable<void> Session::reader_loop() {
  std::array<char, 512> buffer;
  while (!closed_) {
    if (!input_.empty() && !reader_.has_line()) {
      input_.erase(0, reader_.feed(input_));
    }
    if (auto line = reader_.next()) {
      co_await on_line(std::move(*line));
      continue;
    }
    if (reader_paused_ || queue_.size() >= max_queued_commands) {
      co_await reader_wake_.wait();
      continue;
    }
    error_code ec;
    const std::size_t n = control_->read_some(std::as_writable_bytes(std::span(buffer)), ec);
    if (ec == asio::error::would_block) {
      ec = co_await control_->wait(control_->wants());
      if (ec) break;
      continue;
    }
    if (ec || n == 0) break;
    const std::span<const char> got(buffer.data(), n);
    const std::size_t used = reader_.feed(got);
    input_.append(got.data() + used, got.size() - used);
  }
  // The client went away (or we closed): stop any transfer, end the session.
  close();
}

awaitable<void> Session::on_line(core::LineReader::Line line) {
  last_activity_ = Clock::now();
  if (line.status == core::LineReader::Status::ok) {
    auto text = core::strip_telnet(line.text);
    const auto parsed = parse_command(text);
    const auto& verb = parsed.command.verb;
    if (transfer_active_ && parsed.status == ParseStatus::ok && is_urgent(verb)) {
      co_await handle_urgent(verb);
      co_return;
    }
    if (verb == "AUTH" || verb == "CCC") {
      // SECURITY: after a command that changes the stream, anything the client pipelined in
      // the same packet is discarded, never executed (the STARTTLS injection class). After CCC
      // the client must wait for the 200 and the close_notify exchange before it goes on.
      input_.clear();
      reader_.reset();
      reader_paused_ = true;
    }
    queue_.push_back({line.status, std::move(text)});
  } else {
    queue_.push_back({line.status, {}});
  }
  command_ready_.notify();
}

awaitable<void> Session::handle_urgent(const std::string& verb) {
  if (verb == "STAT") {
    co_await reply(213, "Status: " + std::to_string(transfer_.progress.load()) + " bytes transferred.");
    co_return;
  }
  transfer_.abort();
  reset_data();
  while (transfer_active_ && !closed_) co_await reader_wake_.wait();
  if (verb == "ABOR") {
    co_await reply(226, "Abort successful.");
  } else {
    co_await farewell(221, "Goodbye.");
  }
}

awaitable<void> Session::watchdog() {
  const auto& limits = context_.limits;
  while (!closed_) {
    auto deadline = last_activity_ + limits.control_idle_timeout;
    if (!logged_in()) deadline = std::min(deadline, started_ + limits.login_timeout);
    if (transfer_active_) deadline = Clock::now() + limits.control_idle_timeout;
    watchdog_timer_.expires_at(deadline);
    co_await watchdog_timer_.async_wait(as_tuple_awaitable);
    if (closed_) break;
    if (transfer_active_) continue;
    const auto now = Clock::now();
    const bool idle = now >= last_activity_ + limits.control_idle_timeout;
    const bool login_expired = !logged_in() && now >= started_ + limits.login_timeout;
    if (idle || login_expired) {
      log::info("session_timeout")
          .unum("session", id_)
          .str("client", peer_.address().to_string())
          .str("reason", login_expired ? "login" : "idle");
      co_await farewell(421, "Timeout: closing control connection.");
    }
  }
}

awaitable<void> Session::command_loop() {
  while (!closed_) {
    while (queue_.empty() && !closed_) co_await command_ready_.wait();
    if (closed_) break;
    auto line = std::move(queue_.front());
    queue_.erase(queue_.begin());
    reader_wake_.notify();
    co_await execute(std::move(line));
    last_activity_ = Clock::now();
  }
}

awaitable<void> Session::execute(QueuedLine line) {
  using Status = core::LineReader::Status;
  if (line.status == Status::too_long) {
    co_await reply(500, "Command line too long.");
    co_return;
  }
  if (line.status == Status::has_nul) {
    co_await reply(500, "Command contains a NUL byte.");
    co_return;
  }
  const auto parsed = parse_command(line.text);
  if (parsed.status != ParseStatus::ok) {
    co_await reply(500, "Syntax error, command unrecognized.");
    co_return;
  }
  const auto& command = parsed.command;
  // The reader stopped after AUTH or CCC (see on_line); it resumes however the command ends,
  // on the new stream if the handshake succeeded, in cleartext after CCC.
  struct ResumeReader {
    Session* session;
    ~ResumeReader() {
      if (session == nullptr) return;
      session->reader_paused_ = false;
      session->reader_wake_.notify();
    }
  } resume{command.verb == "AUTH" || command.verb == "CCC" ? this : nullptr};
  const CommandSpec* spec = find_command(command.verb);
  if (spec == nullptr) {
    log::debug("command_unknown").unum("session", id_).str("verb", command.verb);
    co_await reply(500, "Unknown command.");
    co_return;
  }
  log::debug("command")
      .unum("session", id_)
      .str("verb", command.verb)
      // SECURITY: the PASS argument is never logged.
      .str("argument", command.verb == "PASS" ? std::string_view("***") : std::string_view(command.argument));
  if (command.verb != "RNTO") {
    // RNTO must immediately follow RNFR.
    if (command.verb != "RNFR") rename_from_.reset();
  }
  if (spec->tls_only && !context_.tls) {
    co_await reply(502, "TLS is not configured on this server.");
    co_return;
  }
  if (spec->login_required && !logged_in()) {
    co_await reply(530, "Please login with USER and PASS.");
    co_return;
  }
  if (spec->arg == Arg::required && command.argument.empty()) {
    co_await reply(501, "Syntax error in parameters or arguments.");
    co_return;
  }
  if (spec->arg == Arg::none && !command.argument.empty()) {
    co_await reply(501, "This command takes no arguments.");
    co_return;
  }
  co_await (this->*(spec->handler))(command.argument);
}

// --- Output ------------------------------------------------------------------------------

awaitable<void> Session::send(std::string text) {
  if (closed_ || !control_) co_return;
  // The bound is on replies the client has left unread, not on one reply: a STAT listing of a
  // big directory is longer than the bound and must still arrive whole.
  if (output_.size() > max_pending_output) {
    log::warn("session_output_overflow").unum("session", id_).str("client", peer_.address().to_string());
    close();
    co_return;
  }
  output_ += text;
  // One writer at a time; a second caller's text is already queued behind the first's.
  if (writing_) co_return;
  writing_ = true;
  while (!output_.empty() && !closed_) {
    error_code ec;
    const std::size_t n = control_->write_some(std::as_bytes(std::span(output_.data(), output_.size())), ec);
    output_.erase(0, n);
    if (ec == asio::error::would_block) {
      ec = co_await control_->wait(control_->wants());
    }
    if (ec && ec != asio::error::would_block) {
      close();
      break;
    }
  }
  writing_ = false;
}

awaitable<void> Session::reply(int code, std::string_view text) {
  co_await send(format_reply(code, text));
}

awaitable<void> Session::reply(Reply r) { co_await send(format_reply(r.code, r.text)); }

awaitable<void> Session::farewell(int code, std::string_view text) {
  using namespace asio::experimental::awaitable_operators;
  auto last_words = [this, code, text]() -> awaitable<void> {
    co_await reply(code, text);
    // Once the reply is out (not still queued behind a writer waiting on the client), TLS ends
    // with close_notify, so the client can tell the end of the session from a cut connection.
    if (control_ && !closed_ && !writing_ && output_.empty()) (void)co_await control_->shutdown();
  };
  asio::steady_timer grace(executor_);
  grace.expires_after(farewell_grace);
  co_await (last_words() || grace.async_wait(as_tuple_awaitable));
  close();
}

awaitable<void> Session::reply_multi(int code, std::string_view first,
                                     const std::vector<std::string>& body, std::string_view last) {
  co_await send(format_multiline(code, first, body, last));
}

// --- Helpers -----------------------------------------------------------------------------

awaitable<std::optional<vfs::Path>> Session::resolve(std::string_view argument) {
  auto path = vfs::Path::resolve(cwd_, argument);
  if (!path) {
    co_await reply(reply_for(path.error()));
    co_return std::nullopt;
  }
  co_return std::move(*path);
}

auth::Protocol Session::protocol() const {
  return control_ && control_->secure() ? auth::Protocol::ftps : auth::Protocol::ftp;
}

void Session::log_out() {
  user_.reset();
  fs_.reset();
  pending_user_.reset();
  cwd_ = vfs::Path();
  ascii_ = false;
  rest_offset_ = 0;
  rename_from_.reset();
  epsv_all_ = false;
  facts_ = FactSet{};
  reset_data();
}

// --- Login -------------------------------------------------------------------------------

awaitable<void> Session::cmd_user(const std::string& arg) {
  if (logged_in()) {
    co_await reply(530, "Can't change to another user.");
    co_return;
  }
  auto realm = context_.realm();
  if (!control_->secure()) {
    const auto account = realm->find(arg);
    if (control_tls_required(account.get())) {
      // SECURITY: refused before a password can be sent in cleartext.
      co_await reply(530, "TLS required: use AUTH TLS before logging in.");
      co_return;
    }
  }
  if (control_->secure()) {
    // Mutual TLS: a verified certificate that names this account logs it in by itself when
    // the account says so (RFC 4217 section 9: 232).
    const auto account = realm->find(arg);
    if (account && account->certificate && !account->certificate->password_required &&
        certificate_identifies(*account) && !account->disabled && account->allows(protocol())) {
      auto opened = co_await offload([&] { return context_.open_home(*account); });
      if (!opened && opened.error() == auth::AuthErrc::too_many_sessions) {
        co_await refuse_session(account->name, opened.error());
        co_return;
      }
      if (!opened) {
        log::error("home_unavailable").str("user", account->name).str("error", opened.error().message());
        co_await reply(530, "Login incorrect.");
        co_return;
      }
      co_await complete_login(account, std::move(*opened), "certificate");
      co_return;
    }
  }
  pending_user_ = arg;
  if (realm->anonymous_enabled() && (arg == "anonymous" || arg == "ftp")) {
    co_await reply(331, "Anonymous login ok, send your e-mail address as password.");
  } else {
    co_await reply(331, "Password required.");
  }
}

awaitable<void> Session::cmd_pass(const std::string& arg) {
  if (logged_in()) {
    co_await reply(230, "Already logged in.");
    co_return;
  }
  if (!control_->secure() && !pending_user_ && control_tls_required(nullptr)) {
    // SECURITY: a password sent in cleartext is refused as such, whatever came before.
    co_await reply(530, "TLS required: use AUTH TLS before logging in.");
    co_return;
  }
  if (!pending_user_) {
    co_await reply(503, "Login with USER first.");
    co_return;
  }
  const std::string name = std::move(*pending_user_);
  pending_user_.reset();
  auto realm = context_.realm();
  if (!control_->secure() && control_tls_required(realm->find(name).get())) {
    co_await reply(530, "TLS required: use AUTH TLS before logging in.");
    co_return;
  }
  const auto proto = protocol();
  const std::string& password = arg;
  // Checking the password and opening the home are one worker task: one round trip per login.
  std::shared_ptr<vfs::Filesystem> home;
  error_code failure;
  bool home_failed = false;
  auto result = co_await offload([&]() -> Result<std::shared_ptr<const auth::User>> {
    auto user = realm->authenticate(name, password, proto);
    if (!user) {
      failure = user.error();
      return user;
    }
    if ((*user)->certificate && !certificate_identifies(**user)) {
      // The account needs its certificate as well as the password.
      failure = auth::make_error_code(auth::AuthErrc::certificate_required);
      return failure;
    }
    if (auto opened = context_.open_home(**user)) {
      home = std::move(*opened);
    } else {
      failure = opened.error();
      home_failed = true;
    }
    return user;
  });
  if (failure == auth::AuthErrc::too_many_sessions) {
    co_await refuse_session(name, failure);
    co_return;
  }
  if (home_failed) log::error("home_unavailable").str("user", name).str("error", failure.message());
  if (!home) {
    ++login_failures_;
    log_failed_login(name, failure.message(), login_failures_);
    // The delay runs on this session's strand only: other sessions are not slowed.
    asio::steady_timer delay(executor_);
    delay.expires_after(context_.limits.failed_login_delay);
    co_await delay.async_wait(as_tuple_awaitable);
    co_await reply(530, "Login incorrect.");
    if (login_failures_ >= context_.limits.max_login_failures) {
      log::warn("login_attempts_exceeded").unum("session", id_).str("client", peer_.address().to_string());
      close();
    }
    co_return;
  }
  co_await complete_login(*result, std::move(home),
                          (*result)->certificate ? "certificate_and_password" : "password");
}

awaitable<void> Session::refuse_session(const std::string& name, error_code why) {
  // The credentials were right, so this is no login failure: no delay, no count. The client
  // may try again once one of the user's sessions has ended.
  log_failed_login(name, why.message(), std::nullopt);
  co_await reply(530, "Too many sessions for this user; try again later.");
}

void Session::log_failed_login(std::string_view name, std::string_view reason, std::optional<unsigned> failures) {
  auto event = log::warn("login");
  event.unum("session", id_)
      .str("protocol", auth::protocol_name(protocol()))
      .str("client", peer_.address().to_string())
      .str("user", name)
      .str("result", "failed")
      .str("reason", reason);
  if (failures) event.num("failures", *failures);
}

awaitable<void> Session::complete_login(std::shared_ptr<const auth::User> user,
                                        std::shared_ptr<vfs::Filesystem> home, std::string_view method) {
  user_ = std::move(user);
  fs_ = std::make_shared<auth::AuthorizedFilesystem>(std::move(home), user_->permissions);
  cwd_ = vfs::Path();
  pending_user_.reset();
  const auto* info = control_->tls();
  log::info("login")
      .unum("session", id_)
      .str("protocol", auth::protocol_name(protocol()))
      .str("client", peer_.address().to_string())
      .str("user", user_->name)
      .flag("anonymous", user_->anonymous)
      .str("method", method)
      .str("client_certificate", info ? std::string_view(info->client_subject) : std::string_view())
      .str("result", "ok");
  if (method == "certificate") {
    co_await reply(232, "Logged in with a client certificate.");
  } else {
    co_await reply(230, user_->anonymous ? "Anonymous access granted." : "Login successful.");
  }
}

bool Session::certificate_identifies(const auth::User& user) const {
  const auto* info = control_ ? control_->tls() : nullptr;
  return info != nullptr && user.certificate && info->client_verified &&
         info->client_common_name == user.certificate->common_name;
}

awaitable<void> Session::cmd_quit(const std::string&) { co_await farewell(221, "Goodbye."); }

awaitable<void> Session::cmd_rein(const std::string&) {
  log_out();
  co_await reply(220, "Ready for new user.");
}

awaitable<void> Session::cmd_host(const std::string&) {
  // RFC 7151: HOST comes before USER. One realm serves every host name.
  if (logged_in() || pending_user_) {
    co_await reply(503, "HOST must precede USER.");
    co_return;
  }
  co_await reply(220, "Host accepted.");
}

awaitable<void> Session::cmd_not_implemented(const std::string&) {
  co_await reply(502, "Command not implemented.");
}

// --- Information -------------------------------------------------------------------------

awaitable<void> Session::cmd_noop(const std::string&) { co_await reply(200, "NOOP ok."); }

awaitable<void> Session::cmd_syst(const std::string&) { co_await reply(215, "UNIX Type: L8"); }

awaitable<void> Session::cmd_feat(const std::string&) {
  std::vector<std::string> features;
  for (const auto& spec : commands()) {
    if (spec.feature.empty() || (spec.tls_only && !context_.tls)) continue;
    if (spec.verb == "MLST") {
      features.push_back("MLST " + facts_.describe(true));
    } else {
      features.emplace_back(spec.feature);
    }
  }
  features.emplace_back("TVFS");
  std::sort(features.begin(), features.end());
  co_await reply_multi(211, "Features:", features, "End");
}

awaitable<void> Session::cmd_opts(const std::string& arg) {
  const auto space = arg.find(' ');
  const std::string option = upper(std::string_view(arg).substr(0, space));
  const std::string value = space == std::string::npos ? std::string() : arg.substr(space + 1);
  if (option == "UTF8" || option == "UTF-8") {
    const auto v = upper(value);
    if (v == "ON" || v.empty()) {
      co_await reply(200, "Always in UTF8 mode.");
    } else {
      co_await reply(504, "UTF8 cannot be turned off.");
    }
  } else if (option == "MLST") {
    facts_ = FactSet::parse(value);
    co_await reply(200, "MLST OPTS " + facts_.describe(false));
  } else {
    co_await reply(501, "Option not understood.");
  }
}

awaitable<void> Session::cmd_help(const std::string& arg) {
  if (!arg.empty()) {
    const auto* spec = find_command(upper(arg));
    if (spec == nullptr) {
      co_await reply(502, "Unknown command.");
    } else {
      co_await reply(214, "Syntax: " + std::string(spec->syntax));
    }
    co_return;
  }
  std::vector<std::string> lines;
  std::string line;
  for (const auto& spec : commands()) {
    if (spec.handler == &Session::cmd_not_implemented || (spec.tls_only && !context_.tls)) continue;
    line += spec.verb;
    line += ' ';
    if (line.size() > 60) {
      lines.push_back(std::move(line));
      line.clear();
    }
  }
  if (!line.empty()) lines.push_back(std::move(line));
  co_await reply_multi(214, "The following commands are recognized:", lines, "Help OK.");
}

awaitable<void> Session::cmd_stat(const std::string& arg) {
  if (arg.empty()) {
    std::vector<std::string> lines;
    lines.push_back("Connected to " + peer_.address().to_string());
    lines.push_back("Logged in as " + (user_ ? user_->name : std::string("(nobody)")));
    lines.push_back(std::string("TYPE: ") + (ascii_ ? "ASCII" : "BINARY") + ", STRUcture: File, MODE: Stream");
    lines.push_back(data_.configured() ? "Data connection set up" : "No data connection");
    co_await reply_multi(211, "filegate FTP server status:", lines, "End of status.");
    co_return;
  }
  const auto target = strip_list_options(arg);
  auto path = co_await resolve(target);
  if (!path) co_return;
  auto listing = co_await offload([&] { return build_listing(*path, target, false, false); });
  if (!listing) {
    co_await reply(reply_for(listing.error()));
    co_return;
  }
  std::vector<std::string> lines;
  std::string_view rest = *listing;
  while (!rest.empty()) {
    const auto eol = rest.find("\r\n");
    lines.emplace_back(rest.substr(0, eol));
    if (eol == std::string_view::npos) break;
    rest.remove_prefix(eol + 2);
  }
  co_await reply_multi(213, "Status of " + path->str() + ":", lines, "End of status.");
}

// --- Directories and names ---------------------------------------------------------------

awaitable<void> Session::cmd_pwd(const std::string&) {
  co_await reply(257, quote_path(cwd_.str()) + " is the current directory.");
}

awaitable<void> Session::cmd_cwd(const std::string& arg) {
  auto path = co_await resolve(arg);
  if (!path) co_return;
  if (!co_await fs_call([&] { return fs_->change_directory(*path); })) co_return;
  cwd_ = *path;
  co_await reply(250, "Directory successfully changed.");
}

awaitable<void> Session::cmd_cdup(const std::string&) { co_await cmd_cwd(".."); }

awaitable<void> Session::cmd_mkd(const std::string& arg) {
  auto path = co_await resolve(arg);
  if (!path) co_return;
  if (!co_await fs_call([&] { return fs_->make_directory(*path, 0755); })) co_return;
  co_await reply(257, quote_path(path->str()) + " created.");
}

awaitable<void> Session::cmd_rmd(const std::string& arg) {
  auto path = co_await resolve(arg);
  if (!path) co_return;
  if (path->is_root() || cwd_.within(*path)) {
    co_await reply(550, "Cannot remove the current directory or one of its parents.");
    co_return;
  }
  if (!co_await fs_call([&] { return fs_->remove_directory(*path); })) co_return;
  co_await reply(250, "Directory removed.");
}

awaitable<void> Session::cmd_dele(const std::string& arg) {
  auto path = co_await resolve(arg);
  if (!path) co_return;
  if (!co_await fs_call([&] { return fs_->remove_file(*path); })) co_return;
  co_await reply(250, "File removed.");
}

awaitable<void> Session::cmd_rnfr(const std::string& arg) {
  auto path = co_await resolve(arg);
  if (!path) co_return;
  if (path->is_root()) {
    co_await reply(550, "Cannot rename the root directory.");
    co_return;
  }
  auto result = co_await offload([&]() -> Result<void> {
    if (auto allowed = fs_->check(Permission::rename, *path); !allowed) return allowed.error();
    auto attributes = fs_->lstat(*path);
    if (!attributes) return attributes.error();
    return {};
  });
  if (!result) {
    co_await reply(reply_for(result.error()));
    co_return;
  }
  rename_from_ = *path;
  co_await reply(350, "Ready for RNTO.");
}

awaitable<void> Session::cmd_rnto(const std::string& arg) {
  if (!rename_from_) {
    co_await reply(503, "RNFR required first.");
    co_return;
  }
  const vfs::Path from = std::move(*rename_from_);
  rename_from_.reset();
  auto path = co_await resolve(arg);
  if (!path) co_return;
  if (!co_await fs_call([&] { return fs_->rename(from, *path, vfs::RenameMode::replace); })) co_return;
  co_await reply(250, "Rename successful.");
}

// SIZE and MDTM reveal metadata: they need 'l' (as in pyftpdlib).
Result<vfs::Attributes> Session::stat_listed(const vfs::Path& path) const {
  if (auto allowed = fs_->check(Permission::list, path); !allowed) return allowed.error();
  return fs_->stat(path);
}

awaitable<void> Session::cmd_size(const std::string& arg) {
  auto path = co_await resolve(arg);
  if (!path) co_return;
  auto result = co_await offload([&] { return stat_listed(*path); });
  if (!result) {
    co_await reply(reply_for(result.error()));
  } else if (result->type != vfs::FileType::regular) {
    co_await reply(550, "Not a regular file.");
  } else {
    co_await reply(213, std::to_string(result->size));
  }
}

awaitable<void> Session::cmd_mdtm(const std::string& arg) {
  auto path = co_await resolve(arg);
  if (!path) co_return;
  auto result = co_await offload([&] { return stat_listed(*path); });
  if (!result) {
    co_await reply(reply_for(result.error()));
  } else {
    co_await reply(213, format_timeval(result->modify_time));
  }
}

awaitable<void> Session::cmd_mfmt(const std::string& arg) {
  const auto space = arg.find(' ');
  const auto when = space == std::string::npos ? std::nullopt : parse_timeval(std::string_view(arg).substr(0, space));
  if (!when) {
    co_await reply(501, "Syntax: MFMT YYYYMMDDHHMMSS path");
    co_return;
  }
  auto path = co_await resolve(std::string_view(arg).substr(space + 1));
  if (!path) co_return;
  vfs::AttributeChange change;
  change.modify_time = *when;
  if (!co_await fs_call([&] { return fs_->set_attributes(*path, change, true); })) co_return;
  co_await reply(213, "Modify=" + format_timeval(*when) + "; " + path->str());
}

awaitable<void> Session::cmd_site(const std::string& arg) {
  const auto space = arg.find(' ');
  const std::string sub = upper(std::string_view(arg).substr(0, space));
  if (sub == "HELP") {
    const std::vector<std::string> lines{"CHMOD <mode> <path>", "HELP"};
    co_await reply_multi(214, "SITE commands:", lines, "End.");
    co_return;
  }
  if (sub != "CHMOD") {
    co_await reply(500, "Unknown SITE command.");
    co_return;
  }
  std::string_view rest = space == std::string::npos ? std::string_view() : std::string_view(arg).substr(space + 1);
  const auto mode_end = rest.find(' ');
  const auto mode_text = rest.substr(0, mode_end);
  unsigned mode = 0;
  const auto [end, ec] = std::from_chars(mode_text.data(), mode_text.data() + mode_text.size(), mode, 8);
  if (mode_end == std::string_view::npos || mode_text.empty() || ec != std::errc{} ||
      end != mode_text.data() + mode_text.size() || mode > 07777) {
    co_await reply(501, "Syntax: SITE CHMOD <octal mode> <path>");
    co_return;
  }
  auto path = co_await resolve(rest.substr(mode_end + 1));
  if (!path) co_return;
  vfs::AttributeChange change;
  change.permissions = mode;
  if (!co_await fs_call([&] { return fs_->set_attributes(*path, change, true); })) co_return;
  co_await reply(200, "SITE CHMOD command ok.");
}

// --- Transfer parameters -----------------------------------------------------------------

awaitable<void> Session::cmd_type(const std::string& arg) {
  const auto t = upper(arg);
  if (t == "I" || t == "L 8" || t == "L8") {
    ascii_ = false;
    co_await reply(200, "Switching to Binary mode.");
  } else if (t == "A" || t == "A N") {
    ascii_ = true;
    co_await reply(200, "Switching to ASCII mode.");
  } else if (t == "E" || t == "A T" || t == "A C" || t == "E N" || t == "L 7" || t.starts_with("L ")) {
    co_await reply(504, "Type not supported.");
  } else {
    co_await reply(501, "Unrecognised TYPE.");
  }
}

awaitable<void> Session::cmd_mode(const std::string& arg) {
  const auto m = upper(arg);
  if (m == "S") co_await reply(200, "Mode set to S.");
  else if (m == "B" || m == "C" || m == "Z") co_await reply(504, "Only stream mode is supported.");
  else co_await reply(501, "Unrecognised MODE.");
}

awaitable<void> Session::cmd_stru(const std::string& arg) {
  const auto s = upper(arg);
  if (s == "F") co_await reply(200, "Structure set to F.");
  else if (s == "R" || s == "P") co_await reply(504, "Only file structure is supported.");
  else co_await reply(501, "Unrecognised STRU.");
}

awaitable<void> Session::cmd_allo(const std::string&) {
  co_await reply(202, "ALLO command ignored: no allocation needed.");
}

awaitable<void> Session::cmd_rest(const std::string& arg) {
  std::uint64_t offset = 0;
  const auto [end, ec] = std::from_chars(arg.data(), arg.data() + arg.size(), offset);
  if (ec != std::errc{} || end != arg.data() + arg.size()) {
    co_await reply(501, "REST requires a byte offset.");
    co_return;
  }
  rest_offset_ = offset;
  co_await reply(350, "Restarting at " + std::to_string(offset) + ". Send STOR or RETR.");
}

awaitable<std::optional<unsigned short>> Session::open_passive() {
  auto endpoint = data_.listen(executor_, local_.address(), context_.settings.passive_port_min,
                               context_.settings.passive_port_max);
  if (!endpoint) {
    log::error("passive_listen_failed").unum("session", id_).str("error", endpoint.error().message());
    co_await reply(425, "Cannot open passive connection.");
    co_return std::nullopt;
  }
  co_return endpoint->port();
}

awaitable<void> Session::cmd_pasv(const std::string&) {
  if (epsv_all_) {
    co_await reply(503, "EPSV ALL in effect: use EPSV.");
    co_return;
  }
  if (!local_.address().is_v4()) {
    co_await reply(522, "PASV is for IPv4; use EPSV (2).");
    co_return;
  }
  const auto port = co_await open_passive();
  if (!port) co_return;
  auto announced = local_.address().to_v4();
  if (listener_.passive_address) announced = *listener_.passive_address;
  else if (context_.settings.passive_address) announced = *context_.settings.passive_address;
  co_await reply(227, format_pasv(announced, *port));
  start_early_data();
}

awaitable<void> Session::cmd_epsv(const std::string& arg) {
  const auto a = upper(arg);
  if (a == "ALL") {
    epsv_all_ = true;
    reset_data();
    co_await reply(200, "EPSV ALL ok.");
    co_return;
  }
  if (!a.empty()) {
    const bool v4 = local_.address().is_v4();
    if ((a == "1" && !v4) || (a == "2" && v4)) {
      co_await reply(522, v4 ? "Network protocol not supported, use (1)" : "Network protocol not supported, use (2)");
      co_return;
    }
    if (a != "1" && a != "2") {
      co_await reply(501, "Unrecognised EPSV argument.");
      co_return;
    }
  }
  const auto port = co_await open_passive();
  if (!port) co_return;
  co_await reply(229, format_epsv(*port));
  start_early_data();
}

awaitable<void> Session::set_active(std::optional<tcp::endpoint> target) {
  const auto& settings = context_.settings;
  if (epsv_all_) {
    co_await reply(503, "EPSV ALL in effect: use EPSV.");
  } else if (!settings.active_enabled) {
    co_await reply(502, "Active mode is disabled; use PASV or EPSV.");
  } else if (!target) {
    co_await reply(501, "Malformed address.");
  } else if (!settings.active_allow_foreign_address && target->address() != peer_.address()) {
    // SECURITY: no FXP / bounce attacks: data goes only to the client's own address.
    log::warn("active_refused").unum("session", id_).str("client", peer_.address().to_string())
        .str("target", target->address().to_string()).str("reason", "foreign address");
    co_await reply(504, "Data connections go only to your own address.");
  } else if (!settings.active_allow_privileged_ports && target->port() < 1024) {
    log::warn("active_refused").unum("session", id_).str("client", peer_.address().to_string())
        .num("port", target->port()).str("reason", "privileged port");
    co_await reply(504, "Refusing a data port below 1024.");
  } else {
    drop_early_data();
    data_.set_active(*target);
    co_await reply(200, "Active mode data connection set up.");
  }
}

awaitable<void> Session::cmd_port(const std::string& arg) {
  if (!peer_.address().is_v4()) {
    co_await reply(522, "PORT is for IPv4; use EPRT.");
    co_return;
  }
  co_await set_active(parse_port(arg).endpoint);
}

awaitable<void> Session::cmd_eprt(const std::string& arg) {
  const auto parsed = parse_eprt(arg);
  if (!parsed.endpoint && parsed.error == AddressError::unsupported_family) {
    co_await reply(522, "Network protocol not supported, use (1,2)");
    co_return;
  }
  co_await set_active(parsed.endpoint);
}

// --- Transfers ---------------------------------------------------------------------------

// Marks a data transfer as running (so the reader acts on ABOR/STAT/QUIT at once) for its
// lifetime, and wakes an ABOR that waits for it to finish.
Session::TransferScope::TransferScope(Session& session) : session_(session) {
  session_.transfer_active_ = true;
  session_.transfer_.requested.store(false);
  session_.transfer_.progress.store(0);
}

Session::TransferScope::~TransferScope() {
  session_.transfer_active_ = false;
  session_.reader_wake_.notify();
}

awaitable<bool> Session::control_alive() {
  // Let events that already arrived (a closed control connection) run first.
  co_await asio::post(executor_, use_awaitable);
  if (closed_) co_return false;
  char byte;
  const ssize_t n = ::recv(control_->native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  co_return !(n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK));
}

awaitable<void> Session::run_transfer(TransferKind kind, vfs::Path& path, FileOpener& open,
                                      std::uint64_t offset, const std::optional<vfs::Path>& staged) {
  const bool upload = kind != TransferKind::download;
  TransferScope scope(*this);

  std::unique_ptr<vfs::File> file;
  FileHead head;
  if (!co_await data_channel_ready()) co_return;
  // Downloads (and STOU, whose 150 reply names the new file) open first, so a missing file is
  // reported before any data connection is made. STOU creates a new file exclusively: nothing
  // that existed is touched. A download also reads the file's head, so a small file needs no
  // further disk work (see FileHead): on the strand when the kernel has the path and the head
  // in memory (open_head_cached), else on a worker.
  const bool open_first = !upload || kind == TransferKind::unique_upload;
  // What refuses the command before any data connection; would_block: ask a worker.
  error_code refusal = open_first ? vfs::make_error_code(vfs::Errc::would_block) : error_code();
  if (!upload) {
    auto cached = open_head_cached(*fs_, path, offset, file);
    refusal = cached ? error_code() : cached.error();
    if (cached) head = std::move(*cached);
  }
  if (vfs::is(refusal, vfs::Errc::would_block)) {
    auto opened = co_await offload([&]() -> Result<std::unique_ptr<vfs::File>> {
      auto opened_file = file ? Result<std::unique_ptr<vfs::File>>(std::move(file)) : open();
      if (!opened_file || upload) return opened_file;
      auto read = read_head(**opened_file, offset);
      if (!read) return read.error();
      head = std::move(*read);
      return opened_file;
    });
    refusal = opened ? error_code() : opened.error();
    if (opened) file = std::move(*opened);
  }
  if (upload && !open_first && prot_private_) {
    // A protected upload opens its file only after the data handshake (below). A name whose
    // folder does not exist is refused now, before 150, as a plain upload's is: after 150 the
    // client may still be sending, and would see its data connection reset, not the reason.
    // (Only those answers: the open after the handshake reports anything else.) From the
    // lookup cache on the strand when it holds the folder, else on a worker.
    auto folder = fs_->stat_cached(path.parent());
    if (!folder && vfs::is(folder.error(), vfs::Errc::would_block)) {
      folder = co_await offload([&] { return fs_->stat(path.parent()); });
    }
    if (!folder && (vfs::is(folder.error(), vfs::Errc::not_found) || vfs::is(folder.error(), vfs::Errc::not_a_directory))) {
      refusal = folder.error();
    } else if (folder && folder->type != vfs::FileType::directory) {
      refusal = vfs::make_error_code(vfs::Errc::not_a_directory);
    }
  }
  if (refusal) {
    reset_data();
    co_await reply(reply_for(refusal));
    co_return;
  }
  // Undoes an opened file when the data connection cannot be used.
  auto abandon = [&]() -> awaitable<void> {
    if (!file) co_return;
    co_await offload([&] { return file->close(); });
    if (kind == TransferKind::unique_upload) co_await offload([&] { return fs_->remove_file(path); });
  };
  auto stream = co_await connect_data();
  if (!stream || transfer_.requested.load()) {
    co_await abandon();
    if (!transfer_.requested.load()) {
      log::info("data_connection_failed").unum("session", id_).str("error", stream ? "aborted" : stream.error().message());
      co_await reply(425, "Cannot open data connection.");
    } else {
      co_await reply(426, "Connection closed; transfer aborted.");
    }
    co_return;
  }
  if (!open_first && !prot_private_) {
    // Plain uploads: the file is opened (created, truncated) only once the data connection is
    // up, and a bad name is reported instead of 150.
    auto opened = co_await offload(open);
    if (!opened) {
      (*stream)->close();
      co_await reply(reply_for(opened.error()));
      co_return;
    }
    file = std::move(*opened);
  }
  std::string opening = std::string("Opening ") + (ascii_ ? "ASCII" : "BINARY") + " mode data connection for " + path.str();
  if (kind == TransferKind::unique_upload) opening = "FILE: " + std::string(path.name());
  // With PROT P, 150 comes before the data connection's TLS handshake: FTPS clients such as
  // ftplib and lftp start TLS only once they have read it.
  co_await reply(150, opening);
  if (prot_private_) {
    // A binary download's head may travel with the handshake (core::FirstFlight).
    core::FirstFlight first;
    if (!upload && !ascii_) first.bytes = head.data;
    auto secured = co_await protect_data_connection(std::move(*stream), &first);
    head.sent = first.sent;
    if (!secured) {
      co_await abandon();
      co_await reply(425, transfer_.requested.load() ? "Transfer aborted." : "TLS on the data connection failed or did not reuse this session.");
      co_return;
    }
    stream = std::move(secured);
  }
  // Protected uploads: nothing is created or truncated until the data connection has proven it
  // resumed this control connection's TLS session; the first pump opens the file on its worker.
  const FileOpener* open_in_pump = !file && upload ? &open : nullptr;

  const auto begin = Clock::now();
  TransferOptions options{ascii_, offset, context_.limits.transfer_stall_timeout};
  TransferOutcome outcome = upload ? co_await receive_file(context_.workers, **stream, file, open_in_pump, options, transfer_)
                                   : co_await send_file(context_.workers, **stream, *file, head, options, transfer_);
  if (outcome.result == TransferResult::ok) {
    // An orderly end (FIN; with TLS, close_notify first). A download's tells the client the
    // file is complete. An upload's answers the client's close_notify (clients that end TLS in
    // both directions, as ftplib does, wait for it); the file is complete either way.
    const TransferResult ended = co_await end_stream(**stream, options.stall_timeout);
    if (!upload) outcome.result = ended;
  }
  (*stream)->close();
  // A completed pump closed the file on its worker; only a cut-short transfer still has it open.
  if (outcome.result != TransferResult::ok && file) co_await offload([&] { return file->close(); });
  if (outcome.result == TransferResult::ok && upload && !(co_await control_alive())) {
    // The data stream ended because the client vanished, not because the upload was done.
    outcome.result = TransferResult::network_error;
  }
  if (staged && file) {  // (no file: the staging name could not be created)
    const bool ok = outcome.result == TransferResult::ok;
    auto published = co_await offload([&]() -> Result<void> {
      if (ok) return fs_->publish_upload(*staged, path);
      (void)fs_->discard_upload(*staged);
      return {};
    });
    if (outcome.result == TransferResult::ok && !published) {
      outcome.result = TransferResult::disk_error;
      outcome.error = published.error();
    }
  }
  (upload ? bytes_in_ : bytes_out_) += outcome.bytes;
  const auto duration = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - begin);
  log::info("transfer")
      .unum("session", id_)
      .str("protocol", auth::protocol_name(protocol()))
      .str("user", user_ ? std::string_view(user_->name) : std::string_view())
      .str("client", peer_.address().to_string())
      .str("direction", upload ? "upload" : "download")
      .str("path", path.str())
      .unum("offset", offset)
      .unum("bytes", outcome.bytes)
      .num("duration_ms", duration.count())
      .str("mode", ascii_ ? "ascii" : "binary")
      .str("result", transfer_result_name(outcome.result))
      .str("error", outcome.error ? outcome.error.message() : std::string());
  switch (outcome.result) {
    case TransferResult::ok: co_await reply(226, "Transfer complete."); break;
    case TransferResult::aborted:
    case TransferResult::network_error: co_await reply(426, "Connection closed; transfer aborted."); break;
    case TransferResult::stalled: co_await reply(426, "Data connection stalled; transfer aborted."); break;
    case TransferResult::disk_error: co_await reply(reply_for(outcome.error)); break;
  }
}

awaitable<void> Session::cmd_retr(const std::string& arg) {
  const auto offset = std::exchange(rest_offset_, 0);
  auto path = co_await resolve(arg);
  if (!path) co_return;
  FileOpener open = [&] { return fs_->open(*path, vfs::OpenMode{vfs::OpenMode::read}); };
  const std::optional<vfs::Path> not_staged;
  co_await run_transfer(TransferKind::download, *path, open, offset, not_staged);
}

awaitable<void> Session::start_upload(TransferKind kind, const std::string& arg) {
  const auto offset = std::exchange(rest_offset_, 0);
  const bool unique = kind == TransferKind::unique_upload;
  auto path = co_await resolve(unique && arg.empty() ? std::string_view("file") : std::string_view(arg));
  if (!path) co_return;
  // Checked before any data connection, so a refusal costs the client nothing.
  const auto needed = kind == TransferKind::append ? Permission::append : Permission::upload;
  // With per-directory rules the check resolves where the path really leads: on a worker.
  // Without, it reads the user's letters only (no hop to a worker for each small upload).
  if (fs_->checks_touch_disk()) {
    if (!co_await fs_call([&] { return fs_->check(needed, *path); })) co_return;
  } else if (auto allowed = fs_->check(needed, *path); !allowed) {
    co_await reply(reply_for(allowed.error()));
    co_return;
  }
  std::optional<vfs::Path> staged;
  FileOpener open;
  if (unique) {
    // STOU: the first of name, name.1, name.2 ... that does not exist, taken atomically with an
    // exclusive create. The opener updates `path`, so the 150 reply names the file.
    open = [&]() -> Result<std::unique_ptr<vfs::File>> {
      const vfs::Path base = *path;
      const vfs::OpenMode mode{vfs::OpenMode::write | vfs::OpenMode::create | vfs::OpenMode::exclusive};
      for (int i = 0; i < 100; ++i) {
        auto candidate = i == 0 ? Result<vfs::Path>(base) : base.parent().child(std::string(base.name()) + "." + std::to_string(i));
        if (!candidate) return candidate.error();
        auto file = fs_->open(*candidate, mode);
        if (file || !vfs::is(file.error(), vfs::Errc::exists)) {
          *path = *candidate;
          return file;
        }
      }
      return vfs::make_error_code(vfs::Errc::exists);
    };
  } else if (context_.settings.atomic_uploads && kind == TransferKind::upload && offset == 0) {
    // Atomic uploads: write beside the target under a staging name; run_transfer publishes it
    // with a rename only when the transfer completed.
    auto temporary = path->parent().child(std::string(staging_prefix) + random_hex(8));
    if (!temporary) {
      co_await reply(reply_for(temporary.error()));
      co_return;
    }
    staged = std::move(*temporary);
    open = [&] {
      return fs_->open(*staged, vfs::OpenMode{vfs::OpenMode::write | vfs::OpenMode::create | vfs::OpenMode::exclusive});
    };
  } else {
    unsigned flags = vfs::OpenMode::write | vfs::OpenMode::create;
    if (kind == TransferKind::append) flags |= vfs::OpenMode::append;
    else if (offset == 0) flags |= vfs::OpenMode::truncate;
    open = [&, flags] { return fs_->open(*path, vfs::OpenMode{flags}); };
  }
  co_await run_transfer(kind, *path, open, offset, staged);
}

awaitable<void> Session::cmd_stor(const std::string& arg) { co_await start_upload(TransferKind::upload, arg); }
awaitable<void> Session::cmd_appe(const std::string& arg) { co_await start_upload(TransferKind::append, arg); }
awaitable<void> Session::cmd_stou(const std::string& arg) { co_await start_upload(TransferKind::unique_upload, arg); }

awaitable<void> Session::cmd_abor(const std::string&) {
  // Reached only when no transfer is running (a running one is aborted by the reader).
  reset_data();
  co_await reply(225, "No transfer to abort.");
}

// --- FTPS (RFC 4217) ---------------------------------------------------------------------

bool Session::control_tls_required(const auth::User* user) const {
  if (!context_.tls) return false;
  if (user != nullptr && user->tls.control_required) return *user->tls.control_required;
  const auto policy = listener_.tls_control.value_or(context_.settings.tls_control);
  return policy == TlsPolicy::required;
}

bool Session::data_tls_required() const {
  if (!context_.tls) return false;
  if (user_ && user_->tls.data_required) return *user_->tls.data_required;
  const auto policy = listener_.tls_data.value_or(context_.settings.tls_data);
  return policy == TlsPolicy::required;
}

bool Session::ccc_allowed() const {
  if (user_ && user_->tls.allow_ccc) return *user_->tls.allow_ccc;
  return context_.settings.tls_allow_ccc;
}

bool Session::session_reuse_required() const {
  if (user_ && user_->tls.session_reuse_required) return *user_->tls.session_reuse_required;
  return context_.settings.tls_session_reuse;
}

awaitable<bool> Session::secure_control() {
  // While the handshake owns the stream, control_ is null: replies are dropped and close()
  // leaves it alone. The handshake is bounded by the login grace time.
  auto secured = co_await context_.tls->secure_control(std::move(control_), context_.limits.login_timeout);
  if (!secured) {
    log::warn("tls_failed")
        .unum("session", id_)
        .str("client", peer_.address().to_string())
        .str("channel", "control")
        .str("error", secured.error().message());
    close();
    co_return false;
  }
  control_ = std::move(*secured);
  secured_ = true;
  if (closed_) {
    control_->close();
    co_return false;
  }
  const auto* info = control_->tls();
  log::info("tls")
      .unum("session", id_)
      .str("client", peer_.address().to_string())
      .str("channel", "control")
      .str("version", info ? std::string_view(info->version) : std::string_view())
      .str("cipher", info ? std::string_view(info->cipher) : std::string_view())
      .str("client_certificate", info ? std::string_view(info->client_subject) : std::string_view());
  co_return true;
}

awaitable<Result<std::unique_ptr<core::ByteStream>>> Session::protect_data_connection(
    std::unique_ptr<core::ByteStream> plain, core::FirstFlight* first) {
  const bool reuse = session_reuse_required();
  Result<std::unique_ptr<core::ByteStream>> secured{error_code(asio::error::operation_aborted)};
  if (plain) {
    secured = co_await context_.tls->secure_data(std::move(plain), *control_, reuse,
                                                 context_.limits.data_connect_timeout, first);
  } else {
    secured = co_await finish_early_data(first);
  }
  if (!secured) {
    // SECURITY: a data connection that does not resume this control connection's TLS session
    // may belong to someone else; it is refused before any file is opened or truncated.
    log::warn("tls_failed")
        .unum("session", id_)
        .str("client", peer_.address().to_string())
        .str("channel", "data")
        .str("error", secured.error().message());
    co_return secured.error();
  }
  if (!reuse) {
    const auto* info = (*secured)->tls();
    log::info("tls_session_reuse_exempt")
        .unum("session", id_)
        .str("user", user_ ? std::string_view(user_->name) : std::string_view())
        .flag("reused", info != nullptr && info->session_reused);
  }
  co_return std::move(*secured);
}

// --- Early data connections (PROT P, passive; see start_early_data) ---------------------------

struct Session::EarlyData {
  explicit EarlyData(const Executor& executor) : accepted(executor), secured(executor) {}
  enum class Stage { accepting, securing, done };
  Stage stage = Stage::accepting;
  Event accepted;  // notified when `stage` leaves accepting
  Event secured;   // notified when `stage` becomes done
  error_code accept_error;
  Result<std::unique_ptr<core::ByteStream>> stream{error_code(asio::error::operation_aborted)};
  core::ByteStream* handshaking = nullptr;  // the plain stream while its handshake runs
  // What the handshake may send with its first flight: set by the transfer that waits for it
  // (finish_early_data), cleared before that transfer's bytes go away.
  core::FirstFlight first_flight;
  bool dropped = false;
};

void Session::start_early_data() {
  drop_early_data();
  if (!prot_private_ || !context_.tls || !control_ || !control_->secure() || !data_.configured()) return;
  auto early = std::make_shared<EarlyData>(executor_);
  early_data_ = early;
  auto self = shared_from_this();
  asio::co_spawn(executor_, [self, early]() { return self->run_early_data(early); }, asio::detached);
}

awaitable<void> Session::run_early_data(std::shared_ptr<EarlyData> early) {
  // The deadlines that matter are the transfer's (connect_data, finish_early_data), counted from
  // its command as for a connection accepted on demand. The idle timeout only bounds an early
  // connection that no command uses and nothing drops.
  const auto backstop = context_.limits.control_idle_timeout;
  auto plain = co_await data_.establish(peer_.address(), local_.address(), backstop);
  if (plain && !early->dropped) {
    early->stage = EarlyData::Stage::securing;
    early->accepted.notify();
    early->handshaking = plain->get();
    auto secured = co_await context_.tls->secure_data(std::move(*plain), *control_, session_reuse_required(), backstop,
                                                      &early->first_flight);
    early->handshaking = nullptr;
    early->stream = std::move(secured);
  } else {
    early->accept_error = plain ? error_code(asio::error::operation_aborted) : plain.error();
  }
  early->stage = EarlyData::Stage::done;
  early->accepted.notify();
  early->secured.notify();
}

void Session::drop_early_data() {
  if (!early_data_) return;
  early_data_->dropped = true;
  early_data_->first_flight.bytes = {};
  if (early_data_->handshaking != nullptr) early_data_->handshaking->close();
  early_data_.reset();
}

awaitable<void> Session::wait_for_data_connection(Event& event) {
  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer deadline(executor_);
  deadline.expires_after(context_.limits.data_connect_timeout);
  co_await (event.wait() || deadline.async_wait(as_tuple_awaitable));
}

awaitable<Result<std::unique_ptr<core::ByteStream>>> Session::connect_data() {
  auto early = early_data_;
  if (!early) {
    co_return co_await data_.establish(peer_.address(), local_.address(), context_.limits.data_connect_timeout);
  }
  if (early->stage == EarlyData::Stage::accepting) co_await wait_for_data_connection(early->accepted);
  if (early->stage == EarlyData::Stage::accepting) {  // the client did not connect in time
    reset_data();
    co_return error_code(asio::error::timed_out);
  }
  if (early->accept_error) {
    if (early_data_ == early) early_data_.reset();
    co_return early->accept_error;
  }
  co_return std::unique_ptr<core::ByteStream>{};  // its handshake holds it
}

awaitable<Result<std::unique_ptr<core::ByteStream>>> Session::finish_early_data(core::FirstFlight* first) {
  auto early = early_data_;
  if (!early) co_return error_code(asio::error::operation_aborted);  // dropped meanwhile (ABOR)
  if (first != nullptr && early->stage != EarlyData::Stage::done) early->first_flight.bytes = first->bytes;
  if (early->stage != EarlyData::Stage::done) co_await wait_for_data_connection(early->secured);
  early->first_flight.bytes = {};
  if (first != nullptr) first->sent = early->first_flight.sent;
  if (early_data_ == early) drop_early_data();  // used up; closes a handshake still running
  if (early->stage != EarlyData::Stage::done) co_return error_code(asio::error::timed_out);
  co_return std::move(early->stream);
}

awaitable<void> Session::cmd_auth(const std::string& arg) {
  const auto mechanism = upper(arg);
  if (control_->secure()) {
    co_await reply(503, "Already using TLS.");
    co_return;
  }
  if (secured_) {  // (and no longer secure: CCC)
    co_await reply(503, "TLS was cleared with CCC on this connection; connect again to protect it.");
    co_return;
  }
  if (mechanism != "TLS" && mechanism != "SSL" && mechanism != "TLS-C" && mechanism != "TLS-P") {
    co_await reply(504, "AUTH mechanism not supported; use AUTH TLS.");
    co_return;
  }
  co_await reply(234, "AUTH TLS successful.");
  if (!output_.empty()) {  // the 234 must be on the wire before the handshake starts
    close();
    co_return;
  }
  if (!co_await secure_control()) co_return;
  // RFC 4217 section 4: the new security state starts a fresh login.
  log_out();
  pbsz_ = false;
  prot_private_ = false;
}

awaitable<void> Session::cmd_pbsz(const std::string& arg) {
  if (!secured_) {  // (PBSZ and PROT still apply after CCC: they are about data connections)
    co_await reply(503, "PBSZ needs AUTH TLS first.");
    co_return;
  }
  // RFC 2228: a decimal buffer size. TLS needs none (RFC 4217), so any size is answered with 0.
  if (arg.find_first_not_of("0123456789") != std::string::npos) {
    co_await reply(501, "PBSZ takes a decimal buffer size.");
    co_return;
  }
  pbsz_ = true;
  co_await reply(200, "PBSZ=0");
}

awaitable<void> Session::cmd_prot(const std::string& arg) {
  if (!secured_ || !pbsz_) {
    co_await reply(503, "PROT needs AUTH TLS and PBSZ first.");
    co_return;
  }
  const auto level = upper(arg);
  if (level == "P") {
    prot_private_ = true;
    co_await reply(200, "Protection level set to Private.");
  } else if (level == "C") {
    if (data_tls_required()) {
      co_await reply(534, "PROT C refused: data connections must be protected.");
      co_return;
    }
    prot_private_ = false;
    if (early_data_) reset_data();  // its handshake was for PROT P: PASV again
    co_await reply(200, "Protection level set to Clear.");
  } else if (level == "S" || level == "E") {
    co_await reply(536, "PROT S and E are not supported; use PROT P.");
  } else {
    co_await reply(504, "Unknown protection level.");
  }
}

awaitable<void> Session::cmd_ccc(const std::string&) {
  if (!control_->secure()) {
    co_await reply(533, "CCC needs a protected control connection.");
    co_return;
  }
  // SECURITY: cleartext exposes every later command and reply (names, not file data with
  // PROT P), and lets anyone on the path inject commands. Only where the operator allows it,
  // for clients behind firewalls that must read PASV/PORT, and only after a protected login:
  // a connection without TLS takes no new login while TLS is required (cmd_user).
  if (!ccc_allowed()) {
    co_await reply(534, "CCC refused: the control connection stays protected.");
    co_return;
  }
  if (!logged_in()) {
    co_await reply(503, "Log in before CCC.");
    co_return;
  }
  co_await reply(200, "Control connection in cleartext from now on.");
  if (!output_.empty()) {  // the 200 must be on the wire before our close_notify
    close();
    co_return;
  }
  if (const error_code ec = co_await context_.tls->clear_control(*control_, context_.limits.login_timeout)) {
    log::warn("tls_failed")
        .unum("session", id_)
        .str("client", peer_.address().to_string())
        .str("channel", "control")
        .str("error", "CCC: " + ec.message());
    close();
    co_return;
  }
  log::info("tls_cleared").unum("session", id_).str("client", peer_.address().to_string()).str("user", user_->name);
}

// --- Listings ----------------------------------------------------------------------------

Result<std::string> Session::build_listing(vfs::Path path, std::string_view typed, bool names_only,
                                           bool machine) const {
  auto& fs = *fs_;
  auto attributes = fs.stat(path);
  std::string pattern;  // set: list the entries of `path` that match it
  std::string prefix;   // what the client typed before the pattern ("d/" for "d/*.csv")
  if (!attributes && !machine && vfs::is(attributes.error(), vfs::Errc::not_found) && has_wildcards(path.name())) {
    pattern = path.name();
    path = path.parent();
    while (typed.size() > 1 && typed.back() == '/') typed.remove_suffix(1);
    prefix = typed.substr(0, typed.rfind('/') + 1);
    attributes = fs.stat(path);
    if (attributes && attributes->type != vfs::FileType::directory) return vfs::make_error_code(vfs::Errc::not_found);
  }
  if (!attributes) return attributes.error();
  // MLSD lists a directory only (RFC 3659).
  if (machine && attributes->type != vfs::FileType::directory) return vfs::make_error_code(vfs::Errc::not_a_directory);
  const auto now = vfs::TimePoint(std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::chrono::system_clock::now().time_since_epoch()));
  std::vector<vfs::DirectoryEntry> entries;
  if (attributes->type != vfs::FileType::directory) {
    if (auto allowed = fs.check(Permission::list, path); !allowed) return allowed.error();
    auto own = fs.lstat(path);
    if (!own) return own.error();
    // NLST names a file as the client typed it (as `ls` does), so a classic client's mget
    // saves it under that name.
    vfs::DirectoryEntry entry{names_only ? std::string(typed) : std::string(path.name()), *own, {}};
    if (own->type == vfs::FileType::symlink) {
      if (auto target = fs.read_link(path)) entry.link_target = *target;
    }
    entries.push_back(std::move(entry));
  } else {
    auto directory = fs.open_directory(path);
    if (!directory) return directory.error();
    for (;;) {
      auto next = (*directory)->next();
      if (!next) return next.error();
      if (!*next) break;
      if (!pattern.empty()) {
        if (!matches_pattern(pattern, (*next)->name)) continue;
        (*next)->name.insert(0, prefix);
      }
      entries.push_back(std::move(**next));
    }
    std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  }
  std::string out;
  for (auto& entry : entries) {
    if (names_only) {
      out += vfs::display_name(entry.name);
    } else if (machine) {
      auto child = path.child(entry.name);
      if (entry.attributes.type == vfs::FileType::symlink && child) {
        // Symlinks are described by what they point at (within the root), as most servers do.
        if (auto target = fs.stat(*child)) entry.attributes = *target;
      }
      out += mlsx_line(entry, child ? fs.effective(*child) : auth::PermissionSet{}, facts_);
    } else {
      out += list_line(entry, now);
    }
    out += "\r\n";
  }
  return out;
}

awaitable<void> Session::send_listing(std::string text, std::string_view what) {
  TransferScope scope(*this);
  auto stream = co_await connect_data();
  if (!stream) {
    co_await reply(transfer_.requested.load() ? 426 : 425, "Cannot open data connection.");
    co_return;
  }
  co_await reply(150, std::string("Here comes the ") + std::string(what) + ".");
  if (prot_private_) {
    stream = co_await protect_data_connection(std::move(*stream));
    if (!stream) {
      co_await reply(425, "TLS on the data connection failed or did not reuse this session.");
      co_return;
    }
  }
  auto outcome = co_await send_text(**stream, text, context_.limits.transfer_stall_timeout, transfer_);
  if (outcome.result == TransferResult::ok) {
    outcome.result = co_await end_stream(**stream, context_.limits.transfer_stall_timeout);
  }
  (*stream)->close();
  bytes_out_ += outcome.bytes;
  if (outcome.result == TransferResult::ok) {
    co_await reply(226, std::string(what) + " sent.");
  } else {
    co_await reply(426, "Connection closed; transfer aborted.");
  }
}

awaitable<bool> Session::data_channel_ready() {
  if (!data_.configured() && !early_data_) {
    co_await reply(425, "Use PORT or PASV first.");
    co_return false;
  }
  if (!prot_private_ && data_tls_required()) {
    reset_data();
    co_await reply(521, "Data connections must be protected: use PROT P.");
    co_return false;
  }
  co_return true;
}

awaitable<void> Session::list_command(const std::string& arg, bool names_only, bool machine) {
  if (!co_await data_channel_ready()) co_return;
  auto target = machine ? std::string_view(arg) : strip_list_options(arg);
  if (target.empty()) target = ".";
  auto path = co_await resolve(target);
  if (!path) co_return;
  auto listing = co_await offload([&] { return build_listing(*path, target, names_only, machine); });
  if (!listing) {
    reset_data();
    co_await reply(reply_for(listing.error()));
    co_return;
  }
  co_await send_listing(std::move(*listing), names_only ? "name list" : machine ? "machine listing" : "directory listing");
}

awaitable<void> Session::cmd_list(const std::string& arg) { co_await list_command(arg, false, false); }
awaitable<void> Session::cmd_nlst(const std::string& arg) { co_await list_command(arg, true, false); }
awaitable<void> Session::cmd_mlsd(const std::string& arg) { co_await list_command(arg, false, true); }

awaitable<void> Session::cmd_mlst(const std::string& arg) {
  auto path = co_await resolve(arg.empty() ? std::string_view(".") : std::string_view(arg));
  if (!path) co_return;
  auto line = co_await offload([&]() -> Result<std::string> {
    if (auto allowed = fs_->check(Permission::list, *path); !allowed) return allowed.error();
    auto attributes = fs_->stat(*path);
    if (!attributes) return attributes.error();
    return mlsx_line(vfs::DirectoryEntry{path->str(), *attributes, {}}, fs_->effective(*path), facts_);
  });
  if (!line) {
    co_await reply(reply_for(line.error()));
    co_return;
  }
  const std::vector<std::string> lines{std::move(*line)};
  co_await reply_multi(250, "Listing " + path->str(), lines, "End.");
}

}  // namespace filegate::ftp
