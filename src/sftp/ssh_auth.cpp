// SSH user authentication (RFC 4252) for one connection: password, keyboard-interactive (one
// password prompt) and public key, and "publickey then password" through partial success.
//
// libssh queues each request as a message; it is answered here, possibly much later: the
// password hash is checked on the worker pool, and a failure is answered only after
// limits.failed_login_delay. While a check is in flight, further requests wait in order.
//
// SECURITY: every refusal looks the same to the client (USERAUTH_FAILURE with the same method
// list); the reason goes to the log only. Passwords are never logged and are wiped after use.
#include <libssh/server.h>
#include <string.h>

// libssh 0.10 marks the message accessors deprecated in favour of its server callbacks. Those
// must answer before they return, so a password could only be checked on the event loop;
// messages can be answered later, after the hash was checked on a worker.
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

#include "core/log.hpp"
#include "core/offload.hpp"
#include "sftp/ssh_connection.hpp"
#include "sftp/ssh_keys.hpp"

namespace filegate::sftp {
namespace {

namespace log = core::log;

// Bounds that only catch abuse, not tunables. Login names reach the log and the realm. A
// password is hashed: sha512-crypt's cost grows with its length, so a 200 KiB "password"
// (an SSH packet allows that) would hold a worker for seconds. FTP's line cap bounds both there.
constexpr std::size_t max_name_length = 256;
constexpr std::size_t max_password_length = 1024;

void wipe(std::string& secret) {
  explicit_bzero(secret.data(), secret.size());
  secret.clear();
}

bool accepts_password(const auth::User& user) {
  return user.ssh_authentication != auth::SshAuthentication::publickey;
}

bool accepts_key(const auth::User& user) {
  return user.ssh_authentication != auth::SshAuthentication::password;
}

}  // namespace

int Connection::offered_methods() const {
  // After a key for a "publickey+password" account, only the password is left to give.
  if (!partial_user_.empty()) return SSH_AUTH_METHOD_PASSWORD | SSH_AUTH_METHOD_INTERACTIVE;
  return SSH_AUTH_METHOD_PUBLICKEY | SSH_AUTH_METHOD_PASSWORD | SSH_AUTH_METHOD_INTERACTIVE;
}

void Connection::reply_failure(MessagePtr message, bool partial) {
  if (ended_) return;
  ssh_message_auth_set_methods(message.get(), offered_methods());
  if (partial) {
    ssh_message_auth_reply_success(message.get(), 1);
  } else {
    ssh_message_reply_default(message.get());
  }
}

void Connection::auth_request(MessagePtr message) {
  ssh_message m = message.get();
  const int method = ssh_message_subtype(m);
  const char* raw_name = ssh_message_auth_user(m);
  std::string name = raw_name != nullptr ? raw_name : "";
  if (name.size() > max_name_length) {
    end("login name too long", "Login name too long");
    return;
  }
  // A different account name starts over: a key verified for one account is no half-login for
  // another (keyboard-interactive answers carry no name, so they keep theirs).
  if (method != SSH_AUTH_METHOD_INTERACTIVE || ssh_message_auth_kbdint_is_response(m) == 0) {
    if (!partial_user_.empty() && name != partial_user_) partial_user_.clear();
    // SECURITY: any new request abandons a keyboard-interactive prompt still waiting for its
    // answer (RFC 4256, 3.4); an answer after it answers nothing.
    kbdint_user_.clear();
  }
  switch (method) {
    case SSH_AUTH_METHOD_NONE:
      // Clients ask this to learn the methods. Only the first is free.
      if (none_seen_ && ++key_offers_ > context_.limits.max_key_offers) {
        end("too many authentication requests", "Too many authentication failures");
        return;
      }
      none_seen_ = true;
      reply_failure(std::move(message));
      return;
    case SSH_AUTH_METHOD_PASSWORD: {
      const char* raw = ssh_message_auth_password(m);
      std::string password = raw != nullptr ? raw : "";
      auth_busy_ = true;
      asio::co_spawn(strand_,
                     check_password(std::move(message), std::move(name), std::move(password), "password"),
                     asio::detached);
      return;
    }
    case SSH_AUTH_METHOD_INTERACTIVE:
      keyboard_interactive(std::move(message), name);
      return;
    case SSH_AUTH_METHOD_PUBLICKEY:
      publickey(std::move(message), name);
      return;
    default:
      // hostbased, gssapi-with-mic ...: not offered; refused like an unknown key.
      if (++key_offers_ > context_.limits.max_key_offers) {
        end("too many authentication requests", "Too many authentication failures");
        return;
      }
      reply_failure(std::move(message));
      return;
  }
}

void Connection::keyboard_interactive(MessagePtr message, const std::string& name) {
  ssh_message m = message.get();
  if (ssh_message_auth_kbdint_is_response(m) == 0) {
    // One prompt, the password; the answer comes back as a new message.
    kbdint_user_ = name;
    const char* prompts[] = {"Password: "};
    char echo[] = {0};
    ssh_message_auth_interactive_request(m, "", "", 1, prompts, echo);
    return;
  }
  std::string password;
  const bool one_answer = ssh_userauth_kbdint_getnanswers(session_) == 1;
  if (one_answer) {
    const char* answer = ssh_userauth_kbdint_getanswer(session_, 0);
    if (answer != nullptr) password = answer;
  }
  std::string account = std::exchange(kbdint_user_, std::string());
  if (account.empty() || !one_answer) {
    wipe(password);
    auth_busy_ = true;
    std::string reason = account.empty() ? "answer without a pending prompt" : "malformed answer";
    asio::co_spawn(strand_, refuse(std::move(message), std::move(account), "keyboard-interactive", std::move(reason)),
                   asio::detached);
    return;
  }
  auth_busy_ = true;
  asio::co_spawn(strand_,
                 check_password(std::move(message), std::move(account), std::move(password), "keyboard-interactive"),
                 asio::detached);
}

awaitable<void> Connection::check_password(MessagePtr message, std::string name, std::string password,
                                           std::string method) {
  auto self = shared_from_this();
  if (password.size() > max_password_length) {
    wipe(password);
    std::string reason = "password longer than " + std::to_string(max_password_length) + " bytes";
    co_await refuse(std::move(message), std::move(name), std::move(method), std::move(reason));
    co_return;
  }
  auto realm = context_.realm();
  const bool key_verified = !partial_user_.empty() && partial_user_ == name;
  std::shared_ptr<vfs::Filesystem> home;
  std::string reason;
  error_code home_error;
  // Checking the password and opening the home are one worker task: one round trip per login.
  auto result = co_await core::offload(context_.workers, [&]() -> Result<std::shared_ptr<const auth::User>> {
    auto user = realm->authenticate(name, password, auth::Protocol::sftp);
    if (!user) {
      reason = user.error().message();
      return user;
    }
    const auto& account = **user;
    if (!accepts_password(account)) {
      reason = "password logins are off for this account (ssh_authentication: publickey)";
      return auth::make_error_code(auth::AuthErrc::bad_credentials);
    }
    if (account.ssh_authentication == auth::SshAuthentication::publickey_and_password && !key_verified) {
      reason = "this account needs a public key before the password";
      return auth::make_error_code(auth::AuthErrc::bad_credentials);
    }
    if (auto opened = context_.open_home(account)) {
      home = std::move(*opened);
    } else {
      home_error = opened.error();
      reason = home_error.message();
    }
    return user;
  });
  wipe(password);
  if (ended_) co_return;
  if (home_error == auth::AuthErrc::too_many_sessions) {
    refuse_session(name, method, home_error);
    co_return;
  }
  if (home_error) log::error("home_unavailable").str("user", name).str("error", reason);
  if (!result || !home) {
    co_await refuse(std::move(message), std::move(name), std::move(method), std::move(reason));
    co_return;
  }
  complete_login(std::move(message), *result, std::move(home),
                 key_verified ? "publickey+" + method : method, "");
  auth_done();
}

void Connection::publickey(MessagePtr message, const std::string& name) {
  ssh_message m = message.get();
  const ssh_key key = ssh_message_auth_pubkey(m);
  const int state = ssh_message_auth_publickey_state(m);
  const std::string print = key != nullptr ? fingerprint(key) : "";
  auto realm = context_.realm();
  auto user = realm->find(name);
  // SECURITY: the same checks for a query and for a signed request, so a key that is offered
  // as acceptable is really accepted; the realm is the one judge of disabled and protocol.
  std::string_view refusal;
  if (!user || user->anonymous) {
    refusal = "unknown user";
  } else if (user->disabled) {
    refusal = "account disabled";
  } else if (!user->allows(auth::Protocol::sftp)) {
    refusal = "protocol not allowed for this account";
  } else if (!accepts_key(*user)) {
    refusal = "public key logins are off for this account (ssh_authentication: password)";
  } else if (key == nullptr || !key_is_authorized(key, user->authorized_keys)) {
    refusal = "key not authorized";
  }
  if (!refusal.empty()) {
    // An offered key that does not fit is not a guessed password: no delay, its own budget.
    ++key_offers_;
    log::info("publickey_refused")
        .unum("session", id_)
        .str("client", peer_.address().to_string())
        .str("user", name)
        .str("fingerprint", print)
        .str("reason", refusal)
        .num("offers", key_offers_);
    if (key_offers_ > context_.limits.max_key_offers) {
      end("too many public keys offered", "Too many authentication failures");
      return;
    }
    reply_failure(std::move(message));
    return;
  }
  if (state == SSH_PUBLICKEY_STATE_NONE) {
    // A query: "would this key do?" Yes; the client signs next.
    ssh_message_auth_reply_pk_ok_simple(m);
    return;
  }
  if (state != SSH_PUBLICKEY_STATE_VALID) {
    // (libssh drops requests whose signature does not verify before they get here.)
    auth_busy_ = true;
    asio::co_spawn(strand_, refuse(std::move(message), name, "publickey", "bad signature"), asio::detached);
    return;
  }
  if (user->ssh_authentication == auth::SshAuthentication::publickey_and_password) {
    partial_user_ = name;
    log::info("login_partial")
        .unum("session", id_)
        .str("protocol", "sftp")
        .str("client", peer_.address().to_string())
        .str("user", name)
        .str("method", "publickey")
        .str("fingerprint", print)
        .str("next", "password");
    reply_failure(std::move(message), true);
    return;
  }
  auth_busy_ = true;
  asio::co_spawn(strand_, login_with_key(std::move(message), std::move(user), print), asio::detached);
}

awaitable<void> Connection::login_with_key(MessagePtr message, std::shared_ptr<const auth::User> user,
                                           std::string key) {
  auto self = shared_from_this();
  const auth::User& account = *user;
  auto opened = co_await core::offload(context_.workers, [&] { return context_.open_home(account); });
  if (ended_) co_return;
  if (!opened && opened.error() == auth::AuthErrc::too_many_sessions) {
    refuse_session(account.name, "publickey", opened.error());
    co_return;
  }
  if (!opened) {
    log::error("home_unavailable").str("user", account.name).str("error", opened.error().message());
    co_await refuse(std::move(message), account.name, "publickey", opened.error().message());
    co_return;
  }
  complete_login(std::move(message), std::move(user), std::move(*opened), "publickey", key);
  auth_done();
}

void Connection::refuse_session(const std::string& name, const std::string& method, error_code why) {
  // The credentials were right, so this is no login failure. The client is told why: SSH has
  // no "try later" answer to an authentication request, and "Permission denied" would mislead.
  log_failed_login(name, method, why.message(), std::nullopt);
  end(why.message(), "Too many sessions for this user; try again later");
}

void Connection::log_failed_login(std::string_view name, std::string_view method, std::string_view reason,
                                  std::optional<unsigned> failures) {
  auto event = log::warn("login");
  event.unum("session", id_)
      .str("protocol", "sftp")
      .str("client", peer_.address().to_string())
      .str("user", name)
      .str("method", method)
      .str("result", "failed")
      .str("reason", reason);
  if (failures) event.num("failures", *failures);
}

awaitable<void> Connection::refuse(MessagePtr message, std::string name, std::string method, std::string reason) {
  auto self = shared_from_this();
  ++failures_;
  log_failed_login(name, method, reason, failures_);
  // The delay runs on this connection's strand only: other connections are not slowed.
  asio::steady_timer delay(strand_);
  delay.expires_after(context_.limits.failed_login_delay);
  co_await delay.async_wait(as_tuple_awaitable);
  if (ended_) co_return;
  reply_failure(std::move(message));
  if (failures_ >= context_.limits.max_login_failures) {
    log::warn("login_attempts_exceeded").unum("session", id_).str("client", peer_.address().to_string());
    end("too many login failures", "Too many authentication failures");
    co_return;
  }
  auth_done();
}

void Connection::complete_login(MessagePtr message, std::shared_ptr<const auth::User> user,
                                std::shared_ptr<vfs::Filesystem> home, std::string_view method, std::string_view key) {
  user_ = std::move(user);
  fs_ = std::make_shared<auth::AuthorizedFilesystem>(std::move(home), user_->permissions);
  partial_user_.clear();
  ssh_message_auth_reply_success(message.get(), 0);
  release_unauthenticated();
  login_timer_.cancel();
  touch();
  watch_idle();
  const char* cipher = ssh_get_cipher_out(session_);
  const char* kex = ssh_get_kex_algo(session_);
  log::info("login")
      .unum("session", id_)
      .str("protocol", "sftp")
      .str("client", peer_.address().to_string())
      .str("user", user_->name)
      .flag("anonymous", user_->anonymous)
      .str("method", method)
      .str("fingerprint", key)
      .str("kex", kex != nullptr ? kex : "")
      .str("cipher", cipher != nullptr ? cipher : "")
      .str("result", "ok");
}

void Connection::auth_done() {
  auth_busy_ = false;
  // Requests that arrived meanwhile, in order, until one starts another check.
  while (!waiting_.empty() && !auth_busy_ && !ended_) {
    auto next = std::move(waiting_.front());
    waiting_.pop_front();
    dispatch(std::move(next));
  }
  schedule();
}

void Connection::watch_login_deadline() {
  login_timer_.expires_after(context_.limits.login_timeout);
  login_timer_.async_wait([self = shared_from_this()](const error_code& ec) {
    if (ec || self->ended_ || self->user_) return;
    log::info("session_timeout").unum("session", self->id_).str("client", self->peer_.address().to_string())
        .str("reason", "login");
    self->end("login timeout", "Login timeout");
  });
}

void Connection::watch_idle() {
  idle_timer_.expires_at(last_activity_ + context_.limits.control_idle_timeout);
  idle_timer_.async_wait([self = shared_from_this()](const error_code& ec) {
    if (ec || self->ended_) return;
    if (std::chrono::steady_clock::now() >= self->last_activity_ + self->context_.limits.control_idle_timeout) {
      log::info("session_timeout").unum("session", self->id_).str("client", self->peer_.address().to_string())
          .str("reason", "idle");
      self->end("idle timeout", "Idle timeout");
      return;
    }
    self->watch_idle();
  });
}

}  // namespace filegate::sftp
