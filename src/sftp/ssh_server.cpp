#include "sftp/ssh_server.hpp"

#include <libssh/libssh.h>
#include <libssh/server.h>

#include <algorithm>

#include "core/log.hpp"
#include "sftp/ssh_connection.hpp"
#include "sftp/ssh_keys.hpp"

namespace filegate::sftp {
namespace {

namespace log = core::log;

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& name : names) out += (out.empty() ? "" : ",") + name;
  return out;
}

// The host key signature algorithms a loaded key can serve.
bool key_serves(const HostKey& key, std::string_view algorithm) {
  if (key.type == "ssh-rsa") return algorithm == "rsa-sha2-512" || algorithm == "rsa-sha2-256" || algorithm == "ssh-rsa";
  return algorithm == key.type;
}

// Host keys loaded and every algorithm list checked; the keys are returned for the bind.
std::optional<std::vector<HostKey>> load_and_check(const Settings& settings, std::string& error) {
  auto keys = load_host_keys(settings.host_key_files, error);
  if (!keys) return std::nullopt;
  const auto& wanted = settings.algorithms.host_keys;
  const bool usable = std::any_of(keys->begin(), keys->end(), [&](const HostKey& key) {
    return std::any_of(wanted.begin(), wanted.end(), [&](const std::string& a) { return key_serves(key, a); });
  });
  if (!usable) {
    std::string types;
    for (const auto& key : *keys) types += (types.empty() ? "" : ", ") + key.type;
    error = "sftp.algorithms.host_keys: no listed algorithm can use the host keys (" + types + ")";
    return std::nullopt;
  }
  for (const auto kind : {AlgorithmKind::kex, AlgorithmKind::ciphers, AlgorithmKind::macs,
                          AlgorithmKind::public_keys}) {
    if (settings.algorithms.list(kind).empty()) {
      error = "sftp.algorithms." + std::string(algorithm_kind_name(kind)) + ": the list is empty";
      return std::nullopt;
    }
  }
  return keys;
}

// A libssh server configuration with `keys` and the settings' algorithm lists, or nullptr with
// `error` set. The bind takes ownership of the keys.
ssh_bind make_bind(const Settings& settings, std::vector<HostKey>& keys, std::string& error) {
  ssh_bind bind = ssh_bind_new();
  if (bind == nullptr) {
    error = "cannot create the SSH server (libssh)";
    return nullptr;
  }
  const auto set = [&](ssh_bind_options_e option, const void* value, std::string_view what) {
    if (ssh_bind_options_set(bind, option, value) != SSH_OK) {
      error = std::string(what) + ": rejected by libssh (" + ssh_get_error(bind) + ")";
      return false;
    }
    return true;
  };
  const auto fail = [&] {
    ssh_bind_free(bind);
    return nullptr;
  };
  // SECURITY: libssh would otherwise read /etc/ssh/libssh_server_config, which could widen the
  // algorithm lists behind the config's back.
  const bool process_config = false;
  if (!set(SSH_BIND_OPTIONS_PROCESS_CONFIG, &process_config, "libssh configuration")) return fail();
  for (auto& key : keys) {
    log::info("ssh_host_key").str("file", key.file).str("type", key.type).str("fingerprint", key.fingerprint);
    if (!set(SSH_BIND_OPTIONS_IMPORT_KEY, key.key.get(), "host key " + key.file)) return fail();
    (void)key.key.release();
    const auto& wanted = settings.algorithms.host_keys;
    if (std::none_of(wanted.begin(), wanted.end(), [&](const std::string& a) { return key_serves(key, a); })) {
      log::warn("ssh_host_key_unused").str("file", key.file).str("type", key.type)
          .str("reason", "no algorithm in sftp.algorithms.host_keys uses it");
    }
  }
  const auto& a = settings.algorithms;
  const std::string kex = join(a.kex), ciphers = join(a.ciphers), macs = join(a.macs),
                    host_keys = join(a.host_keys), public_keys = join(a.public_keys);
  const int rsa_min = static_cast<int>(min_rsa_bits);
  if (!set(SSH_BIND_OPTIONS_KEY_EXCHANGE, kex.c_str(), "sftp.algorithms.kex") ||
      !set(SSH_BIND_OPTIONS_CIPHERS_C_S, ciphers.c_str(), "sftp.algorithms.ciphers") ||
      !set(SSH_BIND_OPTIONS_CIPHERS_S_C, ciphers.c_str(), "sftp.algorithms.ciphers") ||
      !set(SSH_BIND_OPTIONS_HMAC_C_S, macs.c_str(), "sftp.algorithms.macs") ||
      !set(SSH_BIND_OPTIONS_HMAC_S_C, macs.c_str(), "sftp.algorithms.macs") ||
      !set(SSH_BIND_OPTIONS_HOSTKEY_ALGORITHMS, host_keys.c_str(), "sftp.algorithms.host_keys") ||
      !set(SSH_BIND_OPTIONS_PUBKEY_ACCEPTED_KEY_TYPES, public_keys.c_str(), "sftp.algorithms.public_keys") ||
      !set(SSH_BIND_OPTIONS_RSA_MIN_SIZE, &rsa_min, "RSA minimum size") ||
      !set(SSH_BIND_OPTIONS_BANNER, settings.version.c_str(), "SSH version string")) {
    return fail();
  }
  return bind;
}

}  // namespace

bool check_settings(const Settings& settings, std::string& error) {
  return load_and_check(settings, error).has_value();
}

Server::Server(core::Runtime& runtime, const Settings& settings, const core::Limits& limits,
               std::function<std::shared_ptr<const auth::Realm>()> realm, HomeOpener open_home,
               core::ConnectionLimiter& limiter)
    : runtime_(runtime),
      settings_(settings),
      limits_(limits),
      context_(std::make_unique<ServerContext>(settings, limits, std::move(realm), runtime.workers(),
                                               std::move(open_home))),
      limiter_(limiter) {}

Server::~Server() {
  if (context_->bind != nullptr) ssh_bind_free(context_->bind);
}

bool Server::prepare(std::string& error) {
  ssh_init();
  auto keys = load_and_check(settings_, error);
  if (!keys) return false;
  context_->bind = make_bind(settings_, *keys, error);
  if (context_->bind == nullptr) return false;
  const auto& a = settings_.algorithms;
  for (const auto kind : {AlgorithmKind::kex, AlgorithmKind::ciphers, AlgorithmKind::macs,
                          AlgorithmKind::host_keys, AlgorithmKind::public_keys}) {
    for (const auto& name : a.list(kind)) {
      if (algorithm_status(kind, name) == AlgorithmStatus::legacy) {
        log::warn("ssh_legacy_algorithm").str("list", algorithm_kind_name(kind)).str("algorithm", name);
      }
    }
  }
  return true;
}

bool Server::reload_host_keys() {
  std::string error;
  auto keys = load_and_check(settings_, error);
  ssh_bind bind = keys ? make_bind(settings_, *keys, error) : nullptr;
  if (bind == nullptr) {
    log::error("host_keys_reload_failed").str("protocol", "sftp").str("error", error);
    return false;
  }
  {
    // Connections copy the keys out of the bind when they start (ssh_bind_accept_fd), so the
    // old bind is no longer needed once the new one is in place.
    std::lock_guard lock(context_->bind_mutex);
    std::swap(bind, context_->bind);
  }
  ssh_bind_free(bind);
  log::info("host_keys_reloaded").str("protocol", "sftp");
  return true;
}

Result<void> Server::open(std::string& failed_endpoint) {
  for (const auto& listener_settings : settings_.listeners) {
    auto listener = std::make_unique<core::Listener>(
        runtime_.io(), "sftp", limiter_,
        [this](tcp::socket socket, core::ConnectionLimiter::Slot slot) { on_accept(std::move(socket), std::move(slot)); },
        [](tcp::socket socket) {
          // An SSH client expects the server's identification first; a full server just hangs up.
          error_code ignored;
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
    log::info("listening").str("protocol", "sftp").str("address", core::format_endpoint(listener->local_endpoint()));
    listener->start();
  }
}

void Server::stop() {
  for (auto& listener : listeners_) listener->stop();
  connections_.stop_all();
}

std::size_t Server::session_count() { return connections_.count(); }

void Server::on_accept(tcp::socket socket, core::ConnectionLimiter::Slot slot) {
  // SECURITY: the pre-authentication cap is taken before any SSH work is done for the client.
  if (context_->unauthenticated.fetch_add(1) >= limits_.max_unauthenticated) {
    context_->unauthenticated.fetch_sub(1);
    error_code ec;
    const auto peer = socket.remote_endpoint(ec);
    log::warn("connection_refused")
        .str("listener", "sftp")
        .str("client", ec ? std::string() : peer.address().to_string())
        .str("reason", "unauthenticated connection limit");
    socket.close(ec);
    return;
  }
  auto connection = std::make_shared<Connection>(*context_, std::move(socket), std::move(slot),
                                                 next_id_.fetch_add(1), asio::make_strand(runtime_.io()));
  connections_.add(connection);
  connection->start();
}

}  // namespace filegate::sftp
