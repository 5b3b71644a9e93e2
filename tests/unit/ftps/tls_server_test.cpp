#include "ftps/tls_server.hpp"

#include <gtest/gtest.h>

#include <thread>

#include <fstream>
#include <vector>

#include "ftp/data_channel.hpp"
#include "tls_test_util.hpp"

namespace filegate::ftps {
namespace {

using namespace tlstest;
using core::TlsErrc;

ClientOptions versions(int min, int max, bool no_ticket = false) {
  ClientOptions o;
  o.min_version = min;
  o.max_version = max;
  o.no_ticket = no_ticket;
  return o;
}

// `size` bytes that are not one repeated value, so a reordered or dropped chunk shows.
std::string patterned_bytes(std::size_t size) {
  std::string bytes(size, '\0');
  for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<char>(i * 131 + (i >> 9));
  return bytes;
}

class TlsServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { pki_ = new Pki(); }
  static void TearDownTestSuite() {
    delete pki_;
    pki_ = nullptr;
  }

  static TlsSettings settings() {
    TlsSettings s;
    s.certificates = {{pki_->path("server.pem"), pki_->path("server.key")}};
    return s;
  }
  static std::shared_ptr<core::TlsServer> make(const TlsSettings& s) {
    std::string detail;
    auto server = make_tls_server(s, detail);
    EXPECT_TRUE(server) << detail;
    return server ? *server : nullptr;
  }
  // A server whose TLS sessions live 4 s, for the tests of ageing sessions (session times
  // have one-second resolution, hence their margins).
  static std::shared_ptr<core::TlsServer> make_short_lived() {
    auto s = settings();
    s.session_lifetime = std::chrono::seconds(4);
    return make(s);
  }

  // A control connection: handshake, then one byte from the server so that the client has
  // processed the TLS 1.3 NewSessionTickets that precede it.
  std::unique_ptr<core::ByteStream> control(core::TlsServer& server, Client& client) {
    auto accepted = harness_.accept_control(server);
    EXPECT_TRUE(client.handshake());
    auto result = accepted.get();
    EXPECT_TRUE(result) << result.error().message();
    if (!result) return nullptr;
    EXPECT_FALSE(harness_.write(**result, "R"));
    EXPECT_EQ(client.read(1), "R");
    return std::move(*result);
  }

  // A client's control connection on `ctx` (which must outlive it), with the TLS session the
  // client holds from it (what its data connections offer).
  struct ControlConnection {
    std::unique_ptr<Client> client;
    std::unique_ptr<core::ByteStream> stream;
    SessionPtr session;
  };
  ControlConnection open_control(core::TlsServer& server, const ClientContext& ctx) {
    ControlConnection c{std::make_unique<Client>(ctx, harness_.port()), nullptr, nullptr};
    c.stream = control(server, *c.client);
    if (c.stream) c.session.reset(c.client->session());
    return c;
  }

  // A data connection offering `session`; returns the server's result.
  StreamResult data(core::TlsServer& server, core::ByteStream& control, const ClientContext& ctx,
                    SSL_SESSION* session, bool require_reuse, std::unique_ptr<Client>* keep = nullptr,
                    core::FirstFlight* first = nullptr) {
    auto accepted = harness_.accept_data(server, control, require_reuse, first);
    auto client = std::make_unique<Client>(ctx, harness_.port(), session);
    client->handshake();
    auto result = accepted.get();
    if (keep != nullptr) *keep = std::move(client);
    return result;
  }

  // One control handshake of a client with `options`: the server's result, and the key
  // exchange group the client saw negotiated (NID; 0 when the handshake failed).
  std::pair<StreamResult, int> key_exchange(core::TlsServer& server, const ClientOptions& options) {
    ClientContext ctx(options);
    auto accepted = harness_.accept_control(server);
    Client client(ctx, harness_.port());
    const bool ok = client.handshake();
    auto result = accepted.get();
    return {std::move(result), ok ? SSL_get_negotiated_group(client.ssl()) : 0};
  }

  // Why the server refuses to start with `refused`.
  static std::string refusal(const TlsSettings& refused) {
    std::string why;
    EXPECT_FALSE(make_tls_server(refused, why));
    return why;
  }

  static ClientOptions tls13_with_groups(const std::string& groups) {
    ClientOptions o = versions(TLS1_3_VERSION, TLS1_3_VERSION);
    o.groups = groups;
    return o;
  }

  static Pki* pki_;
  Harness harness_;
};

Pki* TlsServerTest::pki_ = nullptr;

TEST_F(TlsServerTest, HandshakeAndEchoBothWays) {
  auto server = make(settings());
  ClientContext ctx;
  Client client(ctx, harness_.port());
  auto stream = control(*server, client);
  ASSERT_TRUE(stream);
  ASSERT_NE(stream->tls(), nullptr);
  EXPECT_TRUE(stream->secure());
  EXPECT_FALSE(stream->zero_copy());
  EXPECT_EQ(stream->tls()->version, "TLSv1.3");
  EXPECT_EQ(stream->tls()->cipher, "TLS_AES_128_GCM_SHA256");
  EXPECT_FALSE(stream->tls()->session_reused);
  EXPECT_FALSE(stream->tls()->client_verified);
  EXPECT_EQ(client.server_cn(), "filegate-server");

  client.write("ping");
  auto [got, ec] = harness_.read(*stream, 4);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(got, "ping");
  EXPECT_FALSE(harness_.write(*stream, "pong"));
  EXPECT_EQ(client.read(4), "pong");

  // Bulk both ways: partial writes and would_block on the server side.
  const std::string big = patterned_bytes(1 << 20);
  std::string received;
  std::thread reader([&] { received = client.read(big.size()); });
  EXPECT_FALSE(harness_.write(*stream, big));
  reader.join();
  EXPECT_TRUE(received == big);
  std::thread writer([&] { client.write(big); });
  auto [up, up_ec] = harness_.read(*stream, big.size());
  writer.join();
  EXPECT_FALSE(up_ec) << up_ec.message();
  EXPECT_TRUE(up == big);
}

TEST_F(TlsServerTest, CloseNotifyIsEndOfStreamAndShutdownSendsOurs) {
  auto server = make(settings());
  ClientContext ctx;
  Client client(ctx, harness_.port());
  auto stream = control(*server, client);
  ASSERT_TRUE(stream);
  client.write("last");
  client.close_notify();
  auto [got, ec] = harness_.read(*stream, 100);
  EXPECT_EQ(got, "last");
  EXPECT_EQ(ec, asio::error::eof);
  EXPECT_FALSE(harness_.shutdown(*stream));
  EXPECT_EQ(client.read_error(), SSL_ERROR_ZERO_RETURN);
}

TEST_F(TlsServerTest, TcpCloseWithoutCloseNotifyIsTruncated) {
  auto server = make(settings());
  ClientContext ctx;
  Client client(ctx, harness_.port());
  auto stream = control(*server, client);
  ASSERT_TRUE(stream);
  client.write("partial upload");
  client.close_tcp();
  auto [got, ec] = harness_.read(*stream, 1000);
  EXPECT_EQ(got, "partial upload");
  EXPECT_EQ(ec, make_error_code(TlsErrc::truncated)) << ec.message();
}

// Fills the socket under a TLS stream until the kernel takes no more, with bytes outside TLS,
// so no record is left half written. Returns how many were sent.
std::size_t fill_send_path(core::ByteStream& stream) {
  const std::string junk(64 * 1024, 'x');
  std::size_t sent = 0;
  for (int quiet_rounds = 0; quiet_rounds < 3;) {
    const ssize_t n = ::send(stream.native_handle(), junk.data(), junk.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
      quiet_rounds = 0;
    } else {
      // Full. Look again after a pause, in case the kernel was still moving data along.
      ++quiet_rounds;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  return sent;
}

// A download's or listing's orderly end (close_notify, FIN) to a client that has stopped reading
// gives up after the stall timeout, instead of holding the transfer forever.
TEST_F(TlsServerTest, DataEndToAClientThatStopsReadingIsStalled) {
  auto server = make(settings());
  ClientContext ctx;
  auto c = open_control(*server, ctx);
  ASSERT_TRUE(c.stream);
  ASSERT_GT(fill_send_path(*c.stream), 0u);

  const auto begin = std::chrono::steady_clock::now();
  auto ended = asio::co_spawn(harness_.io(), ftp::end_stream(*c.stream, std::chrono::seconds(1)), asio::use_future);
  ASSERT_EQ(ended.wait_for(std::chrono::seconds(10)), std::future_status::ready) << "the end was not bounded";
  EXPECT_EQ(ended.get(), ftp::TransferResult::stalled);
  EXPECT_GE(std::chrono::steady_clock::now() - begin, std::chrono::milliseconds(950));
}

TEST_F(TlsServerTest, DataEndToASlowClientWithinTheStallTimeoutIsOrderly) {
  auto server = make(settings());
  ClientContext ctx;
  auto c = open_control(*server, ctx);
  ASSERT_TRUE(c.stream);
  const std::size_t junk = fill_send_path(*c.stream);
  ASSERT_GT(junk, 0u);

  auto ended = asio::co_spawn(harness_.io(), ftp::end_stream(*c.stream, std::chrono::seconds(10)), asio::use_future);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(ended.wait_for(std::chrono::seconds(0)), std::future_status::timeout) << "ended while the path was full";
  // The client catches up: it takes the bytes sent outside TLS, then finds close_notify.
  std::vector<char> sink(64 * 1024);
  for (std::size_t drained = 0; drained < junk;) {
    const ssize_t n = ::recv(SSL_get_fd(c.client->ssl()), sink.data(), std::min(sink.size(), junk - drained), 0);
    ASSERT_GT(n, 0);
    drained += static_cast<std::size_t>(n);
  }
  EXPECT_EQ(c.client->read_error(), SSL_ERROR_ZERO_RETURN) << ERR_error_string(ERR_peek_error(), nullptr);
  ASSERT_EQ(ended.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_EQ(ended.get(), ftp::TransferResult::ok);
}

TEST_F(TlsServerTest, HandshakeTimesOut) {
  auto server = make(settings());
  auto accepted = harness_.accept_control(*server, std::chrono::seconds(1));
  ClientContext ctx;
  Client client(ctx, harness_.port());  // connects but never says hello
  auto result = accepted.get();
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error(), asio::error::timed_out);
}

TEST_F(TlsServerTest, Tls13DataConnectionResumesControlSession) {
  auto server = make(settings());
  ClientContext ctx;
  Client client(ctx, harness_.port());
  auto ctrl = control(*server, client);
  ASSERT_TRUE(ctrl);
  SessionPtr session(client.session());
  std::unique_ptr<Client> data_client;
  auto result = data(*server, *ctrl, ctx, session.get(), true, &data_client);
  ASSERT_TRUE(result) << result.error().message();
  EXPECT_TRUE((*result)->tls()->session_reused);
  EXPECT_EQ((*result)->tls()->version, "TLSv1.3");
  EXPECT_TRUE(data_client->reused());
  // Data moves over it.
  EXPECT_FALSE(harness_.write(**result, "file"));
  EXPECT_EQ(data_client->read(4), "file");
}

// CCC: close_notify both ways or one way, then cleartext on the same TCP connection. Some clients
// start the exchange, some answer ours, some send none; all must work, and the client's first
// cleartext command must not be swallowed, even when it follows its close_notify in one packet.
TEST_F(TlsServerTest, ClearedControlCarriesCleartextHoweverTheClientEndsItsTls) {
  auto server = make(settings());
  enum class Mode { starts, answers, sends_none };
  for (const Mode mode : {Mode::starts, Mode::answers, Mode::sends_none}) {
    SCOPED_TRACE(static_cast<int>(mode));
    ClientContext ctx;
    Client client(ctx, harness_.port());
    auto stream = control(*server, client);
    ASSERT_TRUE(stream);
    if (mode == Mode::starts) {
      ASSERT_EQ(SSL_shutdown(client.ssl()), 0);  // its close_notify, then at once:
      client.send_raw("PWD\r\n");
    }
    EXPECT_FALSE(harness_.clear(*server, *stream));
    EXPECT_FALSE(stream->secure());
    EXPECT_EQ(stream->tls(), nullptr);
    if (mode == Mode::starts) {
      EXPECT_EQ(SSL_shutdown(client.ssl()), 1);  // our answer arrived
    } else {
      EXPECT_EQ(client.read_error(), SSL_ERROR_ZERO_RETURN);  // our close_notify
      if (mode == Mode::answers) {
        EXPECT_EQ(SSL_shutdown(client.ssl()), 1);
      }
      client.send_raw("PWD\r\n");  // (with Mode::answers, right behind its close_notify)
    }
    auto [got, ec] = harness_.read(*stream, 5);
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(got, "PWD\r\n");
    EXPECT_FALSE(harness_.write(*stream, "257 /\r\n"));
    EXPECT_EQ(client.recv_raw(7), "257 /\r\n");
    // The end of a cleared connection is a plain FIN.
    EXPECT_FALSE(harness_.shutdown(*stream));
    EXPECT_EQ(client.recv_raw(1), "");
  }
}

TEST_F(TlsServerTest, EncryptedBytesBeforeTheClientsCloseNotifyAreDroppedUpToABound) {
  auto server = make(settings());
  for (const std::size_t size : {std::size_t{1000}, std::size_t{100'000}}) {
    SCOPED_TRACE(size);
    ClientContext ctx;
    Client client(ctx, harness_.port());
    auto stream = control(*server, client);
    ASSERT_TRUE(stream);
    EXPECT_FALSE(harness_.clear(*server, *stream));
    client.write(std::string(size, 'x'));  // sent before it read our close_notify
    EXPECT_EQ(client.read_error(), SSL_ERROR_ZERO_RETURN);
    SSL_shutdown(client.ssl());
    client.send_raw("NOOP\r\n");
    auto [got, ec] = harness_.read(*stream, 6);
    if (size < 64 * 1024) {
      EXPECT_FALSE(ec) << ec.message();
      EXPECT_EQ(got, "NOOP\r\n");
    } else {
      EXPECT_EQ(ec, boost::system::errc::protocol_error);
      EXPECT_EQ(got, "");
    }
  }
}

TEST_F(TlsServerTest, DataConnectionsOfAClearedControlStillResumeItsSession) {
  auto server = make(settings());
  ClientContext ctx;
  auto ctrl = open_control(*server, ctx);
  ASSERT_TRUE(ctrl.stream);
  ASSERT_FALSE(harness_.clear(*server, *ctrl.stream));
  auto result = data(*server, *ctrl.stream, ctx, ctrl.session.get(), true);
  ASSERT_TRUE(result) << result.error().message();
  EXPECT_TRUE((*result)->tls()->session_reused);
  // Without the session: refused, as before CCC.
  auto refused = data(*server, *ctrl.stream, ctx, nullptr, true);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error(), TlsErrc::session_not_reused);
  // CCC on a plain stream, or twice, is refused.
  EXPECT_EQ(harness_.clear(*server, *ctrl.stream), TlsErrc::not_secure);
}

TEST_F(TlsServerTest, DataConnectionWithoutSessionIsRefused) {
  auto server = make(settings());
  ClientContext ctx;
  Client client(ctx, harness_.port());
  auto ctrl = control(*server, client);
  ASSERT_TRUE(ctrl);
  auto refused = data(*server, *ctrl, ctx, nullptr, true);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error(), make_error_code(TlsErrc::session_not_reused));
  // Without require_reuse the same handshake is accepted and says what happened.
  auto allowed = data(*server, *ctrl, ctx, nullptr, false);
  ASSERT_TRUE(allowed) << allowed.error().message();
  EXPECT_FALSE((*allowed)->tls()->session_reused);
}

TEST_F(TlsServerTest, TicketFromAnotherControlConnectionIsRefused) {
  auto server = make(settings());
  ClientContext victim_ctx;
  ClientContext attacker_ctx;
  auto victim = open_control(*server, victim_ctx);
  ASSERT_TRUE(victim.stream);
  auto attacker = open_control(*server, attacker_ctx);
  ASSERT_TRUE(attacker.stream);
  // The attacker races to the victim's data port with a valid ticket of its own.
  std::unique_ptr<Client> data_client;
  auto result = data(*server, *victim.stream, attacker_ctx, attacker.session.get(), true, &data_client);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error(), make_error_code(TlsErrc::session_not_reused));
  EXPECT_TRUE(data_client->reused());  // TLS-wise it resumed; the binding is what failed
  // The attacker's own ticket still works for the attacker's own data connection.
  auto own = data(*server, *attacker.stream, attacker_ctx, attacker.session.get(), true);
  EXPECT_TRUE(own) << own.error().message();
}

TEST_F(TlsServerTest, Tls12SessionIdResumptionIsAccepted) {
  auto server = make(settings());
  ClientContext ctx(versions(0, TLS1_2_VERSION, true));
  Client client(ctx, harness_.port());
  auto ctrl = control(*server, client);
  ASSERT_TRUE(ctrl);
  EXPECT_EQ(ctrl->tls()->version, "TLSv1.2");
  EXPECT_EQ(ctrl->tls()->cipher, "ECDHE-ECDSA-AES128-GCM-SHA256");
  SessionPtr session(client.session());
  unsigned int id_length = 0;
  SSL_SESSION_get_id(session.get(), &id_length);
  EXPECT_GT(id_length, 0u);
  EXPECT_EQ(SSL_SESSION_has_ticket(session.get()), 0);
  // The same id serves every data connection, also after one was dropped without close_notify
  // (each iteration frees both ends without it).
  for (int i = 0; i < 3; ++i) {
    std::unique_ptr<Client> data_client;
    auto result = data(*server, *ctrl, ctx, session.get(), true, &data_client);
    ASSERT_TRUE(result) << result.error().message();
    EXPECT_TRUE(data_client->reused());
    EXPECT_TRUE((*result)->tls()->session_reused);
    EXPECT_EQ((*result)->tls()->version, "TLSv1.2");
  }
  // Another TLS 1.2 control connection's session id is refused.
  ClientContext other_ctx(versions(0, TLS1_2_VERSION, true));
  auto other = open_control(*server, other_ctx);
  ASSERT_TRUE(other.stream);
  auto refused = data(*server, *other.stream, ctx, session.get(), true);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error(), make_error_code(TlsErrc::session_not_reused));
}

TEST_F(TlsServerTest, Tls12TicketResumptionIsAccepted) {
  auto server = make(settings());
  ClientContext ctx(versions(0, TLS1_2_VERSION));
  Client client(ctx, harness_.port());
  auto ctrl = control(*server, client);
  ASSERT_TRUE(ctrl);
  SessionPtr session(client.session());
  auto result = data(*server, *ctrl, ctx, session.get(), true);
  ASSERT_TRUE(result) << result.error().message();
  EXPECT_TRUE((*result)->tls()->session_reused);
}

TEST_F(TlsServerTest, DataConnectionsIssueNoTickets) {
  // An uploading client never reads from the data connection: a ticket left unread there would
  // turn its close() into a TCP reset that can cut the end of the upload.
  auto server = make(settings());
  ClientContext ctx;
  Client client(ctx, harness_.port());
  auto ctrl = control(*server, client);
  ASSERT_TRUE(ctrl);
  SessionPtr first(client.session());
  std::unique_ptr<Client> data1;
  auto result1 = data(*server, *ctrl, ctx, first.get(), true, &data1);
  ASSERT_TRUE(result1) << result1.error().message();
  EXPECT_FALSE(harness_.write(**result1, "x"));
  EXPECT_EQ(data1->read(1), "x");  // would have processed any ticket sent before the data
  SessionPtr after(data1->session());
  const unsigned char* ticket1 = nullptr;
  const unsigned char* ticket2 = nullptr;
  std::size_t len1 = 0, len2 = 0;
  SSL_SESSION_get0_ticket(first.get(), &ticket1, &len1);
  SSL_SESSION_get0_ticket(after.get(), &ticket2, &len2);
  ASSERT_GT(len1, 0u);
  EXPECT_TRUE(len1 == len2 && std::equal(ticket1, ticket1 + len1, ticket2));
}

// A download's head goes out with the server's first flight (TLS 1.3 "0.5-RTT" data) to a client
// that resumed the control connection's session: the client holds its Finished back and still
// finds the head among what the server sent; the transfer then sends the rest from `sent`.
TEST_F(TlsServerTest, FirstFlightCarriesTheHeadToTheResumingClient) {
  auto server = make(settings());
  ClientContext ctx;
  Client client(ctx, harness_.port());
  auto ctrl = control(*server, client);
  ASSERT_TRUE(ctrl);
  SessionPtr session(client.session());
  const std::string head = "the head of the file";
  core::FirstFlight first;
  first.bytes = std::as_bytes(std::span(head));
  auto accepted = harness_.accept_data(*server, *ctrl, true, &first);
  HeldClient data_client(ctx, harness_.port(), session.get());
  EXPECT_FALSE(data_client.step());
  data_client.send_pending();  // the hello
  data_client.receive_until_quiet();
  ASSERT_TRUE(data_client.step());  // Finished written, not sent
  EXPECT_TRUE(data_client.reused());
  EXPECT_EQ(data_client.read_available(), head);
  data_client.send_pending();  // the Finished
  auto result = accepted.get();
  ASSERT_TRUE(result) << result.error().message();
  EXPECT_EQ(first.sent, head.size());
  EXPECT_FALSE(harness_.write(**result, " and its tail"));
  data_client.receive_until_quiet();
  EXPECT_EQ(data_client.read_available(), " and its tail");
}

// SECURITY: nothing goes out before the Finished to a client that has not resumed this control
// connection's session: not with another control connection's ticket, not on a full handshake
// (allowed for users exempt from reuse), not under TLS 1.2 (whose resumed server flight comes
// first).
TEST_F(TlsServerTest, FirstFlightCarriesNothingWithoutOurSession) {
  auto server = make(settings());
  ClientContext ctx;
  ClientContext other_ctx;
  auto own = open_control(*server, ctx);
  ASSERT_TRUE(own.stream);
  auto other = open_control(*server, other_ctx);
  ASSERT_TRUE(other.stream);
  const std::string head = "secret";
  struct Case {
    const char* name;
    const ClientContext& ctx;
    SSL_SESSION* session;
    bool require_reuse;
  };
  for (const Case& c : {Case{"another control's ticket", other_ctx, other.session.get(), true},
                        Case{"full handshake", ctx, nullptr, false}}) {
    SCOPED_TRACE(c.name);
    core::FirstFlight first;
    first.bytes = std::as_bytes(std::span(head));
    auto accepted = harness_.accept_data(*server, *own.stream, c.require_reuse, &first);
    HeldClient data_client(c.ctx, harness_.port(), c.session);
    data_client.step();
    data_client.send_pending();
    data_client.receive_until_quiet();
    data_client.step();
    EXPECT_EQ(data_client.read_available(), "");
    data_client.send_pending();
    auto result = accepted.get();
    EXPECT_EQ(first.sent, 0u);
    EXPECT_EQ(static_cast<bool>(result), !c.require_reuse);
  }
  // TLS 1.2: resumed, but the handshake is complete before anything could be sent early.
  ClientContext tls12_ctx(versions(0, TLS1_2_VERSION));
  auto tls12 = open_control(*server, tls12_ctx);
  ASSERT_TRUE(tls12.stream);
  core::FirstFlight first;
  first.bytes = std::as_bytes(std::span(head));
  std::unique_ptr<Client> data_client;
  auto result = data(*server, *tls12.stream, tls12_ctx, tls12.session.get(), true, &data_client, &first);
  ASSERT_TRUE(result) << result.error().message();
  EXPECT_TRUE((*result)->tls()->session_reused);
  EXPECT_EQ(first.sent, 0u);
}

// The ticket a client session holds (its bytes), to tell a fresh ticket from the one before.
std::string ticket_of(SSL_SESSION* session) {
  const unsigned char* ticket = nullptr;
  std::size_t length = 0;
  SSL_SESSION_get0_ticket(session, &ticket, &length);
  return std::string(reinterpret_cast<const char*>(ticket), length);
}

TEST_F(TlsServerTest, AgeingSessionGetsAFreshTicketOnTheControlConnection) {
  // A long session outlives its first ticket: once the newest ticket is half way through the
  // session lifetime, the next control reply carries a fresh one, even when the session made
  // no data connection meanwhile (a client idling with keep-alive commands), and data
  // connections keep resuming after the first ticket expired.
  // Session times have one-second resolution, hence the margins.
  auto server = make_short_lived();
  ClientContext ctx;
  Client client(ctx, harness_.port());
  auto ctrl = control(*server, client);
  ASSERT_TRUE(ctrl);
  EXPECT_FALSE(harness_.write(*ctrl, "220"));
  EXPECT_EQ(client.read(3), "220");
  SessionPtr first(client.session());
  ASSERT_FALSE(ticket_of(first.get()).empty());
  // A young ticket is not replaced: no ticket with every reply.
  EXPECT_FALSE(harness_.write(*ctrl, "200"));
  EXPECT_EQ(client.read(3), "200");
  SessionPtr same(client.session());
  EXPECT_TRUE(ticket_of(same.get()) == ticket_of(first.get())) << "a young ticket was replaced";
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));  // half the lifetime has passed
  EXPECT_FALSE(harness_.write(*ctrl, "200"));
  EXPECT_EQ(client.read(3), "200");
  SessionPtr fresh(client.session());
  ASSERT_FALSE(ticket_of(fresh.get()).empty());
  EXPECT_TRUE(ticket_of(fresh.get()) != ticket_of(first.get())) << "no fresh ticket at half the lifetime";
  std::this_thread::sleep_for(std::chrono::milliseconds(3100));  // the first ticket has expired
  auto stale = data(*server, *ctrl, ctx, first.get(), true);
  EXPECT_FALSE(stale);
  auto late = data(*server, *ctrl, ctx, fresh.get(), true);
  ASSERT_TRUE(late) << late.error().message();
  EXPECT_TRUE((*late)->tls()->session_reused);
}

TEST_F(TlsServerTest, SessionAgesWhileAReplyWaitsForASlowClient) {
  // The renewal falls due while a long reply (a big STAT listing) is half written to a client
  // that is not reading: the reply still arrives intact, and the fresh ticket follows it.
  auto server = make_short_lived();
  ClientContext ctx;
  auto c = open_control(*server, ctx);
  ASSERT_TRUE(c.stream);
  Client& client = *c.client;
  const std::string big = patterned_bytes(16 << 20);
  std::string received;
  std::thread reader([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(2100));  // half the lifetime
    received = client.read(big.size());
  });
  EXPECT_FALSE(harness_.write(*c.stream, big));
  reader.join();
  EXPECT_EQ(received.size(), big.size());
  EXPECT_TRUE(received == big) << "the reply was corrupted";
  EXPECT_FALSE(harness_.write(*c.stream, "200"));
  EXPECT_EQ(client.read(3), "200");
  SessionPtr fresh(client.session());
  EXPECT_TRUE(ticket_of(fresh.get()) != ticket_of(c.session.get())) << "no fresh ticket at half the lifetime";
}

TEST_F(TlsServerTest, LongTls12SessionKeepsResumingOnItsDataConnections) {
  // TLS 1.2 cannot hand a client a new session in the middle of a connection. While the
  // control connection lives, its data connections keep resuming its session past the
  // lifetime, by ticket and by session id. A new control connection cannot resume the expired
  // ticket. (A session id stays in the cache as long as its control connection renews it.)
  auto server = make_short_lived();
  for (const bool session_ids : {false, true}) {
    SCOPED_TRACE(session_ids ? "session ids" : "tickets");
    ClientContext ctx(versions(0, TLS1_2_VERSION, session_ids));
    Client client(ctx, harness_.port());
    auto ctrl = control(*server, client);
    ASSERT_TRUE(ctrl);
    SessionPtr session(client.session());
    std::this_thread::sleep_for(std::chrono::milliseconds(2100));
    EXPECT_FALSE(harness_.write(*ctrl, "200"));  // a keep-alive's reply
    EXPECT_EQ(client.read(3), "200");
    std::this_thread::sleep_for(std::chrono::milliseconds(3100));  // the lifetime has passed
    auto late = data(*server, *ctrl, ctx, session.get(), true);
    ASSERT_TRUE(late) << late.error().message();
    EXPECT_TRUE((*late)->tls()->session_reused);
    if (session_ids) continue;
    Client newcomer(ctx, harness_.port(), session.get());
    auto other = control(*server, newcomer);
    ASSERT_TRUE(other);
    EXPECT_FALSE(other->tls()->session_reused);
  }
}

TEST_F(TlsServerTest, TicketKeysRotateWhileTicketsTheySealedStayValid) {
  // Session lifetime 4 s: a new ticket key once the current one is 4 s old. A ticket sealed
  // before the rotation still opens after it, and a TLS 1.2 control connection (which cannot be
  // given a new ticket) keeps its data connections resuming after its key was rotated out twice.
  // (Key and session times have one-second resolution, hence the margins.)
  auto server = make_short_lived();
  ClientContext tls13;
  ClientContext tls12(versions(0, TLS1_2_VERSION));
  const auto key_name = [](const ControlConnection& c) { return ticket_of(c.session.get()).substr(0, 16); };
  auto old12 = open_control(*server, tls12);
  ASSERT_TRUE(old12.stream);
  std::this_thread::sleep_for(std::chrono::milliseconds(2200));
  auto late = open_control(*server, tls13);
  ASSERT_TRUE(late.stream);
  EXPECT_EQ(key_name(late), key_name(old12));
  std::this_thread::sleep_for(std::chrono::milliseconds(3000));  // the first key is 5-6 s old
  auto next = open_control(*server, tls13);
  ASSERT_TRUE(next.stream);
  EXPECT_NE(key_name(next), key_name(late)) << "the ticket key did not rotate";
  auto resumed = data(*server, *late.stream, tls13, late.session.get(), true);
  ASSERT_TRUE(resumed) << resumed.error().message();
  EXPECT_TRUE((*resumed)->tls()->session_reused);

  std::this_thread::sleep_for(std::chrono::milliseconds(4200));
  late = {};  // (its connection no longer holds the first key)
  auto third = open_control(*server, tls13);
  ASSERT_TRUE(third.stream);
  EXPECT_NE(key_name(third), key_name(next));
  auto long12 = data(*server, *old12.stream, tls12, old12.session.get(), true);
  ASSERT_TRUE(long12) << long12.error().message();
  EXPECT_TRUE((*long12)->tls()->session_reused);
}

TEST_F(TlsServerTest, ResumedControlConnectionKeepsWorkingDataConnections) {
  // A client reconnecting its control connection with a session from the previous one: the
  // new control connection's data connections must still resume (both TLS 1.3 and 1.2).
  auto server = make(settings());
  for (const auto& options : {ClientOptions{}, versions(0, TLS1_2_VERSION, true)}) {
    ClientContext ctx(options);
    Client first(ctx, harness_.port());
    auto first_ctrl = control(*server, first);
    ASSERT_TRUE(first_ctrl);
    SessionPtr first_session(first.session());
    Client second(ctx, harness_.port(), first_session.get());
    auto second_ctrl = control(*server, second);
    ASSERT_TRUE(second_ctrl);
    EXPECT_TRUE(second_ctrl->tls()->session_reused);
    SessionPtr second_session(second.session());
    auto result = data(*server, *second_ctrl, ctx, second_session.get(), true);
    ASSERT_TRUE(result) << result.error().message();
    EXPECT_TRUE((*result)->tls()->session_reused);
    // The first control connection's data connections are unaffected.
    auto earlier = data(*server, *first_ctrl, ctx, first_session.get(), true);
    ASSERT_TRUE(earlier) << earlier.error().message();
  }
}

TEST_F(TlsServerTest, UnverifiedDataConnectionDoesNotLaunderTickets) {
  // Without require_reuse a fresh handshake on a data connection is allowed, but the tickets it
  // gets must not pass a later require_reuse check for that control connection.
  auto server = make(settings());
  ClientContext ctx;
  Client client(ctx, harness_.port());
  auto ctrl = control(*server, client);
  ASSERT_TRUE(ctrl);
  ClientContext stranger_ctx;
  std::unique_ptr<Client> stranger;
  auto loose = data(*server, *ctrl, stranger_ctx, nullptr, false, &stranger);
  ASSERT_TRUE(loose) << loose.error().message();
  EXPECT_FALSE(harness_.write(**loose, "x"));
  EXPECT_EQ(stranger->read(1), "x");
  SessionPtr laundered(stranger->session());
  auto result = data(*server, *ctrl, stranger_ctx, laundered.get(), true);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error(), make_error_code(TlsErrc::session_not_reused));
}

TEST_F(TlsServerTest, SecureDataNeedsTlsControl) {
  auto server = make(settings());
  core::TcpStream plain_control(tcp::socket(harness_.io()));
  auto accepted = harness_.accept_data(*server, plain_control, true);
  ClientContext ctx;
  Client client(ctx, harness_.port());
  auto result = accepted.get();
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error(), make_error_code(TlsErrc::not_secure));
}

TEST_F(TlsServerTest, Tls11ClientIsRefused) {
  auto server = make(settings());
  ClientContext ctx(versions(TLS1_1_VERSION, TLS1_1_VERSION));
  auto accepted = harness_.accept_control(*server);
  Client client(ctx, harness_.port());
  EXPECT_FALSE(client.handshake());
  auto result = accepted.get();
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error(), make_error_code(TlsErrc::handshake_failed));
}

TEST_F(TlsServerTest, MinVersionTls13RefusesTls12Client) {
  auto s = settings();
  s.min_version = "TLSv1.3";
  auto server = make(s);
  ClientContext ctx(versions(0, TLS1_2_VERSION));
  auto accepted = harness_.accept_control(*server);
  Client client(ctx, harness_.port());
  EXPECT_FALSE(client.handshake());
  auto result = accepted.get();
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error(), make_error_code(TlsErrc::handshake_failed));
}

TEST_F(TlsServerTest, KeyExchangeIsEllipticCurveOnly) {
  auto server = make(settings());
  // A TLS 1.3 client offering only finite-field groups, which OpenSSL's defaults would accept.
  auto [ffdhe, ffdhe_group] = key_exchange(*server, tls13_with_groups("ffdhe2048:ffdhe3072"));
  ASSERT_FALSE(ffdhe);
  EXPECT_EQ(ffdhe.error(), make_error_code(TlsErrc::handshake_failed));
  // (TLS 1.2 without ECDHE needs an RSA certificate: the integration tests try it.)
  // The default client gets X25519.
  auto [ok, group] = key_exchange(*server, {});
  ASSERT_TRUE(ok) << ok.error().message();
  EXPECT_EQ(group, NID_X25519);
}

TEST_F(TlsServerTest, ConfiguredGroupsLimitTheKeyExchange) {
  auto s = settings();
  s.groups = "P-384";
  auto server = make(s);
  auto [refused, refused_group] = key_exchange(*server, tls13_with_groups("X25519:P-256"));
  ASSERT_FALSE(refused);
  // A client that offers P-384 among others but sent its key share for X25519 is asked for
  // P-384 (HelloRetryRequest).
  auto [ok, group] = key_exchange(*server, tls13_with_groups("X25519:P-384"));
  ASSERT_TRUE(ok) << ok.error().message();
  EXPECT_EQ(group, NID_secp384r1);
  auto [tls12, tls12_group] = key_exchange(*server, versions(0, TLS1_2_VERSION));
  ASSERT_TRUE(tls12) << tls12.error().message();
  EXPECT_EQ(tls12_group, NID_secp384r1);
}

class MutualTlsTest : public TlsServerTest {
 protected:
  StreamResult connect(core::TlsServer& server, const ClientOptions& options) {
    ClientContext ctx(options);
    auto accepted = harness_.accept_control(server);
    Client client(ctx, harness_.port());
    client.handshake();
    auto result = accepted.get();
    if (result) {
      EXPECT_FALSE(harness_.write(**result, "R"));
      EXPECT_EQ(client.read(1), "R");
    }
    return result;
  }
  ClientOptions with(const std::string& name) {
    ClientOptions o;
    o.cert_file = pki_->path(name + ".pem");
    o.key_file = pki_->path(name + ".key");
    return o;
  }
};

TEST_F(MutualTlsTest, CertificateFromCaIsVerified) {
  auto s = settings();
  s.client_ca_file = pki_->path("ca.pem");
  s.require_client_certificate = true;
  auto server = make(s);
  for (int max : {0, TLS1_2_VERSION}) {
    auto options = with("client");
    options.max_version = max;
    auto result = connect(*server, options);
    ASSERT_TRUE(result) << result.error().message();
    const core::TlsInfo* info = (*result)->tls();
    EXPECT_TRUE(info->client_verified);
    EXPECT_EQ(info->client_common_name, "alice");
    EXPECT_EQ(info->client_subject, "CN=alice,O=filegate test");
  }
}

TEST_F(MutualTlsTest, DataConnectionsResumeUnderRequiredClientCertificates) {
  auto s = settings();
  s.client_ca_file = pki_->path("ca.pem");
  s.require_client_certificate = true;
  auto server = make(s);
  for (int max : {0, TLS1_2_VERSION}) {
    auto options = with("client");
    options.max_version = max;
    ClientContext ctx(options);
    Client client(ctx, harness_.port());
    auto ctrl = control(*server, client);
    ASSERT_TRUE(ctrl);
    SessionPtr session(client.session());
    auto result = data(*server, *ctrl, ctx, session.get(), true);
    ASSERT_TRUE(result) << result.error().message();
    EXPECT_TRUE((*result)->tls()->session_reused);
    EXPECT_TRUE((*result)->tls()->client_verified);
    EXPECT_EQ((*result)->tls()->client_common_name, "alice");
  }
}

TEST_F(MutualTlsTest, UnrelatedOrMissingCertificateRefusedWhenRequired) {
  auto s = settings();
  s.client_ca_file = pki_->path("ca.pem");
  s.require_client_certificate = true;
  auto server = make(s);
  auto rogue = connect(*server, with("rogue"));
  ASSERT_FALSE(rogue);
  EXPECT_EQ(rogue.error(), make_error_code(TlsErrc::handshake_failed));
  auto none = connect(*server, ClientOptions{});
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error(), make_error_code(TlsErrc::handshake_failed));
}

TEST_F(MutualTlsTest, MissingCertificateAcceptedWhenOptional) {
  auto s = settings();
  s.client_ca_file = pki_->path("ca.pem");
  auto server = make(s);
  auto none = connect(*server, ClientOptions{});
  ASSERT_TRUE(none) << none.error().message();
  EXPECT_FALSE((*none)->tls()->client_verified);
  EXPECT_TRUE((*none)->tls()->client_common_name.empty());
  auto alice = connect(*server, with("client"));
  ASSERT_TRUE(alice) << alice.error().message();
  EXPECT_TRUE((*alice)->tls()->client_verified);
  EXPECT_EQ((*alice)->tls()->client_common_name, "alice");
}

TEST_F(MutualTlsTest, RevokedCertificateIsRefused) {
  for (const bool required : {true, false}) {
    auto s = settings();
    s.client_ca_file = pki_->path("ca.pem");
    s.require_client_certificate = required;
    s.client_crl_file = pki_->path("crl-alice.pem");
    auto server = make(s);
    for (int max : {0, TLS1_2_VERSION}) {
      auto alice_options = with("client");
      alice_options.max_version = max;
      auto alice = connect(*server, alice_options);
      ASSERT_FALSE(alice) << required << " " << max;
      EXPECT_EQ(alice.error(), make_error_code(TlsErrc::handshake_failed));
      auto bob_options = with("client2");
      bob_options.max_version = max;
      auto bob = connect(*server, bob_options);
      ASSERT_TRUE(bob) << bob.error().message();
      EXPECT_TRUE((*bob)->tls()->client_verified);
      EXPECT_EQ((*bob)->tls()->client_common_name, "bob");
    }
  }
}

TEST_F(MutualTlsTest, CrlsDecideOnlyWhenValid) {
  auto s = settings();
  s.client_ca_file = pki_->path("ca.pem");
  s.client_crl_file = pki_->path("crl-none.pem");
  auto alice = connect(*make(s), with("client"));
  ASSERT_TRUE(alice) << alice.error().message();
  EXPECT_TRUE((*alice)->tls()->client_verified);
  // A list past its next update proves nothing: everyone with a certificate is refused until
  // it is renewed. (A client without one, where certificates are optional, is not asked.)
  s.client_crl_file = pki_->path("crl-expired.pem");
  auto server = make(s);
  auto stale = connect(*server, with("client"));
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error(), make_error_code(TlsErrc::handshake_failed));
  auto none = connect(*server, ClientOptions{});
  ASSERT_TRUE(none) << none.error().message();
  EXPECT_FALSE((*none)->tls()->client_verified);
}

void copy_file(const std::string& from, const std::string& to) {
  std::filesystem::copy_file(from, to, std::filesystem::copy_options::overwrite_existing);
}

TEST_F(TlsServerTest, ReloadServesNewCertificateToNewConnectionsOnly) {
  auto s = settings();
  s.certificates = {{pki_->path("reload.pem"), pki_->path("reload.key")}};
  const auto& files = s.certificates[0];
  copy_file(pki_->path("server.pem"), files.certificate);
  copy_file(pki_->path("server.key"), files.private_key);
  auto server = make(s);
  ClientContext ctx;
  Client old_client(ctx, harness_.port());
  auto old_ctrl = control(*server, old_client);
  ASSERT_TRUE(old_ctrl);
  SessionPtr old_session(old_client.session());
  EXPECT_EQ(old_client.server_cn(), "filegate-server");

  copy_file(pki_->path("server2.pem"), files.certificate);
  copy_file(pki_->path("server2.key"), files.private_key);
  ASSERT_TRUE(server->reload());

  Client new_client(ctx, harness_.port());
  auto new_ctrl = control(*server, new_client);
  ASSERT_TRUE(new_ctrl);
  EXPECT_EQ(new_client.server_cn(), "filegate-server-2");

  // The established connection keeps working, and its data connections still resume its
  // session (they are made from the context it was made from).
  old_client.write("still here");
  auto [got, ec] = harness_.read(*old_ctrl, 10);
  EXPECT_FALSE(ec);
  EXPECT_EQ(got, "still here");
  auto result = data(*server, *old_ctrl, ctx, old_session.get(), true);
  ASSERT_TRUE(result) << result.error().message();
  EXPECT_TRUE((*result)->tls()->session_reused);

  // A broken file on reload keeps the current configuration.
  std::ofstream(files.certificate, std::ios::trunc) << "not a certificate\n";
  EXPECT_FALSE(server->reload());
  Client third(ctx, harness_.port());
  auto third_ctrl = control(*server, third);
  ASSERT_TRUE(third_ctrl);
  EXPECT_EQ(third.server_cn(), "filegate-server-2");
}

TEST_F(TlsServerTest, OneCertificatePerKeyTypeEachClientGetsOneItCanVerify) {
  // RSA listed first: OpenSSL still prefers ECDSA for a client that can verify both.
  auto s = settings();
  s.certificates = {{pki_->path("server-rsa.pem"), pki_->path("server-rsa.key")},
                    {pki_->path("server.pem"), pki_->path("server.key")}};
  auto server = make(s);
  const auto served = [&](const ClientOptions& options) {
    ClientContext ctx(options);
    Client client(ctx, harness_.port());
    auto stream = control(*server, client);
    EXPECT_TRUE(stream);
    return client.server_cn();
  };
  EXPECT_EQ(served(versions(TLS1_3_VERSION, TLS1_3_VERSION)), "filegate-server");
  EXPECT_EQ(served(versions(TLS1_2_VERSION, TLS1_2_VERSION)), "filegate-server");
  // A client that verifies RSA signatures only gets the RSA certificate, over either version.
  ClientOptions rsa_only = versions(TLS1_3_VERSION, TLS1_3_VERSION);
  rsa_only.sigalgs = "rsa_pss_rsae_sha256:rsa_pss_rsae_sha384";
  EXPECT_EQ(served(rsa_only), "filegate-server-rsa");
  rsa_only = versions(TLS1_2_VERSION, TLS1_2_VERSION);
  rsa_only.ciphers = "ECDHE-RSA-AES128-GCM-SHA256";
  EXPECT_EQ(served(rsa_only), "filegate-server-rsa");
  ClientOptions ecdsa_only = versions(TLS1_2_VERSION, TLS1_2_VERSION);
  ecdsa_only.ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256";
  EXPECT_EQ(served(ecdsa_only), "filegate-server");

  // Two of one type: OpenSSL would keep only the second, so it is refused.
  s.certificates = {{pki_->path("server.pem"), pki_->path("server.key")},
                    {pki_->path("server2.pem"), pki_->path("server2.key")}};
  EXPECT_EQ(refusal(s), "certificate[1]: " + pki_->path("server2.pem") + ": a second ECDSA certificate (the first is " +
                            pki_->path("server.pem") + "); list one certificate per key type");
  // A key of another type would sit beside no certificate (or another one): refused.
  s.certificates = {{pki_->path("server.pem"), pki_->path("server-rsa.key")}};
  EXPECT_EQ(refusal(s), "private_key: " + pki_->path("server-rsa.key") + " does not match certificate " +
                            pki_->path("server.pem"));
  s.certificates = {{pki_->path("server.pem"), pki_->path("server.key")},
                    {pki_->path("server-rsa.pem"), pki_->path("server.key")}};
  EXPECT_EQ(refusal(s).rfind("private_key[1]: " + pki_->path("server.key"), 0), 0u);
  s.certificates.clear();
  EXPECT_EQ(refusal(s), "certificate: no certificate");
}

TEST_F(TlsServerTest, ReloadTakesNewSettingsForNewConnections) {
  std::string detail;
  auto made = make_tls_server(settings(), detail);
  ASSERT_TRUE(made) << detail;
  TlsServer& server = **made;
  ClientContext tls12(versions(TLS1_2_VERSION, TLS1_2_VERSION));
  Client old_client(tls12, harness_.port());
  auto old_ctrl = control(server, old_client);
  ASSERT_TRUE(old_ctrl);
  SessionPtr old_session(old_client.session());

  // An RSA certificate beside the ECDSA one, and TLS 1.3 only from now on.
  auto next = settings();
  next.certificates.push_back({pki_->path("server-rsa.pem"), pki_->path("server-rsa.key")});
  next.min_version = "TLSv1.3";
  ASSERT_TRUE(server.reload(next));
  EXPECT_FALSE(key_exchange(server, versions(TLS1_2_VERSION, TLS1_2_VERSION)).first);
  ClientOptions rsa_only = versions(TLS1_3_VERSION, TLS1_3_VERSION);
  rsa_only.sigalgs = "rsa_pss_rsae_sha256";
  ClientContext rsa_ctx(rsa_only);
  Client rsa_client(rsa_ctx, harness_.port());
  ASSERT_TRUE(control(server, rsa_client));
  EXPECT_EQ(rsa_client.server_cn(), "filegate-server-rsa");

  // The TLS 1.2 connection made before goes on, and its data connections still resume it.
  auto result = data(server, *old_ctrl, tls12, old_session.get(), true);
  ASSERT_TRUE(result) << result.error().message();
  EXPECT_TRUE((*result)->tls()->session_reused);

  // Settings that do not load change nothing; a plain reload keeps the new ones.
  auto broken = next;
  broken.certificates[1].certificate = pki_->path("missing.pem");
  EXPECT_FALSE(server.reload(broken));
  ASSERT_TRUE(server.reload());
  Client still(rsa_ctx, harness_.port());
  ASSERT_TRUE(control(server, still));
  EXPECT_EQ(still.server_cn(), "filegate-server-rsa");
  EXPECT_FALSE(key_exchange(server, versions(TLS1_2_VERSION, TLS1_2_VERSION)).first);
}

TEST_F(TlsServerTest, ConfigurationErrorsNameTheSetting) {
  std::string detail;
  auto s = settings();
  s.certificates[0].certificate = pki_->path("missing.pem");
  auto missing = make_tls_server(s, detail);
  ASSERT_FALSE(missing);
  EXPECT_EQ(detail, "certificate: " + pki_->path("missing.pem") + ": No such file or directory");

  s = settings();
  s.certificates[0].private_key = pki_->path("client.key");
  detail.clear();
  EXPECT_FALSE(make_tls_server(s, detail));
  EXPECT_EQ(detail.rfind("private_key: " + pki_->path("client.key"), 0), 0u) << detail;
  EXPECT_NE(detail.find("mismatch"), std::string::npos) << detail;

  s = settings();
  s.ciphers = "NO-SUCH-CIPHER";
  detail.clear();
  EXPECT_FALSE(make_tls_server(s, detail));
  EXPECT_EQ(detail, "ciphers: no cipher match");

  s = settings();
  s.ciphersuites = "TLS_NOPE";
  detail.clear();
  EXPECT_FALSE(make_tls_server(s, detail));
  EXPECT_EQ(detail.rfind("ciphersuites: ", 0), 0u) << detail;

  // Key exchange stays ECDHE whatever the lists say.
  for (const char* groups : {"ffdhe2048", "X25519:ffdhe3072", "X25519:", "", "NOPE"}) {
    s = settings();
    s.groups = groups;
    EXPECT_EQ(refusal(s).rfind("groups: ", 0), 0u) << groups;
  }
  s = settings();
  s.groups = "ffdhe2048";
  EXPECT_EQ(refusal(s), "groups: 'ffdhe2048' is not an elliptic-curve group (allowed: X25519, X448, P-256, P-384, P-521)");
  for (const char* ciphers : {"AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES128-GCM-SHA256",
                              "AECDH-AES128-SHA:@SECLEVEL=0"}) {
    s = settings();
    s.ciphers = ciphers;
    EXPECT_EQ(refusal(s).rfind("ciphers: ", 0), 0u) << ciphers;
  }
  s = settings();
  s.ciphers = "DHE-RSA-AES128-GCM-SHA256";
  EXPECT_EQ(refusal(s),
            "ciphers: DHE-RSA-AES128-GCM-SHA256 is not an ECDHE cipher with a certificate (only ECDHE-ECDSA-* "
            "and ECDHE-RSA-* are allowed)");
  s = settings();
  s.groups = "x25519:P-256:secp384r1";  // names as OpenSSL spells them
  s.ciphers = "ECDHE-ECDSA-AES128-SHA256";  // CBC, if an operator insists
  detail.clear();
  EXPECT_TRUE(make_tls_server(s, detail)) << detail;

  // An encrypted key is refused at once, never prompted for (a prompt on the terminal would
  // stop the start, and a reload for good).
  s = settings();
  s.certificates[0].private_key = pki_->path("server-encrypted.key");
  EXPECT_EQ(refusal(s), "private_key: " + pki_->path("server-encrypted.key") +
                            ": the key is encrypted; filegate reads unencrypted keys only (decrypt it with: "
                            "openssl pkey -in KEY -out NEW_KEY)");

  s = settings();
  s.min_version = "TLSv1.1";
  detail.clear();
  EXPECT_FALSE(make_tls_server(s, detail));
  EXPECT_EQ(detail.rfind("min_version: ", 0), 0u) << detail;

  s = settings();
  s.client_ca_file = pki_->path("missing-ca.pem");
  detail.clear();
  EXPECT_FALSE(make_tls_server(s, detail));
  EXPECT_EQ(detail.rfind("client_ca: " + s.client_ca_file + ": ", 0), 0u) << detail;

  s = settings();
  s.client_ca_file = pki_->path("ca.pem");
  s.client_crl_file = pki_->path("missing-crl.pem");
  EXPECT_EQ(refusal(s).rfind("client_crl: " + s.client_crl_file + ": ", 0), 0u);
  s.client_crl_file = pki_->path("ca.pem");  // a certificate, not a CRL
  EXPECT_EQ(refusal(s), "client_crl: " + s.client_crl_file + ": no start line");  // (OpenSSL's words)
  s = settings();
  s.client_crl_file = pki_->path("crl-none.pem");  // without client_ca
  EXPECT_FALSE(refusal(s).empty());

  detail.clear();
  EXPECT_TRUE(make_tls_server(settings(), detail)) << detail;
}

}  // namespace
}  // namespace filegate::ftps
