#include "auth/permissions.hpp"

#include <algorithm>
#include <array>
#include <utility>

#include "vfs/errors.hpp"

namespace filegate::auth {
namespace {

struct LetterBit {
  char letter;
  Permission permission;
};

// The canonical order; letters() prints in this order and parse() accepts any order.
constexpr std::array<LetterBit, 10> letter_table{{
    {'e', Permission::change_directory},
    {'l', Permission::list},
    {'r', Permission::download},
    {'a', Permission::append},
    {'d', Permission::remove},
    {'f', Permission::rename},
    {'m', Permission::make_directory},
    {'w', Permission::upload},
    {'M', Permission::change_mode},
    {'T', Permission::set_time},
}};

bool rule_matches(const DirectoryRule& rule, const vfs::Path& path) {
  if (path == rule.path) return true;
  if (!path.within(rule.path)) return false;
  return rule.recursive || path.parent() == rule.path;
}

}  // namespace

Result<PermissionSet> PermissionSet::parse(std::string_view letters) {
  PermissionSet set;
  for (const char c : letters) {
    const auto it = std::find_if(letter_table.begin(), letter_table.end(),
                                 [c](const LetterBit& entry) { return entry.letter == c; });
    // SECURITY: a typo ("elrw " or "elradfmwMTX") must stop start-up, not silently grant or
    // drop a right; a repeated letter usually means two lists were pasted together.
    if (it == letter_table.end() || set.has(it->permission)) {
      return vfs::make_error_code(vfs::Errc::invalid_argument);
    }
    set = set.with(it->permission);
  }
  return set;
}

PermissionSet PermissionSet::all() {
  PermissionSet set;
  for (const auto& entry : letter_table) set = set.with(entry.permission);
  return set;
}

PermissionSet PermissionSet::with(Permission p) const {
  PermissionSet copy = *this;
  copy.bits_ = static_cast<std::uint16_t>(copy.bits_ | static_cast<std::uint16_t>(p));
  return copy;
}

std::string PermissionSet::letters() const {
  std::string out;
  for (const auto& entry : letter_table) {
    if (has(entry.permission)) out.push_back(entry.letter);
  }
  return out;
}

PermissionRules::PermissionRules(PermissionSet base, std::vector<DirectoryRule> rules)
    : base_(base), rules_(std::move(rules)) {
  // Longest path first, so the first match in effective() is the most specific one. Among rules
  // for the same path, the one written first in the config wins (stable sort).
  std::stable_sort(rules_.begin(), rules_.end(), [](const DirectoryRule& a, const DirectoryRule& b) {
    return a.path.str().size() > b.path.str().size();
  });
}

PermissionSet PermissionRules::effective(const vfs::Path& path) const {
  // Rules replace the base set rather than adding to it: an upload-only "/inbox" (w) must not
  // inherit 'r' from a base of "elr".
  for (const auto& rule : rules_) {
    if (rule_matches(rule, path)) return rule.permissions;
  }
  return base_;
}

}  // namespace filegate::auth
