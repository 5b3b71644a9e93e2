#include "core/line_reader.hpp"

#include <algorithm>

namespace filegate::core {

std::size_t LineReader::feed(std::span<const char> bytes) {
  if (ready_) return 0;
  std::size_t used = 0;
  while (used < bytes.size() && !ready_) {
    const auto rest = bytes.subspan(used);
    const auto lf = std::find(rest.begin(), rest.end(), '\n');
    const std::size_t chunk = static_cast<std::size_t>(lf - rest.begin());
    const bool complete = lf != rest.end();
    if (!discarding_) {
      // The cap counts the terminator too; a line of exactly max_line_ bytes including CRLF fits.
      if (partial_.size() + chunk + (complete ? 1 : 0) > max_line_) {
        discarding_ = true;
        partial_.clear();
      } else {
        partial_.append(rest.data(), chunk);
      }
    }
    used += chunk + (complete ? 1 : 0);
    if (complete) {
      if (discarding_) {
        ready_ = Line{Status::too_long, {}};
        discarding_ = false;
      } else {
        if (!partial_.empty() && partial_.back() == '\r') partial_.pop_back();
        if (partial_.find('\0') != std::string::npos) {
          ready_ = Line{Status::has_nul, {}};
        } else {
          ready_ = Line{Status::ok, std::move(partial_)};
        }
        partial_.clear();
        partial_.shrink_to_fit();
      }
    }
  }
  return used;
}

std::optional<LineReader::Line> LineReader::next() {
  auto line = std::move(ready_);
  ready_.reset();
  return line;
}

void LineReader::reset() {
  partial_.clear();
  discarding_ = false;
  ready_.reset();
}

std::string strip_telnet(std::string_view line) {
  constexpr unsigned char iac = 255;
  std::string out;
  out.reserve(line.size());
  for (std::size_t i = 0; i < line.size(); ++i) {
    const auto c = static_cast<unsigned char>(line[i]);
    if (c != iac) {
      out.push_back(line[i]);
      continue;
    }
    if (i + 1 >= line.size()) break;
    const auto cmd = static_cast<unsigned char>(line[i + 1]);
    if (cmd == iac) {
      out.push_back(static_cast<char>(iac));
      ++i;
    } else if (cmd >= 251 && cmd <= 254) {  // WILL WONT DO DONT <option>
      i += 2;
    } else {  // IP, DM, AO, ... : a two-byte command
      ++i;
    }
  }
  return out;
}

}  // namespace filegate::core
