// Fuzzes the data-address parsers: PORT ("h1,h2,h3,h4,p1,p2") and EPRT ("|af|addr|port|").
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "ftp/address.hpp"

namespace {

using filegate::ftp::AddressError;

// The text between "(" and ")" of a PASV reply.
std::string pasv_numbers(const std::string& reply) {
  const auto open = reply.find('(');
  const auto close = reply.find(')');
  if (open == std::string::npos || close == std::string::npos || close < open) std::abort();
  return reply.substr(open + 1, close - open - 1);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  const auto port = filegate::ftp::parse_port(input);
  if (port.endpoint) {
    if (port.endpoint->port() == 0) std::abort();
    if (!port.endpoint->address().is_v4()) std::abort();
    if (port.error != AddressError::syntax) std::abort();
    // PORT only accepts digits and commas.
    if (input.find_first_not_of("0123456789,") != std::string_view::npos) std::abort();
    // format_pasv of what was parsed reads back as the same endpoint.
    const auto text = filegate::ftp::format_pasv(port.endpoint->address().to_v4(), port.endpoint->port());
    const auto again = filegate::ftp::parse_port(pasv_numbers(text));
    if (!again.endpoint || *again.endpoint != *port.endpoint) std::abort();
  } else if (port.error != AddressError::syntax) {
    std::abort();  // PORT has no address family to be unsupported
  }

  const auto eprt = filegate::ftp::parse_eprt(input);
  if (eprt.endpoint) {
    if (eprt.endpoint->port() == 0) std::abort();
    if (eprt.error != AddressError::syntax) std::abort();
    const auto& address = eprt.endpoint->address();
    if (address.is_v6() && address.to_v6().scope_id() != 0) std::abort();
    // The argument is exactly delimiter, family, delimiter, address, delimiter, port, delimiter,
    // and each field reads back as what was parsed.
    const char delimiter = input.front();
    if (input.size() < 7 || input.back() != delimiter) std::abort();
    std::vector<std::string_view> fields;
    std::string_view rest = input.substr(1, input.size() - 2);
    while (true) {
      const auto end = rest.find(delimiter);
      fields.push_back(rest.substr(0, end));
      if (end == std::string_view::npos) break;
      rest.remove_prefix(end + 1);
    }
    if (fields.size() != 3) std::abort();
    if (std::stoul(std::string(fields[0])) != (address.is_v4() ? 1u : 2u)) std::abort();
    if (fields[1].find_first_not_of("0123456789abcdefABCDEF:.") != std::string_view::npos) std::abort();
    if (filegate::asio::ip::make_address(std::string(fields[1])) != address) std::abort();
    if (std::stoul(std::string(fields[2])) != eprt.endpoint->port()) std::abort();
    // EPSV's reply names the same port.
    const auto epsv = filegate::ftp::format_epsv(eprt.endpoint->port());
    if (epsv.find("(|||" + std::to_string(eprt.endpoint->port()) + "|)") == std::string::npos) std::abort();
  }
  return 0;
}
