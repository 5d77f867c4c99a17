// soci-routing: readiness check with fresh connections (the seeds' /readyz).

#include "pools.h"
#include "pools-detail.h"
#include "threads.h"

#include <soci/mysql/soci-mysql.h>

#include <future>
#include <optional>
#include <thread>

namespace soci_routing
{
namespace
{

using clock = std::chrono::steady_clock;

double ms_since(clock::time_point start)
{
    return std::chrono::duration<double, std::milli>(clock::now() - start).count();
}

soci::routing_endpoint_check blank(endpoint_config const& ep, bool primary)
{
    soci::routing_endpoint_check r;
    r.name = ep.name;
    r.role = primary ? "primary" : "replica";
    r.address = ep.address();
    return r;
}

/// What the primary's check leaves for the replicas' lag.
struct primary_position
{
    long long lsn = -1;       // PostgreSQL
    clock::time_point when{};
    std::optional<detail::gtid_position> gtid;  // MariaDB
};

soci::routing_endpoint_check check_primary(endpoint_config const& ep, primary_position& position)
{
    auto r = blank(ep, true);
    auto const start = clock::now();
    try
    {
        auto sql = detail::open_session(ep);
        if (ep.drv == driver::postgresql)
        {
            int in_recovery = 0;
            std::string read_only;
            long long lsn = -1;
            soci::indicator lsn_ind = soci::i_ok;
            *sql << "SELECT pg_is_in_recovery()::int, current_setting('default_transaction_read_only'),"
                    " CASE WHEN pg_is_in_recovery() THEN NULL"
                    " ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint END",
                soci::into(in_recovery), soci::into(read_only), soci::into(lsn, lsn_ind);
            r.latency_ms = ms_since(start);
            r.reachable = true;
            r.read_only = in_recovery != 0 || read_only == "on";
            if (in_recovery != 0)
                r.error = "in recovery: this server is a standby, not a writable primary";
            else if (read_only == "on")
                r.error = "default_transaction_read_only is on";
            r.role_ok = r.error.empty();
            if (lsn_ind == soci::i_ok)
            {
                position.lsn = lsn;
                position.when = clock::now();
            }
        }
        else
        {
            int read_only = 0;
            *sql << "SELECT @@global.read_only", soci::into(read_only);
            r.latency_ms = ms_since(start);
            r.reachable = true;
            int const super_read_only = detail::mysql_super_read_only(*sql);
            r.read_only = read_only != 0 || super_read_only != 0;
            if (read_only != 0)
                r.error = "@@read_only is on: not a writable primary";
            else if (super_read_only != 0)
                r.error = "@@super_read_only is on: not a writable primary";
            r.role_ok = r.error.empty();
            position.gtid = detail::mysql_primary_gtid(*sql);
            position.when = clock::now();
        }
    }
    catch (std::exception const& e)
    {
        if (!r.reachable)
            r.latency_ms = -1;
        r.error = detail::one_line(e.what());
        r.role_ok = false;
    }
    return r;
}

soci::routing_endpoint_check check_replica(endpoint_config const& ep, primary_position const& position)
{
    auto r = blank(ep, false);
    auto const start = clock::now();
    try
    {
        auto sql = detail::open_session(ep);
        if (ep.drv == driver::postgresql)
        {
            long long replay = -1;
            auto pos = detail::pg_replica_position(*sql, position.lsn, replay);
            r.latency_ms = ms_since(start);
            r.reachable = true;
            r.read_only = pos.in_recovery;
            r.role_ok = pos.in_recovery;
            r.lag_seconds = pos.lag_seconds;
            // Behind the position the primary reported a moment ago: the replay of the last few records
            // may simply be under way. Ask again briefly before falling back to the time since the last
            // replayed transaction, which overstates the lag of a replica of an idle primary.
            for (int i = 0; i < 10 && pos.in_recovery && !pos.caught_up && position.lsn >= 0 && r.error.empty();
                 ++i)
            {
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
                pos = detail::pg_replica_position(*sql, position.lsn, replay);
                if (pos.caught_up)
                    r.lag_seconds = std::chrono::duration<double>(clock::now() - position.when).count();
            }
            r.error = pos.note;
        }
        else
        {
            int read_only = 0;
            *sql << "SELECT @@global.read_only", soci::into(read_only);
            r.latency_ms = ms_since(start);
            r.reachable = true;
            r.read_only = read_only != 0;
            auto const* primary = position.gtid ? &*position.gtid : nullptr;
            auto pos = detail::mysql_replica_position(*sql, primary);
            r.lag_seconds = pos.lag_seconds;
            // As for PostgreSQL: a running replica a few transactions behind the position just read may be
            // applying them; ask again briefly.
            for (int i = 0; i < 10 && pos.replicating && !pos.caught_up && primary != nullptr; ++i)
            {
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
                pos = detail::mysql_replica_position(*sql, primary);
                r.lag_seconds = pos.caught_up ? std::chrono::duration<double>(clock::now() - position.when).count()
                                              : pos.lag_seconds;
            }
            // A replica serves reads only while it follows the primary: with a thread stopped (or no
            // replication at all) its data grows older without bound, whatever its lag says now.
            r.role_ok = r.read_only && pos.in_recovery && pos.replicating;
            if (!r.read_only)
                r.error = "@@read_only is off: this server is writable, not a replica";
            if (!pos.note.empty())
                r.error += (r.error.empty() ? "" : "; ") + pos.note;
        }
    }
    catch (std::exception const& e)
    {
        r.error = detail::one_line(e.what());
        r.role_ok = false;
    }
    return r;
}

} // namespace

namespace
{

/// topology = "discover": which node is the primary now, asked of every node at once (fresh connections).
/// -1 when there is none.
int discover_primary(cluster_config const& config)
{
    std::vector<endpoint_config const*> nodes{&config.primary};
    for (auto const& r : config.replicas)
        nodes.push_back(&r);
    std::vector<std::future<detail::node_observation>> probes;
    for (auto const* ep : nodes)
    {
        signals_blocked const blocked;  // the probe's thread takes none of the application's signals
        // async | deferred: a probe the process refuses a thread for runs at get(), on this thread.
        probes.push_back(std::async(std::launch::async | std::launch::deferred, [ep] {
            detail::node_observation o;
            try
            {
                auto sql = detail::open_session(*ep);
                o = detail::probe_role(*sql, ep->drv);
            }
            catch (std::exception const& e)
            {
                o = detail::node_observation{};
                o.note = detail::one_line(e.what());
            }
            return o;
        }));
    }
    std::vector<detail::node_observation> seen;
    std::vector<std::string> names;
    for (std::size_t i = 0; i < nodes.size(); ++i)
    {
        seen.push_back(probes[i].get());
        names.push_back(nodes[i]->describe(i == 0));
    }
    std::string system_id;
    return detail::decide_topology(seen, config.primary.drv, system_id, names).primary;
}

} // namespace

soci::routing_check check_cluster(cluster_config const& config)
{
    soci::routing_check result;
    primary_position position;
    // topology = "discover": the node found writable is checked as the primary, every other one as a replica.
    endpoint_config const* primary = &config.primary;
    std::vector<endpoint_config const*> others;
    for (auto const& r : config.replicas)
        others.push_back(&r);
    if (config.routing.topology == topology_mode::discover)
    {
        int const p = discover_primary(config);
        if (p > 0)
        {
            others[p - 1] = &config.primary;
            primary = &config.replicas[p - 1];
        }
    }
    // The primary first: the replicas' lag is measured against its position.
    result.endpoints.push_back(check_primary(*primary, position));
    std::vector<std::future<soci::routing_endpoint_check>> replicas;
    for (auto const* ep : others)
    {
        signals_blocked const blocked;  // the check's thread takes none of the application's signals
        // async | deferred: a check whose thread the process refuses to start (at its thread or pid limit) runs
        // at get(), on this thread, after the others.
        replicas.push_back(std::async(std::launch::async | std::launch::deferred,
                                      [ep, &position] { return check_replica(*ep, position); }));
    }
    bool replica_ok = false;
    for (auto& f : replicas)
    {
        result.endpoints.push_back(f.get());
        auto const& r = result.endpoints.back();
        if (r.reachable && r.role_ok
            && !(config.routing.max_lag > 0 && r.lag_seconds > config.routing.max_lag))
            replica_ok = true;
    }
    result.primary_ready = result.endpoints.front().reachable && result.endpoints.front().role_ok;
    result.reads_servable =
        replica_ok || (result.primary_ready && (config.routing.fallback || config.replicas.empty()));
    return result;
}

} // namespace soci_routing
