#include "ftp/address.hpp"

#include <array>
#include <charconv>

namespace filegate::ftp {
namespace {

bool parse_number(std::string_view text, unsigned max, unsigned& out) {
  if (text.empty() || text.size() > 5) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc{} && end == text.data() + text.size() && out <= max;
}

}  // namespace

ParsedAddress parse_port(std::string_view argument) {
  std::array<unsigned, 6> parts{};
  std::size_t index = 0;
  while (true) {
    const auto comma = argument.find(',');
    const auto field = argument.substr(0, comma);
    if (index >= parts.size() || !parse_number(field, 255, parts[index])) return {};
    ++index;
    if (comma == std::string_view::npos) break;
    argument.remove_prefix(comma + 1);
  }
  if (index != parts.size()) return {};
  const asio::ip::address_v4 address(asio::ip::address_v4::bytes_type{
      static_cast<unsigned char>(parts[0]), static_cast<unsigned char>(parts[1]),
      static_cast<unsigned char>(parts[2]), static_cast<unsigned char>(parts[3])});
  const auto port = static_cast<unsigned short>(parts[4] * 256 + parts[5]);
  if (port == 0) return {};
  return {tcp::endpoint(address, port), AddressError::syntax};
}

ParsedAddress parse_eprt(std::string_view argument) {
  if (argument.size() < 7) return {};
  const char delimiter = argument.front();
  if (delimiter < 33 || delimiter > 126 || (delimiter >= '0' && delimiter <= '9')) return {};
  std::array<std::string_view, 3> fields;
  std::string_view rest = argument.substr(1);
  for (auto& field : fields) {
    const auto end = rest.find(delimiter);
    if (end == std::string_view::npos) return {};
    field = rest.substr(0, end);
    rest.remove_prefix(end + 1);
  }
  if (!rest.empty()) return {};
  unsigned family = 0;
  unsigned port = 0;
  if (!parse_number(fields[0], 65535, family)) return {};
  if (family != 1 && family != 2) return {std::nullopt, AddressError::unsupported_family};
  if (!parse_number(fields[2], 65535, port) || port == 0) return {};
  // SECURITY: only address characters reach the parser. The C-string conversion would cut the
  // text at a NUL, and asio drops a "%zone" suffix that names no interface, so either would
  // accept a different address than the one written.
  if (fields[1].find_first_not_of("0123456789abcdefABCDEF:.") != std::string_view::npos) return {};
  error_code ec;
  if (family == 1) {
    const auto address = asio::ip::make_address_v4(std::string(fields[1]), ec);
    if (ec) return {};
    return {tcp::endpoint(address, static_cast<unsigned short>(port)), AddressError::syntax};
  }
  const auto address = asio::ip::make_address_v6(std::string(fields[1]), ec);
  if (ec || address.scope_id() != 0) return {};
  return {tcp::endpoint(address, static_cast<unsigned short>(port)), AddressError::syntax};
}

std::string format_pasv(const asio::ip::address_v4& address, unsigned short port) {
  const auto bytes = address.to_bytes();
  std::string out = "Entering Passive Mode (";
  for (unsigned char b : bytes) {
    out += std::to_string(b);
    out += ',';
  }
  out += std::to_string(port / 256);
  out += ',';
  out += std::to_string(port % 256);
  out += ").";
  return out;
}

std::string format_epsv(unsigned short port) {
  return "Entering Extended Passive Mode (|||" + std::to_string(port) + "|)";
}

}  // namespace filegate::ftp
