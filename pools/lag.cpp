// soci-routing: replication positions and the background lag probe.
//
// PostgreSQL: a standby that has replayed the primary's current WAL position has no lag, however long ago
// the last transaction was (an idle primary must not make its replicas look stale). A standby that is behind
// is as late as the moment the primary first reached a position the standby has not replayed yet: the probe
// keeps a short history of the primary's positions to know that moment. MariaDB/MySQL: equal GTID positions
// mean no lag; otherwise Seconds_Behind_Master (NULL: replication is not running).

#include "pools-detail.h"

#include <soci/mysql/soci-mysql.h>
#include <soci/postgresql/soci-postgresql.h>

#include <algorithm>
#include <deque>
#include <optional>

namespace soci_routing
{
namespace detail
{
namespace
{

using clock = std::chrono::steady_clock;

/// The text of a column of any type, by name; nullopt when NULL or absent.
std::optional<std::string> column_text(soci::row const& r, std::string const& name)
{
    for (std::size_t i = 0; i < r.size(); ++i)
    {
        soci::column_properties const& p = r.get_properties(i);
        if (p.get_name() != name)
            continue;
        if (r.get_indicator(i) == soci::i_null)
            return std::nullopt;
        switch (p.get_data_type())
        {
        case soci::dt_string: return r.get<std::string>(i);
        case soci::dt_integer: return std::to_string(r.get<int>(i));
        case soci::dt_long_long: return std::to_string(r.get<long long>(i));
        case soci::dt_unsigned_long_long: return std::to_string(r.get<unsigned long long>(i));
        case soci::dt_double: return std::to_string(r.get<double>(i));
        default: return std::nullopt;
        }
    }
    return std::nullopt;
}

} // namespace

long long pg_primary_lsn(soci::session& sql)
{
    long long lsn = -1;
    sql << "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint", soci::into(lsn);
    return lsn;
}

replica_position pg_replica_position(soci::session& sql, long long primary_lsn, long long& replay_lsn)
{
    int in_recovery = 0;
    int paused = 0;
    long long replay = -1;
    double age = -1;
    soci::indicator replay_ind = soci::i_ok;
    soci::indicator age_ind = soci::i_ok;
    sql << "SELECT pg_is_in_recovery()::int,"
           " CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused()::int ELSE 0 END,"
           " pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0')::bigint,"
           " EXTRACT(EPOCH FROM clock_timestamp() - pg_last_xact_replay_timestamp())::float8",
        soci::into(in_recovery), soci::into(paused), soci::into(replay, replay_ind), soci::into(age, age_ind);

    replica_position pos;
    pos.in_recovery = in_recovery != 0;
    replay_lsn = replay_ind == soci::i_ok ? replay : -1;
    if (!pos.in_recovery)
    {
        pos.note = "not in recovery: this server is a primary, not a replica";
        return pos;
    }
    if (paused != 0)
        pos.note = "WAL replay is paused";
    if (primary_lsn >= 0 && replay_lsn >= primary_lsn)
    {
        pos.caught_up = true;
        pos.lag_seconds = 0;
    }
    else if (age_ind == soci::i_ok)
        pos.lag_seconds = std::max(age, 0.0);
    else if (pos.note.empty())
        pos.note = "no transaction replayed yet";
    return pos;
}

std::string mysql_primary_gtid(soci::session& sql)
{
    std::string gtid;
    soci::indicator ind = soci::i_ok;
    try
    {
        sql << "SELECT @@gtid_current_pos", soci::into(gtid, ind);
    }
    catch (soci::mysql_soci_error const&)
    {
        return {};  // MySQL proper has no @@gtid_current_pos: Seconds_Behind_Master alone then
    }
    return ind == soci::i_ok ? gtid : std::string();
}

replica_position mysql_replica_position(soci::session& sql, std::string const& primary_gtid)
{
    replica_position pos;
    std::optional<std::string> behind;
    std::optional<std::string> io;
    std::optional<std::string> sql_running;
    bool have_status = false;
    {
        soci::rowset<soci::row> rows = (sql.prepare << "SHOW SLAVE STATUS");
        for (auto const& r : rows)
        {
            have_status = true;
            behind = column_text(r, "Seconds_Behind_Master");
            io = column_text(r, "Slave_IO_Running");
            sql_running = column_text(r, "Slave_SQL_Running");
            break;
        }
    }
    pos.in_recovery = have_status;
    if (!have_status)
    {
        pos.replicating = false;
        pos.note = "no replication configured (SHOW SLAVE STATUS is empty)";
        return pos;
    }
    if (!primary_gtid.empty())
    {
        std::string replica_gtid;
        soci::indicator ind = soci::i_ok;
        try
        {
            sql << "SELECT @@gtid_slave_pos", soci::into(replica_gtid, ind);
        }
        catch (soci::mysql_soci_error const&)
        {
            ind = soci::i_null;
        }
        if (ind == soci::i_ok && replica_gtid == primary_gtid)
        {
            pos.caught_up = true;
            pos.lag_seconds = 0;
        }
    }
    if (!behind)
    {
        pos.replicating = false;
        pos.note = "replication is not running (Slave_IO_Running " + io.value_or("?") + ", Slave_SQL_Running "
            + sql_running.value_or("?") + ")";
        return pos;
    }
    if (!pos.caught_up)
    {
        try
        {
            pos.lag_seconds = std::stod(*behind);
        }
        catch (std::exception const&)
        {
            pos.lag_seconds = -1;
        }
    }
    return pos;
}

// ----------------------------------------------------------------------------------------- lag_prober

struct lag_prober::impl
{
    explicit impl(cluster_config const& c) : config(c), replicas(c.replicas.size()) {}

    cluster_config const config;
    std::unique_ptr<soci::session> primary;
    std::vector<std::unique_ptr<soci::session>> replicas;
    // When the primary first reached each WAL position seen (PostgreSQL), oldest first.
    std::deque<std::pair<clock::time_point, long long>> history;
};

lag_prober::lag_prober(cluster_config const& config) : impl_(std::make_unique<impl>(config)) {}
lag_prober::~lag_prober() = default;

void lag_prober::run(endpoint_pool& primary, std::vector<std::unique_ptr<endpoint_pool>>& replicas)
{
    impl& d = *impl_;
    bool const pg = d.config.primary.drv == driver::postgresql;
    double const max_lag = d.config.routing.max_lag;
    (void)primary;

    long long primary_lsn = -1;
    std::string primary_gtid;
    try
    {
        if (!d.primary)
            d.primary = open_session(d.config.primary);
        if (pg)
        {
            primary_lsn = pg_primary_lsn(*d.primary);
            auto const now = clock::now();
            if (d.history.empty() || primary_lsn > d.history.back().second)
                d.history.emplace_back(now, primary_lsn);
        }
        else
            primary_gtid = mysql_primary_gtid(*d.primary);
    }
    catch (std::exception const&)
    {
        d.primary.reset();  // reconnect next round
    }

    long long oldest_replay = primary_lsn;
    for (std::size_t i = 0; i < replicas.size() && i < d.replicas.size(); ++i)
    {
        endpoint_pool& pool = *replicas[i];
        try
        {
            if (!d.replicas[i])
                d.replicas[i] = open_session(d.config.replicas[i]);
            if (pg)
            {
                long long replay = -1;
                replica_position pos = pg_replica_position(*d.replicas[i], primary_lsn, replay);
                double lag = pos.lag_seconds;
                if (pos.in_recovery && !pos.caught_up && primary_lsn >= 0 && replay >= 0)
                {
                    // Since when has the primary been at a position this replica has not replayed?
                    auto const now = clock::now();
                    for (auto const& sample : d.history)
                    {
                        if (sample.second > replay)
                        {
                            lag = std::chrono::duration<double>(now - sample.first).count();
                            break;
                        }
                    }
                    oldest_replay = std::min(oldest_replay, replay);
                }
                pool.set_lag(pos.in_recovery ? lag : -1, pos.in_recovery && lag > max_lag);
            }
            else
            {
                replica_position pos = mysql_replica_position(*d.replicas[i], primary_gtid);
                // A replica that is not replicating serves ever older data: never within max_lag.
                bool const lagging = !pos.replicating ? !pos.caught_up : pos.lag_seconds > max_lag;
                pool.set_lag(pos.lag_seconds, lagging);
            }
        }
        catch (std::exception const&)
        {
            d.replicas[i].reset();
            pool.set_lag(-1, false);  // unknown: the pool's own health decides
        }
    }

    // Forget positions every replica has replayed (keep the newest), and bound the history.
    while (d.history.size() > 1 && d.history[1].second <= oldest_replay)
        d.history.pop_front();
    while (d.history.size() > 4096)
        d.history.pop_front();
}

} // namespace detail
} // namespace soci_routing
