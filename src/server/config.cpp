#include "server/config.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <string_view>

#include "auth/password.hpp"
#include "core/listener.hpp"
#include "sftp/ssh_keys.hpp"
#include "vfs/path.hpp"

namespace filegate::server {
namespace {

namespace fs = std::filesystem;

// Realm defaults. Unlike the limits and FTP settings, these have no struct of their own to live
// in, so they are named here once (and documented in docs/configuration.md).
constexpr std::string_view default_user_permissions = "elr";
constexpr std::string_view default_anonymous_permissions = "elr";
constexpr unsigned default_anonymous_protocols =
    static_cast<unsigned>(auth::Protocol::ftp) | static_cast<unsigned>(auth::Protocol::ftps);

// Upper bounds that only catch nonsense (a timeout of years, a count that overflows); they are
// limits of the schema, not defaults.
constexpr std::uint64_t max_timeout_seconds = 7 * 24 * 3600;
constexpr std::uint64_t max_threads = 1024;
constexpr std::uint64_t max_connection_count = 1'000'000;
constexpr std::size_t max_config_bytes = 16u << 20;
constexpr std::size_t max_keys_file_bytes = 1u << 20;
constexpr std::size_t max_banner_length = 200;
constexpr std::size_t max_user_name_length = 64;
constexpr std::size_t max_echoed_value = 60;

constexpr std::string_view permission_letters = "elradfmwMT";

// A value quoted for an error message: truncated, with control bytes escaped, so a binary blob
// cannot garble a terminal or a log line.
std::string quote(std::string_view value) {
  std::string out = "'";
  for (std::size_t i = 0; i < value.size() && i < max_echoed_value; ++i) {
    const auto c = static_cast<unsigned char>(value[i]);
    if (c < 0x20 || c == 0x7f) {
      static constexpr char hex[] = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 0xf];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (value.size() > max_echoed_value) out += "...";
  out += "'";
  return out;
}

std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return quote(node.Scalar());
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      break;
  }
  return "nothing";
}

// Reads a whole regular file of at most `cap` bytes. Non-blocking open and the regular-file check
// keep a FIFO or a device named by mistake (or by a fuzzer) from hanging start-up.
bool read_small_file(const std::string& path, std::size_t cap, std::string& out, std::string& reason) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    reason = std::strerror(errno);
    return false;
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    reason = std::strerror(errno);
    return false;
  }
  if (S_ISDIR(st.st_mode)) {
    reason = "is a directory";
    return false;
  }
  if (!S_ISREG(st.st_mode)) {
    reason = "not a regular file";
    return false;
  }
  out.clear();
  char buffer[8192];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) continue;
      reason = std::strerror(errno);
      return false;
    }
    if (n == 0) break;
    out.append(buffer, static_cast<std::size_t>(n));
    if (out.size() > cap) {
      reason = "larger than " + std::to_string(cap) + " bytes";
      return false;
    }
  }
  return true;
}

struct Field {
  YAML::Node key;
  YAML::Node value;
};

// Reads one config document, remembering where it came from for error messages.
class Reader {
 public:
  Reader(std::string source, fs::path base_directory)
      : source_(std::move(source)), base_(std::move(base_directory)) {}

  Config read(const YAML::Node& root);

 private:
  // ---- errors ----------------------------------------------------------------------------------

  [[noreturn]] void fail(const YAML::Mark& mark, std::string_view path, std::string_view what) const {
    std::string message = source_;
    // yaml-cpp counts lines from 0; editors count from 1.
    if (!mark.is_null() && mark.line >= 0) message += ":" + std::to_string(mark.line + 1);
    message += ": ";
    if (!path.empty()) {
      message += path;
      message += ": ";
    }
    message += what;
    throw ConfigError(message);
  }
  [[noreturn]] void fail(const YAML::Node& node, std::string_view path, std::string_view what) const {
    fail(node.Mark(), path, what);
  }
  // The best line for a field: the value's, or the key's when the value is empty.
  [[noreturn]] void fail(const Field& field, std::string_view path, std::string_view what) const {
    const YAML::Mark mark = field.value.Mark();
    fail(mark.is_null() || field.value.IsNull() ? field.key.Mark() : mark, path, what);
  }

  // ---- structure ---------------------------------------------------------------------------------

  // The fields of a mapping, checked against the keys the schema allows. An empty value ("ftp:"
  // with everything below commented out) counts as an empty mapping.
  std::map<std::string, Field> fields(const YAML::Node& node, std::string_view path,
                                      std::initializer_list<std::string_view> allowed) const {
    std::map<std::string, Field> out;
    if (node.IsNull()) return out;
    if (!node.IsMap()) fail(node, path, "expected a mapping, found " + describe(node));
    for (auto it = node.begin(); it != node.end(); ++it) {
      const YAML::Node key = it->first;
      if (!key.IsScalar()) fail(key, path, "keys must be plain names, found " + describe(key));
      const std::string& name = key.Scalar();
      const std::string key_path = join(path, name);
      // Unknown keys are errors: a misspelt "max_conections" would otherwise silently keep the
      // default, which is the kind of mistake nobody notices until it matters.
      if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
        std::string expected;
        for (const auto& a : allowed) expected += (expected.empty() ? "" : ", ") + std::string(a);
        fail(key, key_path, "unknown key (expected one of: " + expected + ")");
      }
      if (out.count(name) != 0) {
        fail(key, key_path,
             "duplicate key (first given at line " + std::to_string(out[name].key.Mark().line + 1) + ")");
      }
      out.emplace(name, Field{key, it->second});
    }
    return out;
  }

  static std::string join(std::string_view path, std::string_view key) {
    if (path.empty()) return std::string(key);
    return std::string(path) + "." + std::string(key);
  }
  static std::string index(std::string_view path, std::size_t i) {
    return std::string(path) + "[" + std::to_string(i) + "]";
  }

  // ---- scalars -----------------------------------------------------------------------------------

  std::string string_value(const Field& f, const std::string& path) const {
    if (!f.value.IsScalar()) fail(f, path, "expected a string, found " + describe(f.value));
    const std::string& text = f.value.Scalar();
    if (text.find('\0') != std::string::npos) fail(f, path, "must not contain NUL bytes");
    return text;
  }

  bool bool_value(const Field& f, const std::string& path) const {
    if (f.value.IsScalar()) {
      const std::string& text = f.value.Scalar();
      if (text == "true") return true;
      if (text == "false") return false;
    }
    fail(f, path, "expected true or false, found " + describe(f.value));
  }

  std::uint64_t integer_value(const Field& f, const std::string& path, std::uint64_t min,
                              std::uint64_t max) const {
    const std::string range = "expected a whole number from " + std::to_string(min) + " to " +
                              std::to_string(max) + ", found ";
    if (!f.value.IsScalar()) fail(f, path, range + describe(f.value));
    const std::string& text = f.value.Scalar();
    std::uint64_t value = 0;
    // Plain decimal digits only: no sign, no "0x", no "1e3", no "1_000".
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || error != std::errc{} || end != text.data() + text.size() || value < min ||
        value > max) {
      fail(f, path, range + describe(f.value));
    }
    return value;
  }

  // A list; an empty value counts as an empty list.
  std::vector<YAML::Node> list_value(const Field& f, const std::string& path) const {
    std::vector<YAML::Node> out;
    if (f.value.IsNull()) return out;
    if (!f.value.IsSequence()) fail(f, path, "expected a list, found " + describe(f.value));
    for (const auto& item : f.value) out.push_back(item);
    return out;
  }

  fs::path resolve(const std::string& text) const {
    fs::path p = fs::path(text);
    if (p.is_relative()) p = base_ / p;
    p = p.lexically_normal();
    // "/srv/files/" and "/srv/files" are the same home; keep one spelling.
    if (!p.has_filename() && p.has_parent_path() && p != p.root_path()) p = p.parent_path();
    return p;
  }

  // ---- sections ----------------------------------------------------------------------------------

  void read_log(const Field& f, Config& config) const;
  void read_runtime(const Field& f, Config& config) const;
  void read_limits(const Field& f, core::Limits& limits) const;
  ftp::Settings read_ftp(const Field& f, std::optional<ftps::TlsSettings>& tls) const;
  ftps::TlsSettings read_tls(const Field& f, ftp::Settings& settings) const;
  std::vector<ftps::CertificateFiles> read_certificates(const Field& f, const std::map<std::string, Field>& map) const;
  // A file the server reads at start-up (certificate, key, CA, CRL): not empty, resolved, its
  // line noted for start-up errors under `name`.
  std::string file_setting(const Field& item, const std::string& name) const {
    const std::string text = string_value(item, name);
    if (text.empty()) fail(item, name, "must not be empty");
    note_line(item.value, name);
    return resolve(text).string();
  }
  ftp::TlsPolicy read_policy(const Field& f, const std::string& path) const;
  auth::TlsOverrides read_user_tls(const Field& f, const std::string& path) const;
  ftp::ListenerSettings read_listener(const YAML::Node& node, const std::string& path) const;
  sftp::Settings read_sftp(const Field& f) const;
  std::vector<std::string> read_algorithms(const Field& f, const std::string& path, sftp::AlgorithmKind kind) const;
  auth::SshAuthentication read_ssh_authentication(const Field& f, const std::string& path) const;
  asio::ip::address_v4 read_ipv4(const Field& f, const std::string& path) const;
  auth::User read_user(const YAML::Node& node, const std::string& path) const;
  std::optional<auth::User> read_anonymous(const Field& f) const;
  auth::PermissionSet read_permissions(const Field& f, const std::string& path) const;
  unsigned read_protocols(const Field& f, const std::string& path) const;
  std::vector<auth::DirectoryRule> read_directories(const Field& f, const std::string& path) const;
  void read_keys_file(const Field& f, const std::string& path, std::vector<std::string>& keys) const;
  void check_key_line(const Field& f, const std::string& path, std::string_view line) const;

  std::string source_;
  fs::path base_;
  mutable std::map<std::string, int, std::less<>> setting_lines_;  // see Config::setting_lines

  // Remembers the line of a setting that is checked only at start-up.
  void note_line(const YAML::Node& value, const std::string& path) const {
    if (!value.Mark().is_null()) setting_lines_[path] = value.Mark().line + 1;
  }
};

Config Reader::read(const YAML::Node& root) {
  Config config;
  config.source = source_;
  if (!root.IsNull() && !root.IsMap()) {
    fail(root, "", "expected a mapping of sections (log, runtime, limits, ftp, sftp, users, anonymous), found " +
                       describe(root));
  }
  const auto top = fields(root, "", {"log", "runtime", "limits", "ftp", "sftp", "users", "anonymous"});
  if (const auto it = top.find("log"); it != top.end()) read_log(it->second, config);
  if (const auto it = top.find("runtime"); it != top.end()) read_runtime(it->second, config);
  if (const auto it = top.find("limits"); it != top.end()) read_limits(it->second, config.limits);
  if (const auto it = top.find("ftp"); it != top.end()) config.ftp = read_ftp(it->second, config.ftp_tls);
  if (const auto it = top.find("sftp"); it != top.end()) config.sftp = read_sftp(it->second);
  if (const auto it = top.find("users"); it != top.end()) {
    std::map<std::string, int> first_line;  // name -> line it was first defined on
    const auto items = list_value(it->second, "users");
    for (std::size_t i = 0; i < items.size(); ++i) {
      const std::string path = index("users", i);
      auth::User user = read_user(items[i], path);
      const int line = items[i].Mark().line + 1;
      if (const auto [seen, inserted] = first_line.emplace(user.name, line); !inserted) {
        fail(items[i], path + ".name",
             "duplicate user name " + quote(user.name) + " (first defined at line " +
                 std::to_string(seen->second) + ")");
      }
      config.users.push_back(std::move(user));
    }
  }
  if (const auto it = top.find("anonymous"); it != top.end()) config.anonymous = read_anonymous(it->second);
  config.setting_lines = std::move(setting_lines_);
  return config;
}

void Reader::read_log(const Field& f, Config& config) const {
  const auto log = fields(f.value, "log", {"level"});
  if (const auto it = log.find("level"); it != log.end()) {
    const std::string text = string_value(it->second, "log.level");
    if (!core::log::parse_level(text, config.log_level)) {
      fail(it->second, "log.level", "expected debug, info, warn or error, found " + quote(text));
    }
  }
}

void Reader::read_runtime(const Field& f, Config& config) const {
  const auto runtime = fields(f.value, "runtime", {"network_threads", "worker_threads"});
  if (const auto it = runtime.find("network_threads"); it != runtime.end()) {
    config.network_threads =
        static_cast<unsigned>(integer_value(it->second, "runtime.network_threads", 0, max_threads));
  }
  if (const auto it = runtime.find("worker_threads"); it != runtime.end()) {
    config.worker_threads =
        static_cast<unsigned>(integer_value(it->second, "runtime.worker_threads", 0, max_threads));
  }
}

void Reader::read_limits(const Field& f, core::Limits& limits) const {
  const auto map = fields(f.value, "limits",
                          {"control_idle_timeout", "login_timeout", "data_connect_timeout",
                           "transfer_stall_timeout", "max_command_line", "max_connections",
                           "max_connections_per_ip", "max_sessions_per_user", "failed_login_delay_ms",
                           "max_login_failures",
                           "max_unauthenticated", "max_key_offers", "max_ssh_channels", "sftp_max_packet",
                           "sftp_max_read", "sftp_max_write", "sftp_max_handles", "sftp_max_queued_bytes",
                           "sftp_max_batch_reply", "sftp_request_slice"});
  const auto seconds = [&](std::string_view key, core::Seconds& out) {
    if (const auto it = map.find(std::string(key)); it != map.end()) {
      out = core::Seconds(integer_value(it->second, join("limits", key), 1, max_timeout_seconds));
    }
  };
  const auto count = [&](std::string_view key, auto& out, std::uint64_t min, std::uint64_t max) {
    if (const auto it = map.find(std::string(key)); it != map.end()) {
      out = static_cast<std::remove_reference_t<decltype(out)>>(
          integer_value(it->second, join("limits", key), min, max));
    }
  };
  seconds("control_idle_timeout", limits.control_idle_timeout);
  seconds("login_timeout", limits.login_timeout);
  seconds("data_connect_timeout", limits.data_connect_timeout);
  seconds("transfer_stall_timeout", limits.transfer_stall_timeout);
  // Below 512 a long path in a legal command no longer fits; above 64 KiB a line is an attack.
  count("max_command_line", limits.max_command_line, 512, 65536);
  count("max_connections", limits.max_connections, 1, max_connection_count);
  count("max_connections_per_ip", limits.max_connections_per_ip, 1, max_connection_count);
  count("max_sessions_per_user", limits.max_sessions_per_user, 0, max_connection_count);
  count("max_login_failures", limits.max_login_failures, 1, 1000);
  count("max_unauthenticated", limits.max_unauthenticated, 1, max_connection_count);
  count("max_key_offers", limits.max_key_offers, 1, 1000);
  count("max_ssh_channels", limits.max_ssh_channels, 1, 1000);
  // SFTP frames: OpenSSH's clients send 32 KiB + headers and need at least that much; 16 MiB
  // is more memory per request than any client makes use of.
  count("sftp_max_packet", limits.sftp_max_packet, 34000, 16u << 20);
  count("sftp_max_read", limits.sftp_max_read, 32768, 16u << 20);
  count("sftp_max_write", limits.sftp_max_write, 32768, 16u << 20);
  count("sftp_max_handles", limits.sftp_max_handles, 1, 65536);
  count("sftp_max_queued_bytes", limits.sftp_max_queued_bytes, 64u << 10, 1u << 30);
  count("sftp_max_batch_reply", limits.sftp_max_batch_reply, 64u << 10, 1u << 30);
  count("sftp_request_slice", limits.sftp_request_slice, 64u << 10, 1u << 30);
  for (const auto key : {"sftp_max_read", "sftp_max_write"}) {
    const auto value = std::string_view(key) == "sftp_max_read" ? limits.sftp_max_read : limits.sftp_max_write;
    if (value + 1024 > limits.sftp_max_packet) {
      const auto it = map.find(key);
      const auto& where = it != map.end() ? it->second : map.at("sftp_max_packet");
      fail(where, join("limits", key),
           "must leave 1024 bytes of limits.sftp_max_packet (" + std::to_string(limits.sftp_max_packet) +
               ") for the message header");
    }
  }
  if (limits.max_unauthenticated > limits.max_connections) {
    // The default follows a smaller max_connections; an explicit value must fit under it.
    const auto it = map.find("max_unauthenticated");
    if (it == map.end()) {
      limits.max_unauthenticated = limits.max_connections;
    } else {
      fail(it->second, "limits.max_unauthenticated",
           "must not exceed limits.max_connections (" + std::to_string(limits.max_connections) + ")");
    }
  }
  if (const auto it = map.find("failed_login_delay_ms"); it != map.end()) {
    limits.failed_login_delay =
        core::Milliseconds(integer_value(it->second, "limits.failed_login_delay_ms", 0, 60'000));
  }
  if (limits.max_connections_per_ip > limits.max_connections) {
    const auto it = map.find("max_connections_per_ip");
    const auto& where = it != map.end() ? it->second : map.at("max_connections");
    fail(where, "limits.max_connections_per_ip",
         "must not exceed limits.max_connections (" + std::to_string(limits.max_connections) + ")");
  }
}

asio::ip::address_v4 Reader::read_ipv4(const Field& f, const std::string& path) const {
  const std::string text = string_value(f, path);
  error_code ec;
  const auto address = asio::ip::make_address_v4(text, ec);
  // PASV replies can only carry IPv4 (EPSV carries no address at all).
  if (ec) fail(f, path, "expected an IPv4 address, found " + quote(text));
  if (address.is_unspecified()) fail(f, path, "must be a specific address, not 0.0.0.0");
  return address;
}

ftp::ListenerSettings Reader::read_listener(const YAML::Node& node, const std::string& path) const {
  ftp::ListenerSettings listener;
  Field address{node, node};
  std::string address_path = path;
  if (node.IsMap()) {
    const auto map = fields(node, path, {"address", "passive_address", "implicit_tls", "tls_control", "tls_data"});
    const auto it = map.find("address");
    if (it == map.end()) fail(node, path, "missing required key 'address'");
    address = it->second;
    address_path = join(path, "address");
    if (const auto p = map.find("passive_address"); p != map.end()) {
      listener.passive_address = read_ipv4(p->second, join(path, "passive_address"));
    }
    if (const auto p = map.find("implicit_tls"); p != map.end()) {
      listener.implicit_tls = bool_value(p->second, join(path, "implicit_tls"));
    }
    if (const auto p = map.find("tls_control"); p != map.end()) {
      listener.tls_control = read_policy(p->second, join(path, "tls_control"));
    }
    if (const auto p = map.find("tls_data"); p != map.end()) {
      listener.tls_data = read_policy(p->second, join(path, "tls_data"));
    }
  } else if (!node.IsScalar()) {
    fail(node, path, "expected \"host:port\" or a mapping with 'address', found " + describe(node));
  }
  const std::string text = string_value(address, address_path);
  const auto endpoint = core::parse_endpoint(text);
  if (!endpoint) {
    fail(address, address_path,
         "expected \"host:port\", \"[v6]:port\" or \":port\" with a numeric IP address, found " +
             quote(text));
  }
  listener.endpoint = *endpoint;
  return listener;
}

ftp::Settings Reader::read_ftp(const Field& f, std::optional<ftps::TlsSettings>& tls) const {
  ftp::Settings settings;
  const auto map = fields(f.value, "ftp",
                          {"listen", "passive_ports", "passive_address", "active_mode",
                           "active_allow_privileged_ports", "active_allow_fxp", "atomic_uploads", "banner",
                           "tls"});
  if (const auto it = map.find("tls"); it != map.end()) tls = read_tls(it->second, settings);
  const auto listen = map.find("listen");
  if (listen == map.end()) fail(f.key, "ftp", "missing required key 'listen'");
  const auto items = list_value(listen->second, "ftp.listen");
  if (items.empty()) fail(listen->second, "ftp.listen", "needs at least one address");
  for (std::size_t i = 0; i < items.size(); ++i) {
    auto listener = read_listener(items[i], index("ftp.listen", i));
    for (const auto& other : settings.listeners) {
      // Port 0 asks for any free port, so two of those do not collide.
      if (listener.endpoint.port() != 0 && other.endpoint == listener.endpoint) {
        fail(items[i], index("ftp.listen", i), "address listed twice");
      }
    }
    if (!tls && (listener.implicit_tls || listener.tls_control || listener.tls_data)) {
      fail(items[i], index("ftp.listen", i), "TLS settings on a listener need an ftp.tls section");
    }
    settings.listeners.push_back(std::move(listener));
  }
  if (const auto it = map.find("passive_ports"); it != map.end()) {
    const std::string text = string_value(it->second, "ftp.passive_ports");
    const auto dash = text.find('-');
    unsigned min = 0;
    unsigned max = 0;
    const auto parse = [](std::string_view part, unsigned& out) {
      const auto [end, error] = std::from_chars(part.data(), part.data() + part.size(), out);
      return !part.empty() && error == std::errc{} && end == part.data() + part.size();
    };
    if (dash == std::string::npos || !parse(std::string_view(text).substr(0, dash), min) ||
        !parse(std::string_view(text).substr(dash + 1), max)) {
      fail(it->second, "ftp.passive_ports", "expected \"min-max\" such as \"50000-50100\", found " + quote(text));
    }
    // Privileged ports would need CAP_NET_BIND_SERVICE for every data connection and could
    // shadow real services.
    if (min < 1024 || min > max || max > 65535) {
      fail(it->second, "ftp.passive_ports", "needs 1024 <= min <= max <= 65535, found " + quote(text));
    }
    settings.passive_port_min = static_cast<std::uint16_t>(min);
    settings.passive_port_max = static_cast<std::uint16_t>(max);
  }
  if (const auto it = map.find("passive_address"); it != map.end()) {
    settings.passive_address = read_ipv4(it->second, "ftp.passive_address");
  }
  if (const auto it = map.find("active_mode"); it != map.end()) {
    settings.active_enabled = bool_value(it->second, "ftp.active_mode");
  }
  if (const auto it = map.find("active_allow_privileged_ports"); it != map.end()) {
    settings.active_allow_privileged_ports = bool_value(it->second, "ftp.active_allow_privileged_ports");
  }
  if (const auto it = map.find("active_allow_fxp"); it != map.end()) {
    settings.active_allow_foreign_address = bool_value(it->second, "ftp.active_allow_fxp");
  }
  if (const auto it = map.find("atomic_uploads"); it != map.end()) {
    settings.atomic_uploads = bool_value(it->second, "ftp.atomic_uploads");
  }
  if (const auto it = map.find("banner"); it != map.end()) {
    const std::string text = string_value(it->second, "ftp.banner");
    if (text.empty() || text.size() > max_banner_length) {
      fail(it->second, "ftp.banner", "must be 1 to " + std::to_string(max_banner_length) + " characters");
    }
    // SECURITY: the banner goes into a 220 reply verbatim; a CR or LF would inject reply lines.
    const bool printable = std::all_of(text.begin(), text.end(), [](char c) {
      return static_cast<unsigned char>(c) >= 0x20 && static_cast<unsigned char>(c) < 0x7f;
    });
    if (!printable) fail(it->second, "ftp.banner", "must be one line of printable ASCII");
    settings.banner = text;
  }
  return settings;
}

sftp::Settings Reader::read_sftp(const Field& f) const {
  sftp::Settings settings;
  const auto map = fields(f.value, "sftp", {"listen", "host_keys", "algorithms"});
  const auto listen = map.find("listen");
  if (listen == map.end()) fail(f.key, "sftp", "missing required key 'listen'");
  const auto items = list_value(listen->second, "sftp.listen");
  if (items.empty()) fail(listen->second, "sftp.listen", "needs at least one address");
  for (std::size_t i = 0; i < items.size(); ++i) {
    const std::string path = index("sftp.listen", i);
    Field address{items[i], items[i]};
    std::string address_path = path;
    if (items[i].IsMap()) {
      const auto entry = fields(items[i], path, {"address"});
      const auto it = entry.find("address");
      if (it == entry.end()) fail(items[i], path, "missing required key 'address'");
      address = it->second;
      address_path = join(path, "address");
    } else if (!items[i].IsScalar()) {
      fail(items[i], path, "expected \"host:port\" or a mapping with 'address', found " + describe(items[i]));
    }
    const std::string text = string_value(address, address_path);
    const auto endpoint = core::parse_endpoint(text);
    if (!endpoint) {
      fail(address, address_path,
           "expected \"host:port\", \"[v6]:port\" or \":port\" with a numeric IP address, found " + quote(text));
    }
    for (const auto& other : settings.listeners) {
      if (endpoint->port() != 0 && other.endpoint == *endpoint) fail(items[i], path, "address listed twice");
    }
    settings.listeners.push_back(sftp::ListenerSettings{*endpoint});
  }
  const auto keys = map.find("host_keys");
  if (keys == map.end()) {
    fail(f.key, "sftp", "missing required key 'host_keys' (make one with: ssh-keygen -t ed25519 -N '' -f FILE)");
  }
  const auto key_items = list_value(keys->second, "sftp.host_keys");
  if (key_items.empty()) fail(keys->second, "sftp.host_keys", "needs at least one private key file");
  for (std::size_t i = 0; i < key_items.size(); ++i) {
    const std::string path = index("sftp.host_keys", i);
    // The files themselves are read at start-up (and by filegate check), not here: the
    // config may be validated on a machine without them.
    const std::string file = file_setting(Field{key_items[i], key_items[i]}, path);
    if (std::find(settings.host_key_files.begin(), settings.host_key_files.end(), file) !=
        settings.host_key_files.end()) {
      fail(key_items[i], path, "file listed twice");
    }
    settings.host_key_files.push_back(file);
  }
  if (const auto it = map.find("algorithms"); it != map.end()) {
    const auto lists = fields(it->second.value, "sftp.algorithms", {"kex", "ciphers", "macs", "host_keys", "public_keys"});
    for (const auto kind : {sftp::AlgorithmKind::kex, sftp::AlgorithmKind::ciphers, sftp::AlgorithmKind::macs,
                            sftp::AlgorithmKind::host_keys, sftp::AlgorithmKind::public_keys}) {
      const std::string name(sftp::algorithm_kind_name(kind));
      if (const auto list = lists.find(name); list != lists.end()) {
        settings.algorithms.list(kind) = read_algorithms(list->second, join("sftp.algorithms", name), kind);
      }
    }
  }
  return settings;
}

std::vector<std::string> Reader::read_algorithms(const Field& f, const std::string& path,
                                                 sftp::AlgorithmKind kind) const {
  std::vector<std::string> names;
  const auto items = list_value(f, path);
  if (items.empty()) fail(f, path, "needs at least one algorithm (omit the key for the defaults)");
  for (std::size_t i = 0; i < items.size(); ++i) {
    const std::string item_path = index(path, i);
    const std::string name = string_value(Field{items[i], items[i]}, item_path);
    if (sftp::algorithm_status(kind, name) == sftp::AlgorithmStatus::unknown) {
      std::string known;
      for (const auto k : sftp::known_algorithms(kind)) known += (known.empty() ? "" : ", ") + std::string(k);
      fail(items[i], item_path, "unknown or unsupported algorithm " + quote(name) + " (known: " + known + ")");
    }
    if (std::find(names.begin(), names.end(), name) != names.end()) {
      fail(items[i], item_path, "algorithm " + quote(name) + " listed twice");
    }
    names.push_back(name);
  }
  return names;
}

auth::SshAuthentication Reader::read_ssh_authentication(const Field& f, const std::string& path) const {
  const std::string text = string_value(f, path);
  if (text == "any") return auth::SshAuthentication::any;
  if (text == "password") return auth::SshAuthentication::password;
  if (text == "publickey") return auth::SshAuthentication::publickey;
  if (text == "publickey+password") return auth::SshAuthentication::publickey_and_password;
  fail(f, path, "expected any, password, publickey or publickey+password, found " + quote(text));
}

auth::PermissionSet Reader::read_permissions(const Field& f, const std::string& path) const {
  const std::string text = string_value(f, path);
  // Find the offending letter ourselves, for a message that names it.
  std::string seen;
  for (const char c : text) {
    if (permission_letters.find(c) == std::string_view::npos) {
      fail(f, path, "unknown permission letter " + quote(std::string_view(&c, 1)) +
                        " (letters: elradfmwMT)");
    }
    if (seen.find(c) != std::string::npos) {
      fail(f, path, "permission letter " + quote(std::string_view(&c, 1)) + " given twice");
    }
    seen.push_back(c);
  }
  const auto set = auth::PermissionSet::parse(text);
  if (!set) fail(f, path, "invalid permissions " + quote(text));
  return *set;
}

unsigned Reader::read_protocols(const Field& f, const std::string& path) const {
  unsigned protocols = 0;
  const auto items = list_value(f, path);
  if (items.empty()) fail(f, path, "needs at least one of ftp, ftps, sftp (use disabled: true to lock an account)");
  for (std::size_t i = 0; i < items.size(); ++i) {
    const std::string item_path = index(path, i);
    const std::string name = string_value(Field{items[i], items[i]}, item_path);
    unsigned bit = 0;
    for (const auto p : {auth::Protocol::ftp, auth::Protocol::ftps, auth::Protocol::sftp}) {
      if (name == auth::protocol_name(p)) bit = static_cast<unsigned>(p);
    }
    if (bit == 0) fail(items[i], item_path, "expected ftp, ftps or sftp, found " + quote(name));
    if ((protocols & bit) != 0) fail(items[i], item_path, "protocol " + quote(name) + " listed twice");
    protocols |= bit;
  }
  return protocols;
}

std::vector<auth::DirectoryRule> Reader::read_directories(const Field& f, const std::string& path) const {
  std::vector<auth::DirectoryRule> rules;
  const auto items = list_value(f, path);
  for (std::size_t i = 0; i < items.size(); ++i) {
    const std::string item_path = index(path, i);
    const auto map = fields(items[i], item_path, {"path", "permissions", "recursive"});
    if (!items[i].IsMap()) fail(items[i], item_path, "expected a mapping with 'path' and 'permissions'");
    const auto p = map.find("path");
    if (p == map.end()) fail(items[i], item_path, "missing required key 'path'");
    const auto perms = map.find("permissions");
    if (perms == map.end()) fail(items[i], item_path, "missing required key 'permissions'");
    auth::DirectoryRule rule;
    const std::string text = string_value(p->second, join(item_path, "path"));
    // Rules name virtual paths as the client sees them (its home is "/"); requiring the leading
    // '/' avoids the guess whether "inbox" meant "/inbox".
    if (text.empty() || text.front() != '/') {
      fail(p->second, join(item_path, "path"), "must be an absolute virtual path such as /inbox, found " + quote(text));
    }
    const auto parsed = vfs::Path::parse(text);
    if (!parsed) fail(p->second, join(item_path, "path"), "invalid path " + quote(text));
    rule.path = *parsed;
    rule.permissions = read_permissions(perms->second, join(item_path, "permissions"));
    if (const auto r = map.find("recursive"); r != map.end()) {
      rule.recursive = bool_value(r->second, join(item_path, "recursive"));
    }
    for (const auto& other : rules) {
      if (other.path == rule.path && other.recursive == rule.recursive) {
        fail(items[i], item_path, "a rule for " + quote(rule.path.str()) + " is already given");
      }
    }
    rules.push_back(std::move(rule));
  }
  return rules;
}

void Reader::check_key_line(const Field& f, const std::string& path, std::string_view line) const {
  // One line, no control bytes, "type base64", and then the key itself (sftp/ssh_keys.cpp): a
  // key pasted wrong stops start-up instead of silently never matching.
  const bool clean = std::all_of(line.begin(), line.end(), [](char c) {
    return static_cast<unsigned char>(c) >= 0x20 && static_cast<unsigned char>(c) != 0x7f;
  });
  if (!clean) fail(f, path, "a key must be one line without control characters");
  const auto space = line.find(' ');
  if (line.empty() || space == std::string_view::npos || space == 0 || space + 1 >= line.size()) {
    fail(f, path, "expected an OpenSSH public key line \"<type> <base64> [comment]\", found " + quote(line));
  }
  if (const auto problem = sftp::check_authorized_key(line)) fail(f, path, *problem);
}

void Reader::read_keys_file(const Field& f, const std::string& path, std::vector<std::string>& keys) const {
  const std::string name = string_value(f, path);
  if (name.empty()) fail(f, path, "expected a file name");
  const fs::path file = resolve(name);
  std::string text;
  std::string reason;
  if (!read_small_file(file.string(), max_keys_file_bytes, text, reason)) {
    fail(f, path, "cannot read " + quote(file.string()) + ": " + reason);
  }
  std::size_t line_number = 0;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + start, end - start);
    ++line_number;
    start = end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const auto first = line.find_first_not_of(" \t");
    if (first == std::string_view::npos || line[first] == '#') continue;
    line.remove_prefix(first);
    check_key_line(f, path + " (line " + std::to_string(line_number) + ")", line);
    keys.emplace_back(line);
  }
}

auth::User Reader::read_user(const YAML::Node& node, const std::string& path) const {
  if (!node.IsMap()) fail(node, path, "expected a mapping with at least 'name' and 'home', found " + describe(node));
  const auto map = fields(node, path,
                          {"name", "password_hash", "home", "permissions", "protocols", "disabled",
                           "directories", "authorized_keys", "authorized_keys_file", "ssh_authentication",
                           "tls", "client_certificate", "max_sessions"});
  auth::User user;

  const auto name = map.find("name");
  if (name == map.end()) fail(node, path, "missing required key 'name'");
  user.name = string_value(name->second, path + ".name");
  const bool valid_name =
      !user.name.empty() && user.name.size() <= max_user_name_length &&
      std::all_of(user.name.begin(), user.name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
               c == '_' || c == '@' || c == '-';
      });
  // SECURITY: names go into logs, listings and (for SFTP) SSH banners; a narrow alphabet keeps
  // them from carrying control characters or path separators.
  if (!valid_name) {
    fail(name->second, path + ".name",
         "must be 1 to " + std::to_string(max_user_name_length) + " of A-Z a-z 0-9 . _ @ -, found " +
             quote(user.name));
  }
  if (user.name == "anonymous" || user.name == "ftp") {
    fail(name->second, path + ".name",
         quote(user.name) + " is reserved for anonymous access (configure it under 'anonymous')");
  }

  if (const auto it = map.find("password_hash"); it != map.end()) {
    // SECURITY: never echo the value: even a malformed hash is a secret someone pasted.
    if (!it->second.value.IsScalar()) fail(it->second, path + ".password_hash", "expected a crypt(3) hash string");
    user.password_hash = it->second.value.Scalar();
    if (!auth::is_supported_hash(user.password_hash)) {
      fail(it->second, path + ".password_hash",
           "not a supported crypt(3) hash (use yescrypt \"$y$...\", sha512-crypt \"$6$...\" or "
           "bcrypt \"$2b$...\"; legacy DES and MD5 hashes are refused)");
    }
  }

  const auto home = map.find("home");
  if (home == map.end()) fail(node, path, "missing required key 'home'");
  const std::string home_text = string_value(home->second, path + ".home");
  if (home_text.empty()) fail(home->second, path + ".home", "must not be empty");
  user.home = resolve(home_text).string();

  const auto perms = map.find("permissions");
  const auth::PermissionSet base = perms != map.end() ? read_permissions(perms->second, path + ".permissions")
                                                      : *auth::PermissionSet::parse(default_user_permissions);
  std::vector<auth::DirectoryRule> rules;
  if (const auto it = map.find("directories"); it != map.end()) {
    rules = read_directories(it->second, path + ".directories");
  }
  user.permissions = auth::PermissionRules(base, std::move(rules));

  if (const auto it = map.find("protocols"); it != map.end()) {
    user.protocols = read_protocols(it->second, path + ".protocols");
  }
  if (const auto it = map.find("disabled"); it != map.end()) {
    user.disabled = bool_value(it->second, path + ".disabled");
  }
  if (const auto it = map.find("authorized_keys"); it != map.end()) {
    const auto items = list_value(it->second, path + ".authorized_keys");
    for (std::size_t i = 0; i < items.size(); ++i) {
      const std::string item_path = index(path + ".authorized_keys", i);
      const Field item{items[i], items[i]};
      const std::string line = string_value(item, item_path);
      check_key_line(item, item_path, line);
      user.authorized_keys.push_back(line);
    }
  }
  if (const auto it = map.find("authorized_keys_file"); it != map.end()) {
    read_keys_file(it->second, path + ".authorized_keys_file", user.authorized_keys);
  }
  if (const auto it = map.find("max_sessions"); it != map.end()) {
    user.max_sessions = integer_value(it->second, path + ".max_sessions", 0, max_connection_count);
  }
  if (const auto it = map.find("ssh_authentication"); it != map.end()) {
    user.ssh_authentication = read_ssh_authentication(it->second, path + ".ssh_authentication");
    const bool needs_key = user.ssh_authentication == auth::SshAuthentication::publickey ||
                           user.ssh_authentication == auth::SshAuthentication::publickey_and_password;
    const bool needs_password = user.ssh_authentication == auth::SshAuthentication::password ||
                                user.ssh_authentication == auth::SshAuthentication::publickey_and_password;
    if (needs_key && user.authorized_keys.empty()) {
      fail(it->second, path + ".ssh_authentication", "needs authorized_keys or authorized_keys_file");
    }
    if (needs_password && user.password_hash.empty()) {
      fail(it->second, path + ".ssh_authentication", "needs a password_hash");
    }
  }
  if (const auto it = map.find("tls"); it != map.end()) user.tls = read_user_tls(it->second, path + ".tls");
  if (const auto it = map.find("client_certificate"); it != map.end()) {
    const std::string cert_path = path + ".client_certificate";
    const auto cert = fields(it->second.value, cert_path, {"common_name", "password"});
    const auto cn = cert.find("common_name");
    if (cn == cert.end()) fail(it->second, cert_path, "missing required key 'common_name'");
    auth::CertificateLogin login;
    login.common_name = string_value(cn->second, cert_path + ".common_name");
    if (login.common_name.empty()) fail(cn->second, cert_path + ".common_name", "must not be empty");
    if (const auto pw = cert.find("password"); pw != cert.end()) {
      const std::string text = string_value(pw->second, cert_path + ".password");
      if (text == "required") login.password_required = true;
      else if (text == "not_required") login.password_required = false;
      else fail(pw->second, cert_path + ".password", "expected required or not_required, found " + quote(text));
    }
    user.certificate = std::move(login);
  }
  return user;
}

ftp::TlsPolicy Reader::read_policy(const Field& f, const std::string& path) const {
  const std::string text = string_value(f, path);
  if (text == "required") return ftp::TlsPolicy::required;
  if (text == "optional") return ftp::TlsPolicy::optional;
  fail(f, path, "expected required or optional, found " + quote(text));
}

// ftp.tls.certificate and ftp.tls.private_key: one file each, or lists of the same length that
// pair up (one certificate per key type, e.g. ECDSA and RSA). The files are read at start-up.
std::vector<ftps::CertificateFiles> Reader::read_certificates(const Field& f,
                                                              const std::map<std::string, Field>& map) const {
  const auto files = [&](const char* key) {
    const std::string path = join("ftp.tls", key);
    const auto it = map.find(key);
    if (it == map.end()) fail(f.key, "ftp.tls", "missing required key '" + std::string(key) + "'");
    std::vector<std::pair<Field, std::string>> items;  // each file with its setting's name
    if (it->second.value.IsSequence()) {
      const auto nodes = list_value(it->second, path);
      if (nodes.empty()) fail(it->second, path, "needs at least one file");
      // Named as the server's start-up errors name them, so that setup_error finds the line.
      for (std::size_t i = 0; i < nodes.size(); ++i) {
        items.emplace_back(Field{nodes[i], nodes[i]}, join("ftp.tls", ftps::certificate_setting(key, i, nodes.size())));
      }
    } else {
      items.emplace_back(it->second, path);
    }
    std::vector<std::string> out;
    for (const auto& [item, name] : items) out.push_back(file_setting(item, name));
    return std::pair{out, it->second};
  };
  const auto certificates = files("certificate").first;
  const auto [keys, key_field] = files("private_key");
  if (keys.size() != certificates.size()) {
    fail(key_field, "ftp.tls.private_key",
         "lists " + std::to_string(keys.size()) + " key(s) for " + std::to_string(certificates.size()) +
             " certificate(s) in ftp.tls.certificate; they pair up in order");
  }
  std::vector<ftps::CertificateFiles> pairs;
  for (std::size_t i = 0; i < certificates.size(); ++i) pairs.push_back({certificates[i], keys[i]});
  return pairs;
}

ftps::TlsSettings Reader::read_tls(const Field& f, ftp::Settings& settings) const {
  ftps::TlsSettings tls;
  const auto map = fields(f.value, "ftp.tls",
                          {"certificate", "private_key", "min_version", "ciphers", "ciphersuites", "groups",
                           "client_ca", "client_certificate", "client_crl", "client_crl_check", "control", "data",
                           "session_reuse", "session_lifetime", "allow_ccc"});
  const auto file = [&](const char* key) {
    const auto it = map.find(key);
    return it == map.end() ? std::string() : file_setting(it->second, join("ftp.tls", key));
  };
  tls.certificates = read_certificates(f, map);
  tls.client_ca_file = file("client_ca");
  tls.client_crl_file = file("client_crl");
  if (!tls.client_crl_file.empty() && tls.client_ca_file.empty()) {
    fail(map.at("client_crl"), "ftp.tls.client_crl", "needs ftp.tls.client_ca");
  }
  if (const auto it = map.find("client_crl_check"); it != map.end()) {
    const std::string scope = string_value(it->second, "ftp.tls.client_crl_check");
    if (scope != "leaf" && scope != "chain") {
      fail(it->second, "ftp.tls.client_crl_check", "expected leaf or chain, found " + quote(scope));
    }
    if (tls.client_crl_file.empty()) fail(it->second, "ftp.tls.client_crl_check", "needs ftp.tls.client_crl");
    tls.client_crl_chain = scope == "chain";
  }
  if (const auto it = map.find("min_version"); it != map.end()) {
    tls.min_version = string_value(it->second, "ftp.tls.min_version");
    // SECURITY: TLS 1.1 and older are broken; they cannot be configured.
    if (tls.min_version != "TLSv1.2" && tls.min_version != "TLSv1.3") {
      fail(it->second, "ftp.tls.min_version", "expected TLSv1.2 or TLSv1.3, found " + quote(tls.min_version));
    }
  }
  if (const auto it = map.find("ciphers"); it != map.end()) {
    tls.ciphers = string_value(it->second, "ftp.tls.ciphers");
    note_line(it->second.value, "ftp.tls.ciphers");
  }
  if (const auto it = map.find("ciphersuites"); it != map.end()) {
    tls.ciphersuites = string_value(it->second, "ftp.tls.ciphersuites");
    note_line(it->second.value, "ftp.tls.ciphersuites");
  }
  if (const auto it = map.find("groups"); it != map.end()) {
    tls.groups = string_value(it->second, "ftp.tls.groups");
    note_line(it->second.value, "ftp.tls.groups");
  }
  if (const auto it = map.find("client_certificate"); it != map.end()) {
    if (tls.client_ca_file.empty()) fail(it->second, "ftp.tls.client_certificate", "needs ftp.tls.client_ca");
    tls.require_client_certificate = read_policy(it->second, "ftp.tls.client_certificate") == ftp::TlsPolicy::required;
  }
  if (const auto it = map.find("control"); it != map.end()) settings.tls_control = read_policy(it->second, "ftp.tls.control");
  if (const auto it = map.find("data"); it != map.end()) settings.tls_data = read_policy(it->second, "ftp.tls.data");
  if (const auto it = map.find("session_reuse"); it != map.end()) {
    settings.tls_session_reuse = bool_value(it->second, "ftp.tls.session_reuse");
  }
  if (const auto it = map.find("allow_ccc"); it != map.end()) {
    settings.tls_allow_ccc = bool_value(it->second, "ftp.tls.allow_ccc");
  }
  if (const auto it = map.find("session_lifetime"); it != map.end()) {
    tls.session_lifetime = std::chrono::seconds(integer_value(it->second, "ftp.tls.session_lifetime", 60, 7 * 86400));
  }
  return tls;
}

auth::TlsOverrides Reader::read_user_tls(const Field& f, const std::string& path) const {
  auth::TlsOverrides tls;
  const auto map = fields(f.value, path, {"control", "data", "session_reuse", "allow_ccc"});
  if (const auto it = map.find("control"); it != map.end()) {
    tls.control_required = read_policy(it->second, join(path, "control")) == ftp::TlsPolicy::required;
  }
  if (const auto it = map.find("data"); it != map.end()) {
    tls.data_required = read_policy(it->second, join(path, "data")) == ftp::TlsPolicy::required;
  }
  if (const auto it = map.find("session_reuse"); it != map.end()) {
    tls.session_reuse_required = bool_value(it->second, join(path, "session_reuse"));
  }
  if (const auto it = map.find("allow_ccc"); it != map.end()) {
    tls.allow_ccc = bool_value(it->second, join(path, "allow_ccc"));
  }
  return tls;
}

std::optional<auth::User> Reader::read_anonymous(const Field& f) const {
  const auto map = fields(f.value, "anonymous", {"enabled", "home", "permissions", "protocols", "max_sessions"});
  bool enabled = false;
  if (const auto it = map.find("enabled"); it != map.end()) enabled = bool_value(it->second, "anonymous.enabled");

  // The other keys are validated even when disabled, so switching it on later cannot surface a
  // mistake at the worst moment.
  auth::User user;
  user.name = "anonymous";
  user.anonymous = true;
  user.protocols = default_anonymous_protocols;
  const auto home = map.find("home");
  if (home != map.end()) {
    const std::string text = string_value(home->second, "anonymous.home");
    if (text.empty()) fail(home->second, "anonymous.home", "must not be empty");
    user.home = resolve(text).string();
  }
  const auto perms = map.find("permissions");
  user.permissions = auth::PermissionRules(perms != map.end()
                                               ? read_permissions(perms->second, "anonymous.permissions")
                                               : *auth::PermissionSet::parse(default_anonymous_permissions));
  if (const auto it = map.find("protocols"); it != map.end()) {
    user.protocols = read_protocols(it->second, "anonymous.protocols");
  }
  // All anonymous logins are one account: this caps them together (vsftpd's max_clients for an
  // anonymous-only server, ProFTPD's MaxClients in <Anonymous>).
  if (const auto it = map.find("max_sessions"); it != map.end()) {
    user.max_sessions = integer_value(it->second, "anonymous.max_sessions", 0, max_connection_count);
  }
  if (!enabled) return std::nullopt;
  if (home == map.end()) fail(f.key, "anonymous", "missing required key 'home' (needed when enabled)");
  return user;
}

// Records where each document starts; the content itself is read by YAML::Load.
class DocumentStarts final : public YAML::EventHandler {
 public:
  std::vector<YAML::Mark> marks;
  void OnDocumentStart(const YAML::Mark& mark) override { marks.push_back(mark); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

std::string at_line(const std::string& source, const YAML::Mark& mark) {
  if (mark.is_null() || mark.line < 0) return source;
  return source + ":" + std::to_string(mark.line + 1);
}

// Parses the one YAML document of a config file.
YAML::Node load_document(const std::string& text, const std::string& source) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
    // Anything after the first document is an error too. yaml-cpp 0.7's LoadAll() loops forever
    // on some malformed input (a ',' it cannot place, yaml-cpp issue #1040), so count documents
    // with a bounded loop of our own instead.
    std::istringstream in(text);
    YAML::Parser parser(in);
    DocumentStarts starts;
    for (int i = 0; i < 2 && parser.HandleNextDocument(starts); ++i) {
    }
    if (starts.marks.size() >= 2) {
      const YAML::Mark& second = starts.marks[1];
      if (second.pos <= starts.marks[0].pos && second.pos >= 0 &&
          static_cast<std::size_t>(second.pos) < text.size()) {
        // The parser stopped on a token it did not consume: that token is the error.
        throw ConfigError(at_line(source, second) + ": syntax error: unexpected " +
                          quote(std::string_view(text).substr(static_cast<std::size_t>(second.pos), 1)));
      }
      throw ConfigError(at_line(source, second) +
                        ": syntax error: a second YAML document; a config file is one document");
    }
  } catch (const YAML::Exception& e) {
    throw ConfigError(at_line(source, e.mark) + ": syntax error: " + e.msg);
  }
  return root;
}

}  // namespace

std::string Config::setup_error(std::string_view section, std::string_view detail) const {
  const auto colon = detail.find(": ");
  if (colon != std::string_view::npos) {
    const std::string key = std::string(section) + "." + std::string(detail.substr(0, colon));
    if (const auto it = setting_lines.find(key); it != setting_lines.end()) {
      return source + ":" + std::to_string(it->second) + ": " + key + ": " + std::string(detail.substr(colon + 2));
    }
  }
  return source + ": " + std::string(section) + ": " + std::string(detail);
}

namespace {

// Sets every map and list under `node` (included) to block style.
void block_style(YAML::Node node) {
  if (!node.IsMap() && !node.IsSequence()) return;
  node.SetStyle(YAML::EmitterStyle::Block);
  for (auto item : node) {
    if (node.IsMap()) {
      block_style(item.second);
    } else {
      block_style(item);
    }
  }
}

}  // namespace

Config parse_config(const std::string& text, const std::string& source, const std::string& base_directory) {
  const YAML::Node root = load_document(text, source);
  // Relative homes are resolved now, against an absolute folder, so the result does not depend
  // on the working directory the server later runs in.
  std::error_code ec;
  fs::path base = fs::absolute(fs::path(base_directory.empty() ? "." : base_directory), ec);
  if (ec) base = fs::path(base_directory);
  Reader reader(source, base.lexically_normal());
  try {
    Config config = reader.read(root);
    for (const char* section : restart_section_names) {
      if (!root[section]) continue;
      YAML::Node node = YAML::Clone(root[section]);
      // A running server takes these ftp.tls keys over on SIGHUP (ftps::TlsServer::reload); the
      // section itself, its policy keys and the rest of ftp still need a restart.
      if (std::string_view(section) == "ftp" && node.IsMap() && node["tls"] && node["tls"].IsMap()) {
        for (const char* key : reloadable_tls_keys) node["tls"].remove(key);
      }
      block_style(node);  // {a: 1} and a block of the same are the same settings
      config.restart_sections[section] = YAML::Dump(node);
    }
    return config;
  } catch (const YAML::Exception& e) {
    // Reading a well-formed tree should not throw, but yaml-cpp's accessors may; keep the promise
    // that configuration problems surface as ConfigError only.
    std::string message = source;
    if (!e.mark.is_null() && e.mark.line >= 0) message += ":" + std::to_string(e.mark.line + 1);
    throw ConfigError(message + ": " + e.msg);
  }
}

Config load_config(const std::string& path) {
  std::string text;
  std::string reason;
  if (!read_small_file(path, max_config_bytes, text, reason)) {
    throw ConfigError(path + ": cannot read: " + reason);
  }
  fs::path folder = fs::path(path).parent_path();
  if (folder.empty()) folder = ".";
  return parse_config(text, path, folder.string());
}

}  // namespace filegate::server
