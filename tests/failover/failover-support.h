// soci-routing failover tests: what every test needs to talk to a real test cluster and to break it.
//
// One suite, two drivers: SOCI_ROUTING_TEST_DRIVER (unset or "postgresql", or "mysql") picks the cluster
// (ci/clusters: a PostgreSQL primary with two hot standbys, or a MariaDB primary with one read_only replica).
// The servers come from the environment `ci/clusters env` prints (SOCI_ROUTING_PG_PRIMARY, ..._REPLICA_1,
// ..._REPLICA_2 as libpq conninfo; SOCI_ROUTING_MYSQL_PRIMARY, ..._REPLICA_1 as SOCI mysql connect strings).
// Each test writes its own TOML configuration, made unique (a PostgreSQL application_name, a MariaDB
// classifier entry), so that it gets its own pools and counters (the plugin shares a cluster between sessions
// of equal configuration).

#ifndef SOCI_ROUTING_TESTS_FAILOVER_SUPPORT_H_INCLUDED
#define SOCI_ROUTING_TESTS_FAILOVER_SUPPORT_H_INCLUDED

#include <soci/routing/soci-routing.h>
#include <soci/soci.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace failover_test
{

using clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

/// One server of the test cluster, from its connect string.
struct server
{
    std::string connect_string;  ///< the driver's own syntax (libpq conninfo, or SOCI mysql `key=value`)
    std::string host;
    int port = 0;
    std::string database;
    std::string user;
    std::string password;
    std::string node;  ///< its name for `ci/clusters kill|stop-node|start-node` ("pg-replica-1", ...)
};

/// The test cluster of the driver under test, and what differs between the drivers.
struct test_cluster
{
    std::string driver;  ///< "postgresql" or "mysql": the TOML driver and SOCI's backend name
    server primary;
    std::vector<server> replicas;  ///< PostgreSQL: 2 hot standbys; MariaDB: 1 read_only replica
    std::string port_query;        ///< a read returning the port of the server that ran it
    std::string cluster_dir;       ///< ci/clusters' state directory (MariaDB root sockets)

    bool is_pg() const noexcept { return driver == "postgresql"; }
    bool is_mysql() const noexcept { return driver == "mysql"; }
    /// A read that sleeps `seconds` on the server, then returns its port.
    std::string sleeping_port_query(double seconds) const;
};

/// The cluster from the environment; throws std::runtime_error naming the missing variable.
test_cluster const& cluster();

/// A direct connection (SOCI's own backend, no routing) to one server.
std::unique_ptr<soci::session> direct(server const& s);
/// MariaDB only: root over the unix socket of a node ("mysql-primary", "mysql-replica-1"), for what `routing`
/// may not do (set a global variable, create a function with binary logging on).
std::unique_ptr<soci::session> mysql_root(server const& s);

/// A replica as a test configures it: a name and where it listens (a real replica or a tcp_proxy).
struct replica_spec
{
    replica_spec() = default;
    replica_spec(std::string n, int p, std::map<std::string, std::string> o = {}, std::optional<int> min = {})
        : name(std::move(n)), port(p), options(std::move(o)), pool_min(min)
    {
    }

    std::string name;
    int port = 0;
    std::map<std::string, std::string> options;  ///< driver options of this replica only
    std::optional<int> pool_min;                 ///< connections opened eagerly
};

/// The replicas of the default configuration: "replica-1" ... "replica-N", the real ones.
std::vector<replica_spec> real_replicas();

/// The settings a test chooses; everything unset keeps the plugin's default.
struct config_spec
{
    double sticky = 0.0;  ///< off: the tests check routing, not read-after-write
    bool fallback = true;
    std::optional<double> max_lag;
    std::optional<int> failures;
    std::optional<double> retry_window;
    std::optional<double> retry_window_max;
    std::optional<double> lag_probe_interval;
    std::optional<double> read_timeout;
    std::optional<std::string> topology;          ///< "static" or "discover"
    std::optional<double> role_probe_interval;
    std::optional<std::string> consistency;       ///< "window" or "causal"
    std::optional<double> causal_timeout;
    int primary_port = 0;      ///< 0: the real primary
    double timeout = 2.0;      ///< connect timeout of every endpoint (MariaDB: rounded up to whole seconds)
    std::optional<int> pool_max;
    std::optional<double> pool_wait_timeout;
    std::optional<std::vector<replica_spec>> replicas;  ///< unset: real_replicas()
    std::string tag;  ///< empty: a unique one (it makes the configuration unique)
};

/// A TOML basic string ("..." with `"` and `\` escaped), and an inline table of such strings.
std::string toml_string(std::string const& s);
std::string toml_inline_table(std::map<std::string, std::string> const& m);
/// The directory of this process's configuration files, removed when the process ends.
std::filesystem::path const& config_dir();

/// Writes `spec` as a TOML file in the test's temporary directory; returns its path.
std::string write_config(config_spec const& spec);
/// `routing://config=PATH`.
std::string routing_uri(std::string const& config_path);
/// The same spec as a configuration file and a session on it.
std::string routing_uri(config_spec const& spec);

/// The port of the server that ran the driver's port query through `sql` (the routed statement itself says
/// where it ran).
int read_port(soci::session& sql);
/// The port each endpoint name of the default configuration stands for ("primary" → the primary's, ...);
/// -1 for another name.
int port_of_endpoint(std::string const& name);

/// Finds an endpoint's stats by name; nullptr when absent.
soci::routing_endpoint_stats const* find(soci::routing_stats const& s, std::string const& name);
soci::routing_endpoint_check const* find(soci::routing_check const& c, std::string const& name);

/// Polls `done` every `step` until it returns true or `limit` passes. Returns whether it became true.
bool eventually(std::chrono::milliseconds limit, std::function<bool()> const& done,
                std::chrono::milliseconds step = 20ms);

/// Unix time in milliseconds.
std::int64_t unix_ms();

/// True when `text` contains `part`.
bool contains(std::string const& text, std::string const& part);

/// Runs `ci/clusters ARGS` of this source tree; returns its exit status.
int run_clusters(std::string const& args);

/// Stops, kills and starts cluster nodes, and restarts what it stopped when it goes out of scope (also when
/// the test failed).
class node_guard
{
public:
    node_guard() = default;
    ~node_guard();
    node_guard(node_guard const&) = delete;
    node_guard& operator=(node_guard const&) = delete;

    /// SIGKILL (`ci/clusters kill`). Returns false when the script failed.
    bool kill(std::string const& node);
    /// Fast shutdown (`ci/clusters stop-node`).
    bool stop(std::string const& node);
    /// `ci/clusters start-node`: waits until it accepts connections and replicates again.
    bool start(std::string const& node);

private:
    std::vector<std::string> down_;
};

/// Stops a replica from applying what it receives, and lets it go on when resume() is called or the guard
/// goes out of scope. PostgreSQL: pg_wal_replay_pause() / pg_wal_replay_resume(); MariaDB: STOP SLAVE
/// SQL_THREAD / START SLAVE SQL_THREAD (the IO thread keeps receiving, as a paused standby keeps streaming).
/// The `routing` user may do both.
class replication_pause
{
public:
    explicit replication_pause(server const& replica);
    ~replication_pause();
    replication_pause(replication_pause const&) = delete;
    replication_pause& operator=(replication_pause const&) = delete;
    void resume();

private:
    server replica_;
    bool paused_ = true;
};

/// A table on the primary the tests write to (id, tag, v), with a tag per test so counts do not mix.
std::string const& writes_table();
/// A tag unique to this process and call.
std::string unique_tag(std::string const& what);

} // namespace failover_test

#endif
