// soci-routing: helpers shared by the files of pools/ (not installed, not used outside this folder).

#ifndef SOCI_ROUTING_POOLS_DETAIL_H_INCLUDED
#define SOCI_ROUTING_POOLS_DETAIL_H_INCLUDED

#include "config.h"
#include "pools.h"

#include <soci/soci.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace soci_routing
{
namespace detail
{

/// A connect that succeeded at the driver's level but gave a connection weaker than configured: a connection
/// failure of the endpoint.
class connect_refused_error : public soci::soci_error
{
public:
    explicit connect_refused_error(std::string const& message) : soci::soci_error(message) {}
    error_category get_error_category() const override { return connection_error; }
};

/// Opens a new connection to `endpoint` through SOCI's postgresql or mysql backend. Throws what the driver
/// throws; MySQL: connect_refused_error when `sslca` is set and the connection is not encrypted.
std::unique_ptr<soci::session> open_session(endpoint_config const& endpoint);

/// MySQL: true when the connection of `sql` is encrypted (Connector/C reports a TLS cipher).
bool mysql_encrypted(soci::session& sql) noexcept;

/// True when the server answers on `sql` (one round trip: the empty query, or COM_PING) and no transaction
/// is open. For connections that sat idle: a false is no health failure of the endpoint, only a dead socket.
bool connection_alive(soci::session& sql, driver d) noexcept;

/// What make_clean() did.
enum class clean_result
{
    clean,      ///< nothing to do
    reset,      ///< a transaction rolled back or session state reset; prepared statements kept
    reset_all,  ///< everything reset, the connection's prepared statements too (its statement cache is stale)
    failed      ///< the connection cannot be made clean: close it
};

/// Makes a connection given back clean for the next borrower: rolls back an open transaction, resets the
/// session state `dirt` (lease_dirt) says was changed, and (MySQL) goes back to `database` after a USE. Round
/// trips only when there is something to undo.
/// `track_gtid` (MariaDB, consistency = "causal"): a reset connection is asked to report `last_gtid` again.
clean_result make_clean(soci::session& sql, driver d, unsigned dirt, std::string const& database,
                        bool track_gtid = false) noexcept;

/// True for the errors of a server that is starting up or shutting down (PostgreSQL 57P01, 57P03 and their
/// connect-time messages; MySQL 1053): it is on its way, up or down, and worth asking again soon.
bool server_in_transition(std::exception const& e, driver d) noexcept;

/// A redacted, single-line version of an error message (for stats, check reports and logs).
std::string one_line(std::string const& message);

/// A MariaDB GTID position (`@@gtid_binlog_pos`, `@@gtid_slave_pos`: `0-1-14,1-2-7`) as the highest sequence
/// number of each replication domain. Within a domain sequence numbers only grow, whichever server wrote them.
using gtid_position = std::map<std::uint32_t, std::uint64_t>;

/// Parses a MariaDB GTID position; the empty text is the empty position. nullopt for anything else (MySQL's
/// `uuid:1-5` sets, say).
std::optional<gtid_position> parse_gtid_position(std::string const& text);

/// True when `replica` has applied every transaction `primary` names: each domain of `primary` is in
/// `replica` at a sequence number at least as high.
bool gtid_covers(gtid_position const& replica, gtid_position const& primary);

/// The replication state of a replica as one probe saw it.
struct replica_position
{
    bool in_recovery = false;      ///< PostgreSQL: pg_is_in_recovery(); MySQL: replica status present
    bool caught_up = false;        ///< has replayed everything the primary had when it was asked
    double lag_seconds = -1;       ///< -1 when unknown
    bool replicating = true;       ///< MySQL: replication configured, IO and SQL threads both running
    std::optional<gtid_position> gtid;  ///< MariaDB: the replica's @@gtid_slave_pos, when readable
    std::string note;              ///< why the lag is unknown, that replay is paused, that replication stopped
};

/// PostgreSQL: the primary's current WAL position, in bytes from 0/0. Throws on error.
long long pg_primary_lsn(soci::session& sql);
/// PostgreSQL: a standby's replay state against `primary_lsn` (-1: unknown). `lag_seconds` is the time since
/// the last replayed transaction when behind; callers with a history of primary positions refine it.
/// Also returns the replay position in `replay_lsn` (-1 when not in recovery).
replica_position pg_replica_position(soci::session& sql, long long primary_lsn, long long& replay_lsn);

/// MariaDB: the primary's GTID position (@@gtid_binlog_pos: what its replicas fetch); nullopt where the
/// server has none (MySQL proper). Throws on a connection error.
std::optional<gtid_position> mysql_primary_gtid(soci::session& sql);
/// MySQL/MariaDB: a replica's state from SHOW SLAVE STATUS and @@gtid_slave_pos, compared with `primary`
/// when given. When not caught up, `lag_seconds` is Seconds_Behind_Master (-1 while it is NULL); callers
/// with a history of primary positions refine it.
replica_position mysql_replica_position(soci::session& sql, gtid_position const* primary);

/// Measures the replication lag of a cluster's replicas with its own connections (not the pools'), and
/// tells each replica pool. Used by one thread at a time (the cluster's housekeeping thread).
class lag_prober
{
public:
    /// Its queries get as long as a connect to the endpoint (`timeout`); `watchdog` cuts them after that.
    lag_prober(cluster_config const& config, socket_watchdog& watchdog);
    ~lag_prober();
    lag_prober(lag_prober const&) = delete;
    lag_prober& operator=(lag_prober const&) = delete;

    /// One round: the primary's position (nullptr: none is known), then each replica's.
    void run(endpoint_pool* primary, std::vector<endpoint_pool*> const& replicas);

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

/// What one role probe saw of a node (topology = "discover").
struct node_observation
{
    bool reachable = false;
    /// The probe's connection failed in this process (out of file descriptors or memory: local_connect_failure):
    /// it says nothing of the node, whose role and health stay as the last probe that reached it found them.
    bool unprobed = false;
    bool writable = false;     ///< takes writes: PostgreSQL not in recovery; MySQL read_only off, not replicating
    long long timeline = -1;   ///< PostgreSQL, writable nodes: the current timeline; -1 when unknown
    std::string system_id;     ///< PostgreSQL: pg_control_system()'s system identifier; empty when unknown
    std::string note;          ///< what the probe found, or the error (redacted, one line)
};

/// MySQL's @@global.super_read_only; 0 on MariaDB, which has no such variable. Throws on a connection error.
int mysql_super_read_only(soci::session& sql);

/// Asks a node its role (one round trip on PostgreSQL, three on MySQL). Throws on a connection error.
node_observation probe_role(soci::session& sql, driver d);

/// Which node is the primary, given what every node said.
struct topology_decision
{
    int primary = -1;          ///< the index of the one writable node; -1 when there is none (or two)
    std::vector<bool> fenced;  ///< nodes that take neither reads nor writes
    std::string problem;       ///< why there is no primary, naming every node and its state
};

/// Exactly one writable node is the primary. Two or more (split brain): on PostgreSQL the one on the newest
/// timeline wins when every writable node's timeline and system identifier is known and one timeline is
/// newest, and the others are fenced; otherwise (and always on MySQL) there is no primary. A PostgreSQL node
/// whose system identifier is not the cluster's (`system_id`: the first one seen, set here) is fenced.
/// `descriptions` name the nodes in `problem`.
topology_decision decide_topology(std::vector<node_observation> const& nodes, driver d, std::string& system_id,
                                  std::vector<std::string> const& descriptions);

/// Milliseconds since the Unix epoch of a steady_clock time point (for quarantined_until_ms).
std::int64_t to_unix_ms(std::chrono::steady_clock::time_point t);

} // namespace detail
} // namespace soci_routing

#endif // SOCI_ROUTING_POOLS_DETAIL_H_INCLUDED
