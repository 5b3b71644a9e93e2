// filegate: the composition root. Parses the command line, loads the config, wires the realm,
// the filesystem backend and the protocol front-ends together, and runs the event loop.
#include <sys/resource.h>
#include <termios.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <iostream>
#include <string>
#include <string_view>
#include <thread>

#include "auth/password.hpp"
#include "auth/session_counter.hpp"
#include "core/log.hpp"
#include "core/runtime.hpp"
#include "ftp/server.hpp"
#include "ftps/tls_server.hpp"
#include "server/config.hpp"
#include "sftp/ssh_server.hpp"
#include "vfs/local_fs.hpp"

namespace {

using namespace filegate;

constexpr std::string_view usage = R"(usage:
  filegate run --config FILE      serve in the foreground (logs: JSON lines on stderr)
  filegate check --config FILE    validate a config file and exit
  filegate passwd [--method M]    read a password on stdin, print a hash for the config
                                  (M: yescrypt (default), sha512crypt, bcrypt)
  filegate --version
)";

int fail(const std::string& message, int code = 1) {
  std::cerr << "filegate: " << message << "\n";
  return code;
}

std::optional<std::string> option_value(int argc, char** argv, std::string_view name) {
  for (int i = 2; i + 1 < argc; ++i) {
    if (argv[i] == name) return std::string(argv[i + 1]);
  }
  return std::nullopt;
}

// Lets 1000s of sessions have descriptors: raise the soft limit to the hard one.
void raise_descriptor_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

int command_passwd(int argc, char** argv) {
  const std::string method = option_value(argc, argv, "--method").value_or("yescrypt");
  std::string prefix;
  if (method == "yescrypt") prefix = "$y$";
  else if (method == "sha512crypt") prefix = "$6$";
  else if (method == "bcrypt") prefix = "$2b$";
  else return fail("unknown hash method '" + method + "' (yescrypt, sha512crypt, bcrypt)", 2);

  const bool tty = isatty(STDIN_FILENO) != 0;
  termios saved{};
  if (tty) {
    std::cerr << "Password: " << std::flush;
    tcgetattr(STDIN_FILENO, &saved);
    termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
  }
  std::string password;
  std::getline(std::cin, password);
  if (tty) {
    tcsetattr(STDIN_FILENO, TCSANOW, &saved);
    std::cerr << "\n";
  }
  if (!password.empty() && password.back() == '\r') password.pop_back();
  if (password.empty()) return fail("empty password", 2);
  auto hash = auth::hash_password(password, prefix);
  std::fill(password.begin(), password.end(), '\0');
  if (!hash) return fail("cannot hash password: " + hash.error().message());
  std::cout << *hash << "\n";
  return 0;
}

server::Config load(const std::string& path) { return server::load_config(path); }

// The FTPS server for a config, or an error naming the file that failed.
Result<std::shared_ptr<ftps::TlsServer>> make_ftp_tls(const server::Config& config, std::string& detail) {
  if (!config.ftp_tls) return std::shared_ptr<ftps::TlsServer>();
  return ftps::make_tls_server(*config.ftp_tls, detail);
}

// Certificates and revocation lists in use that have expired or expire soon are logged once a
// day (and at start and on SIGHUP): a long-running server whose renewal failed says so.
asio::awaitable<void> report_tls_expiry_daily(std::shared_ptr<core::TlsServer> tls) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    timer.expires_after(std::chrono::hours(24));
    co_await timer.async_wait(asio::use_awaitable);
    tls->report_expiry();
  }
}

// The users that logins are checked against. Sessions read it at each login; SIGHUP replaces it.
using RealmSlot = std::atomic<std::shared_ptr<const auth::Realm>>;

// SIGHUP: reads the config file again. The users (passwords, keys, permissions, homes, TLS and
// SSH settings) and the anonymous account apply to logins from now on, the log level at once;
// sessions already logged in keep the account they logged in with. The FTPS certificates, keys,
// CA and CRL files are read again, under the new ftp.tls settings (server::reloadable_tls_keys)
// for new connections. The other sections take a restart: a change there is logged, not
// applied. A file that does not load changes nothing but re-reading the FTPS files.
void reload_config(const std::string& path, const server::Config& running, RealmSlot& realm,
                   ftps::TlsServer* tls) {
  server::Config fresh;
  try {
    fresh = load(path);
  } catch (const server::ConfigError& e) {
    core::log::error("config_reload_failed").str("error", e.what());
    if (tls != nullptr) (void)tls->reload();
    return;
  }
  // (It logs tls_reloaded or tls_reload_failed itself. Without ftp.tls now, the section change
  // is reported below and the running settings stay.)
  if (tls != nullptr) (void)(fresh.ftp_tls ? tls->reload(*fresh.ftp_tls) : tls->reload());
  realm.store(std::make_shared<const auth::Realm>(fresh.users, fresh.anonymous));
  // A section added, removed or changed counts.
  const auto text_of = [](const server::Config& config, const char* section) {
    const auto it = config.restart_sections.find(section);
    return it == config.restart_sections.end() ? std::optional<std::string>() : it->second;
  };
  std::string changed;
  for (const char* section : server::restart_section_names) {
    if (text_of(running, section) != text_of(fresh, section)) changed += (changed.empty() ? "" : ",") + std::string(section);
  }
  core::log::info("config_reloaded").str("config", path).unum("users", fresh.users.size())
      .flag("anonymous", fresh.anonymous.has_value());
  if (!changed.empty()) {
    core::log::warn("config_restart_needed").str("config", path).str("sections", changed)
        .str("reason", "only users, anonymous, log and the ftp.tls files and lists are taken over while running");
  }
  // Last, so the lines above are written at the level they were asked under.
  core::log::set_level(fresh.log_level);
}

int command_check(int argc, char** argv) {
  const auto path = option_value(argc, argv, "--config");
  if (!path) return fail("check needs --config FILE", 2);
  try {
    const auto config = load(*path);
    std::string detail;
    auto tls = make_ftp_tls(config, detail);
    if (!tls) return fail(config.setup_error("ftp.tls", detail), 2);
    if (*tls) (*tls)->report_expiry();  // a warning, not a failure: the server would start
    if (config.sftp && !sftp::check_settings(*config.sftp, detail)) return fail(config.setup_error("sftp", detail), 2);
    std::cout << *path << ": ok (" << config.users.size() << " user(s)"
              << (config.anonymous ? ", anonymous enabled" : "")
              << (config.ftp ? ", ftp on " + std::to_string(config.ftp->listeners.size()) + " listener(s)" : "")
              << (config.sftp ? ", sftp on " + std::to_string(config.sftp->listeners.size()) + " listener(s)" : "")
              << ")\n";
    return 0;
  } catch (const server::ConfigError& e) {
    return fail(e.what(), 2);
  }
}

int command_run(int argc, char** argv) {
  const auto path = option_value(argc, argv, "--config");
  if (!path) return fail("run needs --config FILE", 2);
  server::Config config;
  try {
    config = load(*path);
  } catch (const server::ConfigError& e) {
    return fail(e.what(), 2);
  }
  core::log::set_level(config.log_level);
  raise_descriptor_limit();
  // A client that vanishes mid-download must cost only its own transfer: sendfile() and
  // write() on its socket then fail with EPIPE instead of killing the process.
  std::signal(SIGPIPE, SIG_IGN);
  // An upload past the file size limit (RLIMIT_FSIZE: `ulimit -f`, systemd's LimitFSIZE=) must
  // fail that upload with EFBIG, not kill the server and everyone's sessions with SIGXFSZ.
  std::signal(SIGXFSZ, SIG_IGN);

  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  // One event-loop thread by default: disk work and password hashing run on the worker pool, so
  // the loop only moves control bytes and readiness, and a second loop thread mostly adds
  // cross-thread wake-ups (measured: 1000 small files 35% faster with one).
  const unsigned network_threads = config.network_threads ? config.network_threads : 1;
  const unsigned worker_threads = config.worker_threads ? config.worker_threads : std::max(8u, 4 * cores);
  // Declared before the runtime so it outlives sessions that the runtime's io_context may
  // still hold when a forced stop destroys it.
  core::ConnectionLimiter limiter(config.limits.max_connections, config.limits.max_connections_per_ip);
  core::Runtime runtime(network_threads, worker_threads);

  auto realm = std::make_shared<RealmSlot>(std::make_shared<const auth::Realm>(config.users, config.anonymous));
  auto realm_source = [realm] { return realm->load(); };
  // (Absolute: the reload must find the same file whatever the working directory is then.)
  std::error_code path_error;
  std::string config_path = std::filesystem::absolute(*path, path_error).string();
  if (path_error) config_path = *path;
  // A login opens its home; the home holds the user's session lease (auth::SessionCounter), so
  // the session stops counting once the session and its last transfer let go of it.
  auto user_sessions = std::make_shared<auth::SessionCounter>();
  ftp::HomeOpener open_home = [user_sessions, per_user = config.limits.max_sessions_per_user](
                                  const auth::User& user) -> Result<std::shared_ptr<vfs::Filesystem>> {
    auto lease = user_sessions->acquire(user.name, user.max_sessions.value_or(per_user));
    if (!lease) return auth::make_error_code(auth::AuthErrc::too_many_sessions);
    auto fs = vfs::LocalFilesystem::open_root(user.home);
    if (!fs) return fs.error();
    struct LeasedHome {
      std::shared_ptr<vfs::Filesystem> fs;
      auth::SessionCounter::Lease lease;
    };
    auto home = std::make_shared<LeasedHome>(LeasedHome{std::move(*fs), std::move(lease)});
    return std::shared_ptr<vfs::Filesystem>(home, home->fs.get());
  };

  std::string tls_detail;
  auto ftp_tls = make_ftp_tls(config, tls_detail);
  if (!ftp_tls) return fail(config.setup_error("ftp.tls", tls_detail), 2);
  // SIGHUP: users, log level and FTPS certificates and settings for new connections; sessions in
  // flight keep theirs.
  runtime.on_signal(SIGHUP, [realm, &config, config_path, tls = *ftp_tls] {
    reload_config(config_path, config, *realm, tls.get());
  });
  if (*ftp_tls) {
    (*ftp_tls)->report_expiry();
    asio::co_spawn(runtime.io(), report_tls_expiry_daily(*ftp_tls), asio::detached);
  }

  std::unique_ptr<ftp::Server> ftp_server;
  if (config.ftp) {
    if (config.ftp->listeners.empty()) return fail(config.source + ": ftp.listen: no listen address");
    ftp_server = std::make_unique<ftp::Server>(runtime, *config.ftp, config.limits, realm_source, open_home,
                                               limiter, *ftp_tls);
    std::string where;
    if (auto opened = ftp_server->open(where); !opened) {
      return fail("cannot listen on " + where + " (ftp): " + opened.error().message());
    }
  }
  std::unique_ptr<sftp::Server> sftp_server;
  if (config.sftp) {
    sftp_server = std::make_unique<sftp::Server>(runtime, *config.sftp, config.limits, realm_source, open_home,
                                                 limiter);
    std::string error;
    if (!sftp_server->prepare(error)) return fail(config.setup_error("sftp", error), 2);
    // SIGHUP: host keys read again for new connections, as sshd does; sessions keep theirs.
    // (The reload logs host_keys_reloaded or host_keys_reload_failed itself.)
    runtime.on_signal(SIGHUP, [server = sftp_server.get()] { (void)server->reload_host_keys(); });
    std::string where;
    if (auto opened = sftp_server->open(where); !opened) {
      return fail("cannot listen on " + where + " (sftp): " + opened.error().message());
    }
  }
  if (!ftp_server && !sftp_server) {
    return fail(config.source + ": no protocol is configured (add an ftp: or sftp: section)");
  }

  if (ftp_server) ftp_server->start();
  if (sftp_server) sftp_server->start();
  core::log::info("started").str("config", config.source).num("network_threads", network_threads)
      .num("worker_threads", worker_threads).unum("users", config.users.size());

  asio::steady_timer drain(runtime.io());
  const auto shutdown_started = std::make_shared<std::chrono::steady_clock::time_point>();
  std::function<void()> wait_for_sessions = [&] {
    const std::size_t sessions = (ftp_server ? ftp_server->session_count() : 0) +
                                 (sftp_server ? sftp_server->session_count() : 0);
    if (sessions == 0 ||
        std::chrono::steady_clock::now() - *shutdown_started > std::chrono::seconds(10)) {
      runtime.io().stop();
      return;
    }
    drain.expires_after(std::chrono::milliseconds(50));
    drain.async_wait([&](const error_code&) { wait_for_sessions(); });
  };
  runtime.on_shutdown([&] {
    *shutdown_started = std::chrono::steady_clock::now();
    if (ftp_server) ftp_server->stop();
    if (sftp_server) sftp_server->stop();
    wait_for_sessions();
  });
  runtime.run();
  core::log::info("stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << usage;
    return 2;
  }
  const std::string_view command = argv[1];
  if (command == "run") return command_run(argc, argv);
  if (command == "check") return command_check(argc, argv);
  if (command == "passwd") return command_passwd(argc, argv);
  if (command == "--version" || command == "version") {
    std::cout << "filegate 0.1.0\n";
    return 0;
  }
  if (command == "--help" || command == "help" || command == "-h") {
    std::cout << usage;
    return 0;
  }
  std::cerr << "filegate: unknown command '" << command << "'\n" << usage;
  return 2;
}
