// `soci-routing check`: exit status and output, running the built binary against the test cluster of the driver
// under test (SOCI_ROUTING_TEST_DRIVER: "postgresql", the default, or "mysql").

#define BOOST_TEST_MODULE pools_cli
#include <boost/test/unit_test.hpp>

#include <nlohmann/json.hpp>
#include <soci/soci.h>
#include <soci/mysql/soci-mysql.h>
#include <soci/postgresql/soci-postgresql.h>

#include <sys/wait.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <stdexcept>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace
{

struct run_result
{
    int status = -1;
    std::string out;
};

std::string quote(std::string const& s)
{
    std::string out = "'";
    for (char c : s)
        out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

/// Runs `soci-routing check ARGS` through the shell; `stderr_to` receives its standard error.
run_result check(std::string const& args, std::string const& stderr_to)
{
    std::string const command = quote(SOCI_ROUTING_CLI) + " check " + args + " 2>" + quote(stderr_to);
    run_result r;
    FILE* pipe = popen(command.c_str(), "r");
    if (pipe == nullptr)
        throw std::runtime_error("popen failed");
    std::array<char, 4096> buffer;
    std::size_t n;
    while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0)
        r.out.append(buffer.data(), n);
    int const status = pclose(pipe);
    r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}

std::string read_file(std::string const& path)
{
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string env(char const* name)
{
    char const* v = std::getenv(name);
    if (v == nullptr || *v == '\0')
        throw std::runtime_error(std::string(name) + " is not set: start the test clusters (ci/clusters)");
    return v;
}

bool testing_mysql()
{
    char const* v = std::getenv("SOCI_ROUTING_TEST_DRIVER");
    std::string const name = v == nullptr ? "" : v;
    if (name.empty() || name == "postgresql")
        return false;
    if (name == "mysql")
        return true;
    throw std::runtime_error("SOCI_ROUTING_TEST_DRIVER: expected \"postgresql\" or \"mysql\", got \"" + name + "\"");
}

/// The value of `key` in a `key=value ...` connect string of the environment.
std::string connect_value(char const* variable, std::string const& key)
{
    std::istringstream in(env(variable));
    std::string pair;
    while (in >> pair)
        if (pair.compare(0, key.size() + 1, key + "=") == 0)
            return pair.substr(key.size() + 1);
    throw std::runtime_error(std::string(variable) + " has no " + key);
}

/// The test cluster of the driver under test, as ci/clusters describes it.
struct test_cluster
{
    test_cluster()
    {
        if (testing_mysql())
        {
            toml = env("SOCI_ROUTING_MYSQL_TOML");
            primary = "SOCI_ROUTING_MYSQL_PRIMARY";
            replicas = {"SOCI_ROUTING_MYSQL_REPLICA_1"};
        }
        else
        {
            toml = env("SOCI_ROUTING_PG_TOML");
            primary = "SOCI_ROUTING_PG_PRIMARY";
            replicas = {"SOCI_ROUTING_PG_REPLICA_1", "SOCI_ROUTING_PG_REPLICA_2"};
        }
    }
    static std::string address(char const* variable)
    {
        return connect_value(variable, "host") + ":" + connect_value(variable, "port");
    }
    std::string driver() const { return testing_mysql() ? "mysql" : "postgresql"; }
    /// A session of SOCI's own backend to replica `i`.
    soci::session connect_replica(std::size_t i) const
    {
        if (testing_mysql())
            return soci::session(soci::mysql, env(replicas.at(i)));
        return soci::session(soci::postgresql, env(replicas.at(i)));
    }

    std::string toml;
    char const* primary;
    std::vector<char const*> replicas;
};

struct scratch

{
    scratch()
    {
        dir = std::filesystem::temp_directory_path()
            / ("soci-routing-cli-check-" + std::to_string(::getpid()));
        std::filesystem::create_directories(dir);
    }
    ~scratch() { std::filesystem::remove_all(dir); }
    std::string path(char const* name) const { return (dir / name).string(); }
    std::filesystem::path dir;
};

bool has_line_starting(std::string const& text, std::string const& prefix)
{
    return text.compare(0, prefix.size(), prefix) == 0 || text.find("\n" + prefix) != std::string::npos;
}

/// The line of `text` that starts with the word `first`, with each run of spaces made one (the columns of
/// `check`'s text are padded to the widest entry); empty when there is none.
std::string line_of(std::string const& text, std::string const& first)
{
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line))
    {
        if (line.compare(0, first.size() + 1, first + " ") != 0)
            continue;
        std::istringstream words(line);
        std::string word;
        std::string out;
        while (words >> word)
            out += (out.empty() ? "" : " ") + word;
        return out;
    }
    return {};
}

bool starts_with(std::string const& s, std::string const& prefix)
{
    return s.compare(0, prefix.size(), prefix) == 0;
}

} // namespace

BOOST_AUTO_TEST_SUITE(pools_cli_check)

BOOST_AUTO_TEST_CASE(check_of_the_healthy_cluster_exits_zero_with_one_line_per_endpoint)
{
    scratch s;
    test_cluster const c;
    auto r = check(quote(c.toml), s.path("err"));
    BOOST_TEST(r.status == 0, r.out << read_file(s.path("err")));
    BOOST_TEST(starts_with(line_of(r.out, "primary"), "primary " + test_cluster::address(c.primary) + " ok writable"),
               r.out);
    for (std::size_t i = 0; i < c.replicas.size(); ++i)
    {
        std::string const name = "replica-" + std::to_string(i + 1);
        std::string const expected = name + " " + test_cluster::address(c.replicas[i]) + " ok read-only";
        BOOST_TEST(starts_with(line_of(r.out, name), expected), r.out);
    }
    BOOST_TEST(r.out.size() >= 6u);
    BOOST_TEST(r.out.substr(r.out.size() - 6) == "ready\n");
    BOOST_TEST(r.out.find("routing-test-pw") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(check_as_json_reports_ready)
{
    scratch s;
    test_cluster const c;
    auto r = check(quote(c.toml) + " --format json", s.path("err"));
    BOOST_TEST(r.status == 0);
    auto j = nlohmann::json::parse(r.out);
    BOOST_TEST(j["ready"] == true);
    BOOST_TEST(j["endpoints"].size() == 1 + c.replicas.size());
    BOOST_TEST(j["endpoints"][0]["name"] == "primary");
    BOOST_TEST(j["endpoints"][0]["address"] == test_cluster::address(c.primary));
    BOOST_TEST(j["endpoints"][1]["address"] == test_cluster::address(c.replicas[0]));
    BOOST_TEST(j["endpoints"][1]["role_ok"] == true);
}

BOOST_AUTO_TEST_CASE(check_of_a_replica_with_paused_replication_names_the_pause)
{
    // MariaDB: the replica is "not replicating" (role_ok false): ready with fallback, not ready without.
    // PostgreSQL: a standby with paused replay stays "ok", with the pause named.
    scratch s;
    test_cluster const c;
    std::size_t const last = c.replicas.size() - 1;
    std::string const name = "replica-" + std::to_string(last + 1);
    auto replica = c.connect_replica(last);
    std::string const stop = testing_mysql() ? "STOP SLAVE SQL_THREAD" : "SELECT pg_wal_replay_pause()";
    std::string const start = testing_mysql() ? "START SLAVE SQL_THREAD" : "SELECT pg_wal_replay_resume()";
    struct resume_replication
    {
        soci::session& sql;
        std::string const& start;
        ~resume_replication()
        {
            try
            {
                sql << start;
            }
            catch (std::exception const& e)
            {
                std::cerr << "could not resume replication: " << e.what() << "\n";
            }
        }
    } resume{replica, start};
    replica << stop;

    auto r = check(quote(c.toml), s.path("err"));
    BOOST_TEST(r.status == 0, r.out << read_file(s.path("err")));  // fallback = true in the cluster's TOML
    std::string const prefix = name + " " + test_cluster::address(c.replicas[last]) + " ";
    if (testing_mysql())
    {
        BOOST_TEST(starts_with(line_of(r.out, name), prefix + "not replicating read-only"), r.out);
        BOOST_TEST(r.out.find("replication is not running: Slave_IO_Running=Yes, Slave_SQL_Running=No")
                       != std::string::npos,
                   r.out);
        // Without fallback, the only replica cannot serve reads.
        auto strict = check(quote("routing://config=" + c.toml + " fallback=false"), s.path("err"));
        BOOST_TEST(strict.status == 1, strict.out << read_file(s.path("err")));
        BOOST_TEST(strict.out.find("not ready: no replica can serve reads and fallback to the primary is off")
                       != std::string::npos,
                   strict.out);
        auto json = check(quote(c.toml) + " --format json", s.path("err"));
        auto j = nlohmann::json::parse(json.out);
        BOOST_TEST(j["endpoints"][1]["role_ok"] == false);
        BOOST_TEST(j["endpoints"][1]["read_only"] == true);
    }
    else
    {
        BOOST_TEST(starts_with(line_of(r.out, name), prefix + "ok read-only"), r.out);
        BOOST_TEST(r.out.find("WAL replay is paused") != std::string::npos, r.out);
    }

    replica << start;
    for (int i = 0; i < 50; ++i)  // the thread may take a moment to start
    {
        r = check(quote(c.toml), s.path("err"));
        if (starts_with(line_of(r.out, name), prefix + "ok read-only") && r.out.find("paused") == std::string::npos)
            break;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    BOOST_TEST(r.status == 0);
    BOOST_TEST(starts_with(line_of(r.out, name), prefix + "ok read-only"), r.out);
    BOOST_TEST(r.out.find("paused") == std::string::npos, r.out);
    BOOST_TEST(r.out.find("not running") == std::string::npos, r.out);
}

BOOST_AUTO_TEST_CASE(check_with_an_unreachable_primary_exits_one)
{
    scratch s;
    test_cluster const c;
    std::string const config = s.path("down.toml");
    std::ofstream(config) << "[primary]\ndriver = \"" << c.driver() << "\"\nhost = \"127.0.0.1\"\nport = 1\n"
                             "database = \"routing\"\nusername = \"routing\"\npassword = \"s3cret-cli\"\ntimeout = 1\n";
    auto r = check(quote(config), s.path("err"));
    BOOST_TEST(r.status == 1);
    BOOST_TEST(has_line_starting(r.out, "primary  127.0.0.1:1  unreachable"), r.out);
    BOOST_TEST(r.out.find("not ready: the primary is unreachable") != std::string::npos, r.out);
    BOOST_TEST(r.out.find("s3cret-cli") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(check_of_an_invalid_configuration_exits_one_with_the_errors)
{
    scratch s;
    test_cluster const c;
    std::string const config = s.path("bad.toml");
    std::ofstream(config) << "[primary]\ndriver = \"" << c.driver() << "\"\nhost = \"127.0.0.1\"\nport = \"abc\"\n";
    auto r = check(quote(config), s.path("err"));
    BOOST_TEST(r.status == 1);
    BOOST_TEST(r.out.empty());
    std::string const err = read_file(s.path("err"));
    BOOST_TEST(err.find("port") != std::string::npos, err);
    BOOST_TEST(err.find("bad.toml") != std::string::npos, err);
}

BOOST_AUTO_TEST_SUITE_END()
