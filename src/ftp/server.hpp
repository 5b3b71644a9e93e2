// The FTP front-end: its listeners and the sessions they start.
#pragma once

#include <atomic>
#include <memory>
#include <vector>

#include "core/listener.hpp"
#include "core/runtime.hpp"
#include "core/session_registry.hpp"
#include "ftp/session.hpp"

namespace filegate::ftp {

class Server {
 public:
  Server(core::Runtime& runtime, const Settings& settings, const core::Limits& limits,
         std::function<std::shared_ptr<const auth::Realm>()> realm, HomeOpener open_home,
         core::ConnectionLimiter& limiter, std::shared_ptr<core::TlsServer> tls = nullptr);

  // Binds every listener; the error says which address failed.
  Result<void> open(std::string& failed_endpoint);
  void start();
  // Stops accepting and ends every session.
  void stop();
  std::vector<tcp::endpoint> endpoints() const;
  std::size_t session_count();

 private:
  void on_accept(const ListenerSettings& listener, tcp::socket socket, core::ConnectionLimiter::Slot slot);

  core::Runtime& runtime_;
  const Settings& settings_;
  SessionContext context_;
  core::ConnectionLimiter& limiter_;
  std::vector<std::unique_ptr<core::Listener>> listeners_;
  core::SessionRegistry<Session> sessions_;
  std::atomic<std::uint64_t> next_id_{1};
};

}  // namespace filegate::ftp
