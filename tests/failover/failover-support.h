// soci-routing failover tests: what every test needs to talk to the real PostgreSQL test cluster and to break it.
//
// The servers come from the environment `ci/clusters env` prints (SOCI_ROUTING_PG_PRIMARY, ..._REPLICA_1,
// ..._REPLICA_2, libpq conninfo). Each test writes its own TOML configuration with a unique application_name,
// so that it gets its own pools and counters (the plugin shares a cluster between sessions of equal
// configuration).

#ifndef SOCI_ROUTING_TESTS_FAILOVER_SUPPORT_H_INCLUDED
#define SOCI_ROUTING_TESTS_FAILOVER_SUPPORT_H_INCLUDED

#include <soci/routing/soci-routing.h>
#include <soci/soci.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace failover_test
{

using clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

/// One server of the test cluster, from its libpq conninfo.
struct pg_server
{
    std::string conninfo;
    std::string host;
    int port = 0;
    std::string database;
    std::string user;
    std::string password;
};

/// The test cluster as the environment describes it.
struct test_cluster
{
    pg_server primary;
    pg_server replica_1;
    pg_server replica_2;
};

/// The cluster from the environment; throws std::runtime_error naming the missing variable.
test_cluster const& cluster();

/// A direct connection (SOCI's postgresql backend, no routing) to one server.
std::unique_ptr<soci::session> direct(pg_server const& server);

/// A replica as a test configures it: a name and where it listens (a real standby or a tcp_proxy).
struct replica_spec
{
    std::string name;
    int port = 0;
    std::map<std::string, std::string> options;  ///< libpq options of this replica only
};

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
    int primary_port = 0;      ///< 0: the real primary
    double timeout = 2.0;      ///< connect timeout of every endpoint
    std::optional<int> pool_max;
    std::optional<double> pool_wait_timeout;
    std::optional<std::vector<replica_spec>> replicas;  ///< unset: replica-1 and replica-2, the real standbys
    std::string application_name;  ///< empty: a unique one (it also makes the configuration unique)
};

/// Writes `spec` as a TOML file in the test's temporary directory; returns its path.
std::string write_config(config_spec const& spec);
/// `routing://config=PATH`.
std::string routing_uri(std::string const& config_path);
/// The same spec as a configuration file and a session on it.
std::string routing_uri(config_spec const& spec);

/// The port of the server that ran `SELECT inet_server_port()` through `sql` (the routed statement itself
/// says where it ran).
int read_port(soci::session& sql);
/// The port each endpoint name of the default configuration stands for ("primary" → 15432, ...).
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
    /// `ci/clusters start-node`: waits until it accepts connections and streams again.
    bool start(std::string const& node);

private:
    std::vector<std::string> down_;
};

/// Pauses WAL replay on a standby (pg_wal_replay_pause(), allowed to the `routing` user) and resumes it when
/// resume() is called or the guard goes out of scope.
class replay_pause
{
public:
    explicit replay_pause(pg_server const& standby);
    ~replay_pause();
    replay_pause(replay_pause const&) = delete;
    replay_pause& operator=(replay_pause const&) = delete;
    void resume();

private:
    pg_server standby_;
    bool paused_ = true;
};

/// A table on the primary the tests write to, with a tag per test so counts do not mix.
std::string const& writes_table();
/// A tag unique to this process and call.
std::string unique_tag(std::string const& what);

} // namespace failover_test

#endif
