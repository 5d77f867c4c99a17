// soci-routing: `soci-routing config`, run as a program.

#define BOOST_TEST_MODULE soci_routing_config_cli
#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>

#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <unistd.h>

namespace
{

struct run_result
{
    int status = -1;
    std::string out;
    std::string err;
};

std::string slurp(std::string const& path)
{
    std::ifstream in(path);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

std::string shell_quote(std::string const& s)
{
    std::string out = "'";
    for (char c : s)
        out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

/// Runs `soci-routing config ARGS...`, capturing stdout and stderr.
run_result run_config(std::vector<std::string> const& args)
{
    char dir_template[] = "/tmp/soci-routing-cli-XXXXXX";
    BOOST_REQUIRE(::mkdtemp(dir_template) != nullptr);
    std::string const dir = dir_template;
    std::string command = shell_quote(SOCI_ROUTING_CLI) + " config";
    for (auto const& a : args)
        command += " " + shell_quote(a);
    command += " >" + dir + "/out 2>" + dir + "/err";
    run_result r;
    int const raw = std::system(command.c_str());
    r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
    r.out = slurp(dir + "/out");
    r.err = slurp(dir + "/err");
    std::remove((dir + "/out").c_str());
    std::remove((dir + "/err").c_str());
    ::rmdir(dir.c_str());
    return r;
}

std::string fixture(std::string const& name)
{
    return std::string(SOCI_ROUTING_CONFIG_FIXTURES) + "/" + name;
}

} // namespace

BOOST_AUTO_TEST_CASE(config_prints_the_resolved_file_as_toml_by_default)
{
    auto const r = run_config({fixture("design.toml")});
    BOOST_TEST(r.status == 0);
    BOOST_TEST(r.err.find("error") == std::string::npos, r.err);  // a checkout may leave it world-readable: a warning
    BOOST_TEST(r.out.find("[[replicas]]") != std::string::npos);
    BOOST_TEST(r.out.find("host=10.0.0.3 port=5433 dbname=app user=app password=*** connect_timeout=5 "
                          "sslmode=prefer") != std::string::npos);
    BOOST_TEST(r.out.find("fixture-Pa55word") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(config_prints_json_with_routing_primary_and_replicas)
{
    auto const r = run_config({fixture("mysql.toml"), "--format", "json"});
    BOOST_TEST(r.status == 0);
    auto const j = nlohmann::json::parse(r.out);
    BOOST_TEST(j.at("routing").at("balance").get<std::string>() == "least_connections");
    BOOST_TEST(j.at("primary").at("driver").get<std::string>() == "mysql");
    BOOST_TEST(j.at("primary").at("password").get<std::string>() == "***");
    BOOST_TEST(j.at("replicas").at(0).at("connect_string").get<std::string>() ==
               "host=127.0.0.2 port=3307 db=app user=app password=*** connect_timeout=5 charset=utf8mb4");
    BOOST_TEST(r.out.find("fixture-Pa55word") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(config_accepts_an_inline_connect_string)
{
    auto const r = run_config({"routing://primary='postgresql://host=a password=inline-Pa55' replica='host=b'",
                               "--format", "json"});
    BOOST_TEST(r.status == 0);
    auto const j = nlohmann::json::parse(r.out);
    BOOST_TEST(j.at("replicas").at(0).at("host").get<std::string>() == "b");
    BOOST_TEST(r.out.find("inline-Pa55") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(invalid_file_exits_1_with_the_errors_on_stderr)
{
    auto const r = run_config({fixture("invalid.toml")});
    BOOST_TEST(r.status == 1);
    BOOST_TEST(r.out.empty());
    BOOST_TEST(r.err.find(fixture("invalid.toml") + ":12:8: replicas[0].port: expected an integer 1..65535, got "
                          "\"abc\"") != std::string::npos);
    BOOST_TEST(r.err.find(fixture("invalid.toml") + ":2:10: routing.sticky") != std::string::npos);
    BOOST_TEST(r.err.find("fixture-Pa55word") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(unknown_format_is_refused)
{
    auto const r = run_config({fixture("design.toml"), "--format", "yaml"});
    BOOST_TEST(r.status != 0);
    BOOST_TEST(r.out.empty());
}

namespace
{

/// A TOML file of `text` with permission bits `mode`, removed with its directory at scope exit.
struct temp_toml
{
    temp_toml(std::string const& text, mode_t mode)
    {
        char dir_template[] = "/tmp/soci-routing-perm-XXXXXX";
        BOOST_REQUIRE(::mkdtemp(dir_template) != nullptr);
        dir = dir_template;
        path = dir + "/db.toml";
        std::ofstream(path) << text;
        BOOST_REQUIRE(::chmod(path.c_str(), mode) == 0);
    }
    ~temp_toml()
    {
        std::remove(path.c_str());
        ::rmdir(dir.c_str());
    }
    std::string dir;
    std::string path;
};

std::string const with_password = "[primary]\nhost = \"db1\"\npassword = \"perm-Secret-77\"\n"
                                  "[[replicas]]\nhost = \"db2\"\npassword = \"perm-Other-88\"\n";

} // namespace

BOOST_AUTO_TEST_CASE(config_warns_when_a_file_holding_a_password_is_readable_by_other_users)
{
    temp_toml f(with_password, 0644);
    for (std::string const& source : {f.path, "routing://config=" + f.path})
    {
        auto const r = run_config({source});
        BOOST_TEST(r.status == 0);  // a warning, not an error
        BOOST_TEST(r.err.find("warning: " + f.path + " holds a password (primary.password, replicas[0].password)")
                       != std::string::npos, r.err);
        BOOST_TEST(r.err.find("mode 0644") != std::string::npos, r.err);
        BOOST_TEST(r.err.find("perm-Secret-77") == std::string::npos);
        BOOST_TEST(r.out.find("perm-Secret-77") == std::string::npos);
    }
}

BOOST_AUTO_TEST_CASE(config_does_not_warn_for_a_private_file_or_a_password_from_the_environment)
{
    temp_toml private_file(with_password, 0600);
    BOOST_TEST(run_config({private_file.path}).err.empty());
    ::setenv("SRT_PERM_PW", "from-env", 1);
    temp_toml from_env("[primary]\nhost = \"db1\"\npassword = \"${SRT_PERM_PW}\"\n", 0644);
    BOOST_TEST(run_config({from_env.path}).err.empty());
}
