// soci-routing: connection pools, health and the cluster registry.
//
// One pool per endpoint; every connection is a full soci::session of SOCI's postgresql or mysql backend.
// Pools hand out leases, track health (quarantine, lag) and count. A cluster (one primary pool and its replica
// pools) is shared by every routing session of the same resolved configuration in the process.

#ifndef SOCI_ROUTING_POOLS_H_INCLUDED
#define SOCI_ROUTING_POOLS_H_INCLUDED

#include "causal.h"
#include "classifier.h"
#include "config.h"
#include "fork.h"
#include "watchdog.h"

#include <soci/routing/soci-routing.h>
#include <soci/soci.h>

#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <string>

namespace soci_routing
{

enum class endpoint_role { primary, replica };

/// How an error raised on an endpoint counts (the failure policy of DESIGN.md).
enum class failure_class
{
    connection,  ///< connect, handshake, broken connection: retry on the primary once, counts against health
    transient,   ///< timeout, hot-standby conflict, read-only refusal: retry on the primary once, no health cost
    statement    ///< an error the primary would give too (syntax, constraint, ...): rethrow
};

/// "connection", "transient" or "statement".
char const* to_string(failure_class f) noexcept;

/// Classifies an exception thrown by SOCI's postgresql or mysql backend (or by a connect).
/// `inner` is the session the error came from, when known (its connection status is consulted).
failure_class classify_failure(std::exception const& e, driver d, soci::session* inner = nullptr) noexcept;

/// True for a connect that failed in this process, before it reached the server: no socket to be had (the
/// process or the system out of file descriptors: EMFILE, ENFILE), no memory. PostgreSQL: libpq's "could not
/// create socket" and "out of memory"; MySQL: 2001, 2004 (cannot create a socket), 2008 (out of memory). It says
/// nothing of the server's health.
bool local_connect_failure(std::exception const& e, driver d) noexcept;

class endpoint_pool;

/// True for a write the server refused because it is read-only (PostgreSQL 25006; MySQL 1290, 1792): a
/// standby, or a primary that was demoted.
bool refused_as_read_only(std::exception const& e, driver d) noexcept;

/// What a borrower did to a connection's server session that the next borrower must not see. The pool resets
/// a connection given back with any of these (and rolls back an open transaction, which it sees for itself).
enum lease_dirt : unsigned
{
    dirt_none = 0,
    /// Session state: SET, temporary tables, session locks, LISTEN, cursors, user variables, ... (PostgreSQL:
    /// reset by RESET ALL, CLOSE ALL, UNLISTEN *, pg_advisory_unlock_all(), DISCARD TEMP / SEQUENCES, which
    /// keep the connection's prepared statements; MySQL: mysql_reset_connection()).
    dirt_session = 1u << 0,
    /// SQL-level PREPARE / DEALLOCATE: PostgreSQL needs DISCARD ALL, which drops every prepared statement
    /// (the statement cache too).
    dirt_prepared = 1u << 1,
    /// Only settings the borrower replayed (SET ..., USE db), described by its lease's carried() tag. The pool
    /// keeps them while the connection waits for the same borrower (acquire()'s affinity), which then needs
    /// no replay; any other borrower gets the connection reset first, as for dirt_session.
    dirt_settings = 1u << 2,
};

/// The server's view of a connection's transaction: PostgreSQL's PQtransactionStatus, MySQL's server status
/// flags. Reads the client library's state: no round trip.
enum class server_transaction { idle, open, unknown };

/// The transaction state the server last reported for `sql` (a session of SOCI's postgresql or mysql backend).
server_transaction transaction_status(soci::session& sql, driver d) noexcept;
/// MySQL only: an error packet carries no status, so after an error the flags may be stale; a ping brings
/// them up to date (one round trip). false when the connection is gone.
bool refresh_transaction_status(soci::session& sql, driver d) noexcept;
/// Marks the connection's socket close-on-exec: a program the process starts (popen(), system(), exec) must
/// not hold an authenticated socket to the database, nor keep the server's side of it open once its owner is
/// gone. libpq does so itself; MariaDB Connector/C does not. Called after every connect and reconnect.
void keep_from_programs(soci::session& sql, driver d) noexcept;
/// MySQL: the AUTO_INCREMENT value of the last statement on `sql` (mysql_insert_id; client-side). 0 otherwise.
long long last_insert_id(soci::session& sql, driver d) noexcept;

/// A borrowed connection. Returns it to its pool when destroyed.
class lease
{
public:
    lease() noexcept = default;
    lease(endpoint_pool* pool, soci::session* sql, std::shared_ptr<void> attachment = nullptr,
          void const* affinity = nullptr, unsigned dirt = dirt_none, std::uint64_t carried = 0) noexcept
        : pool_(pool), sql_(sql), dirt_(dirt), carried_(carried), affinity_(affinity),
          attachment_(std::move(attachment))
    {
    }
    lease(lease&& other) noexcept;
    lease& operator=(lease&& other) noexcept;
    lease(lease const&) = delete;
    lease& operator=(lease const&) = delete;
    ~lease();

    explicit operator bool() const noexcept { return sql_ != nullptr; }
    soci::session& session() const noexcept { return *sql_; }
    endpoint_pool& pool() const noexcept { return *pool_; }
    /// The connection is broken: close it rather than give it back.
    void discard() noexcept { discard_ = true; }
    /// The borrower changed the server session (lease_dirt): the pool resets it when it comes back.
    void mark_dirty(unsigned what) noexcept { dirt_ |= what; }
    unsigned dirt() const noexcept { return dirt_; }
    /// What the borrower keeps with this connection (the backend: its statement cache). It stays with the
    /// connection while the connection is idle in the pool, comes back with the next lease of the same
    /// connection, and is destroyed with the connection (closed, discarded, quarantined).
    std::shared_ptr<void>& attachment() noexcept { return attachment_; }
    /// The borrower's tag for the settings this connection carries (dirt_settings): 0 for a clean connection.
    /// Kept with the connection while it waits in the pool for the same borrower; any other borrower gets the
    /// connection reset, with 0.
    std::uint64_t carried() const noexcept { return carried_; }
    void set_carried(std::uint64_t tag) noexcept { carried_ = tag; }
    /// Gives the connection back now (or closes it after discard()).
    void release() noexcept;

private:
    endpoint_pool* pool_ = nullptr;
    soci::session* sql_ = nullptr;
    bool discard_ = false;
    unsigned dirt_ = dirt_none;
    std::uint64_t carried_ = 0;
    void const* affinity_ = nullptr;
    std::shared_ptr<void> attachment_;
};

/// The connections of one endpoint, with its health and counters. Thread-safe.
class endpoint_pool
{
public:
    /// `watchdog` (the cluster's; may be null: no deadlines) cuts statements that run past their deadline.
    endpoint_pool(endpoint_config config, endpoint_role role, routing_options const& routing,
                  socket_watchdog* watchdog = nullptr);
    ~endpoint_pool();
    endpoint_pool(endpoint_pool const&) = delete;
    endpoint_pool& operator=(endpoint_pool const&) = delete;

    endpoint_config const& config() const noexcept;
    endpoint_role role() const noexcept;
    /// Topology discovery: the role the prober found (`fenced`: a writable node that must take neither reads
    /// nor writes), with what it saw (`note`, for stats and messages). A change drops the idle connections
    /// and is counted. Returns true when the role or fencing changed.
    bool set_role(endpoint_role role, bool fenced, std::string const& note) noexcept;
    /// What the last role probe found ("writable", "in recovery", the error, ...); empty with static roles.
    std::string role_note() const;
    /// A role probe this process could not make (local_connect_failure): its reason becomes the note; the role
    /// and the health stay as they were.
    void note_role_probe(std::string const& note) noexcept;
    /// Topology discovery found this replica unreachable: it takes no reads until a recovery probe succeeds.
    void mark_down(std::string const& message) noexcept;
    std::string const& name() const noexcept;
    /// `primary "primary" (127.0.0.1:5432, db app, user app)`: for messages, never with a password.
    std::string describe() const;

    /// Borrows an open connection, opening a new one while below `max`; waits up to `wait` for one to be
    /// given back. A pool made by the parent of this process (fork.h) lends nothing: it throws saying so (and
    /// give_back() abandons what comes back to it, closing nothing of the parent's). Returns an empty lease when the wait runs out. A failed connect throws the driver's
    /// soci_error with the endpoint described (and records a connection failure).
    ///
    /// `affinity` (any address that stands for the borrower, e.g. its session): among the idle connections,
    /// the one this borrower gave back last is preferred, so that a session that borrows for every statement
    /// keeps meeting the same connection (its prepared statements, its caches, its socket on the same CPU).
    /// Idle connections still serve anyone: affinity never makes a borrower wait or open a connection.
    lease acquire(std::chrono::milliseconds wait, void const* affinity = nullptr);
    /// acquire() with the pool's own wait_timeout.
    lease acquire(void const* affinity = nullptr);
    /// The error text for an exhausted pool: names the endpoint, the wait and the `max` limit
    /// (for the primary, where there is nowhere else to go).
    std::string exhausted_message() const;
    std::string exhausted_message(std::chrono::milliseconds waited) const;

    /// True when new reads may be sent here: not quarantined, not lagging beyond max_lag. Always true for
    /// the primary.
    bool usable();
    /// Connections currently lent out (for least_connections).
    int in_use() const noexcept;

    /// Watches a read on `sql` (a connection of this pool) for `routing.read_timeout`: past it, the
    /// connection is cut and the read fails as a lost connection. An empty watch on the primary (a statement
    /// there may write: cutting it would leave its outcome unknown) and when read_timeout is 0.
    socket_watchdog::watch watch_read(soci::session& sql);
    /// The message of a read that watch_read() cut.
    std::string read_timeout_message() const;

    void record_success() noexcept;
    void record_failure(failure_class what, std::string const& message) noexcept;  ///< message: redacted
    void record_routed(reason why) noexcept;
    void record_fallback() noexcept;
    /// A connection of this endpoint was brought to a routing session's settings (replayed SETs).
    void record_replay() noexcept;
    /// The server refused a replayed setting (`message`: redacted); no health failure of the endpoint.
    void record_replay_failure(std::string const& message) noexcept;
    /// A statement was placed on a connection of this endpoint (`moved`: it had been placed elsewhere before):
    /// the time to get the connection, to prepare it there, and to replay its bindings.
    void record_placement(bool moved, std::chrono::steady_clock::duration lease,
                          std::chrono::steady_clock::duration prepare,
                          std::chrono::steady_clock::duration replay) noexcept;

    soci::routing_endpoint_stats stats() const;

    /// Called by lease. A connection comes back clean or is closed: an open transaction is rolled back, a
    /// dirty session reset (`dirt`); a connection whose clean-up fails is closed, never reused.
    /// Only dirt_settings, from a borrower with an affinity: kept (with `carried`) for that borrower instead.
    void give_back(soci::session* sql, bool discard, unsigned dirt, std::shared_ptr<void> attachment,
                   void const* affinity, std::uint64_t carried = 0) noexcept;
    /// The borrower `affinity` is gone (a routing session closed): its idle connections serve anyone first.
    void forget_affinity(void const* affinity) noexcept;

    /// Housekeeping (the cluster's background thread calls it): closes connections idle for longer than
    /// `idle_timeout` above `min`, and opens connections up to `min` while the endpoint is healthy.
    void maintain();
    /// Housekeeping: when this replica is quarantined and its next recovery probe is due, starts the probe
    /// on a thread of its own (a fresh connection and one round trip, each within the connect timeout). A
    /// probe that succeeds ends the quarantine at once and leaves its connection in the pool; one that fails
    /// schedules the next after `retry_window`, doubling up to `retry_window_max` (not for a server that is
    /// starting up or shutting down). Application reads never probe. A thread the process refuses to start leaves
    /// the probe due at the next round.
    void start_recovery();
    /// Records the replication lag measured by a probe (seconds, -1 when unknown) and whether it makes
    /// the replica unusable.
    void set_lag(double seconds, bool lagging) noexcept;

    /// Causal consistency: this replica is known to have replayed `p` (a probe, or a wait, saw it). Merged:
    /// what a replica has replayed never goes back (a role change forgets it).
    void note_replayed(causal_position const& p) noexcept;
    /// True when this replica is known to have replayed `required` (no round trip).
    bool has_replayed(causal_position const& required) const noexcept;
    /// Counts a read of a scope with a causal position served here (`waited`: after a wait of `seconds`).
    void record_causal_read(bool waited, double seconds) noexcept;
    /// Counts a wait here that ran out (`seconds` long): the read went elsewhere.
    void record_causal_timeout(double seconds) noexcept;
    /// Counts, on the primary, a read sent there because no replica had the scope's position.
    void record_causal_primary() noexcept;

private:
    friend class cluster;
    bool recovery_due() noexcept;
    void recover() noexcept;
    struct impl;
    std::unique_ptr<impl> impl_;
};

/// One primary pool and its replica pools, built from one resolved configuration.
class cluster
{
public:
    /// The cluster of this configuration, shared by every routing session of the process that resolved
    /// to the same configuration (a registry keyed by cluster_config::identity()).
    static std::shared_ptr<cluster> obtain(cluster_config const& config);
    /// A routing session is done with `c`: the cluster (its pools and their idle connections, its probes) is
    /// kept `[routing] linger` seconds more, so that the next session of the same configuration finds it warm,
    /// then let go (closed unless another session holds it). The process's exit (or the plugin's unload)
    /// closes kept clusters at once.
    static void linger(std::shared_ptr<cluster> const& c) noexcept;

    explicit cluster(cluster_config config);
    /// An inherited cluster (fork.h) is abandoned, not closed: its connections and threads are the parent's.
    ~cluster();
    cluster(cluster const&) = delete;
    cluster& operator=(cluster const&) = delete;

    cluster_config const& config() const noexcept;
    /// Made by the parent of this process (fork.h): its sessions may not run here.
    bool inherited() const noexcept { return generation_ != process_generation(); }
    /// The message for a session of this cluster used in a child process (inherited()).
    std::string inherited_message() const;
    /// A number no other cluster of this process has had or will have (1, 2, ...). A cluster's configuration
    /// never changes, so the number names it: caches keyed by configuration (the classifier options in
    /// backend's text cache) use it, and every session of the configuration shares their entries.
    std::uint64_t serial() const noexcept;
    /// The node writes go to (writable()), or the configured primary while none is known.
    endpoint_pool& primary() noexcept;
    endpoint_pool const& primary() const noexcept;
    /// The nodes reads may go to, by index (the `exclude` bits of pick_replica): the configured replicas with
    /// topology = "static"; every node with "discover" (the primary among them, which pick_replica skips
    /// while it is the primary).
    std::size_t replica_count() const noexcept;
    endpoint_pool& replica(std::size_t i) noexcept;
    endpoint_pool const& replica(std::size_t i) const noexcept;
    /// Every node, the configured primary first, then the configured replicas.
    std::size_t node_count() const noexcept;
    endpoint_pool& node(std::size_t i) noexcept;
    endpoint_pool const& node(std::size_t i) const noexcept;

    /// Picks a usable replica by the balancing policy and weights, skipping replica i when bit i of
    /// `exclude` is set. nullptr when none is usable.
    endpoint_pool* pick_replica(std::uint64_t exclude = 0);

    /// True with topology = "discover".
    bool discovering() const noexcept;
    /// The node writes go to now: with topology = "static" the configured primary; with "discover" the one
    /// writable node the role prober found, nullptr while there is none (no writable node, split brain).
    endpoint_pool* writable() noexcept;
    /// discover: probe every node now (a write was refused as read-only, the primary's connection failed).
    void suspect_primary() noexcept;
    /// discover: probes every node now and waits up to `wait` for a round that finds a primary; returns it, or
    /// nullptr when the wait ran out. static: the configured primary.
    endpoint_pool* await_primary(std::chrono::milliseconds wait);
    /// Causal consistency: true when `required` belongs to the primary's history as last seen (its position as
    /// last read, and the GTIDs it reported since: timeline, the servers of its GTIDs), not to one of before a
    /// promotion (same_history()). False while nothing was seen.
    bool of_primary_history(causal_position const& required) const;
    /// Records the primary's position just read (read_primary_position()).
    void note_primary_position(causal_position const& p);
    /// Merges a position the primary just reported for a commit (MariaDB's tracked GTID) into its history.
    void advance_primary_history(causal_position const& p);
    /// Why there is no primary now (every node and its last known state); empty when there is one.
    std::string no_primary_message() const;
    /// discover: a node answered the last role probe.
    bool any_node_reachable() const;

    soci::routing_stats stats() const;
    /// Connects to every endpoint (fresh connections, not the pools'), checks roles, latency and lag.
    soci::routing_check check() const;

private:
    std::uint32_t const generation_ = process_generation();
    long const pid_;
    struct impl;
    std::unique_ptr<impl> impl_;
};

/// cluster::check() without a cluster: connects to every endpoint of `config` with fresh connections
/// (each with its own connect timeout), checks roles, latency and lag. Never throws for an endpoint's
/// failure: it is reported in that endpoint's entry.
soci::routing_check check_cluster(cluster_config const& config);

} // namespace soci_routing

#endif // SOCI_ROUTING_POOLS_H_INCLUDED
