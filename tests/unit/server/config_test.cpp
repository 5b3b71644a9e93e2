#include "server/config.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace filegate::server {
namespace {

namespace fs = std::filesystem;

// yescrypt of "correct horse" (made outside the test).
constexpr const char* hash = "$y$j9T$EP84zqWmQLfMfI2fvzYdy.$0Mv5iM0Qre8kmQ0gi1FcJhKt3MTmvMMbQ2iLJawV/Y7";
constexpr const char* key_line =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGZhbGtlZmFrZWZha2VmYWtlZmFrZWZha2VmYWtlZmFr alice@laptop";
// Public halves of throwaway keys made for these tests (the private halves were discarded).
constexpr const char* rsa_key_line =
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCHS3OdHkWK/h3iCQfafDBNG/4sJ+eM9ZCW61O85GcIbKKmT7bHY/EFwtlLL/xXhG8eCKaPbGbFsNan6iBtjI9Bu8BuYD/oFBifRvYvOF1dcCd/a2RTJibjdpAFExyEQyn3FRhqDn1vjDUAEJQkDY85xRYgCfUfKc4FD1DZzWmc5a2R2XKSFIxd0BcyeB+rXjzZJjnSOu04LeRUMoWBtEnkNpjrucNZFs1ZoXirhqxwM4aqm6q36hD+eNlK0LFEJrJZCHGiOc5yZtJSBOD09MRfJe8ncPQ0GQFxgFirBv4KOOz251vH9znZ6cTZf1ANnZjwzEfVC8irsHJM2Xk9jaaL second";
constexpr const char* ecdsa_key_line = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBCMYbwl3elWAMagdQupnP9Hj4mK040yEMk/dgo8tc/qgZXsCAgcq04EXZh+J3c/treyBrR/3ZkC2uVKjTYuk/Nk=";
constexpr const char* rsa_1024_line = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDFpMzxV0/Yv4iXjHz2cPbHtNvCk8hsGuNxqa4Eh8PfeiEeFl3apHJgmOf/F8ThgxTApEfd8jvOs6p/yDbdFNBdfChuspriut7h7ErCd3fQYgK/ryArpmr/azKHMuxy2+BUP70mBPudV8kEdZ4kokEfKSFqtYw6sOqY+fFKPkiNxw==";

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "filegate-config-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  void write(const std::string& name, const std::string& text) const {
    fs::create_directories((path_ / name).parent_path());
    std::ofstream(path_ / name) << text;
  }

 private:
  fs::path path_;
};

// The ConfigError message for `text`, or "" if it parsed.
std::string error_of(const std::string& text, const std::string& base = "/etc/filegate") {
  try {
    parse_config(text, "filegate.yaml", base);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

// A minimal valid user entry, to which a test appends its own keys.
std::string user(const std::string& name) { return "  - name: " + name + "\n    home: /srv/files/" + name + "\n"; }

TEST(Config, EmptyFileGivesDefaults) {
  const Config config = parse_config("", "empty.yaml");
  const core::Limits defaults;
  EXPECT_EQ(config.source, "empty.yaml");
  EXPECT_EQ(config.log_level, core::log::Level::info);
  EXPECT_EQ(config.network_threads, 0u);
  EXPECT_EQ(config.worker_threads, 0u);
  EXPECT_EQ(config.limits.control_idle_timeout, defaults.control_idle_timeout);
  EXPECT_EQ(config.limits.max_connections, defaults.max_connections);
  EXPECT_EQ(config.limits.failed_login_delay, defaults.failed_login_delay);
  EXPECT_FALSE(config.ftp);
  EXPECT_TRUE(config.users.empty());
  EXPECT_FALSE(config.anonymous);
}

TEST(Config, FullValidFile) {
  TempDir dir;
  dir.write("keys/alice.pub", std::string("# alice's keys\n\n") + key_line + "\r\n  " + rsa_key_line + "\n");
  const std::string text = std::string(R"(# filegate test configuration
log: {level: debug}
runtime: {network_threads: 2, worker_threads: 16}
limits:
  control_idle_timeout: 120
  login_timeout: 30
  data_connect_timeout: 20
  transfer_stall_timeout: 600
  max_command_line: 8192
  max_connections: 500
  max_connections_per_ip: 20
  failed_login_delay_ms: 2500
  max_login_failures: 5
ftp:
  listen:
    - "127.0.0.1:2121"
    - {address: "[::1]:0", passive_address: "198.51.100.7"}
    - ":21"
  passive_ports: "50000-50100"
  passive_address: "203.0.113.5"
  active_mode: false
  active_allow_privileged_ports: true
  active_allow_fxp: true
  atomic_uploads: true
  banner: "Welcome to the example.org drop box"
users:
  - name: zed
    password_hash: ")") + hash + R"("
    home: /srv/files/zed
  - name: alice
    password_hash: ")" + hash + R"("
    home: files/alice
    permissions: elradfmwMT
    protocols: [sftp, ftps]
    disabled: true
    directories:
      - {path: /inbox, permissions: ew, recursive: true}
      - path: /outbox/
        permissions: elr
        recursive: false
    authorized_keys: [")" + key_line + R"("]
    authorized_keys_file: keys/alice.pub
anonymous:
  enabled: true
  home: public
  permissions: el
  protocols: [ftp]
  max_sessions: 50
)";
  const Config config = parse_config(text, "full.yaml", dir.path().string());
  EXPECT_EQ(config.log_level, core::log::Level::debug);
  EXPECT_EQ(config.network_threads, 2u);
  EXPECT_EQ(config.worker_threads, 16u);
  EXPECT_EQ(config.limits.control_idle_timeout, core::Seconds(120));
  EXPECT_EQ(config.limits.login_timeout, core::Seconds(30));
  EXPECT_EQ(config.limits.data_connect_timeout, core::Seconds(20));
  EXPECT_EQ(config.limits.transfer_stall_timeout, core::Seconds(600));
  EXPECT_EQ(config.limits.max_command_line, 8192u);
  EXPECT_EQ(config.limits.max_connections, 500u);
  EXPECT_EQ(config.limits.max_connections_per_ip, 20u);
  EXPECT_EQ(config.limits.failed_login_delay, core::Milliseconds(2500));
  EXPECT_EQ(config.limits.max_login_failures, 5u);

  ASSERT_TRUE(config.ftp);
  const auto& ftp = *config.ftp;
  ASSERT_EQ(ftp.listeners.size(), 3u);
  EXPECT_EQ(ftp.listeners[0].endpoint, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 2121));
  EXPECT_FALSE(ftp.listeners[0].passive_address);
  EXPECT_EQ(ftp.listeners[1].endpoint, tcp::endpoint(asio::ip::make_address("::1"), 0));
  ASSERT_TRUE(ftp.listeners[1].passive_address);
  EXPECT_EQ(ftp.listeners[1].passive_address->to_string(), "198.51.100.7");
  EXPECT_EQ(ftp.listeners[2].endpoint.port(), 21);
  EXPECT_TRUE(ftp.listeners[2].endpoint.address().is_unspecified());
  EXPECT_EQ(ftp.passive_port_min, 50000);
  EXPECT_EQ(ftp.passive_port_max, 50100);
  ASSERT_TRUE(ftp.passive_address);
  EXPECT_EQ(ftp.passive_address->to_string(), "203.0.113.5");
  EXPECT_FALSE(ftp.active_enabled);
  EXPECT_TRUE(ftp.active_allow_privileged_ports);
  EXPECT_TRUE(ftp.active_allow_foreign_address);
  EXPECT_TRUE(ftp.atomic_uploads);
  EXPECT_EQ(ftp.banner, "Welcome to the example.org drop box");

  ASSERT_EQ(config.users.size(), 2u);
  const auto& zed = config.users[0];
  EXPECT_EQ(zed.name, "zed");
  EXPECT_EQ(zed.home, "/srv/files/zed");
  EXPECT_EQ(zed.permissions.base().letters(), "elr");
  EXPECT_EQ(zed.protocols, auth::all_protocols);
  EXPECT_FALSE(zed.disabled);
  EXPECT_FALSE(zed.anonymous);

  const auto& alice = config.users[1];
  EXPECT_EQ(alice.name, "alice");
  EXPECT_EQ(alice.password_hash, hash);
  EXPECT_EQ(alice.home, (dir.path() / "files/alice").string());
  EXPECT_EQ(alice.permissions.base().letters(), "elradfmwMT");
  EXPECT_TRUE(alice.allows(auth::Protocol::sftp));
  EXPECT_TRUE(alice.allows(auth::Protocol::ftps));
  EXPECT_FALSE(alice.allows(auth::Protocol::ftp));
  EXPECT_TRUE(alice.disabled);
  ASSERT_EQ(alice.permissions.rules().size(), 2u);
  const auto path = [](const char* p) { return *vfs::Path::parse(p); };
  EXPECT_EQ(alice.permissions.effective(path("/inbox/a/b")).letters(), "ew");
  EXPECT_EQ(alice.permissions.effective(path("/outbox/f")).letters(), "elr");
  EXPECT_EQ(alice.permissions.effective(path("/outbox/d/f")).letters(), "elradfmwMT");
  ASSERT_EQ(alice.authorized_keys.size(), 3u);
  EXPECT_EQ(alice.authorized_keys[0], key_line);
  EXPECT_EQ(alice.authorized_keys[1], key_line);  // from the file, CRLF stripped
  EXPECT_EQ(alice.authorized_keys[2], rsa_key_line);

  ASSERT_TRUE(config.anonymous);
  EXPECT_TRUE(config.anonymous->anonymous);
  EXPECT_EQ(config.anonymous->name, "anonymous");
  EXPECT_EQ(config.anonymous->home, (dir.path() / "public").string());
  EXPECT_EQ(config.anonymous->permissions.base().letters(), "el");
  EXPECT_TRUE(config.anonymous->allows(auth::Protocol::ftp));
  EXPECT_FALSE(config.anonymous->allows(auth::Protocol::ftps));
  EXPECT_EQ(config.anonymous->max_sessions, 50u);
}

TEST(Config, FtpDefaultsComeFromSettings) {
  const Config config = parse_config("ftp:\n  listen: [\"127.0.0.1:0\"]\n", "f.yaml");
  ASSERT_TRUE(config.ftp);
  const ftp::Settings defaults;
  EXPECT_EQ(config.ftp->passive_port_min, defaults.passive_port_min);
  EXPECT_EQ(config.ftp->passive_port_max, defaults.passive_port_max);
  EXPECT_EQ(config.ftp->passive_address, defaults.passive_address);
  EXPECT_EQ(config.ftp->active_enabled, defaults.active_enabled);
  EXPECT_EQ(config.ftp->active_allow_privileged_ports, defaults.active_allow_privileged_ports);
  EXPECT_EQ(config.ftp->active_allow_foreign_address, defaults.active_allow_foreign_address);
  EXPECT_EQ(config.ftp->atomic_uploads, defaults.atomic_uploads);
  EXPECT_EQ(config.ftp->banner, defaults.banner);
}

TEST(Config, CertificatesPairWithKeysInOrder) {
  // One certificate per key type: ECDSA for current clients, RSA for older ones.
  const std::string text =
      "ftp:\n"
      "  listen: [\"127.0.0.1:2121\"]\n"
      "  tls:\n"
      "    certificate:\n"
      "      - certs/ecdsa.pem\n"
      "      - /etc/ssl/rsa.pem\n"
      "    private_key: [ecdsa.key, rsa.key]\n"
      "users: []\n";
  const Config config = parse_config(text, "t.yaml", "/etc/filegate");
  ASSERT_TRUE(config.ftp_tls);
  ASSERT_EQ(config.ftp_tls->certificates.size(), 2u);
  EXPECT_EQ(config.ftp_tls->certificates[0].certificate, "/etc/filegate/certs/ecdsa.pem");
  EXPECT_EQ(config.ftp_tls->certificates[0].private_key, "/etc/filegate/ecdsa.key");
  EXPECT_EQ(config.ftp_tls->certificates[1].certificate, "/etc/ssl/rsa.pem");
  EXPECT_EQ(config.ftp_tls->certificates[1].private_key, "/etc/filegate/rsa.key");
  // The server's errors name the pair (ftps::certificate_setting), and so point at its line.
  EXPECT_EQ(config.setup_error("ftp.tls", "certificate[1]: /etc/ssl/rsa.pem: no start line"),
            "t.yaml:6: ftp.tls.certificate[1]: /etc/ssl/rsa.pem: no start line");
  EXPECT_EQ(config.setup_error("ftp.tls", "private_key[1]: /etc/filegate/rsa.key: bad decrypt"),
            "t.yaml:7: ftp.tls.private_key[1]: /etc/filegate/rsa.key: bad decrypt");
  // A list of one is named like a single file.
  const Config one = parse_config("ftp:\n  listen: [\":21\"]\n  tls:\n    certificate: [c.pem]\n    private_key: [k]\n", "t.yaml", "/x");
  ASSERT_EQ(one.ftp_tls->certificates.size(), 1u);
  EXPECT_EQ(one.setup_error("ftp.tls", "certificate: /x/c.pem: no start line"),
            "t.yaml:4: ftp.tls.certificate: /x/c.pem: no start line");
  EXPECT_EQ(ftps::certificate_setting("certificate", 0, 1), "certificate");
  EXPECT_EQ(ftps::certificate_setting("private_key", 1, 2), "private_key[1]");
}

TEST(Config, StartUpErrorsOfFilesAndCipherListsNameTheirLine) {
  // Certificate, key and host key files and cipher lists are checked when the server starts;
  // their errors still point at the line that set them.
  const std::string text =
      "ftp:\n"
      "  listen: [\"127.0.0.1:2121\"]\n"
      "  tls:\n"
      "    certificate: /etc/filegate/server.pem\n"
      "    private_key: /etc/filegate/server.key\n"
      "    ciphers: NOPE\n"
      "    groups: ffdhe2048\n"
      "sftp:\n"
      "  listen: [\"127.0.0.1:2222\"]\n"
      "  host_keys:\n"
      "    - /etc/filegate/host_ed25519\n"
      "    - /etc/filegate/host_ecdsa\n"
      "users: []\n";
  const Config config = parse_config(text, "t.yaml");
  EXPECT_EQ(config.setup_error("ftp.tls", "certificate: /etc/filegate/server.pem: no start line"),
            "t.yaml:4: ftp.tls.certificate: /etc/filegate/server.pem: no start line");
  EXPECT_EQ(config.setup_error("ftp.tls", "private_key: /etc/filegate/server.key: bad decrypt"),
            "t.yaml:5: ftp.tls.private_key: /etc/filegate/server.key: bad decrypt");
  EXPECT_EQ(config.setup_error("ftp.tls", "ciphers: no cipher match"), "t.yaml:6: ftp.tls.ciphers: no cipher match");
  EXPECT_EQ(config.ftp_tls->groups, "ffdhe2048");  // (refused when the server starts: ftps tests)
  EXPECT_EQ(config.setup_error("ftp.tls", "groups: 'ffdhe2048' is not an elliptic-curve group"),
            "t.yaml:7: ftp.tls.groups: 'ffdhe2048' is not an elliptic-curve group");
  EXPECT_EQ(config.setup_error("sftp", "host_keys[1]: cannot read host key /etc/filegate/host_ecdsa: x"),
            "t.yaml:12: sftp.host_keys[1]: cannot read host key /etc/filegate/host_ecdsa: x");
  // A setting the file does not set, or a detail that names none, falls back to the section.
  EXPECT_EQ(config.setup_error("ftp.tls", "client_ca: /ca.pem: gone"), "t.yaml: ftp.tls: client_ca: /ca.pem: gone");
  EXPECT_EQ(config.setup_error("sftp", "no host key configured"), "t.yaml: sftp: no host key configured");
}

TEST(Config, TlsSectionAndOverrides) {
  const std::string text =
      "ftp:\n"
      "  listen:\n"
      "    - \"127.0.0.1:2121\"\n"
      "    - {address: \"127.0.0.1:2990\", implicit_tls: true}\n"
      "    - {address: \"127.0.0.1:2122\", tls_control: optional, tls_data: optional}\n"
      "  tls:\n"
      "    certificate: certs/server.pem\n"
      "    private_key: /etc/filegate/server.key\n"
      "    min_version: TLSv1.3\n"
      "    control: optional\n"
      "    session_reuse: false\n"
      "    allow_ccc: true\n"
      "users:\n"
      "  - name: legacy\n"
      "    home: /srv/legacy\n"
      "    tls: {control: required, data: optional, session_reuse: false, allow_ccc: false}\n"
      "  - name: other\n"
      "    home: /srv/other\n"
      "    max_sessions: 3\n"
      "limits:\n"
      "  max_sessions_per_user: 5\n";
  const Config config = parse_config(text, "t.yaml", "/etc/filegate");
  ASSERT_TRUE(config.ftp && config.ftp_tls);
  ASSERT_EQ(config.ftp_tls->certificates.size(), 1u);
  EXPECT_EQ(config.ftp_tls->certificates[0].certificate, "/etc/filegate/certs/server.pem");
  EXPECT_EQ(config.ftp_tls->certificates[0].private_key, "/etc/filegate/server.key");
  EXPECT_EQ(config.ftp_tls->min_version, "TLSv1.3");
  EXPECT_EQ(config.ftp->tls_control, ftp::TlsPolicy::optional);
  EXPECT_EQ(config.ftp->tls_data, ftp::TlsPolicy::required);  // the safe default stays
  EXPECT_FALSE(config.ftp->tls_session_reuse);
  EXPECT_TRUE(config.ftp->tls_allow_ccc);
  EXPECT_FALSE(config.ftp->listeners[0].implicit_tls);
  EXPECT_TRUE(config.ftp->listeners[1].implicit_tls);
  EXPECT_EQ(config.ftp->listeners[2].tls_control, ftp::TlsPolicy::optional);
  EXPECT_EQ(config.ftp->listeners[2].tls_data, ftp::TlsPolicy::optional);
  ASSERT_EQ(config.users.size(), 2u);
  EXPECT_EQ(config.users[0].tls.control_required, true);
  EXPECT_EQ(config.users[0].tls.data_required, false);
  EXPECT_EQ(config.users[0].tls.session_reuse_required, false);
  EXPECT_EQ(config.users[0].tls.allow_ccc, false);
  EXPECT_EQ(config.users[1].tls.allow_ccc, std::nullopt);
  EXPECT_EQ(config.users[0].max_sessions, std::nullopt);
  EXPECT_EQ(config.users[1].max_sessions, 3u);
  EXPECT_EQ(config.limits.max_sessions_per_user, 5u);
  EXPECT_EQ(core::Limits{}.max_sessions_per_user, 0u);  // no limit unless configured
}

TEST(Config, ClientCertificateLogin) {
  const std::string text =
      "users:\n"
      "  - name: partner\n"
      "    home: /srv/partner\n"
      "    client_certificate: {common_name: partner-a.example, password: not_required}\n"
      "  - name: both\n"
      "    home: /srv/both\n"
      "    client_certificate: {common_name: both.example}\n"
      "  - name: plain\n"
      "    home: /srv/plain\n";
  const Config config = parse_config(text, "c.yaml");
  ASSERT_EQ(config.users.size(), 3u);
  ASSERT_TRUE(config.users[0].certificate);
  EXPECT_EQ(config.users[0].certificate->common_name, "partner-a.example");
  EXPECT_FALSE(config.users[0].certificate->password_required);
  ASSERT_TRUE(config.users[1].certificate);
  EXPECT_TRUE(config.users[1].certificate->password_required);  // certificate AND password by default
  EXPECT_FALSE(config.users[2].certificate);
  EXPECT_EQ(error_of("users:\n  - name: p\n    home: /p\n    client_certificate: {password: required}\n"),
            "filegate.yaml:4: users[0].client_certificate: missing required key 'common_name'");
  EXPECT_EQ(error_of("users:\n  - name: p\n    home: /p\n    client_certificate: {common_name: x, password: maybe}\n"),
            "filegate.yaml:4: users[0].client_certificate.password: expected required or not_required, found 'maybe'");
}

TEST(Config, TlsPolicyDefaultsAreRequired) {
  const ftp::Settings defaults;
  EXPECT_EQ(defaults.tls_control, ftp::TlsPolicy::required);
  EXPECT_EQ(defaults.tls_data, ftp::TlsPolicy::required);
  EXPECT_TRUE(defaults.tls_session_reuse);
  EXPECT_FALSE(defaults.tls_allow_ccc);  // CCC is refused unless configured
  const Config config = parse_config("ftp:\n  listen: [\":21\"]\n", "f.yaml");
  EXPECT_FALSE(config.ftp_tls);
}

TEST(Config, UserDefaults) {
  const Config config = parse_config("users:\n" + user("bob"), "u.yaml");
  ASSERT_EQ(config.users.size(), 1u);
  const auto& bob = config.users[0];
  EXPECT_TRUE(bob.password_hash.empty());
  EXPECT_EQ(bob.permissions.base().letters(), "elr");
  EXPECT_TRUE(bob.permissions.rules().empty());
  EXPECT_EQ(bob.protocols, auth::all_protocols);
  EXPECT_FALSE(bob.disabled);
  EXPECT_TRUE(bob.authorized_keys.empty());
}

TEST(Config, AnonymousDefaultsAndDisabled) {
  const Config on = parse_config("anonymous: {enabled: true, home: /srv/pub}\n", "a.yaml");
  ASSERT_TRUE(on.anonymous);
  EXPECT_EQ(on.anonymous->permissions.base().letters(), "elr");
  EXPECT_TRUE(on.anonymous->allows(auth::Protocol::ftp));
  EXPECT_TRUE(on.anonymous->allows(auth::Protocol::ftps));
  EXPECT_FALSE(on.anonymous->allows(auth::Protocol::sftp));
  EXPECT_FALSE(parse_config("anonymous: {enabled: false, home: /srv/pub}\n", "a.yaml").anonymous);
  EXPECT_FALSE(parse_config("anonymous: {home: /srv/pub}\n", "a.yaml").anonymous);
  EXPECT_FALSE(parse_config("anonymous:\n", "a.yaml").anonymous);
}

TEST(Config, RelativeHomesResolveAgainstTheBaseDirectory) {
  const Config config = parse_config("users:\n  - {name: a, home: data/a}\n  - {name: b, home: ../b/}\n"
                                     "  - {name: c, home: /abs/c/}\n  - {name: d, home: ./x/../d}\n",
                                     "h.yaml", "/etc/filegate");
  EXPECT_EQ(config.users[0].home, "/etc/filegate/data/a");
  EXPECT_EQ(config.users[1].home, "/etc/b");
  EXPECT_EQ(config.users[2].home, "/abs/c");
  EXPECT_EQ(config.users[3].home, "/etc/filegate/d");
}

TEST(Config, LoadConfigReadsTheFileAndResolvesAgainstItsFolder) {
  TempDir dir;
  dir.write("conf/filegate.yaml", "users:\n  - {name: a, home: homes/a, authorized_keys_file: a.pub}\n");
  dir.write("conf/a.pub", std::string(key_line) + "\n");
  const std::string file = (dir.path() / "conf/filegate.yaml").string();
  const Config config = load_config(file);
  EXPECT_EQ(config.source, file);
  ASSERT_EQ(config.users.size(), 1u);
  EXPECT_EQ(config.users[0].home, (dir.path() / "conf/homes/a").string());
  EXPECT_EQ(config.users[0].authorized_keys, std::vector<std::string>{key_line});
}

TEST(Config, LoadConfigErrorsNameTheFile) {
  TempDir dir;
  const std::string missing = (dir.path() / "nope.yaml").string();
  try {
    load_config(missing);
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), missing + ": cannot read: No such file or directory");
  }
  try {
    load_config(dir.path().string());
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), dir.path().string() + ": cannot read: is a directory");
  }
  dir.write("bad.yaml", "users:\n  - name: a\n    home: /x\n    bogus: 1\n");
  const std::string bad = (dir.path() / "bad.yaml").string();
  try {
    load_config(bad);
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()).rfind(bad + ":4: users[0].bogus: unknown key", 0), 0u) << e.what();
  }
}

TEST(Config, AuthorizedKeysFileErrors) {
  TempDir dir;
  EXPECT_EQ(error_of("users:\n  - name: a\n    home: /h\n    authorized_keys_file: missing.pub\n", dir.path().string()),
            "filegate.yaml:4: users[0].authorized_keys_file: cannot read '" + (dir.path() / "missing.pub").string() +
                "': No such file or directory");
  dir.write("bad.pub", std::string(key_line) + "\nnot-a-key\n");
  EXPECT_EQ(error_of("users:\n  - name: a\n    home: /h\n    authorized_keys_file: bad.pub\n", dir.path().string()),
            "filegate.yaml:4: users[0].authorized_keys_file (line 2): expected an OpenSSH public key line "
            "\"<type> <base64> [comment]\", found 'not-a-key'");
}

struct BadConfig {
  const char* name;
  std::string text;
  std::string message;  // the exact ConfigError text
};

class BadConfigs : public ::testing::TestWithParam<BadConfig> {};

TEST_P(BadConfigs, ErrorNamesFileLineAndKey) { EXPECT_EQ(error_of(GetParam().text), GetParam().message); }

const BadConfig bad_configs[] = {
    {"syntax", "users:\n  - name: [a\n", "filegate.yaml:3: syntax error: end of sequence flow not found"},
    {"stray_comma", "log: {level: info}\n,\nusers: []\n", "filegate.yaml:2: syntax error: end of map not found"},
    {"leading_comma", ",a:\n  b: x\n", "filegate.yaml:1: syntax error: unexpected ','"},
    {"top_level_not_map", "- a\n- b\n",
     "filegate.yaml:1: expected a mapping of sections (log, runtime, limits, ftp, sftp, users, anonymous), found a "
     "list"},
    {"unknown_top_key", "log: {level: info}\nlimit:\n  max_connections: 5\n",
     "filegate.yaml:2: limit: unknown key (expected one of: log, runtime, limits, ftp, sftp, users, anonymous)"},
    {"unknown_nested_key", "limits:\n  max_conections: 5\n",
     "filegate.yaml:2: limits.max_conections: unknown key (expected one of: control_idle_timeout, login_timeout, "
     "data_connect_timeout, transfer_stall_timeout, max_command_line, max_connections, max_connections_per_ip, "
     "max_sessions_per_user, failed_login_delay_ms, max_login_failures, max_unauthenticated, max_key_offers, max_ssh_channels, "
     "sftp_max_packet, sftp_max_read, sftp_max_write, sftp_max_handles, sftp_max_queued_bytes, "
     "sftp_max_batch_reply, sftp_request_slice)"},
    {"duplicate_key", "limits:\n  max_connections: 5\n  max_connections: 6\n",
     "filegate.yaml:3: limits.max_connections: duplicate key (first given at line 2)"},
    {"log_level", "log:\n  level: verbose\n",
     "filegate.yaml:2: log.level: expected debug, info, warn or error, found 'verbose'"},
    {"integer_type", "limits:\n  login_timeout: soon\n",
     "filegate.yaml:2: limits.login_timeout: expected a whole number from 1 to 604800, found 'soon'"},
    {"integer_negative", "runtime:\n  worker_threads: -1\n",
     "filegate.yaml:2: runtime.worker_threads: expected a whole number from 0 to 1024, found '-1'"},
    {"command_line_range", "limits:\n  max_command_line: 100\n",
     "filegate.yaml:2: limits.max_command_line: expected a whole number from 512 to 65536, found '100'"},
    {"per_ip_over_total", "limits:\n  max_connections: 10\n  max_connections_per_ip: 11\n",
     "filegate.yaml:3: limits.max_connections_per_ip: must not exceed limits.max_connections (10)"},
    {"listen_scalar", "ftp:\n  listen: 5\n", "filegate.yaml:2: ftp.listen: expected a list, found '5'"},
    {"listen_missing", "ftp:\n  banner: hi\n", "filegate.yaml:1: ftp: missing required key 'listen'"},
    {"listen_bad_address", "ftp:\n  listen:\n    - \"127.0.0.1:2121\"\n    - \"localhost:21\"\n",
     "filegate.yaml:4: ftp.listen[1]: expected \"host:port\", \"[v6]:port\" or \":port\" with a numeric IP "
     "address, found 'localhost:21'"},
    {"listen_map_key", "ftp:\n  listen:\n    - {adress: \"127.0.0.1:21\"}\n",
     "filegate.yaml:3: ftp.listen[0].adress: unknown key (expected one of: address, passive_address, "
     "implicit_tls, tls_control, tls_data)"},
    {"active_mode_maybe", "ftp:\n  listen: [\":21\"]\n  active_mode: maybe\n",
     "filegate.yaml:3: ftp.active_mode: expected true or false, found 'maybe'"},
    {"passive_ports_syntax", "ftp:\n  listen: [\":21\"]\n  passive_ports: 50000\n",
     "filegate.yaml:3: ftp.passive_ports: expected \"min-max\" such as \"50000-50100\", found '50000'"},
    {"passive_ports_privileged", "ftp:\n  listen: [\":21\"]\n  passive_ports: \"1000-2000\"\n",
     "filegate.yaml:3: ftp.passive_ports: needs 1024 <= min <= max <= 65535, found '1000-2000'"},
    {"passive_ports_reversed", "ftp:\n  listen: [\":21\"]\n  passive_ports: \"6000-5000\"\n",
     "filegate.yaml:3: ftp.passive_ports: needs 1024 <= min <= max <= 65535, found '6000-5000'"},
    {"passive_ports_too_high", "ftp:\n  listen: [\":21\"]\n  passive_ports: \"60000-70000\"\n",
     "filegate.yaml:3: ftp.passive_ports: needs 1024 <= min <= max <= 65535, found '60000-70000'"},
    {"passive_address_v6", "ftp:\n  listen: [\":21\"]\n  passive_address: \"::1\"\n",
     "filegate.yaml:3: ftp.passive_address: expected an IPv4 address, found '::1'"},
    {"banner_newline", "ftp:\n  listen: [\":21\"]\n  banner: \"hello\\r\\n230 fake\"\n",
     "filegate.yaml:3: ftp.banner: must be one line of printable ASCII"},
    {"users_not_list", "users: {name: a}\n", "filegate.yaml:1: users: expected a list, found a mapping"},
    {"user_missing_name", "users:\n  - home: /x\n", "filegate.yaml:2: users[0]: missing required key 'name'"},
    {"user_missing_home", "users:\n  - name: a\n", "filegate.yaml:2: users[0]: missing required key 'home'"},
    {"user_bad_name", "users:\n  - name: \"a b\"\n    home: /x\n",
     "filegate.yaml:2: users[0].name: must be 1 to 64 of A-Z a-z 0-9 . _ @ -, found 'a b'"},
    {"user_reserved_name", "users:\n  - name: ftp\n    home: /x\n",
     "filegate.yaml:2: users[0].name: 'ftp' is reserved for anonymous access (configure it under 'anonymous')"},
    {"user_duplicate", "users:\n" + user("bob") + user("carol") + user("bob"),
     "filegate.yaml:6: users[2].name: duplicate user name 'bob' (first defined at line 2)"},
    {"permission_letter", "users:\n" + user("a") + user("b") + "    permissions: elrx\n",
     "filegate.yaml:6: users[1].permissions: unknown permission letter 'x' (letters: elradfmwMT)"},
    {"permission_repeated", "users:\n" + user("a") + "    permissions: elre\n",
     "filegate.yaml:4: users[0].permissions: permission letter 'e' given twice"},
    {"protocol_unknown", "users:\n" + user("a") + "    protocols: [ftp, scp]\n",
     "filegate.yaml:4: users[0].protocols[1]: expected ftp, ftps or sftp, found 'scp'"},
    {"protocols_empty", "users:\n" + user("a") + "    protocols: []\n",
     "filegate.yaml:4: users[0].protocols: needs at least one of ftp, ftps, sftp (use disabled: true to lock an "
     "account)"},
    {"disabled_type", "users:\n" + user("a") + "    disabled: [true]\n",
     "filegate.yaml:4: users[0].disabled: expected true or false, found a list"},
    {"directory_relative", "users:\n" + user("a") + "    directories:\n      - {path: inbox, permissions: w}\n",
     "filegate.yaml:5: users[0].directories[0].path: must be an absolute virtual path such as /inbox, found 'inbox'"},
    {"directory_missing_permissions", "users:\n" + user("a") + "    directories:\n      - path: /inbox\n",
     "filegate.yaml:5: users[0].directories[0]: missing required key 'permissions'"},
    {"directory_bad_letter",
     "users:\n" + user("a") + "    directories:\n      - path: /inbox\n        permissions: ewz\n",
     "filegate.yaml:6: users[0].directories[0].permissions: unknown permission letter 'z' (letters: elradfmwMT)"},
    {"authorized_key_multiline", "users:\n" + user("a") + "    authorized_keys: [\"ssh-ed25519 AAAA\\nssh-rsa BBBB\"]\n",
     "filegate.yaml:4: users[0].authorized_keys[0]: a key must be one line without control characters"},
    {"anonymous_no_home", "anonymous:\n  enabled: true\n",
     "filegate.yaml:1: anonymous: missing required key 'home' (needed when enabled)"},
    {"anonymous_bad_permissions_even_when_off", "anonymous:\n  enabled: false\n  home: /p\n  permissions: elrq\n",
     "filegate.yaml:4: anonymous.permissions: unknown permission letter 'q' (letters: elradfmwMT)"},
    {"two_documents", "log: {level: info}\n---\nlog: {level: warn}\n",
     "filegate.yaml:2: syntax error: a second YAML document; a config file is one document"},
    {"implicit_without_tls", "ftp:\n  listen:\n    - {address: \":990\", implicit_tls: true}\n",
     "filegate.yaml:3: ftp.listen[0]: TLS settings on a listener need an ftp.tls section"},
    {"tls_without_key", "ftp:\n  listen: [\":21\"]\n  tls:\n    certificate: c.pem\n",
     "filegate.yaml:3: ftp.tls: missing required key 'private_key'"},
    {"tls_keys_do_not_pair", "ftp:\n  listen: [\":21\"]\n  tls:\n    certificate: [ec.pem, rsa.pem]\n    private_key: ec.key\n",
     "filegate.yaml:5: ftp.tls.private_key: lists 1 key(s) for 2 certificate(s) in ftp.tls.certificate; they pair up in order"},
    {"tls_no_certificate", "ftp:\n  listen: [\":21\"]\n  tls:\n    certificate: []\n    private_key: []\n",
     "filegate.yaml:4: ftp.tls.certificate: needs at least one file"},
    {"tls_empty_certificate", "ftp:\n  listen: [\":21\"]\n  tls:\n    certificate: [ec.pem, \"\"]\n    private_key: [a, b]\n",
     "filegate.yaml:4: ftp.tls.certificate[1]: must not be empty"},
    {"tls_old_version", "ftp:\n  listen: [\":21\"]\n  tls: {certificate: c, private_key: k, min_version: TLSv1.1}\n",
     "filegate.yaml:3: ftp.tls.min_version: expected TLSv1.2 or TLSv1.3, found 'TLSv1.1'"},
    {"tls_bad_policy", "ftp:\n  listen: [\":21\"]\n  tls: {certificate: c, private_key: k, data: maybe}\n",
     "filegate.yaml:3: ftp.tls.data: expected required or optional, found 'maybe'"},
    {"client_cert_without_ca", "ftp:\n  listen: [\":21\"]\n  tls: {certificate: c, private_key: k, client_certificate: required}\n",
     "filegate.yaml:3: ftp.tls.client_certificate: needs ftp.tls.client_ca"},
    {"crl_check_without_crl", "ftp:\n  listen: [\":21\"]\n  tls: {certificate: c, private_key: k, client_crl_check: chain}\n",
     "filegate.yaml:3: ftp.tls.client_crl_check: needs ftp.tls.client_crl"},
    {"crl_check_value", "ftp:\n  listen: [\":21\"]\n  tls: {certificate: c, private_key: k, client_ca: a, client_crl: b, client_crl_check: all}\n",
     "filegate.yaml:3: ftp.tls.client_crl_check: expected leaf or chain, found 'all'"},
    {"crl_without_ca", "ftp:\n  listen: [\":21\"]\n  tls:\n    certificate: c\n    private_key: k\n    client_crl: crl.pem\n",
     "filegate.yaml:6: ftp.tls.client_crl: needs ftp.tls.client_ca"},
    {"user_tls_key", "users:\n  - name: bob\n    home: /srv/bob\n    tls: {kontrol: required}\n",
     "filegate.yaml:4: users[0].tls.kontrol: unknown key (expected one of: control, data, session_reuse, allow_ccc)"},
    {"sftp_no_listen", "sftp:\n  host_keys: [k]\n", "filegate.yaml:1: sftp: missing required key 'listen'"},
    {"sftp_no_host_keys", "sftp:\n  listen: [\":22\"]\n",
     "filegate.yaml:1: sftp: missing required key 'host_keys' (make one with: ssh-keygen -t ed25519 -N '' -f FILE)"},
    {"sftp_empty_host_keys", "sftp:\n  listen: [\":22\"]\n  host_keys: []\n",
     "filegate.yaml:3: sftp.host_keys: needs at least one private key file"},
    {"sftp_host_key_twice", "sftp:\n  listen: [\":22\"]\n  host_keys: [/k/a, /k/b/../a]\n",
     "filegate.yaml:3: sftp.host_keys[1]: file listed twice"},
    {"sftp_unknown_key", "sftp:\n  listen: [\":22\"]\n  host_keys: [k]\n  banner: hi\n",
     "filegate.yaml:4: sftp.banner: unknown key (expected one of: listen, host_keys, algorithms)"},
    {"sftp_bad_listen", "sftp:\n  listen: [\"localhost:22\"]\n  host_keys: [k]\n",
     "filegate.yaml:2: sftp.listen[0]: expected \"host:port\", \"[v6]:port\" or \":port\" with a numeric IP address, "
     "found 'localhost:22'"},
    {"sftp_listen_twice", "sftp:\n  listen: [\"127.0.0.1:22\", {address: \"127.0.0.1:22\"}]\n  host_keys: [k]\n",
     "filegate.yaml:2: sftp.listen[1]: address listed twice"},
    {"sftp_listen_map_key", "sftp:\n  listen:\n    - {adress: \":22\"}\n  host_keys: [k]\n",
     "filegate.yaml:3: sftp.listen[0].adress: unknown key (expected one of: address)"},
    {"sftp_algorithm_unknown",
     "sftp:\n  listen: [\":22\"]\n  host_keys: [k]\n  algorithms:\n    ciphers:\n      - aes128-ctr\n      - aes128-cbs\n",
     "filegate.yaml:7: sftp.algorithms.ciphers[1]: unknown or unsupported algorithm 'aes128-cbs' (known: "
     "aes256-gcm@openssh.com, aes128-gcm@openssh.com, chacha20-poly1305@openssh.com, aes256-ctr, aes192-ctr, "
     "aes128-ctr, aes256-cbc, aes192-cbc, aes128-cbc)"},
    {"sftp_algorithm_broken", "sftp:\n  listen: [\":22\"]\n  host_keys: [k]\n  algorithms: {kex: [diffie-hellman-group1-sha1]}\n",
     "filegate.yaml:4: sftp.algorithms.kex[0]: unknown or unsupported algorithm 'diffie-hellman-group1-sha1' (known: "
     "curve25519-sha256, curve25519-sha256@libssh.org, ecdh-sha2-nistp256, ecdh-sha2-nistp384, ecdh-sha2-nistp521, "
     "diffie-hellman-group16-sha512, diffie-hellman-group18-sha512, diffie-hellman-group-exchange-sha256, "
     "diffie-hellman-group14-sha256, diffie-hellman-group14-sha1)"},
    {"sftp_algorithm_twice", "sftp:\n  listen: [\":22\"]\n  host_keys: [k]\n  algorithms: {macs: [hmac-sha2-256, hmac-sha2-256]}\n",
     "filegate.yaml:4: sftp.algorithms.macs[1]: algorithm 'hmac-sha2-256' listed twice"},
    {"sftp_algorithm_empty", "sftp:\n  listen: [\":22\"]\n  host_keys: [k]\n  algorithms:\n    kex: []\n",
     "filegate.yaml:5: sftp.algorithms.kex: needs at least one algorithm (omit the key for the defaults)"},
    {"sftp_algorithm_list_key", "sftp:\n  listen: [\":22\"]\n  host_keys: [k]\n  algorithms:\n    mac: [hmac-sha2-256]\n",
     "filegate.yaml:5: sftp.algorithms.mac: unknown key (expected one of: kex, ciphers, macs, host_keys, public_keys)"},
    {"ssh_authentication_value", "users:\n" + user("a") + "    ssh_authentication: both\n",
     "filegate.yaml:4: users[0].ssh_authentication: expected any, password, publickey or publickey+password, found "
     "'both'"},
    {"ssh_authentication_needs_keys", "users:\n" + user("a") + "    password_hash: \"" + hash + "\"\n    ssh_authentication: publickey+password\n",
     "filegate.yaml:5: users[0].ssh_authentication: needs authorized_keys or authorized_keys_file"},
    {"ssh_authentication_needs_password", "users:\n" + user("a") + "    authorized_keys: [\"" + key_line + "\"]\n    ssh_authentication: password\n",
     "filegate.yaml:5: users[0].ssh_authentication: needs a password_hash"},
    {"authorized_key_options", "users:\n" + user("a") + "    authorized_keys: ['from=\"10.0.0.1\" " + key_line + "']\n",
     "filegate.yaml:4: users[0].authorized_keys[0]: authorized_keys options (from=, command=, restrict ...) are not "
     "supported; give the bare key"},
    {"authorized_key_dsa", "users:\n" + user("a") + "    authorized_keys: [\"ssh-dss AAAAB3NzaC1kc3M= old\"]\n",
     "filegate.yaml:4: users[0].authorized_keys[0]: DSA keys are not accepted (insecure); use Ed25519 or ECDSA"},
    {"authorized_key_short_rsa", "users:\n" + user("a") + "    authorized_keys: [\"" + rsa_1024_line + "\"]\n",
     "filegate.yaml:4: users[0].authorized_keys[0]: RSA key of 1024 bits is too short (at least 2048)"},
    {"authorized_key_type_mismatch", "users:\n" + user("a") + "    authorized_keys: [\"ssh-rsa " + std::string(key_line).substr(12) + "\"]\n",
     "filegate.yaml:4: users[0].authorized_keys[0]: the key data does not match its type 'ssh-rsa'"},
    {"authorized_key_base64", "users:\n" + user("a") + "    authorized_keys: [\"ssh-ed25519 AAAA$$$\"]\n",
     "filegate.yaml:4: users[0].authorized_keys[0]: the key is not valid base64"},
    {"authorized_key_certificate", "users:\n" + user("a") + "    authorized_keys: [\"ssh-ed25519-cert-v01@openssh.com AAAA\"]\n",
     "filegate.yaml:4: users[0].authorized_keys[0]: certificates are not supported"},
    {"max_unauthenticated_over_total", "limits:\n  max_connections: 10\n  max_unauthenticated: 11\n",
     "filegate.yaml:3: limits.max_unauthenticated: must not exceed limits.max_connections (10)"},
    {"sftp_read_over_packet", "limits:\n  sftp_max_packet: 65536\n",
     "filegate.yaml:2: limits.sftp_max_read: must leave 1024 bytes of limits.sftp_max_packet (65536) for the "
     "message header"},
    {"sftp_packet_range", "limits:\n  sftp_max_packet: 1000\n",
     "filegate.yaml:2: limits.sftp_max_packet: expected a whole number from 34000 to 16777216, found '1000'"},
    {"sftp_slice_range", "limits:\n  sftp_request_slice: 4096\n",
     "filegate.yaml:2: limits.sftp_request_slice: expected a whole number from 65536 to 1073741824, found '4096'"},
};

INSTANTIATE_TEST_SUITE_P(Config, BadConfigs, ::testing::ValuesIn(bad_configs),
                         [](const auto& param_info) { return std::string(param_info.param.name); });

TEST(Config, SftpSection) {
  const std::string text = std::string(R"(limits:
  max_connections: 50
  max_connections_per_ip: 5
  max_key_offers: 4
  max_ssh_channels: 2
  sftp_max_packet: 1048576
  sftp_max_read: 1000000
  sftp_max_write: 65536
  sftp_max_handles: 32
  sftp_max_queued_bytes: 1048576
  sftp_max_batch_reply: 524288
  sftp_request_slice: 1048576
sftp:
  listen:
    - "127.0.0.1:2222"
    - {address: "[::1]:0"}
  host_keys: [keys/ssh_host_ed25519_key, /etc/filegate/ssh_host_ecdsa_key]
  algorithms:
    ciphers: [aes128-gcm@openssh.com, aes128-cbc]
    public_keys: [ssh-ed25519, ssh-rsa]
users:
  - name: a
    password_hash: ")") + hash + R"("
    home: /srv/a
    authorized_keys: [")" + key_line + R"("]
    ssh_authentication: publickey+password
  - name: b
    home: /srv/b
    authorized_keys: [")" + ecdsa_key_line + R"("]
    ssh_authentication: publickey
)";
  const Config config = parse_config(text, "s.yaml", "/etc/filegate");
  // max_unauthenticated was not given: its default follows the smaller max_connections.
  EXPECT_EQ(config.limits.max_unauthenticated, 50u);
  EXPECT_EQ(config.limits.max_key_offers, 4u);
  EXPECT_EQ(config.limits.max_ssh_channels, 2u);
  EXPECT_EQ(config.limits.sftp_max_packet, 1048576u);
  EXPECT_EQ(config.limits.sftp_max_read, 1000000u);
  EXPECT_EQ(config.limits.sftp_max_write, 65536u);
  EXPECT_EQ(config.limits.sftp_max_handles, 32u);
  EXPECT_EQ(config.limits.sftp_max_queued_bytes, 1048576u);
  EXPECT_EQ(config.limits.sftp_max_batch_reply, 524288u);
  EXPECT_EQ(config.limits.sftp_request_slice, 1048576u);
  ASSERT_TRUE(config.sftp);
  const auto& sftp = *config.sftp;
  ASSERT_EQ(sftp.listeners.size(), 2u);
  EXPECT_EQ(sftp.listeners[0].endpoint, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 2222));
  EXPECT_EQ(sftp.listeners[1].endpoint, tcp::endpoint(asio::ip::make_address("::1"), 0));
  ASSERT_EQ(sftp.host_key_files.size(), 2u);
  EXPECT_EQ(sftp.host_key_files[0], "/etc/filegate/keys/ssh_host_ed25519_key");
  EXPECT_EQ(sftp.host_key_files[1], "/etc/filegate/ssh_host_ecdsa_key");
  const auto defaults = sftp::default_algorithms();
  EXPECT_EQ(sftp.algorithms.ciphers, (std::vector<std::string>{"aes128-gcm@openssh.com", "aes128-cbc"}));
  EXPECT_EQ(sftp.algorithms.public_keys, (std::vector<std::string>{"ssh-ed25519", "ssh-rsa"}));
  EXPECT_EQ(sftp.algorithms.kex, defaults.kex);
  EXPECT_EQ(sftp.algorithms.macs, defaults.macs);
  EXPECT_EQ(sftp.algorithms.host_keys, defaults.host_keys);
  ASSERT_EQ(config.users.size(), 2u);
  EXPECT_EQ(config.users[0].ssh_authentication, auth::SshAuthentication::publickey_and_password);
  EXPECT_EQ(config.users[1].ssh_authentication, auth::SshAuthentication::publickey);
  EXPECT_FALSE(config.ftp);
}

TEST(Config, SftpDefaultAlgorithmsAreModernOnly) {
  const auto defaults = sftp::default_algorithms();
  for (const auto kind : {sftp::AlgorithmKind::kex, sftp::AlgorithmKind::ciphers, sftp::AlgorithmKind::macs,
                          sftp::AlgorithmKind::host_keys, sftp::AlgorithmKind::public_keys}) {
    ASSERT_FALSE(defaults.list(kind).empty());
    for (const auto& name : defaults.list(kind)) {
      EXPECT_EQ(sftp::algorithm_status(kind, name), sftp::AlgorithmStatus::modern) << name;
      // No SHA-1, no CBC, no DSA among the defaults.
      EXPECT_EQ(name.find("sha1"), std::string::npos) << name;
      EXPECT_EQ(name.find("cbc"), std::string::npos) << name;
      EXPECT_NE(name, "ssh-rsa");
      EXPECT_NE(name, "ssh-dss");
    }
  }
  EXPECT_EQ(defaults.kex.front(), "curve25519-sha256");
  EXPECT_EQ(defaults.host_keys.front(), "ssh-ed25519");
  EXPECT_EQ(sftp::algorithm_status(sftp::AlgorithmKind::ciphers, "aes128-cbc"), sftp::AlgorithmStatus::legacy);
  EXPECT_EQ(sftp::algorithm_status(sftp::AlgorithmKind::ciphers, "3des-cbc"), sftp::AlgorithmStatus::unknown);
  EXPECT_EQ(sftp::algorithm_status(sftp::AlgorithmKind::kex, "diffie-hellman-group14-sha1"),
            sftp::AlgorithmStatus::legacy);
}

TEST(Config, UserSshAuthenticationDefaultsToAny) {
  const Config config = parse_config("users:\n" + user("a"), "u.yaml");
  EXPECT_EQ(config.users[0].ssh_authentication, auth::SshAuthentication::any);
  const Config keys = parse_config("users:\n" + user("a") + "    authorized_keys:\n      - \"" + rsa_key_line +
                                       "\"\n      - \"" + ecdsa_key_line + "\"\n",
                                   "u.yaml");
  EXPECT_EQ(keys.users[0].authorized_keys.size(), 2u);
}

TEST(Config, PasswordHashErrorsNeverShowTheValue) {
  const std::string secret = "$1$zbT3TPyK$Ht9rao3ftYkp8FOusviB51";  // md5-crypt: refused as legacy
  const std::string message = error_of("users:\n" + user("a") + "    password_hash: \"" + secret + "\"\n");
  EXPECT_EQ(message.rfind("filegate.yaml:4: users[0].password_hash: not a supported crypt(3) hash", 0), 0u)
      << message;
  EXPECT_EQ(message.find("zbT3TPyK"), std::string::npos) << message;
  EXPECT_EQ(message.find("Ht9rao3"), std::string::npos) << message;

  const std::string truncated = std::string(hash).substr(0, 30);
  const std::string m2 = error_of("users:\n" + user("a") + "    password_hash: '" + truncated + "'\n");
  EXPECT_NE(m2, "");
  EXPECT_EQ(m2.find(truncated.substr(7)), std::string::npos) << m2;

  const std::string m3 = error_of("users:\n" + user("a") + "    password_hash: [\"" + std::string(hash) + "\"]\n");
  EXPECT_NE(m3, "");
  EXPECT_EQ(m3.find("EP84zq"), std::string::npos) << m3;
}

TEST(Config, EmptySectionsAreAccepted) {
  // Everything under a section commented out leaves an empty value.
  const Config config = parse_config("log:\nruntime:\nlimits:\nusers:\nanonymous:\n", "e.yaml");
  EXPECT_TRUE(config.users.empty());
  EXPECT_EQ(error_of("ftp:\n"), "filegate.yaml:1: ftp: missing required key 'listen'");
}

TEST(Config, RestartSectionsTellWhatAReloadCannotTakeOver) {
  const std::string base = "limits:\n  max_connections: 500\nftp:\n  listen: [\"127.0.0.1:21\"]\nusers:\n" + user("a");
  const Config before = parse_config(base, "r.yaml");
  EXPECT_EQ(before.restart_sections.count("limits"), 1u);
  EXPECT_EQ(before.restart_sections.count("ftp"), 1u);
  EXPECT_EQ(before.restart_sections.count("sftp"), 0u);
  // Users, anonymous, the log level and comments are not among them.
  const Config users = parse_config("log:\n  level: debug\n# a comment\n" + base + user("b") +
                                        "anonymous:\n  enabled: true\n  home: /srv/pub\n",
                                    "r.yaml");
  EXPECT_EQ(users.restart_sections, before.restart_sections);
  // A changed value, whatever its spelling in YAML, is.
  const Config limits = parse_config("limits: {max_connections: 600}\nftp:\n  listen: [\"127.0.0.1:21\"]\nusers:\n" + user("a"),
                                     "r.yaml");
  EXPECT_NE(limits.restart_sections.at("limits"), before.restart_sections.at("limits"));
  EXPECT_EQ(limits.restart_sections.at("ftp"), before.restart_sections.at("ftp"));
  // The same value in flow or block style is no change.
  const Config flow = parse_config("limits: {max_connections: 500}\nftp: {listen: [\"127.0.0.1:21\"]}\nusers:\n" + user("a"),
                                   "r.yaml");
  EXPECT_EQ(flow.restart_sections, before.restart_sections);
}

TEST(Config, ReloadTakesOverTheTlsFilesAndListsNotTheTlsPolicy) {
  const auto ftp = [](const std::string& tls) {
    return parse_config("ftp:\n  listen: [\"127.0.0.1:21\"]\n" + tls + "users: []\n", "r.yaml")
        .restart_sections.at("ftp");
  };
  const std::string tls = ftp("  tls: {certificate: a.pem, private_key: a.key, control: optional}\n");
  // Files, versions, lists, client CA and CRL, session lifetime: taken over.
  EXPECT_EQ(ftp("  tls:\n    certificate: [e.pem, r.pem]\n    private_key: [e.key, r.key]\n"
                "    min_version: TLSv1.3\n    ciphers: ECDHE-ECDSA-AES128-GCM-SHA256\n"
                "    ciphersuites: TLS_AES_256_GCM_SHA384\n    groups: X25519\n    client_ca: ca.pem\n"
                "    client_certificate: required\n    client_crl: ca.crl\n    client_crl_check: chain\n"
                "    session_lifetime: 3600\n"
                "    control: optional\n"),
            tls);
  const Config chain = parse_config("ftp:\n  listen: [\":21\"]\n  tls: {certificate: a, private_key: k, client_ca: c, "
                                    "client_crl: l, client_crl_check: chain}\n", "r.yaml");
  EXPECT_TRUE(chain.ftp_tls->client_crl_chain);
  EXPECT_FALSE(parse_config("ftp:\n  listen: [\":21\"]\n  tls: {certificate: a, private_key: k, client_ca: c, "
                            "client_crl: l, client_crl_check: leaf}\n", "r.yaml").ftp_tls->client_crl_chain);
  // The policy, and FTPS itself coming or going: a restart.
  EXPECT_NE(ftp("  tls: {certificate: a.pem, private_key: a.key, control: required}\n"), tls);
  EXPECT_NE(ftp("  tls: {certificate: a.pem, private_key: a.key, control: optional, session_reuse: false}\n"), tls);
  EXPECT_NE(ftp(""), ftp("  tls: {certificate: a.pem, private_key: a.key}\n"));
}

TEST(Config, ExampleConfigIsValid) {
  // deploy/filegate.example.yaml documents every key; it must always load.
  const fs::path example = fs::path(__FILE__).parent_path() / "../../../deploy/filegate.example.yaml";
  std::ifstream in(example);
  ASSERT_TRUE(in) << example;
  std::stringstream text;
  text << in.rdbuf();
  TempDir dir;
  dir.write("keys/alice.pub", std::string(key_line) + "\n");
  Config config;
  try {
    config = parse_config(text.str(), "filegate.example.yaml", dir.path().string());
  } catch (const ConfigError& e) {
    FAIL() << e.what();
  }
  EXPECT_TRUE(config.ftp);
  EXPECT_TRUE(config.sftp);
  EXPECT_FALSE(config.users.empty());
}

}  // namespace
}  // namespace filegate::server
