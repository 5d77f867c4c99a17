// soci-routing: replication positions and the background lag probe.
//
// PostgreSQL: a standby that has replayed the primary's current WAL position has no lag, however long ago
// the last transaction was (an idle primary must not make its replicas look stale). A standby that is behind
// is as late as the moment the primary first reached a position the standby has not replayed yet: the probe
// keeps a short history of the primary's positions to know that moment. MariaDB the same way, by GTID
// positions: a replica whose @@gtid_slave_pos covers the primary's @@gtid_binlog_pos has no lag; one that
// lacks a transaction is as late as the moment the probe first saw the primary with it. That holds while the
// SQL thread is stopped, when Seconds_Behind_Master is NULL; Seconds_Behind_Master (whole seconds) only
// counts when the replica was behind before the probe's first sample. MySQL proper (no MariaDB GTID
// positions): Seconds_Behind_Master alone, and NULL (replication stopped) means lagging.

#include "pools-detail.h"

#include <soci/mysql/soci-mysql.h>
#include <soci/postgresql/soci-postgresql.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>
#include <optional>
#include <stdexcept>

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

namespace
{

/// A causal position's GTIDs (causal.cpp) without their servers.
std::optional<gtid_position> sequences_of(std::optional<causal_position> const& p)
{
    if (!p)
        return std::nullopt;
    gtid_position out;
    for (auto const& [domain, g] : p->domains)
        out[domain] = g.seq;
    return out;
}

} // namespace

std::optional<gtid_position> parse_gtid_position(std::string const& text)
{
    return sequences_of(parse_gtid_list(text));
}

bool gtid_covers(gtid_position const& replica, gtid_position const& primary)
{
    for (auto const& [domain, seq] : primary)
    {
        auto const it = replica.find(domain);
        if (seq > 0 && (it == replica.end() || it->second < seq))
            return false;
    }
    return true;
}

namespace
{

/// A GTID position variable of the server; nullopt when the server has no such variable or it is not a
/// MariaDB position. Connection errors propagate.
std::optional<gtid_position> read_gtid_position_variable(soci::session& sql, char const* query)
{
    return sequences_of(read_gtid_variable(sql, query));
}

} // namespace

std::optional<gtid_position> mysql_primary_gtid(soci::session& sql)
{
    return read_gtid_position_variable(sql, "SELECT @@global.gtid_binlog_pos");
}

replica_position mysql_replica_position(soci::session& sql, gtid_position const* primary)
{
    replica_position pos;
    std::optional<std::string> behind;
    std::string io;
    std::string sql_running;
    std::string io_error;
    std::string sql_error;
    bool have_status = false;
    {
        soci::rowset<soci::row> rows = (sql.prepare << "SHOW SLAVE STATUS");
        for (auto const& r : rows)
        {
            have_status = true;
            behind = column_text(r, "Seconds_Behind_Master");
            io = column_text(r, "Slave_IO_Running").value_or("?");
            sql_running = column_text(r, "Slave_SQL_Running").value_or("?");
            io_error = column_text(r, "Last_IO_Error").value_or("");
            sql_error = column_text(r, "Last_SQL_Error").value_or("");
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
    pos.replicating = io == "Yes" && sql_running == "Yes";
    if (!pos.replicating)
    {
        // Named after the columns an operator looks at; "not running" also when the IO thread is still
        // "Connecting".
        pos.note = "replication is not running: Slave_IO_Running=" + io + ", Slave_SQL_Running=" + sql_running;
        if (!io_error.empty())
            pos.note += "; Last_IO_Error: " + one_line(io_error);
        if (!sql_error.empty())
            pos.note += "; Last_SQL_Error: " + one_line(sql_error);
    }
    pos.gtid = read_gtid_position_variable(sql, "SELECT @@global.gtid_slave_pos");
    if (primary != nullptr && pos.gtid && gtid_covers(*pos.gtid, *primary))
    {
        pos.caught_up = true;
        pos.lag_seconds = 0;
        return pos;
    }
    if (behind)
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
    impl(cluster_config const& c, socket_watchdog& w) : config(c), watchdog(w) {}

    /// Runs the probe queries `f` on `sql` (a connection to `endpoint`) with the endpoint's connect timeout as
    /// their deadline: a server that accepts connections and never answers costs one timeout, not the thread.
    /// Throws deadline_error when the deadline passed (the connection is gone).
    template <typename F>
    void watched(soci::session& sql, endpoint_config const& endpoint, F f)
    {
        auto const timeout = std::chrono::milliseconds(std::max<long long>(
            1, static_cast<long long>(std::llround(endpoint.timeout * 1000.0))));
        socket_watchdog::watch watch = watchdog.arm(sql, endpoint.drv, timeout);
        try
        {
            f();
        }
        catch (std::exception const&)
        {
            if (watch.end())
                throw deadline_error("no answer to the lag probe within the connect timeout");
            throw;
        }
        if (watch.end())
            throw deadline_error("no answer to the lag probe within the connect timeout");
    }

    /// Seconds since the primary first showed a position the replica (at `replayed`) lacks; -1 when the
    /// history does not know one.
    double pg_behind_since(long long replayed, clock::time_point now) const
    {
        for (auto const& sample : history)
            if (sample.second > replayed)
                return std::chrono::duration<double>(now - sample.first).count();
        return -1;
    }
    /// The same for a MariaDB replica at `applied`; `oldest` tells whether the sample found is the oldest
    /// the history holds (the replica may have been behind before the probe saw the primary).
    double gtid_behind_since(gtid_position const& applied, clock::time_point now, bool& oldest) const
    {
        oldest = false;
        for (auto const& sample : gtid_history)
        {
            if (!gtid_covers(applied, sample.second))
            {
                oldest = &sample == &gtid_history.front();
                return std::chrono::duration<double>(now - sample.first).count();
            }
        }
        return -1;
    }
    /// Records the primary's GTID position: a new sample when it moved on, a fresh history when it went
    /// back (RESET MASTER, another server promoted).
    void record(gtid_position const& position, clock::time_point now)
    {
        if (!gtid_history.empty())
        {
            gtid_position const& last = gtid_history.back().second;
            bool const ahead = gtid_covers(position, last);
            if (ahead && gtid_covers(last, position))
                return;  // unchanged
            if (!ahead)
                gtid_history.clear();
        }
        gtid_history.emplace_back(now, position);
    }

    cluster_config const config;
    socket_watchdog& watchdog;
    endpoint_pool const* primary_pool = nullptr;  // the node `primary` is connected to
    std::unique_ptr<soci::session> primary;
    std::map<endpoint_pool const*, std::unique_ptr<soci::session>> replicas;
    // When the primary was first seen at each position, oldest first: WAL positions (PostgreSQL), GTID
    // positions (MariaDB).
    std::deque<std::pair<clock::time_point, long long>> history;
    std::deque<std::pair<clock::time_point, gtid_position>> gtid_history;
};

lag_prober::lag_prober(cluster_config const& config, socket_watchdog& watchdog)
    : impl_(std::make_unique<impl>(config, watchdog))
{
}
lag_prober::~lag_prober() = default;

void lag_prober::run(endpoint_pool* primary, std::vector<endpoint_pool*> const& replicas)
{
    impl& d = *impl_;
    bool const pg = d.config.primary.drv == driver::postgresql;
    double const max_lag = d.config.routing.max_lag;

    if (primary != d.primary_pool)
    {
        // Another node became the primary (topology = "discover"): positions of the old one say nothing of it.
        d.primary.reset();
        d.primary_pool = primary;
        d.history.clear();
        d.gtid_history.clear();
    }
    long long primary_lsn = -1;
    bool primary_seen = false;
    try
    {
        if (primary == nullptr)
            throw std::runtime_error("no primary");
        endpoint_config const& primary_config = primary->config();
        if (!d.primary)
            d.primary = open_session(primary_config);
        d.watched(*d.primary, primary_config, [&] {
            if (pg)
            {
                primary_lsn = pg_primary_lsn(*d.primary);
                auto const now = clock::now();
                if (d.history.empty() || primary_lsn > d.history.back().second)
                    d.history.emplace_back(now, primary_lsn);
            }
            else if (auto gtid = mysql_primary_gtid(*d.primary))
                d.record(*gtid, clock::now());
        });
        primary_seen = true;
    }
    catch (std::exception const&)
    {
        d.primary.reset();  // reconnect next round
    }
    // Without the primary this round, a replica is compared with the last position seen: missing a
    // transaction the primary had then is lag since then, at least. But a lag measured against a primary that
    // cannot be reached says nothing about what the replica lacks now, and skipping every replica would send
    // every read to the primary that is not there: without the primary, no replica is "lagging".
    gtid_position const* reference = d.gtid_history.empty() ? nullptr : &d.gtid_history.back().second;
    // Without max_lag (probing for causal consistency only), no replica is ever "lagging".
    bool const limited = max_lag > 0;
    auto report = [primary_seen, limited](endpoint_pool& pool, double lag, bool lagging) {
        pool.set_lag(lag, lagging && primary_seen && limited);
    };

    long long oldest_replay = primary_lsn;
    std::vector<gtid_position> applied;  // MariaDB: the replicas' positions this round
    for (endpoint_pool* replica : replicas)
    {
        endpoint_pool& pool = *replica;
        endpoint_config const& endpoint = pool.config();
        std::unique_ptr<soci::session>& connection = d.replicas[replica];
        try
        {
            if (!connection)
                connection = open_session(endpoint);
            soci::session& sql = *connection;
            if (pg)
            {
                long long replay = -1;
                replica_position pos;
                d.watched(sql, endpoint, [&] { pos = pg_replica_position(sql, primary_lsn, replay); });
                if (replay > 0)
                {
                    causal_position replayed;
                    replayed.lsn = static_cast<std::uint64_t>(replay);
                    pool.note_replayed(replayed);
                }
                double lag = pos.lag_seconds;
                long long const known_lsn = primary_seen ? primary_lsn
                                            : d.history.empty() ? -1 : d.history.back().second;
                if (!primary_seen)
                    lag = known_lsn >= 0 && replay >= known_lsn ? 0 : -1;  // not the time since its last replay
                if (pos.in_recovery && known_lsn >= 0 && replay >= 0 && replay < known_lsn)
                {
                    // Since when has the primary been at a position this replica has not replayed?
                    double const since = d.pg_behind_since(replay, clock::now());
                    if (since >= 0)
                        lag = since;
                    if (primary_seen)
                        oldest_replay = std::min(oldest_replay, replay);
                }
                report(pool, pos.in_recovery ? lag : -1, pos.in_recovery && lag > max_lag);
                continue;
            }
            replica_position pos;
            d.watched(sql, endpoint, [&] { pos = mysql_replica_position(sql, reference); });
            if (pos.gtid)
            {
                causal_position replayed;  // servers unknown (0): only sequence numbers are compared
                for (auto const& [domain, seq] : *pos.gtid)
                    replayed.domains[domain] = causal_position::gtid{0, seq};
                pool.note_replayed(replayed);
            }
            if (!pos.in_recovery)
            {
                // No replication configured: its data never moves on.
                pool.set_lag(-1, limited);
                continue;
            }
            if (reference != nullptr && pos.gtid)
            {
                // Since when has the primary had a transaction this replica has not applied? Unlike
                // Seconds_Behind_Master, this is known while the SQL thread is stopped, and it is not
                // rounded to whole seconds of event timestamps: Seconds_Behind_Master only counts when the
                // replica was already behind at the probe's first sample.
                double lag = 0;
                if (!pos.caught_up)
                {
                    bool oldest = false;
                    lag = d.gtid_behind_since(*pos.gtid, clock::now(), oldest);
                    if (lag < 0 || oldest)
                        lag = std::max(lag, pos.lag_seconds);
                }
                if (primary_seen)
                    applied.push_back(*pos.gtid);
                report(pool, lag, lag > max_lag);
                continue;
            }
            // No GTID positions to compare (MySQL proper): Seconds_Behind_Master alone; NULL while
            // replication is stopped, when the replica falls behind without bound.
            report(pool, pos.lag_seconds, pos.lag_seconds >= 0 ? pos.lag_seconds > max_lag : !pos.replicating);
        }
        catch (std::exception const&)
        {
            connection.reset();
            pool.set_lag(-1, false);  // unknown: the pool's own health decides
        }
    }

    // Forget positions every replica has replayed (keep the newest), and bound the history.
    while (d.history.size() > 1 && d.history[1].second <= oldest_replay)
        d.history.pop_front();
    while (d.history.size() > 4096)
        d.history.pop_front();
    auto const covered_by_all = [&applied](gtid_position const& p) {
        for (auto const& a : applied)
            if (!gtid_covers(a, p))
                return false;
        return true;
    };
    while (primary_seen && d.gtid_history.size() > 1 && covered_by_all(d.gtid_history[1].second))
        d.gtid_history.pop_front();
    while (d.gtid_history.size() > 4096)
        d.gtid_history.pop_front();
}

} // namespace detail
} // namespace soci_routing
