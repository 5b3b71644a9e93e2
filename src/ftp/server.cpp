#include "ftp/server.hpp"

#include "core/log.hpp"
#include "core/tcp_stream.hpp"
#include "ftp/reply.hpp"

namespace filegate::ftp {

Server::Server(core::Runtime& runtime, const Settings& settings, const core::Limits& limits,
               std::function<std::shared_ptr<const auth::Realm>()> realm, HomeOpener open_home,
               core::ConnectionLimiter& limiter, std::shared_ptr<core::TlsServer> tls)
    : runtime_(runtime),
      settings_(settings),
      context_{settings, limits, std::move(realm), runtime.workers(), std::move(open_home), std::move(tls)},
      limiter_(limiter) {}

Result<void> Server::open(std::string& failed_endpoint) {
  for (const auto& listener_settings : settings_.listeners) {
    auto listener = std::make_unique<core::Listener>(
        runtime_.io(), listener_settings.implicit_tls ? "ftps-implicit" : "ftp", limiter_,
        [this, &listener_settings](tcp::socket socket, core::ConnectionLimiter::Slot slot) {
          on_accept(listener_settings, std::move(socket), std::move(slot));
        },
        [](tcp::socket socket) {
          // Best effort, non-blocking: a full server says so and hangs up.
          static const std::string busy = format_reply(421, "Too many connections, try again later.");
          error_code ignored;
          socket.non_blocking(true, ignored);
          socket.write_some(asio::buffer(busy), ignored);
          socket.close(ignored);
        });
    if (auto opened = listener->open(listener_settings.endpoint); !opened) {
      failed_endpoint = core::format_endpoint(listener_settings.endpoint);
      return opened.error();
    }
    listeners_.push_back(std::move(listener));
  }
  return {};
}

void Server::start() {
  for (auto& listener : listeners_) {
    core::log::info("listening")
        .str("protocol", "ftp")
        .str("address", core::format_endpoint(listener->local_endpoint()))
        .flag("implicit_tls", listener->name() == "ftps-implicit");
    listener->start();
  }
}

void Server::stop() {
  for (auto& listener : listeners_) listener->stop();
  sessions_.stop_all();
}

std::vector<tcp::endpoint> Server::endpoints() const {
  std::vector<tcp::endpoint> out;
  for (const auto& listener : listeners_) out.push_back(listener->local_endpoint());
  return out;
}

std::size_t Server::session_count() { return sessions_.count(); }

void Server::on_accept(const ListenerSettings& listener, tcp::socket socket, core::ConnectionLimiter::Slot slot) {
  auto strand = asio::make_strand(runtime_.io());
  auto stream = std::make_unique<core::TcpStream>(std::move(socket));
  auto session = std::make_shared<Session>(context_, listener, std::move(stream), std::move(slot),
                                           next_id_.fetch_add(1), strand);
  sessions_.add(session);
  session->start();
}

}  // namespace filegate::ftp
