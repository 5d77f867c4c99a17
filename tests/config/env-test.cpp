// soci-routing: ${VAR} interpolation and the env_prefix overrides. Variables start with SRT_ (soci-routing test).

#include "config-test.h"

#include <boost/test/unit_test.hpp>

using namespace soci_routing;
using namespace soci_routing_test;

namespace
{

std::string const prefixed = R"([routing]
env_prefix = "SRT"
sticky = 5
[primary]
host = "file-host"
port = 5432
database = "file-db"
username = "file-user"
password = "file-pass"
[[replicas]]
host = "file-replica"
)";

} // namespace

BOOST_AUTO_TEST_SUITE(config_environment)

BOOST_AUTO_TEST_CASE(variable_is_interpolated_into_a_string)
{
    scoped_env host("SRT_HOST_A", "db.example");
    auto const c = load_toml("[primary]\nhost = \"${SRT_HOST_A}\"\ndatabase = \"x_${SRT_HOST_A}_y\"\n", "db.toml");
    BOOST_TEST(c.primary.host == "db.example");
    BOOST_TEST(c.primary.database == "x_db.example_y");
}

BOOST_AUTO_TEST_CASE(default_is_used_only_when_the_variable_is_unset)
{
    std::string const text = "[primary]\nhost = \"${SRT_HOST_B:-fallback.example}\"\n";
    {
        scoped_env unset("SRT_HOST_B", std::nullopt);
        BOOST_TEST(load_toml(text, "db.toml").primary.host == "fallback.example");
    }
    scoped_env set("SRT_HOST_B", "set.example");
    BOOST_TEST(load_toml(text, "db.toml").primary.host == "set.example");
}

BOOST_AUTO_TEST_CASE(unset_variable_without_default_is_an_error_naming_the_key)
{
    scoped_env unset("SRT_MISSING", std::nullopt);
    auto const p = problem_with_key(toml_problems("[primary]\nhost = \"a\"\npassword = \"${SRT_MISSING}\"\n"),
                                    "primary.password");
    BOOST_TEST(p.line == 3);
    BOOST_TEST(p.column == 12);
    BOOST_TEST(p.message.find("environment variable SRT_MISSING is not set") == 0);
}

BOOST_AUTO_TEST_CASE(unterminated_reference_is_an_error)
{
    auto const p = problem_with_key(toml_problems("[primary]\nhost = \"${SRT_X\"\n"), "primary.host");
    BOOST_TEST(p.message.find("unterminated") == 0);
}

BOOST_AUTO_TEST_CASE(doubled_dollar_is_a_literal_reference)
{
    auto const c = load_toml("[primary]\nhost = \"a\"\npassword = \"x$${NOT_A_VAR}\"\n", "db.toml");
    BOOST_TEST(c.primary.password == "x${NOT_A_VAR}");
}

BOOST_AUTO_TEST_CASE(numeric_field_may_come_from_an_interpolated_string)
{
    scoped_env unset("SRT_PORT_C", std::nullopt);
    auto const c = load_toml("[primary]\nhost = \"a\"\nport = \"${SRT_PORT_C:-6432}\"\n", "db.toml");
    BOOST_TEST(c.primary.port == 6432);
    scoped_env bad("SRT_PORT_C", "six");
    auto const p = problem_with_key(toml_problems("[primary]\nhost = \"a\"\nport = \"${SRT_PORT_C}\"\n"),
                                    "primary.port");
    BOOST_TEST(p.message == "expected an integer 1..65535, got \"six\"");
}

BOOST_AUTO_TEST_CASE(variables_are_interpolated_in_inline_strings)
{
    scoped_env pass("SRT_PASS_D", "from-env");
    auto const c = load_connect_string("primary='postgresql://host=a password=${SRT_PASS_D}' sticky=${SRT_NOPE:-2}");
    BOOST_TEST(c.primary.password == "from-env");
    BOOST_TEST(c.routing.sticky == 2.0);
}

BOOST_AUTO_TEST_CASE(prefixed_keys_override_the_primary)
{
    scoped_env host("SRT_HOST", "env-host");
    scoped_env port("SRT_PORT", "6543");
    scoped_env name("SRT_NAME", "env-db");
    scoped_env user("SRT_USER", "env-user");
    scoped_env pass("SRT_PASS", "env-pass");
    scoped_env timeout("SRT_TIMEOUT", "2.5");
    auto const c = load_toml(prefixed, "db.toml");
    BOOST_TEST(c.primary.host == "env-host");
    BOOST_TEST(c.primary.port == 6543);
    BOOST_TEST(c.primary.database == "env-db");
    BOOST_TEST(c.primary.username == "env-user");
    BOOST_TEST(c.primary.password == "env-pass");
    BOOST_TEST(c.primary.timeout == 2.5);
    // ... and what the primary gets, a replica inherits
    BOOST_TEST(c.replicas.at(0).database == "env-db");
    BOOST_TEST(c.replicas.at(0).host == "file-replica");
}

BOOST_AUTO_TEST_CASE(without_a_prefix_the_environment_keys_are_ignored)
{
    scoped_env host("SRT_HOST", "env-host");
    auto const c = load_toml("[primary]\nhost = \"file-host\"\n", "db.toml");
    BOOST_TEST(c.primary.host == "file-host");
}

BOOST_AUTO_TEST_CASE(routing_sticky_is_overridden)
{
    scoped_env sticky("SRT_ROUTING_STICKY", "0");
    BOOST_TEST(load_toml(prefixed, "db.toml").routing.sticky == 0.0);
}

BOOST_AUTO_TEST_CASE(replica_slot_with_a_host_overrides_that_replica)
{
    scoped_env host("SRT_REPLICA_1_HOST", "env-replica");
    scoped_env port("SRT_REPLICA_1_PORT", "5440");
    scoped_env name("SRT_REPLICA_1_NAME", "replica-db");
    scoped_env user("SRT_REPLICA_1_USER", "ro");
    scoped_env pass("SRT_REPLICA_1_PASS", "ro-pass");
    scoped_env timeout("SRT_REPLICA_1_TIMEOUT", "3");
    scoped_env statements("SRT_REPLICA_1_STATEMENTS", "0");
    scoped_env min("SRT_REPLICA_1_POOL_MIN", "1");
    scoped_env max("SRT_REPLICA_1_POOL_MAX", "4");
    auto const c = load_toml(prefixed, "db.toml");
    BOOST_REQUIRE_EQUAL(c.replicas.size(), 1u);
    auto const& r = c.replicas[0];
    BOOST_TEST(r.host == "env-replica");
    BOOST_TEST(r.port == 5440);
    BOOST_TEST(r.database == "replica-db");  // _NAME is the database, as PREFIX_NAME is
    BOOST_TEST(r.name == "replica-1");
    BOOST_TEST(r.username == "ro");
    BOOST_TEST(r.password == "ro-pass");
    BOOST_TEST(r.timeout == 3.0);
    BOOST_TEST(r.statements == 0);
    BOOST_TEST(r.pool.min == 1);
    BOOST_TEST(r.pool.max == 4);
}

BOOST_AUTO_TEST_CASE(replica_slot_without_a_host_is_not_used)
{
    scoped_env port("SRT_REPLICA_1_PORT", "5440");
    scoped_env port2("SRT_REPLICA_2_PORT", "5441");
    auto const c = load_toml(prefixed, "db.toml");
    BOOST_REQUIRE_EQUAL(c.replicas.size(), 1u);
    BOOST_TEST(c.replicas[0].port == 5432);
}

BOOST_AUTO_TEST_CASE(replica_slot_beyond_the_file_adds_a_replica)
{
    scoped_env host("SRT_REPLICA_2_HOST", "added");
    scoped_env port("SRT_REPLICA_2_PORT", "5442");
    auto const c = load_toml(prefixed, "db.toml");
    BOOST_REQUIRE_EQUAL(c.replicas.size(), 2u);
    BOOST_TEST(c.replicas[1].host == "added");
    BOOST_TEST(c.replicas[1].name == "replica-2");
    BOOST_TEST(c.replicas[1].port == 5442);
    BOOST_TEST(c.replicas[1].username == "file-user");
}

BOOST_AUTO_TEST_CASE(replica_tls_keys_become_libpq_options)
{
    scoped_env host("SRT_REPLICA_1_HOST", "r");
    scoped_env mode("SRT_REPLICA_1_SSLMODE", "verify-ca");
    scoped_env ca("SRT_REPLICA_1_SSLCAFILE", "/etc/ssl/ca.pem");
    auto const c = load_toml(prefixed, "db.toml");
    BOOST_TEST(c.replicas.at(0).options.at("sslmode") == "verify-ca");
    BOOST_TEST(c.replicas.at(0).options.at("sslrootcert") == "/etc/ssl/ca.pem");
}

BOOST_AUTO_TEST_CASE(replica_sslverify_selects_verify_full)
{
    scoped_env host("SRT_REPLICA_1_HOST", "r");
    scoped_env verify("SRT_REPLICA_1_SSLVERIFY", "true");
    BOOST_TEST(load_toml(prefixed, "db.toml").replicas.at(0).options.at("sslmode") == "verify-full");
}

BOOST_AUTO_TEST_CASE(tls_keys_soci_mysql_cannot_take_are_errors)
{
    scoped_env host("SRT_REPLICA_1_HOST", "r");
    scoped_env mode("SRT_REPLICA_1_SSLMODE", "require");
    scoped_env ca("SRT_REPLICA_1_SSLCAFILE", "/ca.pem");
    auto const problems = toml_problems("[routing]\nenv_prefix = \"SRT\"\n[primary]\ndriver = \"mysql\"\nhost = \"a\"\n");
    auto const p = problem_with_key(problems, "SRT_REPLICA_1_SSLMODE");
    BOOST_TEST(p.source == "environment (SRT_REPLICA_1_SSLMODE)");
    BOOST_TEST(p.message.find("not supported by SOCI 4.0.3's mysql backend") == 0);
    BOOST_TEST(problems.size() == 1u);  // the CA file is fine: sslca
}

BOOST_AUTO_TEST_CASE(bad_environment_value_names_the_variable)
{
    scoped_env port("SRT_PORT", "abc");
    auto const problems = toml_problems(prefixed);
    BOOST_REQUIRE_EQUAL(problems.size(), 1u);
    BOOST_TEST(problems[0].to_string() ==
               "environment (SRT_PORT): SRT_PORT: expected an integer 1..65535, got \"abc\"");
}

BOOST_AUTO_TEST_CASE(out_of_range_environment_value_is_reported_at_the_variable)
{
    scoped_env port("SRT_REPLICA_1_HOST", "r");
    scoped_env max("SRT_REPLICA_1_POOL_MAX", "0");
    auto const p = problem_with_key(toml_problems(prefixed), "replicas[0].pool.max");
    BOOST_TEST(p.source == "environment (SRT_REPLICA_1_POOL_MAX)");
}

BOOST_AUTO_TEST_CASE(misspelt_replica_key_is_an_error)
{
    scoped_env typo("SRT_REPLICA_1_HOTS", "x");
    auto const p = problem_with_key(toml_problems(prefixed), "SRT_REPLICA_1_HOTS");
    BOOST_TEST(p.message.find("did you mean \"HOST\"") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(env_prefix_may_be_given_inline)
{
    scoped_env host("SRT_HOST", "env-host");
    auto const c = load_connect_string("primary='host=inline-host' env_prefix=SRT");
    BOOST_TEST(c.primary.host == "env-host");
}

BOOST_AUTO_TEST_CASE(environment_alone_can_supply_the_primary)
{
    scoped_env host("SRT_HOST", "env-host");
    auto const c = load_connect_string("env_prefix=SRT");
    BOOST_TEST(c.primary.host == "env-host");
}

BOOST_AUTO_TEST_SUITE_END()
