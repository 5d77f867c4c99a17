// soci-routing: the configuration loaders' entry points, shared conversions, and the inheritance of replica
// fields. The loaders themselves: load-toml.cpp, load-inline.cpp, load-env.cpp.

#include "load-detail.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <limits>
#include <tuple>

namespace soci_routing
{

namespace detail
{

std::string replica_key(std::size_t index)
{
    return fmt::format("replicas[{}]", index);
}

// ---------------------------------------------------------------------------------------------------------
// Scalars from text (environment, inline strings, interpolated TOML strings): strict, whole-string.

std::optional<long long> parse_integer(std::string_view s)
{
    long long v = 0;
    auto const* first = s.data();
    if (!s.empty() && s.front() == '+')
        ++first;
    auto const [end, ec] = std::from_chars(first, s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || end != s.data() + s.size())
        return std::nullopt;
    return v;
}

std::optional<double> parse_number(std::string_view s)
{
    double v = 0;
    auto const* first = s.data();
    if (!s.empty() && s.front() == '+')
        ++first;
    auto const [end, ec] = std::from_chars(first, s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || end != s.data() + s.size())
        return std::nullopt;
    return v;
}

std::optional<bool> parse_bool(std::string_view s)
{
    std::string lower(s);
    for (auto& c : lower)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower == "true" || lower == "1" || lower == "yes" || lower == "on")
        return true;
    if (lower == "false" || lower == "0" || lower == "no" || lower == "off")
        return false;
    return std::nullopt;
}

/// Converts `text` to the field's kind; reports a problem and returns nullopt when it does not fit.
std::optional<value> convert_text(draft& d, location const& at, std::string const& key, field_spec const& f,
                                  std::string const& text)
{
    value v;
    v.text = text;
    auto fail = [&] {
        d.problem(at, key, f.kind == field_kind::secret
                               ? fmt::format("expected {}", f.expect)
                               : fmt::format("expected {}, got {}", f.expect, show(text)));
        return std::nullopt;
    };
    switch (f.kind)
    {
    case field_kind::string:
    case field_kind::secret:
        return v;
    case field_kind::integer:
    {
        auto const i = parse_integer(text);
        if (!i || *i < std::numeric_limits<int>::min() || *i > std::numeric_limits<int>::max())
            return fail();
        v.integer = *i;
        return v;
    }
    case field_kind::number:
    {
        auto const n = parse_number(text);
        if (!n)
            return fail();
        v.number = *n;
        return v;
    }
    case field_kind::boolean:
    {
        auto const b = parse_bool(text);
        if (!b)
            return fail();
        v.boolean = *b;
        return v;
    }
    case field_kind::driver_name:
        if (!detail::driver_from_string(text))
        {
            d.problem(at, key, fmt::format("unknown driver {}, expected {}{}", show(text), f.expect,
                                           detail::did_you_mean(text, {"postgresql", "mysql"})));
            return std::nullopt;
        }
        return v;
    case field_kind::balance_name:
        if (!detail::balance_from_string(text))
        {
            d.problem(at, key,
                      fmt::format("unknown balance policy {}, expected {}{}", show(text), f.expect,
                                  detail::did_you_mean(text, {"round_robin", "random", "least_connections"})));
            return std::nullopt;
        }
        return v;
    case field_kind::topology_name:
        if (!detail::topology_from_string(text))
        {
            d.problem(at, key, fmt::format("unknown topology {}, expected {}{}", show(text), f.expect,
                                           detail::did_you_mean(text, {"static", "discover"})));
            return std::nullopt;
        }
        return v;
    case field_kind::consistency_name:
        if (!detail::consistency_from_string(text))
        {
            d.problem(at, key, fmt::format("unknown consistency {}, expected {}{}", show(text), f.expect,
                                           detail::did_you_mean(text, {"window", "causal"})));
            return std::nullopt;
        }
        return v;
    }
    return std::nullopt;
}

void set_endpoint_field(endpoint_layer& e, std::string_view name, value const& v)
{
    if (name == "name") e.name = v.text;
    else if (name == "driver") e.drv = detail::driver_from_string(v.text);
    else if (name == "host") e.host = v.text;
    else if (name == "port") e.port = static_cast<int>(v.integer);
    else if (name == "database") e.database = v.text;
    else if (name == "username") e.username = v.text;
    else if (name == "password") e.password = v.text;
    else if (name == "timeout") e.timeout = v.number;
    else if (name == "statements") e.statements = static_cast<int>(v.integer);
    else if (name == "weight") e.weight = v.number;
}

void set_pool_field(pool_layer& p, std::string_view name, value const& v)
{
    if (name == "min") p.min = static_cast<int>(v.integer);
    else if (name == "max") p.max = static_cast<int>(v.integer);
    else if (name == "wait_timeout") p.wait_timeout = v.number;
    else if (name == "idle_timeout") p.idle_timeout = v.number;
    else if (name == "idle_check") p.idle_check = v.number;
}

void set_routing_field(routing_options& r, std::string_view name, value const& v)
{
    if (name == "sticky") r.sticky = v.number;
    else if (name == "fallback") r.fallback = v.boolean;
    else if (name == "balance") r.balance = *detail::balance_from_string(v.text);
    else if (name == "max_lag") r.max_lag = v.number;
    else if (name == "env_prefix") r.env_prefix = v.text;
    else if (name == "failures") r.failures = static_cast<int>(v.integer);
    else if (name == "retry_window") r.retry_window = v.number;
    else if (name == "retry_window_max") r.retry_window_max = v.number;
    else if (name == "lag_probe_interval") r.lag_probe_interval = v.number;
    else if (name == "read_timeout") r.read_timeout = v.number;
    else if (name == "topology") r.topology = *detail::topology_from_string(v.text);
    else if (name == "role_probe_interval") r.role_probe_interval = v.number;
    else if (name == "consistency") r.consistency = *detail::consistency_from_string(v.text);
    else if (name == "causal_timeout") r.causal_timeout = v.number;
    else if (name == "linger") r.linger = v.number;
    else if (name == "rebalance") r.rebalance = v.number;
}

// ---------------------------------------------------------------------------------------------------------
// ${VAR} and ${VAR:-default}

/// Replaces every `${VAR}` / `${VAR:-default}` in `text`; `$${` stands for a literal `${`. Reports an unset
/// variable without a default against `key`; the value itself is never shown.
std::optional<std::string> interpolate(draft& d, location const& at, std::string const& key,
                                       std::string_view text)
{
    std::string out;
    bool ok = true;
    std::size_t i = 0;
    while (i < text.size())
    {
        if (text.compare(i, 3, "$${") == 0)
        {
            out += "${";
            i += 3;
            continue;
        }
        if (text.compare(i, 2, "${") != 0)
        {
            out += text[i++];
            continue;
        }
        auto const close = text.find('}', i + 2);
        if (close == std::string_view::npos)
        {
            d.problem(at, key, "unterminated ${...}: expected ${VAR} or ${VAR:-default}");
            return std::nullopt;
        }
        std::string_view const inner = text.substr(i + 2, close - i - 2);
        auto const sep = inner.find(":-");
        std::string const name(inner.substr(0, sep));
        bool const valid_name = !name.empty() && !std::isdigit(static_cast<unsigned char>(name[0]))
            && name.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
                == std::string::npos;
        if (!valid_name)
        {
            // Not shown in a password: it may be part of the password rather than a reference.
            bool const secret = key.find("password") != std::string::npos || key.find("PASS") != std::string::npos;
            d.problem(at, key, fmt::format("invalid variable name{} in ${{...}}, expected letters, digits and _",
                                           secret ? "" : " " + show(name)));
            ok = false;
        }
        else if (char const* env = std::getenv(name.c_str()))
            out += env;
        else if (sep != std::string_view::npos)
            out += inner.substr(sep + 2);
        else
        {
            d.problem(at, key, fmt::format("environment variable {} is not set, expected it set or a default "
                                           "(${{{}:-default}})", name, name));
            ok = false;
        }
        i = close + 1;
    }
    if (!ok)
        return std::nullopt;
    return out;
}

} // namespace detail

namespace
{

using namespace detail;

// Inheritance and the final checks.

void apply(endpoint_config& out, endpoint_layer const& e)
{
    if (e.name) out.name = *e.name;
    if (e.drv) out.drv = *e.drv;
    if (e.host) out.host = *e.host;
    if (e.port) out.port = *e.port;
    if (e.database) out.database = *e.database;
    if (e.username) out.username = *e.username;
    if (e.password) out.password = *e.password;
    if (e.timeout) out.timeout = *e.timeout;
    for (auto const& [key, value] : e.options)
        out.options[key] = value;
    if (e.pool.min) out.pool.min = *e.pool.min;
    if (e.pool.max) out.pool.max = *e.pool.max;
    if (e.pool.wait_timeout) out.pool.wait_timeout = *e.pool.wait_timeout;
    if (e.pool.idle_timeout) out.pool.idle_timeout = *e.pool.idle_timeout;
    if (e.pool.idle_check) out.pool.idle_check = *e.pool.idle_check;
    if (e.statements) out.statements = *e.statements;
    if (e.weight) out.weight = *e.weight;
}

cluster_config resolve(draft const& d)
{
    cluster_config c;
    c.source = d.source;
    c.routing = d.routing;
    c.classifier = d.classifier;
    c.primary.name = "primary";
    apply(c.primary, d.primary);
    for (std::size_t i = 0; i < d.replicas.size(); ++i)
    {
        // Every field the replica does not set comes from the primary, except the host and the name.
        endpoint_config replica = c.primary;
        replica.name = fmt::format("replica-{}", i + 1);
        replica.host.clear();
        // libpq's role selector is the primary's own: inherited, `read-write` would make libpq refuse every
        // standby (each replica quarantined, every read on the primary without a word).
        replica.options.erase("target_session_attrs");
        apply(replica, d.replicas[i]);
        c.replicas.push_back(std::move(replica));
    }
    return c;
}

/// Where `key` was set, or its closest enclosing key that was (a pool min/max pair is reported at the pool).
location locate(draft const& d, std::string key)
{
    while (!key.empty())
    {
        if (auto const it = d.where.find(key); it != d.where.end())
            return it->second;
        auto const cut = key.find_last_of(".[");
        if (cut == std::string::npos)
            break;
        key.erase(cut);
    }
    return location{d.source, 0, 0};
}

/// A problem already reported by a loader (a type error) is not reported again by validate().
bool already_reported(draft const& d, std::string const& key)
{
    for (auto const& bad : d.bad_keys)
        if (bad == key || (bad.compare(0, key.size(), key) == 0 && bad.size() > key.size() && bad[key.size()] == '.'))
            return true;
    return false;
}

cluster_config finish(draft& d)
{
    if (d.unreadable)
        throw config_error(std::move(d.problems));
    if (!d.has_primary)
    {
        auto const at = locate(d, "primary");
        d.problems.push_back(config_problem{at.source, at.line, at.column, "primary",
                                            "missing, expected a [primary] section (or primary='...')"});
    }
    cluster_config config = resolve(d);
    for (auto& p : validate(config))
    {
        if (already_reported(d, p.key) || (!d.has_primary && p.key.rfind("primary", 0) == 0))
            continue;
        auto const at = locate(d, p.key);
        p.source = at.source;
        p.line = at.line;
        p.column = at.column;
        d.problems.push_back(std::move(p));
    }
    if (!d.problems.empty())
    {
        // In reading order: by source (in order of first appearance), then line and column.
        std::vector<std::string> sources;
        for (auto const& p : d.problems)
            if (std::find(sources.begin(), sources.end(), p.source) == sources.end())
                sources.push_back(p.source);
        auto rank = [&](config_problem const& p) {
            return std::make_tuple(std::find(sources.begin(), sources.end(), p.source) - sources.begin(), p.line,
                                   p.column);
        };
        std::stable_sort(d.problems.begin(), d.problems.end(),
                         [&](auto const& a, auto const& b) { return rank(a) < rank(b); });
        throw config_error(std::move(d.problems));
    }
    return config;
}

} // namespace

cluster_config load_toml(std::string_view text, std::string const& source_name)
{
    draft d;
    d.source = source_name;
    load_toml_into(d, text, source_name);
    load_environment_into(d);
    return finish(d);
}

cluster_config load_file(std::string const& path)
{
    draft d;
    d.source = path;
    load_toml_file_into(d, path, location{path, 0, 0});
    load_environment_into(d);
    return finish(d);
}

cluster_config load_connect_string(std::string_view connect_string)
{
    // SOCI hands a backend what follows "routing://"; the prefix is accepted too, for the command line.
    std::string_view const scheme = "routing://";
    std::size_t offset = 0;
    if (connect_string.compare(0, scheme.size(), scheme) == 0)
    {
        connect_string.remove_prefix(scheme.size());
        offset = scheme.size();
    }
    draft d;
    d.source = "connect string";
    load_inline_into(d, connect_string, offset);
    load_environment_into(d);
    return finish(d);
}

} // namespace soci_routing
