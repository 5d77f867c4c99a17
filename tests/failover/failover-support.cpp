// soci-routing failover tests: the shared helpers, and the driver profile.

#include "failover-support.h"

#include <soci/mysql/soci-mysql.h>
#include <soci/postgresql/soci-postgresql.h>

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <thread>

#ifndef SOCI_ROUTING_SOURCE_DIR
#error "SOCI_ROUTING_SOURCE_DIR must name the source tree (for ci/clusters)"
#endif

namespace failover_test
{

namespace
{

std::string required_env(char const* name)
{
    char const* v = std::getenv(name);
    if (v == nullptr || *v == '\0')
        throw std::runtime_error(std::string(name) + " is not set: start the test cluster and run "
                                 "eval \"$(ci/clusters env)\" first");
    return v;
}

std::string optional_env(char const* name)
{
    char const* v = std::getenv(name);
    return v != nullptr ? std::string(v) : std::string();
}

// A libpq conninfo or a SOCI mysql connect string: key=value pairs, values optionally in single quotes with
// backslash escapes.
server parse_connect_string(std::string const& text, int default_port, std::string node)
{
    server s;
    s.connect_string = text;
    s.node = std::move(node);
    std::size_t i = 0;
    auto skip_spaces = [&] {
        while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i])))
            ++i;
    };
    for (;;)
    {
        skip_spaces();
        if (i >= text.size())
            break;
        std::size_t const eq = text.find('=', i);
        if (eq == std::string::npos)
            throw std::runtime_error("malformed connect string (no '='): " + text.substr(i));
        std::string key = text.substr(i, eq - i);
        while (!key.empty() && std::isspace(static_cast<unsigned char>(key.back())))
            key.pop_back();
        i = eq + 1;
        skip_spaces();
        std::string value;
        if (i < text.size() && text[i] == '\'')
        {
            for (++i; i < text.size() && text[i] != '\''; ++i)
            {
                if (text[i] == '\\' && i + 1 < text.size())
                    ++i;
                value += text[i];
            }
            ++i;
        }
        else
            while (i < text.size() && !std::isspace(static_cast<unsigned char>(text[i])))
                value += text[i++];
        if (key == "host")
            s.host = value;
        else if (key == "port")
            s.port = std::stoi(value);
        else if (key == "dbname" || key == "db")
            s.database = value;
        else if (key == "user")
            s.user = value;
        else if (key == "password" || key == "pass")
            s.password = value;
    }
    if (s.port == 0)
        s.port = default_port;
    return s;
}

std::string toml_number(double v)
{
    std::ostringstream o;
    o << std::setprecision(6) << v;
    std::string s = o.str();
    if (s.find_first_of(".eE") == std::string::npos)
        s += ".0";  // a float, never an integer: the loader reads these keys as numbers either way
    return s;
}

// The directory the configurations go to, removed when the process ends.
struct temp_dir
{
    std::filesystem::path path;
    temp_dir()
    {
        path = std::filesystem::temp_directory_path() / ("soci-routing-failover-" + std::to_string(getpid()));
        std::filesystem::create_directories(path);
    }
    ~temp_dir()
    {
        std::error_code ignored;
        std::filesystem::remove_all(path, ignored);
    }
};

std::atomic<int> serial{0};

} // namespace

std::string toml_string(std::string const& s)
{
    std::string out = "\"";
    for (char c : s)
    {
        if (c == '"' || c == '\\')
            out += '\\';
        out += c;
    }
    return out + "\"";
}

std::string toml_inline_table(std::map<std::string, std::string> const& m)
{
    std::string out = "{ ";
    bool first = true;
    for (auto const& [k, v] : m)
    {
        if (!first)
            out += ", ";
        first = false;
        out += k + " = " + toml_string(v);
    }
    return out + " }";
}

std::filesystem::path const& config_dir()
{
    static temp_dir dir;
    return dir.path;
}


test_cluster const& cluster()
{
    static test_cluster const c = [] {
        test_cluster t;
        t.driver = optional_env("SOCI_ROUTING_TEST_DRIVER");
        if (t.driver.empty() || t.driver == "pg")
            t.driver = "postgresql";
        if (t.driver == "postgresql")
        {
            t.primary = parse_connect_string(required_env("SOCI_ROUTING_PG_PRIMARY"), 5432, "pg-primary");
            t.replicas.push_back(
                parse_connect_string(required_env("SOCI_ROUTING_PG_REPLICA_1"), 5432, "pg-replica-1"));
            t.replicas.push_back(
                parse_connect_string(required_env("SOCI_ROUTING_PG_REPLICA_2"), 5432, "pg-replica-2"));
            t.port_query = "SELECT inet_server_port()";
        }
        else if (t.driver == "mysql")
        {
            t.primary = parse_connect_string(required_env("SOCI_ROUTING_MYSQL_PRIMARY"), 3306, "mysql-primary");
            t.replicas.push_back(
                parse_connect_string(required_env("SOCI_ROUTING_MYSQL_REPLICA_1"), 3306, "mysql-replica-1"));
            t.port_query = "SELECT @@port";
            t.cluster_dir = required_env("SOCI_ROUTING_CLUSTER_DIR");
        }
        else
            throw std::runtime_error("SOCI_ROUTING_TEST_DRIVER is \"" + t.driver
                                     + "\": expected \"postgresql\" or \"mysql\"");
        return t;
    }();
    return c;
}

std::string test_cluster::sleeping_port_query(double seconds) const
{
    std::ostringstream q;
    if (is_pg())
        q << "SELECT inet_server_port() FROM pg_sleep(" << seconds << ")";
    else
        q << "SELECT @@port + SLEEP(" << seconds << ")";  // SLEEP returns 0 when it was not interrupted
    return q.str();
}

std::unique_ptr<soci::session> direct(server const& s)
{
    if (cluster().is_pg())
        return std::make_unique<soci::session>(soci::postgresql, s.connect_string + " connect_timeout=2");
    return std::make_unique<soci::session>(soci::mysql, s.connect_string + " connect_timeout=2");
}

std::unique_ptr<soci::session> mysql_root(server const& s)
{
    // ci/clusters' layout: DIR/mysql/NODE-WITHOUT-PREFIX/mysqld.sock, root without a password over the socket.
    std::string const prefix = "mysql-";
    std::string const dir = s.node.compare(0, prefix.size(), prefix) == 0 ? s.node.substr(prefix.size()) : s.node;
    std::string const socket = cluster().cluster_dir + "/mysql/" + dir + "/mysqld.sock";
    return std::make_unique<soci::session>(soci::mysql, "unix_socket=" + socket + " user=root");
}

std::vector<replica_spec> real_replicas()
{
    std::vector<replica_spec> out;
    auto const& replicas = cluster().replicas;
    for (std::size_t i = 0; i < replicas.size(); ++i)
        out.push_back({"replica-" + std::to_string(i + 1), replicas[i].port, {}});
    return out;
}

std::string unique_tag(std::string const& what)
{
    return what + "-" + std::to_string(getpid()) + "-" + std::to_string(++serial);
}

std::string write_config(config_spec const& spec)
{
    test_cluster const& c = cluster();
    std::string const tag = spec.tag.empty() ? unique_tag("failover") : spec.tag;
    std::ostringstream t;
    t << "# written by the soci-routing failover tests\n";
    t << "[routing]\n";
    t << "sticky = " << toml_number(spec.sticky) << "\n";
    t << "fallback = " << (spec.fallback ? "true" : "false") << "\n";
    t << "balance = \"round_robin\"\n";
    // These tests follow reads one by one over the replicas (failures, lag, quarantine, roles): every read is
    // balanced on its own. A session's replica (rebalance) is tested in tests/routing.
    t << "rebalance = 0.0\n";
    if (spec.max_lag)
        t << "max_lag = " << toml_number(*spec.max_lag) << "\n";
    if (spec.failures)
        t << "failures = " << *spec.failures << "\n";
    if (spec.retry_window)
        t << "retry_window = " << toml_number(*spec.retry_window) << "\n";
    if (spec.retry_window_max)
        t << "retry_window_max = " << toml_number(*spec.retry_window_max) << "\n";
    if (spec.lag_probe_interval)
        t << "lag_probe_interval = " << toml_number(*spec.lag_probe_interval) << "\n";
    if (spec.read_timeout)
        t << "read_timeout = " << toml_number(*spec.read_timeout) << "\n";
    if (spec.topology)
        t << "topology = " << toml_string(*spec.topology) << "\n";
    if (spec.role_probe_interval)
        t << "role_probe_interval = " << toml_number(*spec.role_probe_interval) << "\n";
    if (spec.consistency)
        t << "consistency = " << toml_string(*spec.consistency) << "\n";
    if (spec.causal_timeout)
        t << "causal_timeout = " << toml_number(*spec.causal_timeout) << "\n";
    t << "\n[primary]\n";
    t << "driver = " << toml_string(c.driver) << "\n";
    t << "host = " << toml_string(c.primary.host) << "\n";
    t << "port = " << (spec.primary_port != 0 ? spec.primary_port : c.primary.port) << "\n";
    t << "database = " << toml_string(c.primary.database) << "\n";
    t << "username = " << toml_string(c.primary.user) << "\n";
    t << "password = " << toml_string(c.primary.password) << "\n";
    t << "timeout = " << toml_number(spec.timeout) << "\n";
    // A unique application_name gives every configuration its own pools and counters, and names the test's
    // connections in pg_stat_activity. (MariaDB has no such option: see [classifier] below.)
    if (c.is_pg())
        t << "options = " << toml_inline_table({{"application_name", tag}}) << "\n";
    if (spec.pool_max || spec.pool_wait_timeout)
    {
        t << "\n[primary.pool]\n";
        if (spec.pool_max)
            t << "max = " << *spec.pool_max << "\n";
        if (spec.pool_wait_timeout)
            t << "wait_timeout = " << toml_number(*spec.pool_wait_timeout) << "\n";
    }
    std::vector<replica_spec> const replicas = spec.replicas ? *spec.replicas : real_replicas();
    for (auto const& r : replicas)
    {
        t << "\n[[replicas]]\n";
        t << "name = " << toml_string(r.name) << "\n";
        t << "host = " << toml_string(c.primary.host) << "\n";
        t << "port = " << r.port << "\n";
        if (!r.options.empty())
        {
            auto options = r.options;
            if (c.is_pg())
                options.emplace("application_name", tag);
            t << "options = " << toml_inline_table(options) << "\n";
        }
        if (r.pool_min)
            t << "[replicas.pool]\nmin = " << *r.pool_min << "\n";
    }
    if (c.is_mysql())
    {
        // A function no test calls makes the configuration, and so its pools and counters, the test's own.
        std::string function = "failover_" + tag;
        for (char& ch : function)
            if (ch == '-')
                ch = '_';
        t << "\n[classifier]\nprimary_functions = [" << toml_string(function) << "]\n";
    }
    std::filesystem::path const path = config_dir() / (tag + ".toml");
    std::ofstream out(path);
    out << t.str();
    out.close();
    if (!out)
        throw std::runtime_error("cannot write " + path.string());
    return path.string();
}

std::string routing_uri(std::string const& config_path)
{
    return "routing://config=" + config_path;
}

std::string routing_uri(config_spec const& spec)
{
    return routing_uri(write_config(spec));
}

int read_port(soci::session& sql)
{
    int port = 0;
    sql << cluster().port_query, soci::into(port);
    return port;
}

int port_of_endpoint(std::string const& name)
{
    test_cluster const& c = cluster();
    if (name == "primary")
        return c.primary.port;
    for (std::size_t i = 0; i < c.replicas.size(); ++i)
        if (name == "replica-" + std::to_string(i + 1))
            return c.replicas[i].port;
    return -1;
}

soci::routing_endpoint_stats const* find(soci::routing_stats const& s, std::string const& name)
{
    for (auto const& e : s.endpoints)
        if (e.name == name)
            return &e;
    return nullptr;
}

soci::routing_endpoint_check const* find(soci::routing_check const& c, std::string const& name)
{
    for (auto const& e : c.endpoints)
        if (e.name == name)
            return &e;
    return nullptr;
}

bool eventually(std::chrono::milliseconds limit, std::function<bool()> const& done, std::chrono::milliseconds step)
{
    auto const deadline = clock::now() + limit;
    for (;;)
    {
        if (done())
            return true;
        if (clock::now() >= deadline)
            return false;
        std::this_thread::sleep_for(step);
    }
}

std::int64_t unix_ms()
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

bool contains(std::string const& text, std::string const& part)
{
    return text.find(part) != std::string::npos;
}

int run_clusters(std::string const& args)
{
    // Bounded: the script serialises on one lock for every node, and another user may hold it for long.
    std::string const command = "timeout 120 '" SOCI_ROUTING_SOURCE_DIR "/ci/clusters' " + args + " 2>&1";
    std::cerr << "failover test: ci/clusters " << args << std::endl;
    int const status = std::system(command.c_str());
    if (status == -1 || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

namespace
{

// `ci/clusters start-node` right after a kill can fail while the killed server is still an unreaped zombie
// (PostgreSQL then takes its postmaster.pid for a live server): try again for a few seconds.
bool start_node(std::string const& node)
{
    auto const deadline = clock::now() + 20s;
    for (;;)
    {
        if (run_clusters("start-node " + node) == 0)
            return true;
        if (clock::now() >= deadline)
            return false;
        std::this_thread::sleep_for(500ms);
    }
}

} // namespace

node_guard::~node_guard()
{
    for (auto const& node : down_)
        if (!start_node(node))
            std::cerr << "failover test: could not restart " << node << "; run ci/clusters start" << std::endl;
}

bool node_guard::kill(std::string const& node)
{
    down_.push_back(node);
    return run_clusters("kill " + node) == 0;
}

bool node_guard::stop(std::string const& node)
{
    down_.push_back(node);
    return run_clusters("stop-node " + node) == 0;
}

bool node_guard::start(std::string const& node)
{
    bool const ok = start_node(node);
    if (ok)
        for (auto it = down_.begin(); it != down_.end();)
            it = *it == node ? down_.erase(it) : it + 1;
    return ok;
}

replication_pause::replication_pause(server const& replica) : replica_(replica)
{
    auto sql = direct(replica_);
    if (cluster().is_pg())
        *sql << "SELECT pg_wal_replay_pause()";
    else
        *sql << "STOP SLAVE SQL_THREAD";
}

replication_pause::~replication_pause()
{
    try
    {
        resume();
    }
    catch (std::exception const& e)
    {
        std::cerr << "failover test: could not resume replication on port " << replica_.port << ": " << e.what()
                  << std::endl;
    }
}

void replication_pause::resume()
{
    if (!paused_)
        return;
    auto sql = direct(replica_);
    if (cluster().is_pg())
        *sql << "SELECT pg_wal_replay_resume()";
    else
        *sql << "START SLAVE SQL_THREAD";
    paused_ = false;
}

std::string const& writes_table()
{
    static std::string const name = "failover_test_writes";
    return name;
}

} // namespace failover_test
