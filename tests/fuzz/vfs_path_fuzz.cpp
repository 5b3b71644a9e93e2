// Fuzzes virtual path normalisation. The first byte chooses how the rest is used, so one
// corpus covers parse(), resolve() against a cwd, and child().
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "vfs/errors.hpp"
#include "vfs/path.hpp"

namespace {

using filegate::vfs::Path;

// The invariants every Path must hold, whatever produced it.
void check(const Path& p) {
  const std::string& s = p.str();
  if (s.empty() || s.front() != '/') std::abort();
  if (s.size() > filegate::vfs::max_path_length) std::abort();
  if (s.size() > 1 && s.back() == '/') std::abort();
  if (s.find('\0') != std::string::npos) std::abort();
  if (s.find("//") != std::string::npos) std::abort();
  if (s.find("/./") != std::string::npos || s.find("/../") != std::string::npos) std::abort();
  if (s == "/." || s == "/..") std::abort();
  if (s.size() >= 2 && s.ends_with("/.")) std::abort();
  if (s.size() >= 3 && s.ends_with("/..")) std::abort();
  std::size_t start = 1;
  while (start < s.size()) {
    auto end = s.find('/', start);
    if (end == std::string::npos) end = s.size();
    if (end - start > filegate::vfs::max_name_length) std::abort();
    start = end + 1;
  }
  // Normalisation is idempotent, and parent/name/child agree with each other.
  auto again = Path::parse(s);
  if (!again || *again != p) std::abort();
  if (p.is_root()) {
    if (!p.name().empty() || p.parent() != p) std::abort();
  } else {
    auto rebuilt = p.parent().child(p.name());
    if (!rebuilt || *rebuilt != p) std::abort();
    if (!p.within(p.parent())) std::abort();
  }
  if (!p.within(Path())) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const auto mode = data[0] % 3;
  const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  if (mode == 0) {
    auto p = Path::parse(input);
    if (p) {
      check(*p);
      // An input with a NUL must never have been accepted.
      if (input.find('\0') != std::string_view::npos) std::abort();
    } else if (input.find('\0') == std::string_view::npos && !input.empty() &&
               p.error() != filegate::vfs::Errc::name_too_long) {
      std::abort();  // the only other reasons to refuse are NUL and empty input
    }
  } else if (mode == 1) {
    // "cwd" TAB "input": resolve relative to a cwd that is itself parsed first.
    const auto tab = input.find('\t');
    const auto cwd = Path::parse(input.substr(0, tab));
    if (!cwd) return 0;
    check(*cwd);
    if (tab == std::string_view::npos) return 0;
    auto p = Path::resolve(*cwd, input.substr(tab + 1));
    if (p) {
      check(*p);
      // A relative input never climbs above the root, and "." stays put.
      if (input.substr(tab + 1) == "." && *p != *cwd) std::abort();
    }
  } else {
    auto c = Path().child(input);
    if (c) {
      check(*c);
      if (c->name() != input) std::abort();
    }
  }
  return 0;
}
