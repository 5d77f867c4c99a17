// soci-routing: configuration.
//
// Turns text (a TOML file, an inline `routing://` connect string, the environment) into plain value types,
// and validates them. No other part reads TOML or the environment.

#ifndef SOCI_ROUTING_CONFIG_H_INCLUDED
#define SOCI_ROUTING_CONFIG_H_INCLUDED

#include <soci/soci-backend.h>

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace soci_routing
{

/// The SOCI backend an endpoint is reached through.
enum class driver { postgresql, mysql };
/// How reads are spread over healthy replicas.
enum class balance_policy { round_robin, random, least_connections };
/// Where the roles of the nodes come from: the configuration (`static`), or a prober that asks each node
/// (`discover`): the configured roles are then a starting guess, and a promoted replica becomes the primary.
enum class topology_mode { static_roles, discover };
/// How a scope's reads see its own writes: for `sticky` seconds after each write they go to the primary
/// (`window`), or they go to a replica that has replayed the write's position (`causal`: PostgreSQL WAL LSN,
/// MariaDB GTID), waiting up to `causal_timeout` for one, else to the primary.
enum class consistency_mode { window, causal };

char const* to_string(driver d) noexcept;          ///< "postgresql" / "mysql"
char const* to_string(balance_policy b) noexcept;  ///< "round_robin" / "random" / "least_connections"
char const* to_string(topology_mode t) noexcept;   ///< "static" / "discover"
char const* to_string(consistency_mode c) noexcept;  ///< "window" / "causal"

/// Connection limits of one endpoint's pool.
struct pool_config
{
    int min = 0;                  ///< connections opened eagerly and kept
    int max = 10;                 ///< hard cap
    double wait_timeout = 5.0;    ///< seconds to wait for a free connection
    double idle_timeout = 300.0;  ///< seconds before an idle connection above `min` is closed
    /// Seconds a connection may sit idle before a borrower checks it with a round trip (a server restart,
    /// `idle_session_timeout` or a load balancer may have closed it); 0 checks at every borrow.
    double idle_check = 1.0;
};

/// One database server: the primary or a replica.
struct endpoint_config
{
    std::string name;                            ///< "primary", "replica-1", ...
    driver drv = driver::postgresql;
    std::string host = "127.0.0.1";
    int port = 0;                                ///< 0: the driver's default (5432, 3306)
    std::string database;
    std::string username;
    std::string password;
    double timeout = 5.0;                        ///< connect timeout, seconds
    std::map<std::string, std::string> options;  ///< driver-specific extras (sslmode, sslca, ...)
    pool_config pool;
    int statements = 128;                        ///< server-side prepared statements cached per connection; 0: off
    double weight = 1.0;                         ///< share of reads (replicas)

    /// The port actually used: `port`, or the driver's default.
    int effective_port() const noexcept;
    /// `host:port`.
    std::string address() const;
    /// The connect string SOCI's backend takes (PostgreSQL conninfo: `host port dbname user password
    /// connect_timeout`; SOCI 4.0.3 mysql: `host port db user password connect_timeout`; then `options`),
    /// values quoted as libpq and SOCI read them. Password included: never display it, pass it through
    /// redact() first.
    std::string connect_string() const;
    /// `replica "replica-2" (10.0.0.3:5433, db app, user app)`: safe for errors and logs.
    std::string describe(bool is_primary) const;
};

/// The `[routing]` section.
struct routing_options
{
    double sticky = 5.0;           ///< seconds of read-after-write stickiness per scope; 0 turns it off
    bool fallback = true;          ///< a failed or missing replica read falls back to the primary once
    balance_policy balance = balance_policy::round_robin;
    double max_lag = 0.0;          ///< seconds of replication lag above which a replica is skipped; 0: off
    std::string env_prefix;        ///< enables `PREFIX_HOST`, `PREFIX_REPLICA_1_HOST`, ... overrides
    int failures = 3;              ///< consecutive health failures before a replica is quarantined
    double retry_window = 0.5;     ///< seconds between recovery probes of a quarantined replica (jittered,
                                   ///< doubled while it stays down)
    double retry_window_max = 1.0; ///< cap of that interval, seconds
    double lag_probe_interval = 1.0; ///< seconds between replication-lag probes (with max_lag)
    /// Seconds a replica may take to answer a read before the read goes to the primary (and the replica's
    /// health pays); 0: no limit.
    double read_timeout = 0.0;
    topology_mode topology = topology_mode::static_roles;
    /// Seconds between role probes of every node (topology = "discover"); a refused write or a lost primary
    /// connection probes at once.
    double role_probe_interval = 1.0;
    /// Read-your-writes by time window (`sticky`) or by replicated position.
    consistency_mode consistency = consistency_mode::window;
    /// Causal mode: seconds a read may wait for a replica to replay the scope's position before it goes to the
    /// primary; 0: never waits (a replica already known to have it, else the primary).
    double causal_timeout = 0.05;
    /// Seconds a cluster (its pools, idle connections and probes) outlives its last routing session, so that
    /// the next session of the same configuration finds it warm; 0: closed with the last session.
    double linger = 1.0;
    /// Seconds a session keeps reading from the replica `balance` gave it before it asks `balance` again
    /// (sooner when that replica stops taking reads); 0: every read is balanced on its own.
    double rebalance = 1.0;
};

/// The `[classifier]` section.
struct classifier_config
{
    std::vector<std::string> primary_functions;  ///< extra side-effect functions, lower case
};

/// A whole routed cluster: one primary, any number of replicas.
struct cluster_config
{
    routing_options routing;
    endpoint_config primary;
    std::vector<endpoint_config> replicas;
    classifier_config classifier;
    std::string source;  ///< where it came from (a file name, or "connect string"), for messages

    /// A canonical text that identifies the resolved configuration (pool registry key). Contains secrets.
    std::string identity() const;
};

/// One problem found in a configuration: `FILE:LINE:COL: KEY: message`.
/// Keys name values as in TOML, replicas indexed from 0 (`replicas[1].port` is the second `[[replicas]]`,
/// named "replica-2" by default). A connect string is one line: `connect string:1:POS: ...`; an environment
/// override is `environment (DB_PORT): DB_PORT: ...`.
struct config_problem
{
    std::string source;   ///< file name or "connect string"
    int line = 0;         ///< 1-based; 0 when unknown
    int column = 0;       ///< 1-based; 0 when unknown (for connect strings: the character position)
    std::string key;      ///< "replicas[1].port"
    std::string message;  ///< "expected an integer 1..65535, got \"abc\""
    std::string to_string() const;
};

/// Every problem of a configuration; what() lists them one per line. Never contains a password.
class config_error : public soci::soci_error
{
public:
    explicit config_error(std::vector<config_problem> problems);
    std::vector<config_problem> const& problems() const noexcept { return problems_; }

private:
    std::vector<config_problem> problems_;
};

/// Loads and validates a TOML file. Throws config_error.
cluster_config load_file(std::string const& path);
/// Loads and validates TOML text; `source_name` names it in messages. Throws config_error.
cluster_config load_toml(std::string_view text, std::string const& source_name);
/// Loads and validates the part of a connect string after `routing://` (a leading `routing://` is accepted
/// too): `config=FILE [overrides]` or `primary='...' replica='...' sticky=5 ...`. Precedence, lowest first:
/// defaults, the file, the inline keys, the environment (with `env_prefix`); inline `replica=` entries replace
/// the file's replicas. A relative FILE is relative to the working directory. Throws config_error.
cluster_config load_connect_string(std::string_view connect_string);
/// Loads a SOURCE given to the CLI: a `routing://...` string, or a file name.
cluster_config load_source(std::string const& source);

/// A warning for a SOURCE (a TOML file, or `routing://config=FILE ...`) whose file holds a password in clear
/// and can be read by users other than its owner (group or world readable); empty when there is nothing to
/// say. Never an error: containers often run as root with a file mounted world-readable.
std::string password_file_warning(std::string const& source);

/// Checks invariants; returns every problem found (empty when valid).
std::vector<config_problem> validate(cluster_config const& config);

/// Replaces every password in a connect string, URL or message with `***`. All display of connection
/// data goes through this function.
std::string redact(std::string_view text);

/// The resolved configuration as TOML / JSON, passwords as `***`, with each endpoint's connect string.
std::string to_toml(cluster_config const& config);
std::string to_json(cluster_config const& config);

} // namespace soci_routing

#endif // SOCI_ROUTING_CONFIG_H_INCLUDED
