// soci-routing failover tests: the shared helpers.

#include "failover-support.h"

#include <soci/postgresql/soci-postgresql.h>

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
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

// libpq conninfo: key=value pairs, values optionally in single quotes with backslash escapes.
pg_server parse_conninfo(std::string const& conninfo)
{
    pg_server s;
    s.conninfo = conninfo;
    std::size_t i = 0;
    auto skip_spaces = [&] {
        while (i < conninfo.size() && std::isspace(static_cast<unsigned char>(conninfo[i])))
            ++i;
    };
    for (;;)
    {
        skip_spaces();
        if (i >= conninfo.size())
            break;
        std::size_t const eq = conninfo.find('=', i);
        if (eq == std::string::npos)
            throw std::runtime_error("malformed conninfo (no '='): " + conninfo.substr(i));
        std::string key = conninfo.substr(i, eq - i);
        while (!key.empty() && std::isspace(static_cast<unsigned char>(key.back())))
            key.pop_back();
        i = eq + 1;
        skip_spaces();
        std::string value;
        if (i < conninfo.size() && conninfo[i] == '\'')
        {
            for (++i; i < conninfo.size() && conninfo[i] != '\''; ++i)
            {
                if (conninfo[i] == '\\' && i + 1 < conninfo.size())
                    ++i;
                value += conninfo[i];
            }
            ++i;
        }
        else
            while (i < conninfo.size() && !std::isspace(static_cast<unsigned char>(conninfo[i])))
                value += conninfo[i++];
        if (key == "host")
            s.host = value;
        else if (key == "port")
            s.port = std::stoi(value);
        else if (key == "dbname")
            s.database = value;
        else if (key == "user")
            s.user = value;
        else if (key == "password")
            s.password = value;
    }
    if (s.port == 0)
        s.port = 5432;
    return s;
}

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

std::string toml_number(double v)
{
    std::ostringstream o;
    o << std::setprecision(6) << v;
    std::string s = o.str();
    if (s.find_first_of(".eE") == std::string::npos)
        s += ".0";  // a float, never an integer: the loader reads these keys as numbers either way
    return s;
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

std::filesystem::path const& config_dir()
{
    static temp_dir dir;
    return dir.path;
}

std::atomic<int> serial{0};

} // namespace

test_cluster const& cluster()
{
    static test_cluster const c = [] {
        test_cluster t;
        t.primary = parse_conninfo(required_env("SOCI_ROUTING_PG_PRIMARY"));
        t.replica_1 = parse_conninfo(required_env("SOCI_ROUTING_PG_REPLICA_1"));
        t.replica_2 = parse_conninfo(required_env("SOCI_ROUTING_PG_REPLICA_2"));
        return t;
    }();
    return c;
}

std::unique_ptr<soci::session> direct(pg_server const& server)
{
    return std::make_unique<soci::session>(soci::postgresql, server.conninfo + " connect_timeout=2");
}

std::string unique_tag(std::string const& what)
{
    return what + "-" + std::to_string(getpid()) + "-" + std::to_string(++serial);
}

std::string write_config(config_spec const& spec)
{
    test_cluster const& c = cluster();
    std::string const tag = spec.application_name.empty() ? unique_tag("failover") : spec.application_name;
    std::ostringstream t;
    t << "# written by the soci-routing failover tests\n";
    t << "[routing]\n";
    t << "sticky = " << toml_number(spec.sticky) << "\n";
    t << "fallback = " << (spec.fallback ? "true" : "false") << "\n";
    t << "balance = \"round_robin\"\n";
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
    t << "\n[primary]\n";
    t << "driver = \"postgresql\"\n";
    t << "host = " << toml_string(c.primary.host) << "\n";
    t << "port = " << (spec.primary_port != 0 ? spec.primary_port : c.primary.port) << "\n";
    t << "database = " << toml_string(c.primary.database) << "\n";
    t << "username = " << toml_string(c.primary.user) << "\n";
    t << "password = " << toml_string(c.primary.password) << "\n";
    t << "timeout = " << toml_number(spec.timeout) << "\n";
    // A unique application_name gives every configuration its own pools and counters, and names the test's
    // connections in pg_stat_activity.
    t << "options = " << toml_inline_table({{"application_name", tag}}) << "\n";
    if (spec.pool_max || spec.pool_wait_timeout)
    {
        t << "\n[primary.pool]\n";
        if (spec.pool_max)
            t << "max = " << *spec.pool_max << "\n";
        if (spec.pool_wait_timeout)
            t << "wait_timeout = " << toml_number(*spec.pool_wait_timeout) << "\n";
    }
    std::vector<replica_spec> replicas = spec.replicas
        ? *spec.replicas
        : std::vector<replica_spec>{{"replica-1", c.replica_1.port, {}}, {"replica-2", c.replica_2.port, {}}};
    for (auto const& r : replicas)
    {
        t << "\n[[replicas]]\n";
        t << "name = " << toml_string(r.name) << "\n";
        t << "host = " << toml_string(c.primary.host) << "\n";
        t << "port = " << r.port << "\n";
        if (!r.options.empty())
        {
            auto options = r.options;
            options.emplace("application_name", tag);
            t << "options = " << toml_inline_table(options) << "\n";
        }
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
    sql << "SELECT inet_server_port()", soci::into(port);
    return port;
}

int port_of_endpoint(std::string const& name)
{
    test_cluster const& c = cluster();
    if (name == "primary")
        return c.primary.port;
    if (name == "replica-1")
        return c.replica_1.port;
    if (name == "replica-2")
        return c.replica_2.port;
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

// `ci/clusters start-node` right after a kill can fail while the killed postmaster is still an unreaped zombie
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
            std::cerr << "failover test: could not restart " << node << "; run ci/clusters start pg" << std::endl;
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

replay_pause::replay_pause(pg_server const& standby) : standby_(standby)
{
    auto sql = direct(standby_);
    *sql << "SELECT pg_wal_replay_pause()";
}

replay_pause::~replay_pause()
{
    try
    {
        resume();
    }
    catch (std::exception const& e)
    {
        std::cerr << "failover test: could not resume WAL replay on port " << standby_.port << ": " << e.what()
                  << std::endl;
    }
}

void replay_pause::resume()
{
    if (!paused_)
        return;
    auto sql = direct(standby_);
    *sql << "SELECT pg_wal_replay_resume()";
    paused_ = false;
}

std::string const& writes_table()
{
    static std::string const name = "failover_test_writes";
    return name;
}

} // namespace failover_test
