// soci-routing: helpers shared by the configuration's source files. Not installed.

#ifndef SOCI_ROUTING_CONFIG_DETAIL_H_INCLUDED
#define SOCI_ROUTING_CONFIG_DETAIL_H_INCLUDED

#include "config.h"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace soci_routing::detail
{

// What each checked value must be: the loaders (type errors) and validate() (range errors) say the same thing.
inline constexpr char const* expect_port = "an integer 1..65535";
inline constexpr char const* expect_positive = "a number > 0";
inline constexpr char const* expect_non_negative = "a number >= 0";
inline constexpr char const* expect_count = "an integer >= 0";
inline constexpr char const* expect_positive_count = "an integer >= 1";
inline constexpr char const* expect_bool = "a boolean (true or false)";
inline constexpr char const* expect_string = "a string";
inline constexpr char const* expect_driver = "\"postgresql\" or \"mysql\"";
inline constexpr char const* expect_balance = "\"round_robin\", \"random\" or \"least_connections\"";
inline constexpr char const* expect_topology = "\"static\" or \"discover\"";
inline constexpr char const* expect_consistency = "\"window\" or \"causal\"";

std::optional<driver> driver_from_string(std::string_view s) noexcept;
std::optional<balance_policy> balance_from_string(std::string_view s) noexcept;
std::optional<topology_mode> topology_from_string(std::string_view s) noexcept;
std::optional<consistency_mode> consistency_from_string(std::string_view s) noexcept;

/// A value as libpq and SOCI's mysql backend read it: bare when it can be, else single-quoted with `\'` and `\\`.
std::string quote_connect_value(std::string_view value);

/// ` (did you mean "x"?)` when `word` is close to one of `candidates`, else "".
std::string did_you_mean(std::string_view word, std::vector<std::string> const& candidates);

/// A value shown in a message: quoted, escaped, shortened.
std::string show(std::string_view value);

} // namespace soci_routing::detail

#endif
