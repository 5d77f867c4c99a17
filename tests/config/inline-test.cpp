// soci-routing: the inline connect string (`routing://primary='...' replica='...' sticky=5`).

#include "config-test.h"

#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <climits>

using namespace soci_routing;
using namespace soci_routing_test;

namespace
{

std::string const issue_example = "routing://primary='postgresql://host=a port=5432 dbname=app user=u password=p' "
                                  "replica='host=b' replica='host=c port=5433' sticky=5 fallback=true";

/// Runs in `dir` for its lifetime.
class scoped_cwd
{
public:
    explicit scoped_cwd(std::string const& dir)
    {
        char buffer[PATH_MAX];
        if (::getcwd(buffer, sizeof buffer))
            old_ = buffer;
        BOOST_REQUIRE(::chdir(dir.c_str()) == 0);
    }
    ~scoped_cwd()
    {
        if (!old_.empty() && ::chdir(old_.c_str()) != 0)
            BOOST_ERROR("cannot return to the former working directory");
    }

private:
    std::string old_;
};

} // namespace

BOOST_AUTO_TEST_SUITE(config_inline)

BOOST_AUTO_TEST_CASE(issue_example_gives_primary_replicas_and_routing)
{
    auto const c = load_connect_string(issue_example);
    BOOST_TEST(c.primary.drv == driver::postgresql);
    BOOST_TEST(c.primary.host == "a");
    BOOST_TEST(c.primary.port == 5432);
    BOOST_TEST(c.primary.database == "app");
    BOOST_TEST(c.primary.username == "u");
    BOOST_TEST(c.primary.password == "p");
    BOOST_REQUIRE_EQUAL(c.replicas.size(), 2u);
    BOOST_TEST(c.replicas[0].host == "b");
    BOOST_TEST(c.replicas[1].host == "c");
    BOOST_TEST(c.replicas[1].port == 5433);
    BOOST_TEST(c.routing.sticky == 5.0);
    BOOST_TEST(c.routing.fallback);
    BOOST_TEST(c.source == "connect string");
}

BOOST_AUTO_TEST_CASE(replica_given_only_a_host_inherits_the_rest)
{
    auto const c = load_connect_string(issue_example);
    auto const& r = c.replicas.at(0);
    BOOST_TEST(r.name == "replica-1");
    BOOST_TEST(r.port == 5432);
    BOOST_TEST(r.database == "app");
    BOOST_TEST(r.username == "u");
    BOOST_TEST(r.password == "p");
    BOOST_TEST(c.replicas.at(1).name == "replica-2");
}

BOOST_AUTO_TEST_CASE(what_soci_passes_and_the_routing_prefix_give_the_same_configuration)
{
    std::string const body = issue_example.substr(std::string("routing://").size());
    BOOST_TEST(load_connect_string(body).identity() == load_connect_string(issue_example).identity());
}

BOOST_AUTO_TEST_CASE(consistency_keys_are_inline_options)
{
    auto const c = load_connect_string("primary='host=a' sticky=0 consistency=causal causal_timeout=0.1");
    BOOST_TEST(std::string(to_string(c.routing.consistency)) == "causal");
    BOOST_TEST(c.routing.causal_timeout == 0.1);
    auto const p = problem_with_key(inline_problems("primary='host=a' consistency=strong"), "routing.consistency");
    BOOST_TEST(p.message.find("unknown consistency \"strong\", expected \"window\" or \"causal\"") == 0);
}

BOOST_AUTO_TEST_CASE(quoted_values_keep_spaces_quotes_and_backslashes)
{
    auto const c = load_connect_string(
        R"(primary='postgresql://host=a password=\'it\\\'s a\\\\b\' dbname=\'my db\'')");
    BOOST_TEST(c.primary.password == R"(it's a\b)");
    BOOST_TEST(c.primary.database == "my db");
}

BOOST_AUTO_TEST_CASE(mysql_syntax_keys_become_fields)
{
    auto const c = load_connect_string(
        "primary='mysql://host=m port=3307 db=shop user=me pass=secret connect_timeout=9 charset=utf8mb4' "
        "replica='host=n'");
    BOOST_TEST(c.primary.drv == driver::mysql);
    BOOST_TEST(c.primary.port == 3307);
    BOOST_TEST(c.primary.database == "shop");
    BOOST_TEST(c.primary.username == "me");
    BOOST_TEST(c.primary.password == "secret");
    BOOST_TEST(c.primary.timeout == 9.0);
    BOOST_TEST(c.primary.options.at("charset") == "utf8mb4");
    BOOST_TEST(c.replicas.at(0).drv == driver::mysql);
    BOOST_TEST(c.replicas.at(0).options.at("charset") == "utf8mb4");
}

BOOST_AUTO_TEST_CASE(unknown_keys_of_the_driver_string_go_to_options)
{
    auto const c = load_connect_string("primary='postgresql://host=a sslmode=require application_name=web'");
    BOOST_TEST(c.primary.options.at("sslmode") == "require");
    BOOST_TEST(c.primary.options.at("application_name") == "web");
}

BOOST_AUTO_TEST_CASE(routing_settings_inside_an_endpoint_string_become_fields)
{
    auto const c = load_connect_string(
        "primary='postgresql://host=a pool_max=20 pool_min=1 statements=0' replica='host=b name=east weight=2.5'");
    BOOST_TEST(c.primary.pool.max == 20);
    BOOST_TEST(c.primary.pool.min == 1);
    BOOST_TEST(c.primary.statements == 0);
    BOOST_TEST(c.replicas.at(0).name == "east");
    BOOST_TEST(c.replicas.at(0).weight == 2.5);
    BOOST_TEST(c.replicas.at(0).pool.max == 20);
}

BOOST_AUTO_TEST_CASE(pool_idle_check_is_an_inline_endpoint_setting)
{
    auto const c = load_connect_string("primary='postgresql://host=a pool_idle_check=0.5' replica='host=b'");
    BOOST_TEST(c.primary.pool.idle_check == 0.5);
    BOOST_TEST(c.replicas.at(0).pool.idle_check == 0.5);
}

BOOST_AUTO_TEST_CASE(every_routing_key_is_accepted_inline)
{
    auto const c = load_connect_string("primary='host=a' sticky=0 fallback=false balance=random max_lag=3 "
                                       "failures=4 retry_window=1.5 retry_window_max=20 lag_probe_interval=2 "
                                       "read_timeout=0.5 primary_functions='Next_Id, audit'");
    BOOST_TEST(c.routing.sticky == 0.0);
    BOOST_TEST(!c.routing.fallback);
    BOOST_TEST(c.routing.balance == balance_policy::random);
    BOOST_TEST(c.routing.max_lag == 3.0);
    BOOST_TEST(c.routing.failures == 4);
    BOOST_TEST(c.routing.retry_window == 1.5);
    BOOST_TEST(c.routing.retry_window_max == 20.0);
    BOOST_TEST(c.routing.lag_probe_interval == 2.0);
    BOOST_TEST(c.routing.read_timeout == 0.5);
    BOOST_TEST(c.classifier.primary_functions == (std::vector<std::string>{"next_id", "audit"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(bad_value_inside_the_primary_string_is_reported_at_its_position)
{
    //                         1234567890123456789012345678901234
    auto const problems = inline_problems("primary='postgresql://host=a port=x'");
    auto const p = problem_with_key(problems, "primary.port");
    BOOST_TEST(p.to_string() == "connect string:1:35: primary.port: expected an integer 1..65535, got \"x\"");
}

BOOST_AUTO_TEST_CASE(positions_count_the_routing_prefix)
{
    auto const p = problem_with_key(inline_problems("routing://primary='host=a' sticky=x"), "routing.sticky");
    BOOST_TEST(p.column == 35);
}

BOOST_AUTO_TEST_CASE(unknown_key_is_reported_with_its_position_and_a_suggestion)
{
    auto const p = problem_with_key(inline_problems("primary='host=a' stiky=5"), "stiky");
    BOOST_TEST(p.line == 1);
    BOOST_TEST(p.column == 18);
    BOOST_TEST(p.message.find("did you mean \"sticky\"") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(unknown_driver_prefix_is_an_error)
{
    auto const p = problem_with_key(inline_problems("primary='oracle://host=a'"), "primary.driver");
    BOOST_TEST(p.column == 10);
    BOOST_TEST(p.message.find("unknown driver \"oracle\"") == 0);
}

BOOST_AUTO_TEST_CASE(unterminated_quote_is_an_error_at_its_start)
{
    auto const problems = inline_problems("sticky=1 primary='host=a");
    BOOST_REQUIRE_EQUAL(problems.size(), 1u);
    BOOST_TEST(problems[0].key == "primary");
    BOOST_TEST(problems[0].column == 18);
    BOOST_TEST(problems[0].message.find("unterminated") == 0);
}

BOOST_AUTO_TEST_CASE(key_without_equals_sign_is_an_error)
{
    auto const problems = inline_problems("primary='host=a' fallback");
    BOOST_REQUIRE_EQUAL(problems.size(), 1u);
    BOOST_TEST(problems[0].column == 18);
    BOOST_TEST(problems[0].message.find("expected key=value") == 0);
}

BOOST_AUTO_TEST_CASE(empty_connect_string_is_an_error)
{
    BOOST_TEST(inline_problems("routing://").at(0).message.find("empty connect string") == 0);
    BOOST_TEST(inline_problems("   ").size() == 1u);
}

BOOST_AUTO_TEST_CASE(missing_primary_inline_is_an_error)
{
    auto const p = problem_with_key(inline_problems("replica='host=b' sticky=1"), "primary");
    BOOST_TEST(p.message.find("missing") == 0);
}

BOOST_AUTO_TEST_CASE(replica_differing_in_driver_is_an_error)
{
    auto const problems = inline_problems("primary='postgresql://host=a' replica='mysql://host=b'");
    BOOST_TEST(problem_with_key(problems, "replicas[0].driver").column == 40);
}

BOOST_AUTO_TEST_CASE(config_file_with_overrides_after_it)
{
    auto const c = load_connect_string("config=" + fixture("design.toml") + " sticky=0 fallback=false");
    BOOST_TEST(c.routing.sticky == 0.0);
    BOOST_TEST(!c.routing.fallback);
    BOOST_TEST(c.primary.host == "127.0.0.1");
    BOOST_TEST(c.replicas.size() == 2u);
}

BOOST_AUTO_TEST_CASE(config_path_is_relative_to_the_working_directory)
{
    scoped_cwd in(SOCI_ROUTING_CONFIG_FIXTURES);
    auto const c = load_connect_string("routing://config=design.toml");
    BOOST_TEST(c.primary.database == "app");
}

BOOST_AUTO_TEST_CASE(inline_replicas_replace_the_files)
{
    auto const c = load_connect_string("config=" + fixture("design.toml") + " replica='host=z'");
    BOOST_REQUIRE_EQUAL(c.replicas.size(), 1u);
    BOOST_TEST(c.replicas[0].host == "z");
    BOOST_TEST(c.replicas[0].database == "app");
}

BOOST_AUTO_TEST_CASE(inline_primary_overrides_fields_of_the_files)
{
    auto const c = load_connect_string("config=" + fixture("design.toml") + " primary='host=other port=6000'");
    BOOST_TEST(c.primary.host == "other");
    BOOST_TEST(c.primary.port == 6000);
    BOOST_TEST(c.primary.database == "app");
    BOOST_TEST(c.replicas.at(0).port == 6000);
}

BOOST_AUTO_TEST_CASE(problems_of_the_referenced_file_name_the_file)
{
    auto const problems = inline_problems("config=" + fixture("invalid.toml") + " sticky=abc");
    BOOST_TEST(problem_with_key(problems, "replicas[0].port").source == fixture("invalid.toml"));
    BOOST_TEST(problem_with_key(problems, "routing.sticky").source == "connect string");
}

BOOST_AUTO_TEST_CASE(missing_config_file_is_an_error_at_its_position)
{
    auto const p = problem_with_key(inline_problems("config=nowhere/db.toml"), "config");
    BOOST_TEST(p.column == 8);
    BOOST_TEST(p.message.find("cannot read configuration file \"nowhere/db.toml\"") == 0);
}

BOOST_AUTO_TEST_CASE(load_source_tells_a_connect_string_from_a_file)
{
    BOOST_TEST(load_source("routing://primary='host=a'").source == "connect string");
    BOOST_TEST(load_source(fixture("design.toml")).source == fixture("design.toml"));
}

BOOST_AUTO_TEST_SUITE_END()
