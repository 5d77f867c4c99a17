// soci-routing classify: the command-line tool, run as a user would run it.

#define BOOST_TEST_MODULE soci_routing_classify_cli
#include <boost/test/unit_test.hpp>

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#ifndef SOCI_ROUTING_CLI
#error "SOCI_ROUTING_CLI must name the soci-routing binary"
#endif

namespace
{

struct run_result
{
    int status = -1;
    std::string out;
};

std::string shell_quote(std::string const& s)
{
    std::string q = "'";
    for (char c : s)
        q += (c == '\'') ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

/// Runs `soci-routing <args>` with `input` on standard input; returns its exit status and standard output.
run_result run(std::vector<std::string> const& args, std::string const& input = "")
{
    auto const in = std::filesystem::temp_directory_path() /
                    ("soci-routing-classify-test-" + std::to_string(::getpid()) + ".in");
    {
        std::ofstream f(in, std::ios::binary);
        f << input;
    }
    std::string cmd = shell_quote(SOCI_ROUTING_CLI);
    for (auto const& a : args) cmd += " " + shell_quote(a);
    cmd += " < " + shell_quote(in.string());
    run_result r;
    if (FILE* p = ::popen(cmd.c_str(), "r"))
    {
        char buf[4096];
        std::size_t n;
        while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
        int const status = ::pclose(p);
        r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    std::filesystem::remove(in);
    return r;
}

} // namespace

BOOST_AUTO_TEST_CASE(classify_prints_one_line_per_argument)
{
    run_result const r = run({"classify", "SELECT 1", "SELECT * FROM t FOR UPDATE", "BEGIN"});
    BOOST_TEST(r.status == 0);
    BOOST_TEST(r.out == "replica\tselect\nprimary\tlocking_read\nprimary\ttransaction_control\n");
}

BOOST_AUTO_TEST_CASE(classify_says_a_read_only_transaction_runs_on_a_replica)
{
    run_result const r = run({"classify", "BEGIN READ ONLY", "BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY"});
    BOOST_TEST(r.status == 0);
    BOOST_TEST(r.out == "replica\tread_only_transaction\nprimary\ttransaction_control\n");
    run_result const m = run({"classify", "--dialect", "mysql", "START TRANSACTION READ ONLY", "START TRANSACTION"});
    BOOST_TEST(m.status == 0);
    BOOST_TEST(m.out == "replica\tread_only_transaction\nprimary\ttransaction_control\n");
}

BOOST_AUTO_TEST_CASE(classify_reads_one_statement_per_line_from_stdin)
{
    run_result const r = run({"classify"}, "SELECT 1\nINSERT INTO t VALUES (1)\n\nSHOW search_path\n");
    BOOST_TEST(r.status == 0);
    BOOST_TEST(r.out == "replica\tselect\nprimary\twrite\nprimary\tunknown\nreplica\tshow\n");
}

BOOST_AUTO_TEST_CASE(classify_reads_nul_separated_statements_with_dash_zero)
{
    std::string input = "SELECT 1\nFOR UPDATE";
    input += '\0';
    input += "SELECT 2\n-- a comment";
    input += '\0';
    run_result const r = run({"classify", "-0"}, input);
    BOOST_TEST(r.status == 0);
    BOOST_TEST(r.out == "primary\tlocking_read\nreplica\tselect\n");
}

BOOST_AUTO_TEST_CASE(classify_uses_the_mysql_dialect_when_asked)
{
    run_result const my = run({"classify", "--dialect", "mysql", "SELECT 1 # FOR UPDATE"});
    run_result const pg = run({"classify", "SELECT 1 # FOR UPDATE"});
    run_result const explicit_pg = run({"classify", "--dialect", "postgresql", "SELECT 1 # FOR UPDATE"});
    BOOST_TEST(my.status == 0);
    BOOST_TEST(my.out == "replica\tselect\n");
    BOOST_TEST(pg.out == "primary\tlocking_read\n");
    BOOST_TEST(explicit_pg.out == "primary\tlocking_read\n");
}

BOOST_AUTO_TEST_CASE(classify_rejects_an_unknown_dialect)
{
    run_result const r = run({"classify", "--dialect", "oracle", "SELECT 1"});
    BOOST_TEST(r.status != 0);
    BOOST_TEST(r.out.find("replica") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(classify_help_describes_the_command)
{
    run_result const r = run({"classify", "--help"});
    BOOST_TEST(r.status == 0);
    BOOST_TEST(r.out.find("--dialect") != std::string::npos);
    BOOST_TEST(r.out.find("-0") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(classify_fails_when_stdin_cannot_be_read)
{
    // a directory as standard input: read() fails with EISDIR
    std::string const cmd = shell_quote(SOCI_ROUTING_CLI) + " classify < " +
                            shell_quote(std::filesystem::temp_directory_path().string()) + " 2>/dev/null";
    int const status = std::system(cmd.c_str());
    BOOST_TEST((WIFEXITED(status) && WEXITSTATUS(status) != 0));
}

BOOST_AUTO_TEST_CASE(classify_with_empty_stdin_prints_nothing_and_succeeds)
{
    run_result const r = run({"classify"}, "");
    BOOST_TEST(r.status == 0);
    BOOST_TEST(r.out.empty());
}
