// Virtual paths: absolute, '/'-separated, rooted at the user's home (which the client sees as
// '/'). A Path is always normalised: no '.', '..', empty components or trailing '/', no NUL.
//
// Normalisation is lexical and serves display (PWD, listings) and permission lookup. It is not
// what keeps a client inside its home: the local backend resolves every path in the kernel
// beneath the home's directory descriptor (see local_fs.hpp).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace filegate::vfs {

inline constexpr std::size_t max_path_length = 4096;
inline constexpr std::size_t max_name_length = 255;

class Path {
 public:
  Path() : text_("/") {}

  // Resolves `input` (absolute, or relative to `cwd`) into a normalised path. '..' at the root
  // stays at the root. Fails with Errc::invalid_name for NUL bytes or empty input,
  // Errc::name_too_long for a component over 255 bytes or a path over 4096.
  static Result<Path> resolve(const Path& cwd, std::string_view input);
  // Same as resolve("/", input).
  static Result<Path> parse(std::string_view input);

  const std::string& str() const { return text_; }
  bool is_root() const { return text_.size() == 1; }
  // The last component ("" for the root).
  std::string_view name() const;
  // The path without its last component (the root's parent is the root).
  Path parent() const;
  // This path with one more component; `name` must be a single valid component.
  Result<Path> child(std::string_view name) const;
  // The path relative to the root, without the leading '/' ("" for the root), for *at() calls.
  std::string_view relative() const { return std::string_view(text_).substr(1); }
  // True if this path equals `other` or lies below it.
  bool within(const Path& other) const;

  friend bool operator==(const Path&, const Path&) = default;
  friend auto operator<=>(const Path&, const Path&) = default;

 private:
  explicit Path(std::string text) : text_(std::move(text)) {}
  std::string text_;
};

}  // namespace filegate::vfs
