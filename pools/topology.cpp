// soci-routing: topology discovery (`[routing] topology = "discover"`): what one role probe sees of a node, and
// which node is the primary given what every node said. The cluster's prober thread (pools.cpp) runs them.

#include "pools-detail.h"

#include <soci/mysql/soci-mysql.h>

#include <fmt/format.h>

#include <algorithm>

namespace soci_routing
{
namespace detail
{

int mysql_super_read_only(soci::session& sql)
{
    // A statement object, not `sql << ...`: the one-time form runs its query in a destructor, and this query
    // fails on MariaDB (no such variable); should into() fail first (no memory), that destructor would throw
    // while the bad_alloc unwinds, and end the process.
    int value = 0;
    soci::statement st = (sql.prepare << "SELECT @@global.super_read_only", soci::into(value));
    try
    {
        st.execute(true);
    }
    catch (soci::mysql_soci_error const& e)
    {
        if (e.err_num_ >= 2000)  // the connection, not the missing variable (MariaDB has none)
            throw;
        return 0;
    }
    return value;
}

node_observation probe_role(soci::session& sql, driver d)
{
    node_observation o;
    if (d == driver::postgresql)
    {
        // While a standby is being promoted pg_is_in_recovery() still says true: the next probe sees the end.
        // The timeline of a writable node is that of its current WAL segment (pg_control_checkpoint() lags
        // behind a fast promotion until the next checkpoint).
        int in_recovery = 0;
        std::string read_only;
        long long timeline = -1;
        soci::indicator timeline_ind = soci::i_ok;
        std::string system_id;
        sql << "SELECT pg_is_in_recovery()::int, current_setting('default_transaction_read_only'),"
               " CASE WHEN pg_is_in_recovery() THEN NULL"
               " ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::bigint END,"
               " (SELECT system_identifier::text FROM pg_control_system())",
            soci::into(in_recovery), soci::into(read_only), soci::into(timeline, timeline_ind),
            soci::into(system_id);
        o.reachable = true;
        o.system_id = system_id;
        if (in_recovery != 0)
            o.note = "in recovery (a standby)";
        else if (read_only == "on")
            o.note = "default_transaction_read_only is on";
        else
        {
            o.writable = true;
            o.timeline = timeline_ind == soci::i_ok ? timeline : -1;
            o.note = o.timeline >= 0 ? fmt::format("writable, timeline {}", o.timeline) : "writable";
        }
        return o;
    }
    int read_only = 0;
    sql << "SELECT @@global.read_only", soci::into(read_only);
    int const super_read_only = mysql_super_read_only(sql);
    replica_position const pos = mysql_replica_position(sql, nullptr);
    o.reachable = true;
    if (read_only != 0 || super_read_only != 0)
        o.note = pos.in_recovery ? "read-only replica" : "read-only (no replication configured)";
    else if (pos.in_recovery && pos.replicating)
        o.note = "writable but replicating (read_only is off on a replica): not a primary";
    else
    {
        o.writable = true;
        o.note = "writable";
    }
    return o;
}

topology_decision decide_topology(std::vector<node_observation> const& nodes, driver d, std::string& system_id,
                                  std::vector<std::string> const& descriptions)
{
    topology_decision r;
    r.fenced.assign(nodes.size(), false);
    // The cluster's PostgreSQL system identifier: the first one seen. A node with another one is another
    // cluster (a server reinstalled behind the same address, a wrong port): never used.
    if (system_id.empty())
    {
        for (auto const& n : nodes)
            if (n.reachable && !n.system_id.empty())
            {
                system_id = n.system_id;
                break;
            }
    }
    std::vector<std::size_t> writable;
    for (std::size_t i = 0; i < nodes.size(); ++i)
    {
        node_observation const& n = nodes[i];
        if (!n.reachable)
            continue;
        if (!system_id.empty() && !n.system_id.empty() && n.system_id != system_id)
        {
            r.fenced[i] = true;
            continue;
        }
        if (n.writable)
            writable.push_back(i);
    }
    if (writable.size() == 1)
    {
        r.primary = static_cast<int>(writable.front());
        return r;
    }
    if (writable.size() > 1 && d == driver::postgresql)
    {
        // Split brain on PostgreSQL: a standby promoted while the old primary still runs. A promotion starts a
        // new timeline, so of two nodes of one cluster the one on the highest timeline is the promoted one;
        // the others are fenced (no reads, no writes). Equal or unknown timelines: no rule, refuse.
        long long best = -1;
        std::size_t at_best = 0;
        bool known = true;
        for (auto i : writable)
        {
            if (nodes[i].timeline < 0 || nodes[i].system_id.empty())
                known = false;
            if (nodes[i].timeline > best)
            {
                best = nodes[i].timeline;
                at_best = 0;
            }
            if (nodes[i].timeline == best)
                ++at_best;
        }
        if (known && at_best == 1)
        {
            for (auto i : writable)
            {
                if (nodes[i].timeline == best)
                    r.primary = static_cast<int>(i);
                else
                    r.fenced[i] = true;
            }
            return r;
        }
    }
    auto state_of = [&](std::size_t i) {
        std::string const& note = nodes[i].note;
        if (r.fenced[i])
            return fmt::format("{}: fenced, system identifier {} is not the cluster's {}", descriptions[i],
                               nodes[i].system_id, system_id);
        if (nodes[i].unprobed)
            return fmt::format("{}: not probed (this process could not connect): {}", descriptions[i], note);
        return fmt::format("{}: {}{}", descriptions[i], nodes[i].reachable ? "" : "unreachable: ", note);
    };
    std::string states;
    for (std::size_t i = 0; i < nodes.size(); ++i)
        states += (i == 0 ? "" : "; ") + state_of(i);
    if (writable.empty())
        r.problem = "no writable node: " + states;
    else
        r.problem = fmt::format("{} writable nodes (split brain), writes refused until only one is writable{}: {}",
                                writable.size(),
                                d == driver::postgresql ? " or one is on a newer timeline" : "", states);
    return r;
}

} // namespace detail
} // namespace soci_routing
