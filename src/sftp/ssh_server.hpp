// The SSH transport of the SFTP front-end: listeners, host keys, and the connections they
// start. libssh 0.10 runs non-blocking inside the Asio event loop (see ssh_connection.hpp),
// serves only the "sftp" subsystem, and hands its bytes to the SFTP engine (subsystem.hpp).
// Shell, exec, pty, X11, agent and port forwarding are refused.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "auth/realm.hpp"
#include "core/limits.hpp"
#include "core/listener.hpp"
#include "core/result.hpp"
#include "core/runtime.hpp"
#include "core/session_registry.hpp"
#include "sftp/ssh_settings.hpp"
#include "vfs/filesystem.hpp"

namespace filegate::sftp {

// Opens the filesystem behind a user's home (the local backend in production).
using HomeOpener = std::function<Result<std::shared_ptr<vfs::Filesystem>>(const auth::User&)>;

struct ServerContext;
class Connection;

// Loads the host keys and checks the algorithm lists against them, without starting anything
// (filegate check). On failure `error` names the file or the setting.
bool check_settings(const Settings& settings, std::string& error);

class Server {
 public:
  Server(core::Runtime& runtime, const Settings& settings, const core::Limits& limits,
         std::function<std::shared_ptr<const auth::Realm>()> realm, HomeOpener open_home,
         core::ConnectionLimiter& limiter);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Loads the host keys and configures libssh; on failure `error` names the file or setting.
  bool prepare(std::string& error);
  // Reads the host key files again (SIGHUP) for connections that start from now on; connections
  // in flight keep the keys they began with. On failure the old keys stay. Logs the outcome
  // (host_keys_reloaded, or host_keys_reload_failed saying why), as the FTPS reload does.
  // Safe beside connections starting on other threads (the swap takes the bind's mutex).
  bool reload_host_keys();
  // Binds every listener; the error says which address failed.
  Result<void> open(std::string& failed_endpoint);
  void start();
  // Stops accepting and ends every connection.
  void stop();
  std::size_t session_count();

 private:
  void on_accept(tcp::socket socket, core::ConnectionLimiter::Slot slot);

  core::Runtime& runtime_;
  const Settings& settings_;
  const core::Limits& limits_;
  std::unique_ptr<ServerContext> context_;
  core::ConnectionLimiter& limiter_;
  std::vector<std::unique_ptr<core::Listener>> listeners_;
  core::SessionRegistry<Connection> connections_;
  std::atomic<std::uint64_t> next_id_{1};
};

}  // namespace filegate::sftp
