// The one place that pulls in Boost.Asio and names the types the rest of the code uses.
#pragma once

#include <boost/asio.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>

namespace filegate {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
template <class T = void>
using awaitable = asio::awaitable<T>;
using asio::use_awaitable;
using Executor = asio::any_io_executor;
using Strand = asio::strand<asio::io_context::executor_type>;

// Errors as values: `auto [ec, n] = co_await op(..., as_tuple_awaitable);`
inline constexpr auto as_tuple_awaitable = asio::as_tuple(asio::use_awaitable);

}  // namespace filegate
