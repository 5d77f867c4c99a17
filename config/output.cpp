// soci-routing: the resolved configuration as TOML, JSON, and its canonical identity.

#include "config.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <toml++/toml.h>

#include <sstream>
#include <string_view>

namespace soci_routing
{

namespace
{

std::string const hidden = "***";

// One description of the fields, used by all three outputs: only `redacted` differs.
nlohmann::ordered_json endpoint_json(endpoint_config const& e, bool redacted)
{
    nlohmann::ordered_json j;
    j["name"] = e.name;
    j["driver"] = to_string(e.drv);
    j["host"] = e.host;
    j["port"] = e.effective_port();
    j["database"] = e.database;
    j["username"] = e.username;
    j["password"] = redacted && !e.password.empty() ? hidden : e.password;
    j["timeout"] = e.timeout;
    j["options"] = nlohmann::ordered_json::object();
    for (auto const& [key, value] : e.options)
        j["options"][key] = redacted && key.find("password") != std::string::npos ? hidden : value;
    j["pool"] = {{"min", e.pool.min},
                 {"max", e.pool.max},
                 {"wait_timeout", e.pool.wait_timeout},
                 {"idle_timeout", e.pool.idle_timeout},
                 {"idle_check", e.pool.idle_check}};
    j["statements"] = e.statements;
    j["weight"] = e.weight;
    if (redacted)
        j["connect_string"] = redact(e.connect_string());
    return j;
}

nlohmann::ordered_json cluster_json(cluster_config const& c, bool redacted)
{
    nlohmann::ordered_json j;
    auto const& r = c.routing;
    j["routing"] = {{"sticky", r.sticky},
                    {"fallback", r.fallback},
                    {"balance", to_string(r.balance)},
                    {"max_lag", r.max_lag},
                    {"failures", r.failures},
                    {"retry_window", r.retry_window},
                    {"retry_window_max", r.retry_window_max},
                    {"lag_probe_interval", r.lag_probe_interval},
                    {"read_timeout", r.read_timeout},
                    {"topology", to_string(r.topology)},
                    {"role_probe_interval", r.role_probe_interval},
                    {"consistency", to_string(r.consistency)},
                    {"causal_timeout", r.causal_timeout},
                    {"linger", r.linger},
                    {"rebalance", r.rebalance}};
    if (redacted)  // env_prefix only says where values came from; the identity is about the values
        j["routing"]["env_prefix"] = r.env_prefix;
    j["primary"] = endpoint_json(c.primary, redacted);
    j["replicas"] = nlohmann::ordered_json::array();
    for (auto const& replica : c.replicas)
        j["replicas"].push_back(endpoint_json(replica, redacted));
    j["classifier"] = {{"primary_functions", c.classifier.primary_functions}};
    return j;
}

toml::table endpoint_toml(endpoint_config const& e)
{
    toml::table options;
    for (auto const& [key, value] : e.options)
        options.insert(key, key.find("password") != std::string::npos ? hidden : value);
    return toml::table{
        {"name", e.name},
        {"driver", to_string(e.drv)},
        {"host", e.host},
        {"port", e.effective_port()},
        {"database", e.database},
        {"username", e.username},
        {"password", e.password.empty() ? std::string() : hidden},
        {"timeout", e.timeout},
        {"options", std::move(options)},
        {"pool", toml::table{{"min", e.pool.min},
                             {"max", e.pool.max},
                             {"wait_timeout", e.pool.wait_timeout},
                             {"idle_timeout", e.pool.idle_timeout},
                 {"idle_check", e.pool.idle_check}}},
        {"statements", e.statements},
        {"weight", e.weight},
        {"connect_string", redact(e.connect_string())},
    };
}

} // namespace

namespace
{

// The identity's fields: each a name and a length-prefixed value, so that no two configurations give the same
// text. Built with plain appends: an allocation that fails throws std::bad_alloc out of identity(), where a JSON
// value's destructor that allocates (nlohmann's) would end the process.
void field(std::string& out, char const* name, std::string_view value)
{
    out += name;
    out += '=';
    out += std::to_string(value.size());
    out += ':';
    out += value;
    out += ';';
}

void field(std::string& out, char const* name, double value) { field(out, name, fmt::format("{}", value)); }
void field(std::string& out, char const* name, int value) { field(out, name, std::to_string(value)); }
void field(std::string& out, char const* name, bool value)
{
    field(out, name, std::string_view(value ? "true" : "false"));
}
void field(std::string& out, char const* name, char const* value) { field(out, name, std::string_view(value)); }

void endpoint_identity(std::string& out, endpoint_config const& e)
{
    field(out, "name", e.name);
    field(out, "driver", to_string(e.drv));
    field(out, "host", e.host);
    field(out, "port", e.effective_port());
    field(out, "database", e.database);
    field(out, "username", e.username);
    field(out, "password", e.password);
    field(out, "timeout", e.timeout);
    field(out, "options", static_cast<int>(e.options.size()));
    for (auto const& [key, value] : e.options)
    {
        field(out, "key", key);
        field(out, "value", value);
    }
    field(out, "pool.min", e.pool.min);
    field(out, "pool.max", e.pool.max);
    field(out, "pool.wait_timeout", e.pool.wait_timeout);
    field(out, "pool.idle_timeout", e.pool.idle_timeout);
    field(out, "pool.idle_check", e.pool.idle_check);
    field(out, "statements", e.statements);
    field(out, "weight", e.weight);
}

} // namespace

std::string cluster_config::identity() const
{
    // Every field is always written, in a fixed order: equal configurations give equal text whatever source they
    // were loaded from (the source name and env_prefix, which only say where values came from, are left out).
    std::string out;
    out.reserve(1024);
    auto const& r = routing;
    field(out, "sticky", r.sticky);
    field(out, "fallback", r.fallback);
    field(out, "balance", to_string(r.balance));
    field(out, "max_lag", r.max_lag);
    field(out, "failures", r.failures);
    field(out, "retry_window", r.retry_window);
    field(out, "retry_window_max", r.retry_window_max);
    field(out, "lag_probe_interval", r.lag_probe_interval);
    field(out, "read_timeout", r.read_timeout);
    field(out, "topology", to_string(r.topology));
    field(out, "role_probe_interval", r.role_probe_interval);
    field(out, "consistency", to_string(r.consistency));
    field(out, "causal_timeout", r.causal_timeout);
    field(out, "linger", r.linger);
    field(out, "rebalance", r.rebalance);
    endpoint_identity(out, primary);
    field(out, "replicas", static_cast<int>(replicas.size()));
    for (auto const& replica : replicas)
        endpoint_identity(out, replica);
    field(out, "primary_functions", static_cast<int>(classifier.primary_functions.size()));
    for (auto const& f : classifier.primary_functions)
        field(out, "function", f);
    return out;
}

std::string to_json(cluster_config const& config)
{
    return cluster_json(config, true).dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

std::string to_toml(cluster_config const& config)
{
    auto const& r = config.routing;
    toml::array replicas;
    for (auto const& replica : config.replicas)
        replicas.push_back(endpoint_toml(replica));
    toml::array functions;
    for (auto const& f : config.classifier.primary_functions)
        functions.push_back(f);
    toml::table root{
        {"routing", toml::table{{"sticky", r.sticky},
                                {"fallback", r.fallback},
                                {"balance", to_string(r.balance)},
                                {"max_lag", r.max_lag},
                                {"env_prefix", r.env_prefix},
                                {"failures", r.failures},
                                {"retry_window", r.retry_window},
                                {"retry_window_max", r.retry_window_max},
                                {"lag_probe_interval", r.lag_probe_interval},
                                {"read_timeout", r.read_timeout},
                                {"topology", to_string(r.topology)},
                                {"role_probe_interval", r.role_probe_interval},
                                {"consistency", to_string(r.consistency)},
                                {"causal_timeout", r.causal_timeout},
                                {"linger", r.linger},
                                {"rebalance", r.rebalance}}},
        {"primary", endpoint_toml(config.primary)},
        {"replicas", std::move(replicas)},
        {"classifier", toml::table{{"primary_functions", std::move(functions)}}},
    };
    std::ostringstream out;
    out << "# resolved configuration from " << redact(config.source) << " (passwords shown as ***)\n"
        << root << "\n";
    return out.str();
}

} // namespace soci_routing
