// soci-routing: stats and check reports as JSON, Prometheus text and plain text.

// cluster::stats() and cluster::check() live beside these formats: a program (the plugin) that links the pools
// as a static library and asks for stats or checks gets the member functions of the public structs with them.

#include "pools.h"

#include <soci/routing/soci-routing.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>

namespace soci_routing
{

soci::routing_stats cluster::stats() const
{
    soci::routing_stats s;
    // In the configured order (with topology = "discover" each with the role it has now).
    for (std::size_t i = 0; i < node_count(); ++i)
        s.endpoints.push_back(node(i).stats());
    return s;
}

soci::routing_check cluster::check() const
{
    return check_cluster(config());
}

} // namespace soci_routing

namespace soci
{
namespace
{

// Prometheus text format 0.0.4: a label value escapes backslash, double quote and line feed.
std::string label(std::string const& value)
{
    std::string out;
    out.reserve(value.size() + 2);
    for (char c : value)
    {
        switch (c)
        {
        case '\\': out += "\\\\"; break;
        case '"': out += "\\\""; break;
        case '\n': out += "\\n"; break;
        default: out += c;
        }
    }
    return out;
}

std::string sample_value(double v)
{
    if (std::isnan(v))
        return "NaN";
    if (std::isinf(v))
        return v > 0 ? "+Inf" : "-Inf";
    return fmt::format("{}", v);
}

nlohmann::json number_or_null(double v)
{
    return v < 0 ? nlohmann::json(nullptr) : nlohmann::json(v);
}

} // namespace

std::string routing_stats::to_json() const
{
    nlohmann::json out;
    out["endpoints"] = nlohmann::json::array();
    for (auto const& e : endpoints)
    {
        nlohmann::json j;
        j["name"] = e.name;
        j["role"] = e.role;
        j["address"] = e.address;
        j["state"] = e.state;
        j["quarantined_until_ms"] = e.quarantined_until_ms == 0 ? nlohmann::json(nullptr)
                                                                : nlohmann::json(e.quarantined_until_ms);
        j["lag_seconds"] = number_or_null(e.lag_seconds);
        j["connections"] = {{"open", e.connections_open},
                            {"in_use", e.connections_in_use},
                            {"idle", e.connections_idle},
                            {"waiting", e.waiting}};
        j["statements"] = e.statements;
        j["by_reason"] = nlohmann::json::object();
        for (auto const& r : e.by_reason)
            j["by_reason"][r.first] = r.second;
        j["fallbacks"] = e.fallbacks;
        j["settings_replays"] = e.settings_replays;
        j["settings_replay_failures"] = e.settings_replay_failures;
        j["causal_reads"] = e.causal_reads;
        j["causal_waits"] = e.causal_waits;
        j["causal_wait_seconds"] = e.causal_wait_seconds;
        j["causal_wait_timeouts"] = e.causal_wait_timeouts;
        j["causal_primary"] = e.causal_primary;
        j["failures"] = e.failures;
        j["quarantines"] = e.quarantines;
        j["connections_replaced"] = e.connections_replaced;
        j["connections_reset"] = e.connections_reset;
        j["connections_opened"] = e.connections_opened;
        j["connect_seconds"] = e.connect_seconds;
        j["placements"] = e.placements;
        j["moves"] = e.moves;
        j["placement_lease_seconds"] = e.placement_lease_seconds;
        j["placement_prepare_seconds"] = e.placement_prepare_seconds;
        j["placement_replay_seconds"] = e.placement_replay_seconds;
        j["last_error"] = e.last_error;
        j["role_changes"] = e.role_changes;
        j["role_note"] = e.role_note;
        out["endpoints"].push_back(std::move(j));
    }
    // Server messages are not always valid UTF-8: replaced (U+FFFD), never a reason to throw.
    return out.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

std::string routing_stats::to_prometheus() const
{
    std::string out;
    auto family = [&out](char const* name, char const* type, char const* help) {
        out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
    };
    auto labels = [](routing_endpoint_stats const& e) {
        return fmt::format("endpoint=\"{}\",role=\"{}\"", label(e.name), label(e.role));
    };

    family("soci_routing_up", "gauge", "1 when the endpoint takes statements, 0 when quarantined, lagging or down.");
    for (auto const& e : endpoints)
        out += fmt::format("soci_routing_up{{{}}} {}\n", labels(e), e.state == "up" ? 1 : 0);

    family("soci_routing_statements_total", "counter", "Statements routed to the endpoint, by reason.");
    for (auto const& e : endpoints)
        for (auto const& r : e.by_reason)
            out += fmt::format("soci_routing_statements_total{{{},reason=\"{}\"}} {}\n", labels(e),
                               label(r.first), r.second);

    family("soci_routing_connections", "gauge", "Connections of the endpoint's pool, by state.");
    for (auto const& e : endpoints)
    {
        out += fmt::format("soci_routing_connections{{{},state=\"open\"}} {}\n", labels(e), e.connections_open);
        out += fmt::format("soci_routing_connections{{{},state=\"in_use\"}} {}\n", labels(e), e.connections_in_use);
        out += fmt::format("soci_routing_connections{{{},state=\"idle\"}} {}\n", labels(e), e.connections_idle);
    }

    family("soci_routing_waiting", "gauge", "Threads waiting for a connection of the endpoint.");
    for (auto const& e : endpoints)
        out += fmt::format("soci_routing_waiting{{{}}} {}\n", labels(e), e.waiting);

    family("soci_routing_connections_replaced_total", "counter",
           "Idle connections found closed by the server when lent, and replaced.");
    for (auto const& e : endpoints)
        out += fmt::format("soci_routing_connections_replaced_total{{{}}} {}\n", labels(e), e.connections_replaced);

    family("soci_routing_connections_reset_total", "counter",
           "Connections given back with session state (transaction, settings, temporary tables, locks), reset.");
    for (auto const& e : endpoints)
        out += fmt::format("soci_routing_connections_reset_total{{{}}} {}\n", labels(e), e.connections_reset);

    family("soci_routing_settings_replays_total", "counter",
           "Connections brought to a routing session's settings (SET, USE, ...) before its statement ran.");
    for (auto const& e : endpoints)
        out += fmt::format("soci_routing_settings_replays_total{{{}}} {}\n", labels(e), e.settings_replays);

    family("soci_routing_settings_replay_failures_total", "counter",
           "Replayed settings the server refused (the statement ran elsewhere).");
    for (auto const& e : endpoints)
        out += fmt::format("soci_routing_settings_replay_failures_total{{{}}} {}\n", labels(e),
                           e.settings_replay_failures);

    family("soci_routing_causal_reads_total", "counter",
           "Reads of a scope with a causal position served by the replica (consistency = \"causal\").");
    for (auto const& e : endpoints)
        out += fmt::format("soci_routing_causal_reads_total{{{}}} {}\n", labels(e), e.causal_reads);

    family("soci_routing_causal_waits_total", "counter", "Waits for a replica to replay a scope's position.");
    for (auto const& e : endpoints)
        out += fmt::format("soci_routing_causal_waits_total{{{}}} {}\n", labels(e), e.causal_waits);

    family("soci_routing_causal_wait_seconds_total", "counter", "Time spent waiting for replicas to replay positions.");
    for (auto const& e : endpoints)
        out += fmt::format("soci_routing_causal_wait_seconds_total{{{}}} {}\n", labels(e), e.causal_wait_seconds);

    family("soci_routing_causal_wait_timeouts_total", "counter",
           "Waits for a position that ran out at causal_timeout (the read went elsewhere).");
    for (auto const& e : endpoints)
        out += fmt::format("soci_routing_causal_wait_timeouts_total{{{}}} {}\n", labels(e), e.causal_wait_timeouts);

    family("soci_routing_causal_primary_total", "counter",
           "Reads sent to the primary because no replica had replayed the scope's position.");
    for (auto const& e : endpoints)
        out += fmt::format("soci_routing_causal_primary_total{{{}}} {}\n", labels(e), e.causal_primary);

    family("soci_routing_connections_opened_total", "counter", "New connections opened to the endpoint.");
    for (auto const& e : endpoints)
        out += fmt::format("soci_routing_connections_opened_total{{{}}} {}\n", labels(e), e.connections_opened);

    family("soci_routing_connect_seconds_total", "counter", "Time spent opening connections to the endpoint.");
    for (auto const& e : endpoints)
        out += fmt::format("soci_routing_connect_seconds_total{{{}}} {}\n", labels(e), e.connect_seconds);

    family("soci_routing_placements_total", "counter",
           "Statements placed on a connection of the endpoint (first placements and moves).");
    for (auto const& e : endpoints)
        out += fmt::format("soci_routing_placements_total{{{}}} {}\n", labels(e), e.placements);

    family("soci_routing_moves_total", "counter",
           "Statements moved to the endpoint after they had been placed on another connection.");
    for (auto const& e : endpoints)
        out += fmt::format("soci_routing_moves_total{{{}}} {}\n", labels(e), e.moves);

    family("soci_routing_placement_seconds_total", "counter",
           "Time spent placing statements on the endpoint, by phase (lease, prepare, replay of bindings).");
    for (auto const& e : endpoints)
    {
        out += fmt::format("soci_routing_placement_seconds_total{{{},phase=\"lease\"}} {}\n", labels(e),
                           e.placement_lease_seconds);
        out += fmt::format("soci_routing_placement_seconds_total{{{},phase=\"prepare\"}} {}\n", labels(e),
                           e.placement_prepare_seconds);
        out += fmt::format("soci_routing_placement_seconds_total{{{},phase=\"replay\"}} {}\n", labels(e),
                           e.placement_replay_seconds);
    }

    family("soci_routing_fallbacks_total", "counter", "Replica reads retried on the primary.");
    for (auto const& e : endpoints)
        out += fmt::format("soci_routing_fallbacks_total{{{}}} {}\n", labels(e), e.fallbacks);

    family("soci_routing_failures_total", "counter", "Failed statements or connects on the endpoint.");
    for (auto const& e : endpoints)
        out += fmt::format("soci_routing_failures_total{{{}}} {}\n", labels(e), e.failures);

    family("soci_routing_quarantines_total", "counter", "Times the endpoint was quarantined.");
    for (auto const& e : endpoints)
        out += fmt::format("soci_routing_quarantines_total{{{}}} {}\n", labels(e), e.quarantines);

    family("soci_routing_quarantined_until_seconds", "gauge",
           "Unix time at which the endpoint's quarantine window ends; 0 when not quarantined.");
    for (auto const& e : endpoints)
        out += fmt::format("soci_routing_quarantined_until_seconds{{{}}} {}\n", labels(e),
                           sample_value(static_cast<double>(e.quarantined_until_ms) / 1000.0));

    // Labelled by endpoint alone: the counter is the one series of the endpoint whatever its role becomes.
    family("soci_routing_role_changes_total", "counter",
           "Times the endpoint's discovered role changed (promoted, demoted, fenced); topology = \"discover\".");
    for (auto const& e : endpoints)
        out += fmt::format("soci_routing_role_changes_total{{endpoint=\"{}\"}} {}\n", label(e.name), e.role_changes);

    family("soci_routing_replication_lag_seconds", "gauge", "Last measured replication lag of the replica.");
    for (auto const& e : endpoints)
        if (e.role == "replica" && e.lag_seconds >= 0)
            out += fmt::format("soci_routing_replication_lag_seconds{{{}}} {}\n", labels(e),
                               sample_value(e.lag_seconds));
    return out;
}

// ------------------------------------------------------------------------------------------ check

namespace
{

std::string why_not_ready(routing_check const& c)
{
    if (c.ready())
        return {};
    std::string why;
    if (!c.primary_ready)
    {
        if (c.endpoints.empty())
            why = "no primary";
        else if (!c.endpoints.front().reachable)
            why = "the primary is unreachable";
        else
            why = "the primary is not writable";
    }
    // With no replica configured, reads need the primary: its own reason says it all.
    bool const has_replicas = c.endpoints.size() > 1;
    if (!c.reads_servable && (has_replicas || c.primary_ready))
    {
        if (!why.empty())
            why += "; ";
        why += "no replica can serve reads";
        if (c.primary_ready)
            why += " and fallback to the primary is off";
    }
    return why;
}

std::string status_of(routing_endpoint_check const& e)
{
    if (!e.reachable)
        return "unreachable";
    if (e.role_ok)
        return "ok";
    // A read-only replica that is not OK is in the right role but does not follow its primary.
    return e.role == "replica" && e.read_only ? "not replicating" : "wrong role";
}

std::string role_word(routing_endpoint_check const& e)
{
    if (!e.reachable)
        return {};
    return e.read_only ? "read-only" : "writable";
}

} // namespace

std::string routing_check::to_text() const
{
    std::size_t name_width = 0;
    std::size_t address_width = 0;
    std::size_t status_width = 0;
    for (auto const& e : endpoints)
    {
        name_width = std::max(name_width, e.name.size());
        address_width = std::max(address_width, e.address.size());
        status_width = std::max(status_width, status_of(e).size());
    }
    std::string out;
    for (auto const& e : endpoints)
    {
        std::string line = fmt::format("{:<{}}  {:<{}}  {:<{}}", e.name, name_width, e.address, address_width,
                                       status_of(e), status_width);
        if (e.reachable)
        {
            line += fmt::format("  {:<9}", role_word(e));
            if (e.latency_ms >= 0)
                line += fmt::format("  latency {:.1f} ms", e.latency_ms);
            if (e.role == "replica")
                line += e.lag_seconds >= 0 ? fmt::format("  lag {:.3f} s", e.lag_seconds) : "  lag unknown";
        }
        if (!e.error.empty())
            line += "  " + e.error;
        while (!line.empty() && line.back() == ' ')
            line.pop_back();
        out += line + "\n";
    }
    out += ready() ? "ready\n" : "not ready: " + why_not_ready(*this) + "\n";
    return out;
}

std::string routing_check::to_json() const
{
    nlohmann::json out;
    out["ready"] = ready();
    out["primary_ready"] = primary_ready;
    out["reads_servable"] = reads_servable;
    if (!ready())
        out["reason"] = why_not_ready(*this);
    out["endpoints"] = nlohmann::json::array();
    for (auto const& e : endpoints)
    {
        out["endpoints"].push_back({{"name", e.name},
                                    {"role", e.role},
                                    {"address", e.address},
                                    {"reachable", e.reachable},
                                    {"role_ok", e.role_ok},
                                    {"read_only", e.read_only},
                                    {"latency_ms", number_or_null(e.latency_ms)},
                                    {"lag_seconds", number_or_null(e.lag_seconds)},
                                    {"error", e.error}});
    }
    // Server messages are not always valid UTF-8: replaced (U+FFFD), never a reason to throw.
    return out.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

} // namespace soci
