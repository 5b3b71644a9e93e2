#include "core/tls.hpp"

namespace filegate::core {
namespace {

// boost's error_category has a protected, non-virtual destructor by design.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"
class TlsCategory final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "filegate.tls"; }
  std::string message(int value) const override {
    switch (static_cast<TlsErrc>(value)) {
      case TlsErrc::handshake_failed: return "TLS handshake failed";
      case TlsErrc::session_not_reused: return "data connection did not reuse the control connection's TLS session";
      case TlsErrc::truncated: return "TLS stream ended without close_notify";
      case TlsErrc::not_secure: return "control connection is not protected by TLS";
    }
    return "TLS error";
  }
};
#pragma GCC diagnostic pop

}  // namespace

const boost::system::error_category& tls_category() {
  static const TlsCategory category;
  return category;
}

error_code make_error_code(TlsErrc e) { return {static_cast<int>(e), tls_category()}; }

}  // namespace filegate::core
