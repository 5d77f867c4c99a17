// soci-routing: the public header.
//
//   soci::session sql("routing://config=/etc/app/db.toml");
//   soci::session sql(soci::routing, "config=/etc/app/db.toml");
//
// Plain reads go to a healthy replica; writes, locking reads, transactions and anything uncertain go to the
// primary. Everything below the factory is optional API: scopes, forcing the primary, stats and checks.

#ifndef SOCI_ROUTING_H_INCLUDED
#define SOCI_ROUTING_H_INCLUDED

// The version of soci-routing these headers belong to. CMake's project() version is the source: configuring
// fails when these lines disagree with it.
#define SOCI_ROUTING_VERSION_MAJOR 0
#define SOCI_ROUTING_VERSION_MINOR 1
#define SOCI_ROUTING_VERSION_PATCH 0
#define SOCI_ROUTING_VERSION_STRING "0.1.0"

#include <soci/soci-backend.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#define SOCI_ROUTING_DECL __attribute__((visibility("default")))

namespace soci_routing
{
struct scope_access;
}

namespace soci
{

class session;

/// Where read-after-write state lives. By default each routing session is its own scope; share one
/// object between sessions (and threads) serving one request so that a write made through one session is
/// seen by the reads of all of them: they stay on the primary for the `sticky` window (consistency =
/// "window"), or go to replicas that have replayed the write (consistency = "causal"). Thread-safe.
class SOCI_ROUTING_DECL routing_scope
{
public:
    routing_scope();
    ~routing_scope();
    routing_scope(routing_scope const&) = delete;
    routing_scope& operator=(routing_scope const&) = delete;

    /// Records that a write happened now.
    void note_write() noexcept;
    /// True while `sticky` seconds have not passed since the last write.
    bool within_window(std::chrono::steady_clock::duration sticky) const noexcept;
    /// Forgets the last write (and the causal positions).
    void reset() noexcept;

private:
    friend struct soci_routing::scope_access;
    struct impl;
    std::unique_ptr<impl> impl_;
};

/// Counters and state of one endpoint.
struct SOCI_ROUTING_DECL routing_endpoint_stats
{
    std::string name;            ///< "primary", "replica-1", ...
    std::string role;            ///< "primary", "replica" or (topology = "discover") "fenced"
    std::string address;         ///< host:port
    std::string state;           ///< "up", "quarantined", "lagging", "down"
    std::int64_t quarantined_until_ms = 0;  ///< Unix time in ms; 0 when not quarantined
    double lag_seconds = -1;     ///< last measured replication lag; -1 when unknown
    int connections_open = 0;
    int connections_in_use = 0;
    int connections_idle = 0;
    int waiting = 0;             ///< threads waiting for a connection
    std::uint64_t statements = 0;                        ///< statements routed here
    std::map<std::string, std::uint64_t> by_reason;      ///< statements routed here, by reason
    std::uint64_t fallbacks = 0;  ///< replica reads retried on the primary (counted on the replica)
    std::uint64_t failures = 0;   ///< failed statements or connects
    std::uint64_t quarantines = 0;
    /// Idle connections found closed by the server (restart, idle timeout, kill) when lent, and replaced;
    /// never counted as failures.
    std::uint64_t connections_replaced = 0;
    /// Connections given back with server session state (an open transaction, settings, temporary tables,
    /// locks) that the pool rolled back or reset before lending them again.
    std::uint64_t connections_reset = 0;
    /// Connections brought to a routing session's settings (SET, USE, ...) before one of its statements ran.
    std::uint64_t settings_replays = 0;
    /// Replays that the server refused (the read went to another endpoint; the error is last_error).
    std::uint64_t settings_replay_failures = 0;
    /// consistency = "causal", on a replica: reads of a scope with a position that it served (known to have
    /// the position, or after a wait), the waits for the position, their total time, and the waits that ran
    /// out (the read went to another replica or the primary).
    std::uint64_t causal_reads = 0;
    std::uint64_t causal_waits = 0;
    double causal_wait_seconds = 0;
    std::uint64_t causal_wait_timeouts = 0;
    /// consistency = "causal", on the primary: reads sent here because no replica had the scope's position.
    std::uint64_t causal_primary = 0;
    /// Statements placed on a connection of this endpoint (each statement's first, and each move here from
    /// another endpoint or connection), and where their time went: getting the connection (a lease: an idle
    /// connection, or a wait, or a new connection; the session's settings brought to it), preparing the
    /// statement on it (the driver's prepare, the statement cache), and replaying its bindings.
    std::uint64_t placements = 0;
    std::uint64_t moves = 0;  ///< of the placements, statements that had been placed elsewhere before
    double placement_lease_seconds = 0;
    double placement_prepare_seconds = 0;
    double placement_replay_seconds = 0;
    /// New connections to this endpoint (for a borrower that found no idle one, or to keep `pool.min`; a
    /// recovery probe's connection is not counted) and the time they took to open.
    std::uint64_t connections_opened = 0;
    double connect_seconds = 0;
    std::string last_error;       ///< redacted
    /// Times the role of this endpoint changed (topology = "discover": promoted, demoted, fenced).
    std::uint64_t role_changes = 0;
    std::string role_note;        ///< what the last role probe found; empty with topology = "static"
};

/// Stats of a whole routed cluster.
struct SOCI_ROUTING_DECL routing_stats
{
    std::vector<routing_endpoint_stats> endpoints;  ///< the configured primary first, then the replicas

    std::string to_json() const;
    std::string to_prometheus() const;  ///< Prometheus text exposition format
};

/// Readiness of one endpoint, as `check` found it.
struct SOCI_ROUTING_DECL routing_endpoint_check
{
    std::string name;
    std::string role;            ///< configured role; with topology = "discover", the role found now
    std::string address;         ///< host:port
    bool reachable = false;
    bool role_ok = false;        ///< primary writable / replica in recovery (read-only) and, on MySQL, replicating
    bool read_only = false;      ///< the server refuses writes (in recovery, @@read_only, ...); false when unknown
    double latency_ms = -1;
    double lag_seconds = -1;     ///< replicas: replication lag; -1 when unknown
    std::string error;           ///< redacted; empty when fine
};

/// Readiness of a whole routed cluster.
struct SOCI_ROUTING_DECL routing_check
{
    std::vector<routing_endpoint_check> endpoints;  ///< primary first
    bool primary_ready = false;
    bool reads_servable = false;  ///< a replica is usable, or the primary with fallback
    bool ready() const noexcept { return primary_ready && reads_servable; }

    std::string to_text() const;
    std::string to_json() const;
};

/// Where a statement would go by its text alone, with no session state (no transaction, no read-after-write
/// window): what the classifier decided. For tests (soci/routing/testing.h) and tools.
struct SOCI_ROUTING_DECL routing_classification
{
    std::string target;  ///< "replica" or "primary"
    std::string reason;  ///< "select", "write", "locking_read", "transaction_control", ...
    std::string kind;    ///< "read", "write", "transaction_control", "session_state" or "unknown"
    bool is_write = false;
    bool begins_transaction = false;
    bool ends_transaction = false;
    bool pins_session = false;
};

class routing_use_primary;
class routing_use_replica;

/// The factory of the `routing` backend, with the optional API as members:
///
///   auto guard = soci::routing.use_primary(sql);   // this block reads from the primary
///   std::string where = soci::routing.last_endpoint(sql);
struct SOCI_ROUTING_DECL routing_backend_factory : backend_factory
{
    routing_backend_factory() {}
    details::session_backend* make_session(connection_parameters const& parameters) const override;

    /// True when `sql` is a routing session.
    bool is_routed(session& sql) const;
    /// The name of the endpoint that ran the session's last statement ("primary", "replica-1", ...);
    /// empty before the first statement. Throws soci_error when `sql` is not routed.
    std::string last_endpoint(session& sql) const;
    /// The reason of the last routing decision ("select", "write", "sticky", "transaction", ...).
    std::string last_reason(session& sql) const;
    /// Makes `sql` use `scope` for read-after-write state (nullptr: a fresh scope of its own).
    void set_scope(session& sql, std::shared_ptr<routing_scope> scope) const;
    std::shared_ptr<routing_scope> get_scope(session& sql) const;
    /// Every statement of `sql` goes to the primary while the guard lives.
    routing_use_primary use_primary(session& sql) const;
    /// Reads of `sql` may go to a replica while the guard lives, even inside the read-after-write window.
    /// Writes, locking reads, transactions and pinned sessions are not affected.
    routing_use_replica use_replica(session& sql) const;
    /// Stats of the cluster `sql` is routed over.
    routing_stats stats(session& sql) const;
    /// Connects to every endpoint of the cluster `sql` is routed over and checks its role.
    routing_check check(session& sql) const;
    /// The same, from a `routing://...` connect string or a TOML file, with no session.
    routing_check check(std::string const& source) const;
    /// Classifies `sql` as the plugin does ("postgresql" or "mysql" dialect); no server involved.
    routing_classification classify(std::string const& sql, std::string const& dialect = "postgresql") const;
    /// Begins a read-only transaction (`BEGIN READ ONLY`, MySQL `START TRANSACTION READ ONLY`): all its
    /// statements run on one replica connection (the primary when the session's reads must go there: pinned,
    /// use_primary, read-your-writes, no replica). End it with `sql.commit()` / `sql.rollback()` or COMMIT /
    /// ROLLBACK statements; routing_read_only_transaction is the RAII form.
    void begin_read_only(session& sql) const;

    /// consistency = "causal": the position of the writes of `sql`'s scope (and of the tokens it requires) as
    /// a short text, `pg:TIMELINE:LSN` or `mariadb:GTIDS`; "" when the scope has written nothing. Pass it to
    /// another process (a cookie, a queue message, a response header) and give it to require() there: that
    /// session's reads then see those writes. May ask the primary for its position (one round trip) when the
    /// scope wrote since it was last read. Throws soci_error when `sql` is not routed or the primary cannot
    /// be asked.
    std::string causal_token(session& sql) const;
    /// Makes the later reads of `sql`'s scope see at least the position of `token` (causal_token() of any
    /// session of a cluster with the same primary); "" requires nothing. A malformed token, or one of the
    /// other driver, throws soci_error. A token from before a promotion (another timeline, another server's
    /// GTIDs) is replaced at the next read by the new primary's position: reads see everything the new
    /// primary has. With consistency = "window" the token is kept but not used.
    void require(session& sql, std::string const& token) const;
};

/// The factory object, as `soci::postgresql` is for the postgresql backend.
extern SOCI_ROUTING_DECL routing_backend_factory const routing;

/// RAII: every statement of a session goes to the primary while this lives. Nests. Obtain it with
/// `auto guard = soci::routing.use_primary(sql);` or construct it directly. Throws soci_error when `sql` is
/// not a routing session.
class SOCI_ROUTING_DECL routing_use_primary
{
public:
    explicit routing_use_primary(session& sql);
    ~routing_use_primary();
    routing_use_primary(routing_use_primary const&) = delete;
    routing_use_primary& operator=(routing_use_primary const&) = delete;

private:
    session& sql_;
};

/// RAII: reads of a session may go to a replica while this lives, even inside the read-after-write
/// window. Nests. Has no effect on writes, locking reads, transactions or a pinned session.
class SOCI_ROUTING_DECL routing_use_replica
{
public:
    explicit routing_use_replica(session& sql);
    ~routing_use_replica();
    routing_use_replica(routing_use_replica const&) = delete;
    routing_use_replica& operator=(routing_use_replica const&) = delete;

private:
    session& sql_;
};

/// RAII, like soci::transaction, for a read-only transaction (routing_backend_factory::begin_read_only): rolled
/// back when it goes out of scope uncommitted.
class SOCI_ROUTING_DECL routing_read_only_transaction
{
public:
    explicit routing_read_only_transaction(session& sql);
    ~routing_read_only_transaction();
    routing_read_only_transaction(routing_read_only_transaction const&) = delete;
    routing_read_only_transaction& operator=(routing_read_only_transaction const&) = delete;

    void commit();
    void rollback();

private:
    session& sql_;
    bool active_ = true;
};

} // namespace soci

extern "C"
{
/// The plugin entry point SOCI's loader resolves.
SOCI_ROUTING_DECL soci::backend_factory const* factory_routing();
/// Registers the backend under the name "routing" (for applications that link the plugin).
SOCI_ROUTING_DECL void register_factory_routing();
}

#endif // SOCI_ROUTING_H_INCLUDED
