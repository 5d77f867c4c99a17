// soci-routing: loading TOML, inheritance, and validation with FILE:LINE:COL.

#include "config-test.h"

#include <boost/test/unit_test.hpp>

using namespace soci_routing;
using namespace soci_routing_test;

namespace
{

std::string const minimal = "[primary]\nhost = \"db1\"\n";

// A primary that sets every inheritable field, and a replica that sets only its host.
std::string const full_primary = R"([primary]
driver = "mysql"
host = "db1"
port = 3307
database = "shop"
username = "shopper"
password = "pw-inherit"
timeout = 7.5
statements = 16
weight = 3
options = { sslca = "/ca.pem", charset = "utf8mb4" }
[primary.pool]
min = 2
max = 12
wait_timeout = 1.5
idle_timeout = 60

[[replicas]]
host = "db2"
)";

} // namespace

BOOST_AUTO_TEST_SUITE(config_toml)

BOOST_AUTO_TEST_CASE(design_example_loads_every_value)
{
    auto const c = load_file(fixture("design.toml"));
    BOOST_TEST(c.routing.sticky == 5.0);
    BOOST_TEST(c.routing.fallback);
    BOOST_TEST(c.routing.balance == balance_policy::round_robin);
    BOOST_TEST(c.primary.name == "primary");
    BOOST_TEST(c.primary.drv == driver::postgresql);
    BOOST_TEST(c.primary.host == "127.0.0.1");
    BOOST_TEST(c.primary.port == 5432);
    BOOST_TEST(c.primary.database == "app");
    BOOST_TEST(c.primary.username == "app");
    BOOST_TEST(c.primary.timeout == 5.0);
    BOOST_TEST(c.primary.options.at("sslmode") == "prefer");
    BOOST_TEST(c.primary.pool.max == 10);
    BOOST_REQUIRE_EQUAL(c.replicas.size(), 2u);
    BOOST_TEST(c.replicas[0].name == "replica-1");
    BOOST_TEST(c.replicas[0].host == "10.0.0.2");
    BOOST_TEST(c.replicas[0].pool.max == 20);
    BOOST_TEST(c.replicas[1].host == "10.0.0.3");
    BOOST_TEST(c.replicas[1].port == 5433);
    BOOST_TEST(c.replicas[1].weight == 2.0);
    BOOST_TEST(c.source == fixture("design.toml"));
}

BOOST_AUTO_TEST_CASE(absent_keys_take_the_value_types_defaults)
{
    auto const c = load_toml(minimal, "db.toml");
    routing_options const r;
    endpoint_config const e;
    BOOST_TEST(c.routing.sticky == r.sticky);
    BOOST_TEST(c.routing.fallback == r.fallback);
    BOOST_TEST(c.routing.failures == r.failures);
    BOOST_TEST(c.primary.port == e.port);
    BOOST_TEST(c.primary.timeout == e.timeout);
    BOOST_TEST(c.primary.pool.max == e.pool.max);
    BOOST_TEST(c.primary.statements == e.statements);
    BOOST_TEST(c.replicas.empty());
}

BOOST_AUTO_TEST_CASE(every_routing_key_is_accepted)
{
    auto const c = load_toml(R"([routing]
sticky = 0
fallback = false
balance = "random"
max_lag = 2.5
failures = 5
retry_window = 2
retry_window_max = 30
lag_probe_interval = 0.5
read_timeout = 1.5
env_prefix = "SRT_UNUSED_PREFIX"
[primary]
host = "db1"
)", "db.toml");
    BOOST_TEST(c.routing.sticky == 0.0);
    BOOST_TEST(!c.routing.fallback);
    BOOST_TEST(c.routing.balance == balance_policy::random);
    BOOST_TEST(c.routing.max_lag == 2.5);
    BOOST_TEST(c.routing.failures == 5);
    BOOST_TEST(c.routing.retry_window == 2.0);
    BOOST_TEST(c.routing.retry_window_max == 30.0);
    BOOST_TEST(c.routing.lag_probe_interval == 0.5);
    BOOST_TEST(c.routing.read_timeout == 1.5);
    BOOST_TEST(c.routing.env_prefix == "SRT_UNUSED_PREFIX");
}

BOOST_AUTO_TEST_CASE(read_timeout_is_off_by_default_and_never_negative)
{
    BOOST_TEST(load_toml("[primary]\nhost = \"a\"\n", "db.toml").routing.read_timeout == 0.0);
    auto const p = problem_with_key(toml_problems("[routing]\nread_timeout = -2\n[primary]\nhost = \"a\"\n"),
                                    "routing.read_timeout");
    BOOST_TEST(p.line == 2);
}

BOOST_AUTO_TEST_CASE(replica_inherits_driver_port_database_and_username)
{
    auto const c = load_toml(full_primary, "db.toml");
    BOOST_REQUIRE_EQUAL(c.replicas.size(), 1u);
    auto const& r = c.replicas[0];
    BOOST_TEST(r.drv == driver::mysql);
    BOOST_TEST(r.port == 3307);
    BOOST_TEST(r.database == "shop");
    BOOST_TEST(r.username == "shopper");
}

BOOST_AUTO_TEST_CASE(replica_inherits_password_and_timeout)
{
    auto const c = load_toml(full_primary, "db.toml");
    BOOST_TEST(c.replicas.at(0).password == "pw-inherit");
    BOOST_TEST(c.replicas.at(0).timeout == 7.5);
}

BOOST_AUTO_TEST_CASE(replica_inherits_options_statements_and_weight)
{
    auto const c = load_toml(full_primary, "db.toml");
    auto const& r = c.replicas.at(0);
    BOOST_TEST(r.options.at("sslca") == "/ca.pem");
    BOOST_TEST(r.options.at("charset") == "utf8mb4");
    BOOST_TEST(r.statements == 16);
    BOOST_TEST(r.weight == 3.0);
}

BOOST_AUTO_TEST_CASE(replica_inherits_each_pool_field)
{
    auto const c = load_toml(full_primary, "db.toml");
    auto const& p = c.replicas.at(0).pool;
    BOOST_TEST(p.min == 2);
    BOOST_TEST(p.max == 12);
    BOOST_TEST(p.wait_timeout == 1.5);
    BOOST_TEST(p.idle_timeout == 60.0);
}

BOOST_AUTO_TEST_CASE(replica_field_overrides_the_inherited_one_field_by_field)
{
    auto const c = load_toml(full_primary + R"(port = 3308
options = { sslca = "/other.pem" }
[replicas.pool]
max = 30
)", "db.toml");
    auto const& r = c.replicas.at(0);
    BOOST_TEST(r.port == 3308);
    BOOST_TEST(r.options.at("sslca") == "/other.pem");
    BOOST_TEST(r.options.at("charset") == "utf8mb4");  // merged, not replaced
    BOOST_TEST(r.pool.max == 30);
    BOOST_TEST(r.pool.min == 2);
    BOOST_TEST(c.primary.port == 3307);
}

BOOST_AUTO_TEST_CASE(replica_names_default_to_their_position)
{
    auto const c = load_toml(minimal + "[[replicas]]\nhost = \"a\"\n[[replicas]]\nname = \"east\"\nhost = \"b\"\n"
                                       "[[replicas]]\nhost = \"c\"\n", "db.toml");
    BOOST_REQUIRE_EQUAL(c.replicas.size(), 3u);
    BOOST_TEST(c.primary.name == "primary");
    BOOST_TEST(c.replicas[0].name == "replica-1");
    BOOST_TEST(c.replicas[1].name == "east");
    BOOST_TEST(c.replicas[2].name == "replica-3");
}

BOOST_AUTO_TEST_CASE(port_given_as_string_is_reported_at_its_line_and_column)
{
    std::string const text = R"([routing]
sticky = 5

[primary]
host = "db1"
port = 5432
database = "app"

[[replicas]]
host = "db2"

[[replicas]]
host = "db3"
port = "abc"
)";
    auto const problems = toml_problems(text);
    BOOST_REQUIRE_EQUAL(problems.size(), 1u);
    BOOST_TEST(problems[0].to_string() == "db.toml:14:8: replicas[1].port: expected an integer 1..65535, got \"abc\"");
}

BOOST_AUTO_TEST_CASE(port_out_of_range_is_reported_at_its_value)
{
    auto const p = problem_with_key(toml_problems("[primary]\nhost = \"db1\"\nport = 70000\n"), "primary.port");
    BOOST_TEST(p.line == 3);
    BOOST_TEST(p.column == 8);
    BOOST_TEST(p.message == "expected an integer 1..65535, got 70000");
}

BOOST_AUTO_TEST_CASE(float_for_an_integer_field_is_a_type_error)
{
    auto const p = problem_with_key(toml_problems("[primary]\nhost = \"db1\"\nport = 5432.0\n"), "primary.port");
    BOOST_TEST(p.line == 3);
    BOOST_TEST(p.message.find("expected an integer") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(integer_is_accepted_where_seconds_are_expected)
{
    auto const c = load_toml("[routing]\nsticky = 3\n" + minimal, "db.toml");
    BOOST_TEST(c.routing.sticky == 3.0);
}

BOOST_AUTO_TEST_CASE(boolean_given_as_string_is_a_type_error)
{
    auto const p = problem_with_key(toml_problems("[routing]\nfallback = \"yes\"\n" + minimal), "routing.fallback");
    BOOST_TEST(p.to_string() == "db.toml:2:12: routing.fallback: expected a boolean (true or false), got \"yes\"");
}

BOOST_AUTO_TEST_CASE(unknown_key_is_an_error_with_a_suggestion)
{
    auto const p = problem_with_key(toml_problems("[primary]\nhost = \"db1\"\nusername = \"u\"\npasword = \"x\"\n"),
                                    "primary.pasword");
    BOOST_TEST(p.line == 4);
    BOOST_TEST(p.column == 1);
    BOOST_TEST(p.message.find("unknown key (did you mean \"password\"?)") == 0);
}

BOOST_AUTO_TEST_CASE(unknown_section_and_routing_key_are_errors)
{
    auto const problems = toml_problems("[routing]\nstiky = 1\n[primary]\nhost = \"db1\"\n[replica]\nhost = \"x\"\n");
    BOOST_TEST(problem_with_key(problems, "routing.stiky").line == 2);
    BOOST_TEST(problem_with_key(problems, "replica").line == 5);
}

BOOST_AUTO_TEST_CASE(missing_primary_section_is_an_error)
{
    auto const problems = toml_problems("[routing]\nsticky = 1\n");
    BOOST_REQUIRE_EQUAL(problems.size(), 1u);
    BOOST_TEST(problems[0].key == "primary");
    BOOST_TEST(problems[0].source == "db.toml");
    BOOST_TEST(problems[0].message.find("missing") == 0);
}

BOOST_AUTO_TEST_CASE(replica_without_host_is_an_error_at_its_table)
{
    auto const p = problem_with_key(toml_problems(minimal + "\n[[replicas]]\nport = 5433\n"), "replicas[0].host");
    BOOST_TEST(p.line == 4);
    BOOST_TEST(p.message.find("every replica names its own host") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(replica_driver_differing_from_the_primary_is_an_error)
{
    auto const p = problem_with_key(
        toml_problems(minimal + "[[replicas]]\nhost = \"db2\"\ndriver = \"mysql\"\n"), "replicas[0].driver");
    BOOST_TEST(p.line == 5);
    BOOST_TEST(p.column == 10);
    BOOST_TEST(p.message == "expected the primary's driver \"postgresql\", got \"mysql\"");
}

BOOST_AUTO_TEST_CASE(duplicate_replica_names_are_an_error)
{
    auto const problems = toml_problems(minimal + "[[replicas]]\nname = \"r\"\nhost = \"a\"\n"
                                                  "[[replicas]]\nname = \"r\"\nhost = \"b\"\n"
                                                  "[[replicas]]\nname = \"primary\"\nhost = \"c\"\n");
    BOOST_TEST(problem_with_key(problems, "replicas[1].name").line == 7);
    BOOST_TEST(problem_with_key(problems, "replicas[2].name").line == 10);
}

// Found by fuzz/fuzz-env: timeout = 3e38 passed validation and overflowed the connect string's whole seconds
// (undefined behaviour; the pools' milliseconds would too).
BOOST_AUTO_TEST_CASE(a_number_of_seconds_above_1e9_is_an_error)
{
    auto const problems = toml_problems("[routing]\nsticky = 1e300\n[primary]\nhost = \"a\"\ntimeout = 3e38\n"
                                        "[primary.pool]\nwait_timeout = 1e10\n");
    BOOST_TEST(problem_with_key(problems, "routing.sticky").message.find("expected at most 1e+09") == 0);
    BOOST_TEST(problem_with_key(problems, "primary.timeout").line == 5);
    BOOST_TEST(problem_with_key(problems, "primary.pool.wait_timeout").line == 7);
    BOOST_TEST(load_toml("[primary]\nhost = \"a\"\ntimeout = 1e9\n", "db.toml").primary.timeout == 1e9);
}

BOOST_AUTO_TEST_CASE(topology_is_static_by_default_and_discover_on_request)
{
    auto const plain = load_toml("[primary]\nhost = \"a\"\n", "db.toml");
    BOOST_TEST(std::string(to_string(plain.routing.topology)) == "static");
    BOOST_TEST(plain.routing.role_probe_interval == 1.0);
    auto const c = load_toml("[routing]\ntopology = \"discover\"\nrole_probe_interval = 0.25\n[primary]\nhost = \"a\"\n",
                             "db.toml");
    BOOST_TEST(std::string(to_string(c.routing.topology)) == "discover");
    BOOST_TEST(c.routing.role_probe_interval == 0.25);
    BOOST_TEST(to_toml(c).find("topology = 'discover'") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(unknown_topology_and_bad_role_probe_interval_are_errors)
{
    auto const problems = toml_problems("[routing]\ntopology = \"discovery\"\nrole_probe_interval = 0\n"
                                        "[primary]\nhost = \"a\"\n");
    auto const t = problem_with_key(problems, "routing.topology");
    BOOST_TEST(t.line == 2);
    BOOST_TEST(t.message.find("unknown topology \"discovery\"") == 0);
    BOOST_TEST(t.message.find("did you mean \"discover\"") != std::string::npos);
    BOOST_TEST(problem_with_key(problems, "routing.role_probe_interval").line == 3);
}

BOOST_AUTO_TEST_CASE(consistency_and_causal_timeout_are_read_and_written_back)
{
    auto const plain = load_toml("[primary]\nhost = \"a\"\n", "db.toml");
    BOOST_TEST(plain.routing.causal_timeout == 0.05);
    auto const c = load_toml("[routing]\nconsistency = \"causal\"\ncausal_timeout = 0.2\n[primary]\nhost = \"a\"\n",
                             "db.toml");
    BOOST_TEST(std::string(to_string(c.routing.consistency)) == "causal");
    BOOST_TEST(c.routing.causal_timeout == 0.2);
    BOOST_TEST(to_toml(c).find("consistency = 'causal'") != std::string::npos);
    BOOST_TEST(to_json(c).find("\"consistency\": \"causal\"") != std::string::npos);
    auto const w = load_toml("[routing]\nconsistency = \"window\"\ncausal_timeout = 0\n[primary]\nhost = \"a\"\n",
                             "db.toml");
    BOOST_TEST(std::string(to_string(w.routing.consistency)) == "window");
    BOOST_TEST(w.routing.causal_timeout == 0.0);
}

BOOST_AUTO_TEST_CASE(rebalance_is_read_and_checked)
{
    BOOST_TEST(load_toml("[primary]\nhost = \"a\"\n", "db.toml").routing.rebalance == 1.0);
    BOOST_TEST(load_toml("[routing]\nrebalance = 0\n[primary]\nhost = \"a\"\n", "db.toml").routing.rebalance == 0.0);
    auto const problem = problem_with_key(toml_problems("[routing]\nrebalance = -1\n[primary]\nhost = \"a\"\n"),
                                          "routing.rebalance");
    BOOST_TEST(problem.line == 2);
    BOOST_TEST(load_connect_string("primary='host=a' rebalance=0.25").routing.rebalance == 0.25);
}

BOOST_AUTO_TEST_CASE(linger_is_read_and_checked)
{
    BOOST_TEST(load_toml("[primary]\nhost = \"a\"\n", "db.toml").routing.linger == 1.0);
    BOOST_TEST(load_toml("[routing]\nlinger = 0\n[primary]\nhost = \"a\"\n", "db.toml").routing.linger == 0.0);
    BOOST_TEST(problem_with_key(toml_problems("[routing]\nlinger = -2\n[primary]\nhost = \"a\"\n"), "routing.linger").line
               == 2);
    BOOST_TEST(load_connect_string("primary='host=a' linger=2.5").routing.linger == 2.5);
}

BOOST_AUTO_TEST_CASE(unknown_consistency_and_negative_causal_timeout_are_errors)
{
    auto const problems = toml_problems("[routing]\nconsistency = \"casual\"\ncausal_timeout = -1\n"
                                        "[primary]\nhost = \"a\"\n");
    auto const t = problem_with_key(problems, "routing.consistency");
    BOOST_TEST(t.line == 2);
    BOOST_TEST(t.message.find("unknown consistency \"casual\"") == 0);
    BOOST_TEST(t.message.find("did you mean \"causal\"") != std::string::npos);
    BOOST_TEST(problem_with_key(problems, "routing.causal_timeout").line == 3);
    auto const typed = toml_problems("[routing]\nconsistency = 1\n[primary]\nhost = \"a\"\n");
    BOOST_TEST(problem_with_key(typed, "routing.consistency").line == 2);
}

BOOST_AUTO_TEST_CASE(unknown_driver_and_balance_policy_are_errors)
{
    auto const problems = toml_problems("[routing]\nbalance = \"round-robin\"\n[primary]\nhost = \"a\"\n"
                                        "driver = \"postgres\"\n");
    auto const balance = problem_with_key(problems, "routing.balance");
    BOOST_TEST(balance.line == 2);
    BOOST_TEST(balance.message.find("did you mean \"round_robin\"") != std::string::npos);
    auto const drv = problem_with_key(problems, "primary.driver");
    BOOST_TEST(drv.line == 5);
    BOOST_TEST(drv.message.find("unknown driver \"postgres\"") == 0);
}

BOOST_AUTO_TEST_CASE(syntax_error_is_reported_at_toml_position)
{
    auto const problems = toml_problems("[primary]\nhost = \"db1\"\nport = = 5\n");
    BOOST_REQUIRE_EQUAL(problems.size(), 1u);
    BOOST_TEST(problems[0].line == 3);
    BOOST_TEST(problems[0].column > 0);
    BOOST_TEST(problems[0].message.find("TOML syntax error") == 0);
    BOOST_TEST(problems[0].to_string().find("db.toml:3:") == 0);
}

BOOST_AUTO_TEST_CASE(pool_min_above_max_is_an_error)
{
    auto const p = problem_with_key(toml_problems("[primary]\nhost = \"a\"\n[primary.pool]\nmin = 5\nmax = 2\n"),
                                    "primary.pool.min");
    BOOST_TEST(p.line == 4);
    BOOST_TEST(p.message == "expected at most pool.max (2), got 5");
}

BOOST_AUTO_TEST_CASE(pool_max_below_one_is_an_error)
{
    auto const p = problem_with_key(toml_problems("[primary]\nhost = \"a\"\n[primary.pool]\nmax = 0\n"),
                                    "primary.pool.max");
    BOOST_TEST(p.line == 4);
    BOOST_TEST(p.message == "expected an integer >= 1, got 0");
}

BOOST_AUTO_TEST_CASE(pool_idle_check_defaults_to_one_second_and_is_inherited)
{
    auto const c = load_toml("[primary]\nhost = \"a\"\n[primary.pool]\nidle_check = 0.25\n[[replicas]]\nhost = \"b\"\n"
                             "[[replicas]]\nhost = \"c\"\n[replicas.pool]\nidle_check = 0\n",
                             "db.toml");
    BOOST_TEST(c.primary.pool.idle_check == 0.25);
    BOOST_TEST(c.replicas.at(0).pool.idle_check == 0.25);
    BOOST_TEST(c.replicas.at(1).pool.idle_check == 0.0);  // 0: every idle connection is checked when lent
    BOOST_TEST(load_toml("[primary]\nhost = \"a\"\n", "db.toml").primary.pool.idle_check == 1.0);
}

BOOST_AUTO_TEST_CASE(negative_pool_idle_check_is_an_error)
{
    auto const p = problem_with_key(toml_problems("[primary]\nhost = \"a\"\n[primary.pool]\nidle_check = -1\n"),
                                    "primary.pool.idle_check");
    BOOST_TEST(p.line == 4);
    BOOST_TEST(p.message.find("-1") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(out_of_range_numbers_are_errors_at_their_lines)
{
    auto const problems = toml_problems(R"([routing]
sticky = -1
failures = 0
[primary]
host = "a"
timeout = 0
statements = -2
[[replicas]]
host = "b"
weight = 0
)");
    BOOST_TEST(problem_with_key(problems, "routing.sticky").line == 2);
    BOOST_TEST(problem_with_key(problems, "routing.failures").line == 3);
    BOOST_TEST(problem_with_key(problems, "primary.timeout").line == 6);
    BOOST_TEST(problem_with_key(problems, "primary.statements").line == 7);
    BOOST_TEST(problem_with_key(problems, "replicas[0].weight").line == 10);
}

BOOST_AUTO_TEST_CASE(an_invalid_inherited_value_is_reported_once_on_the_primary)
{
    auto const problems = toml_problems("[primary]\nhost = \"a\"\ntimeout = -1\n[[replicas]]\nhost = \"b\"\n");
    BOOST_REQUIRE_EQUAL(problems.size(), 1u);
    BOOST_TEST(problems[0].key == "primary.timeout");
}

BOOST_AUTO_TEST_CASE(every_problem_of_a_file_is_reported)
{
    auto const problems = problems_of([] { load_file(fixture("invalid.toml")); });
    BOOST_TEST(problems.size() == 3u);
    std::string const f = fixture("invalid.toml");
    BOOST_TEST(problem_with_key(problems, "routing.sticky").to_string() ==
               f + ":2:10: routing.sticky: expected a number >= 0, got -1");
    BOOST_TEST(problem_with_key(problems, "primary.prot").line == 8);
    BOOST_TEST(problem_with_key(problems, "replicas[0].port").to_string() ==
               f + ":12:8: replicas[0].port: expected an integer 1..65535, got \"abc\"");
}

BOOST_AUTO_TEST_CASE(unknown_driver_option_is_an_error)
{
    auto const p = problem_with_key(toml_problems("[primary]\nhost = \"a\"\noptions = { sslmod = \"require\" }\n"),
                                    "primary.options.sslmod");
    BOOST_TEST(p.line == 3);
    BOOST_TEST(p.message.find("unknown postgresql option (did you mean \"sslmode\"?)") == 0);
}

BOOST_AUTO_TEST_CASE(option_unsupported_by_soci_mysql_is_an_error)
{
    auto const p = problem_with_key(
        toml_problems("[primary]\ndriver = \"mysql\"\nhost = \"a\"\noptions = { sslmode = \"require\" }\n"),
        "primary.options.sslmode");
    BOOST_TEST(p.message.find("unknown mysql option") == 0);
}

BOOST_AUTO_TEST_CASE(option_duplicating_an_endpoint_field_is_an_error)
{
    auto const p = problem_with_key(toml_problems("[primary]\nhost = \"a\"\noptions = { port = 5 }\n"),
                                    "primary.options.port");
    BOOST_TEST(p.message.find("set `port`") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(invalid_sslmode_value_is_an_error)
{
    auto const p = problem_with_key(toml_problems("[primary]\nhost = \"a\"\noptions = { sslmode = \"verify_full\" }\n"),
                                    "primary.options.sslmode");
    BOOST_TEST(p.message.find("did you mean \"verify-full\"") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(classifier_functions_are_loaded_in_lower_case)
{
    auto const c = load_toml(minimal + "[classifier]\nprimary_functions = [\"Next_Ticket\", \"audit\"]\n", "db.toml");
    BOOST_TEST(c.classifier.primary_functions == (std::vector<std::string>{"next_ticket", "audit"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(classifier_function_that_is_not_a_string_is_an_error)
{
    auto const p = problem_with_key(toml_problems(minimal + "[classifier]\nprimary_functions = [\"a\", 3]\n"),
                                    "classifier.primary_functions[1]");
    BOOST_TEST(p.line == 4);
}

BOOST_AUTO_TEST_CASE(missing_file_is_an_error_naming_it)
{
    auto const problems = problems_of([] { load_file("no-such-dir/db.toml"); });
    BOOST_REQUIRE_EQUAL(problems.size(), 1u);
    BOOST_TEST(problems[0].to_string().find("no-such-dir/db.toml: cannot read configuration file") == 0);
}

BOOST_AUTO_TEST_CASE(mysql_file_loads_with_driver_defaults)
{
    auto const c = load_file(fixture("mysql.toml"));
    BOOST_TEST(c.primary.drv == driver::mysql);
    BOOST_TEST(c.primary.effective_port() == 3306);
    BOOST_TEST(c.replicas.at(0).effective_port() == 3307);
    BOOST_TEST(c.replicas.at(0).options.at("charset") == "utf8mb4");
    BOOST_TEST(c.routing.balance == balance_policy::least_connections);
}

BOOST_AUTO_TEST_CASE(validate_checks_a_programmatic_configuration)
{
    cluster_config c;
    c.source = "code";
    c.primary.name = "primary";
    c.primary.host = "a";
    BOOST_TEST(validate(c).empty());
    endpoint_config r = c.primary;
    r.name = "replica-1";
    r.host = "";
    r.pool.min = 3;
    r.pool.max = 2;
    c.replicas.push_back(r);
    auto const problems = validate(c);
    BOOST_TEST(problem_with_key(problems, "replicas[0].host").source == "code");
    BOOST_TEST(problem_with_key(problems, "replicas[0].pool.min").line == 0);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_CASE(replicas_do_not_inherit_target_session_attrs)
{
    auto const c = load_toml("[primary]\nhost = \"a\"\noptions = { target_session_attrs = \"read-write\", "
                             "sslmode = \"require\" }\n[[replicas]]\nhost = \"b\"\n",
                             "db.toml");
    BOOST_TEST(c.primary.options.at("target_session_attrs") == "read-write");
    BOOST_TEST(c.replicas.at(0).options.count("target_session_attrs") == 0u);
    BOOST_TEST(c.replicas.at(0).options.at("sslmode") == "require");  // other options are inherited
    BOOST_TEST(c.replicas.at(0).connect_string().find("target_session_attrs") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(replica_that_requires_a_writable_server_is_an_error)
{
    auto const p = problem_with_key(
        toml_problems("[primary]\nhost = \"a\"\n[[replicas]]\nhost = \"b\"\n"
                      "options = { target_session_attrs = \"read-write\" }\n"),
        "replicas[0].options.target_session_attrs");
    BOOST_TEST(p.message.find("read-only") != std::string::npos, p.message);
    BOOST_TEST(p.message.find("not inherited") != std::string::npos, p.message);
    auto const q = problem_with_key(
        toml_problems("[primary]\nhost = \"a\"\noptions = { target_session_attrs = \"standby\" }\n"),
        "primary.options.target_session_attrs");
    BOOST_TEST(q.message.find("read-write") != std::string::npos, q.message);
}
