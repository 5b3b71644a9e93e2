// Errors as values on the data plane: every fallible operation returns Result<T>.
#pragma once

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

namespace filegate {

using error_code = boost::system::error_code;

template <class T>
using Result = boost::system::result<T, error_code>;

}  // namespace filegate
