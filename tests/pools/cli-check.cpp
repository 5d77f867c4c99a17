// `soci-routing check`: exit status and output, running the built binary against the test clusters.

#define BOOST_TEST_MODULE pools_cli
#include <boost/test/unit_test.hpp>

#include <nlohmann/json.hpp>

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

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

} // namespace

BOOST_AUTO_TEST_SUITE(pools_cli_check)

BOOST_AUTO_TEST_CASE(check_of_the_healthy_cluster_exits_zero_with_one_line_per_endpoint)
{
    scratch s;
    auto r = check(quote(env("SOCI_ROUTING_PG_TOML")), s.path("err"));
    BOOST_TEST(r.status == 0, r.out << read_file(s.path("err")));
    BOOST_TEST(has_line_starting(r.out, "primary "));
    BOOST_TEST(r.out.find("127.0.0.1:15432") != std::string::npos);
    BOOST_TEST(r.out.find("127.0.0.1:15433") != std::string::npos);
    BOOST_TEST(r.out.find("127.0.0.1:15434") != std::string::npos);
    BOOST_TEST(r.out.size() >= 6u);
    BOOST_TEST(r.out.substr(r.out.size() - 6) == "ready\n");
    BOOST_TEST(r.out.find("routing-test-pw") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(check_as_json_reports_ready)
{
    scratch s;
    auto r = check(quote(env("SOCI_ROUTING_PG_TOML")) + " --format json", s.path("err"));
    BOOST_TEST(r.status == 0);
    auto j = nlohmann::json::parse(r.out);
    BOOST_TEST(j["ready"] == true);
    BOOST_TEST(j["endpoints"].size() == 3u);
    BOOST_TEST(j["endpoints"][0]["name"] == "primary");
}

BOOST_AUTO_TEST_CASE(check_of_the_mysql_cluster_exits_zero)
{
    scratch s;
    auto r = check(quote(env("SOCI_ROUTING_MYSQL_TOML")), s.path("err"));
    BOOST_TEST(r.status == 0, r.out << read_file(s.path("err")));
    BOOST_TEST(r.out.find("127.0.0.1:13307") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(check_with_an_unreachable_primary_exits_one)
{
    scratch s;
    std::string const config = s.path("down.toml");
    std::ofstream(config) << "[primary]\ndriver = \"postgresql\"\nhost = \"127.0.0.1\"\nport = 1\n"
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
    std::string const config = s.path("bad.toml");
    std::ofstream(config) << "[primary]\nhost = \"127.0.0.1\"\nport = \"abc\"\n";
    auto r = check(quote(config), s.path("err"));
    BOOST_TEST(r.status == 1);
    BOOST_TEST(r.out.empty());
    std::string const err = read_file(s.path("err"));
    BOOST_TEST(err.find("port") != std::string::npos, err);
    BOOST_TEST(err.find("bad.toml") != std::string::npos, err);
}

BOOST_AUTO_TEST_SUITE_END()
