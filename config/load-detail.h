// soci-routing: what the configuration loaders share. Not installed.
//
// Each loader writes into one draft, in order: the file, then the inline keys, then the environment keys
// (each overriding the one before). The draft keeps only what a source set (optionals), so that a replica
// can inherit whatever it did not set; load.cpp then fills in the defaults of the value types and validate()
// checks the result. Every key set remembers where it was set, so that a problem validate() finds is
// reported at its line and column.

#ifndef SOCI_ROUTING_LOAD_DETAIL_H_INCLUDED
#define SOCI_ROUTING_LOAD_DETAIL_H_INCLUDED

#include "config.h"
#include "config-detail.h"

#include <cstddef>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace soci_routing::detail
{

// ---------------------------------------------------------------------------------------------------------
// The draft

struct location
{
    std::string source;
    int line = 0;
    int column = 0;
};

struct pool_layer
{
    std::optional<int> min, max;
    std::optional<double> wait_timeout, idle_timeout, idle_check;
};

/// The fields one source set for an endpoint.
struct endpoint_layer
{
    std::optional<std::string> name;
    std::optional<driver> drv;
    std::optional<std::string> host;
    std::optional<int> port;
    std::optional<std::string> database, username, password;
    std::optional<double> timeout;
    std::map<std::string, std::string> options;
    pool_layer pool;
    std::optional<int> statements;
    std::optional<double> weight;
};

struct draft
{
    routing_options routing;
    bool has_primary = false;
    endpoint_layer primary;
    std::vector<endpoint_layer> replicas;
    classifier_config classifier;
    std::string source;
    std::map<std::string, location> where;  ///< key -> where it was last set
    std::vector<config_problem> problems;
    std::set<std::string> bad_keys;  ///< keys already reported: validate() does not report them again
    bool unreadable = false;         ///< a file could not be read or parsed: nothing else is worth saying

    void problem(location const& at, std::string key, std::string message)
    {
        bad_keys.insert(key);
        problems.push_back(config_problem{at.source, at.line, at.column, std::move(key), std::move(message)});
    }
};

/// `replicas[N]`, N from 0.
std::string replica_key(std::size_t index);

// ---------------------------------------------------------------------------------------------------------
// Scalars from text (environment, inline strings, interpolated TOML strings): strict, whole-string.

std::optional<long long> parse_integer(std::string_view s);
std::optional<double> parse_number(std::string_view s);
/// true/false, 1/0, yes/no, on/off.
std::optional<bool> parse_bool(std::string_view s);

// ---------------------------------------------------------------------------------------------------------
// Setting fields by name, shared by every loader. A value may come as text (inline, the
// environment, or an interpolated TOML string); the TOML loader checks node types itself.

enum class field_kind { string, secret, integer, number, boolean, driver_name, balance_name, topology_name,
                        consistency_name };

struct field_spec
{
    char const* name;
    field_kind kind;
    char const* expect;
};

// Endpoint fields as they are named in TOML, with what they must be.
inline constexpr field_spec endpoint_fields[] = {
    {"name", field_kind::string, expect_string},
    {"driver", field_kind::driver_name, expect_driver},
    {"host", field_kind::string, expect_string},
    {"port", field_kind::integer, expect_port},
    {"database", field_kind::string, expect_string},
    {"username", field_kind::string, expect_string},
    {"password", field_kind::secret, expect_string},
    {"timeout", field_kind::number, expect_positive},
    {"statements", field_kind::integer, expect_count},
    {"weight", field_kind::number, expect_positive},
};
inline constexpr field_spec pool_fields[] = {
    {"min", field_kind::integer, expect_count},
    {"max", field_kind::integer, expect_positive_count},
    {"wait_timeout", field_kind::number, expect_positive},
    {"idle_timeout", field_kind::number, expect_positive},
    {"idle_check", field_kind::number, expect_non_negative},
};
inline constexpr field_spec routing_fields[] = {
    {"sticky", field_kind::number, expect_non_negative},
    {"fallback", field_kind::boolean, expect_bool},
    {"balance", field_kind::balance_name, expect_balance},
    {"max_lag", field_kind::number, expect_non_negative},
    {"env_prefix", field_kind::string, expect_string},
    {"failures", field_kind::integer, expect_positive_count},
    {"retry_window", field_kind::number, expect_positive},
    {"retry_window_max", field_kind::number, expect_positive},
    {"lag_probe_interval", field_kind::number, expect_positive},
    {"read_timeout", field_kind::number, expect_non_negative},
    {"topology", field_kind::topology_name, expect_topology},
    {"role_probe_interval", field_kind::number, expect_positive},
    {"consistency", field_kind::consistency_name, expect_consistency},
    {"causal_timeout", field_kind::number, expect_non_negative},
    {"linger", field_kind::number, expect_non_negative},
    {"rebalance", field_kind::number, expect_non_negative},
};

template <std::size_t N>
field_spec const* find_field(field_spec const (&fields)[N], std::string_view name)
{
    for (auto const& f : fields)
        if (name == f.name)
            return &f;
    return nullptr;
}

template <std::size_t N>
std::vector<std::string> field_names(field_spec const (&fields)[N])
{
    std::vector<std::string> names;
    for (auto const& f : fields)
        names.emplace_back(f.name);
    return names;
}

/// A typed value, converted from TOML or text.
struct value
{
    std::string text;
    long long integer = 0;
    double number = 0;
    bool boolean = false;
};

/// Converts `text` to the field's kind; reports a problem and returns nullopt when it does not fit.
std::optional<value> convert_text(draft& d, location const& at, std::string const& key, field_spec const& f,
                                  std::string const& text);
void set_endpoint_field(endpoint_layer& e, std::string_view name, value const& v);
void set_pool_field(pool_layer& p, std::string_view name, value const& v);
void set_routing_field(routing_options& r, std::string_view name, value const& v);

/// Replaces every `${VAR}` / `${VAR:-default}` in `text`; `$${` stands for a literal `${`. Reports an unset
/// variable without a default against `key`; the value itself is never shown.
std::optional<std::string> interpolate(draft& d, location const& at, std::string const& key,
                                       std::string_view text);

/// The loaders (load-toml.cpp, load-inline.cpp, load-env.cpp).
void load_toml_into(draft& d, std::string_view text, std::string const& source);
/// Reads `path` and loads it; an unreadable file is reported at `requested_at`.
void load_toml_file_into(draft& d, std::string const& path, location const& requested_at);
/// `text` is the connect string after `routing://`; `offset` is the length of what was cut off.
void load_inline_into(draft& d, std::string_view text, std::size_t offset);
/// The `PREFIX_*` overrides, when `routing.env_prefix` is set.
void load_environment_into(draft& d);

} // namespace soci_routing::detail

#endif
