#include "vfs/path.hpp"

#include <algorithm>

#include "vfs/errors.hpp"

namespace filegate::vfs {
namespace {

// Appends the components of `text` to `parts`, applying '.' and '..' lexically. A '..' with
// nothing left to remove is dropped: the root is its own parent, as in the kernel.
Result<void> push_components(std::vector<std::string_view>& parts, std::string_view text) {
  std::size_t pos = 0;
  while (pos <= text.size()) {
    const auto slash = text.find('/', pos);
    const auto end = slash == std::string_view::npos ? text.size() : slash;
    const auto part = text.substr(pos, end - pos);
    if (part.size() > max_name_length) return Errc::name_too_long;
    if (part.empty() || part == ".") {
      // nothing
    } else if (part == "..") {
      if (!parts.empty()) parts.pop_back();
    } else {
      parts.push_back(part);
    }
    if (slash == std::string_view::npos) break;
    pos = slash + 1;
  }
  return {};
}

}  // namespace

Result<Path> Path::resolve(const Path& cwd, std::string_view input) {
  if (input.empty()) return Errc::invalid_name;
  // SECURITY: a NUL would truncate the name at the system call boundary, so the kernel would
  // act on a different path than the one permissions were checked against.
  if (input.find('\0') != std::string_view::npos) return Errc::invalid_name;

  std::vector<std::string_view> parts;
  if (input.front() != '/') {
    // cwd is already normalised, so its components need no checks.
    if (auto r = push_components(parts, cwd.relative()); !r) return r.error();
  }
  if (auto r = push_components(parts, input); !r) return r.error();

  if (parts.empty()) return Path();  // the root
  std::string text;
  std::size_t length = 0;
  for (const auto part : parts) length += part.size() + 1;
  if (length > max_path_length) return Errc::name_too_long;
  text.reserve(length);
  for (const auto part : parts) {
    text.push_back('/');
    text.append(part);
  }
  return Path(std::move(text));
}

Result<Path> Path::parse(std::string_view input) { return resolve(Path(), input); }

std::string_view Path::name() const {
  const auto slash = text_.rfind('/');
  return std::string_view(text_).substr(slash + 1);
}

Path Path::parent() const {
  const auto slash = text_.rfind('/');
  if (slash == 0) return Path();
  return Path(text_.substr(0, slash));
}

Result<Path> Path::child(std::string_view name) const {
  if (name.empty() || name == "." || name == ".." ||
      name.find('/') != std::string_view::npos || name.find('\0') != std::string_view::npos) {
    return Errc::invalid_name;
  }
  if (name.size() > max_name_length) return Errc::name_too_long;
  const std::size_t length = (is_root() ? 0 : text_.size()) + 1 + name.size();
  if (length > max_path_length) return Errc::name_too_long;
  std::string text;
  text.reserve(length);
  if (!is_root()) text = text_;
  text.push_back('/');
  text.append(name);
  return Path(std::move(text));
}

bool Path::within(const Path& other) const {
  if (other.is_root()) return true;
  if (text_.size() < other.text_.size()) return false;
  if (text_.compare(0, other.text_.size(), other.text_) != 0) return false;
  return text_.size() == other.text_.size() || text_[other.text_.size()] == '/';
}

}  // namespace filegate::vfs
