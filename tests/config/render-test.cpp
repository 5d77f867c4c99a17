// soci-routing: driver connect strings, describe(), identity(), to_toml(), to_json().

#include "config-test.h"

#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>
#include <toml++/toml.h>

using namespace soci_routing;
using namespace soci_routing_test;

namespace
{

endpoint_config pg()
{
    endpoint_config e;
    e.name = "primary";
    e.host = "db1";
    e.database = "app";
    e.username = "u";
    e.password = "p";
    return e;
}

} // namespace

BOOST_AUTO_TEST_SUITE(config_render)

// Found by fuzz/fuzz-inline: a host of stray bytes made to_json() (`soci-routing config --json`) throw
// nlohmann's type_error 316 and terminate.
BOOST_AUTO_TEST_CASE(json_output_replaces_bytes_that_are_not_utf8)
{
    cluster_config c = load_connect_string("primary='postgresql://host=\x9f\xe0 port=5432' replica='host=b'");
    std::string json;
    BOOST_REQUIRE_NO_THROW(json = to_json(c));
    BOOST_TEST(json.find("\xef\xbf\xbd") != std::string::npos);  // U+FFFD
    BOOST_REQUIRE_NO_THROW(json = c.identity());
}

BOOST_AUTO_TEST_CASE(postgresql_conninfo_has_libpq_keys)
{
    auto e = pg();
    e.options["sslmode"] = "require";
    BOOST_TEST(e.connect_string() == "host=db1 port=5432 dbname=app user=u password=p connect_timeout=5 sslmode=require");
}

BOOST_AUTO_TEST_CASE(mysql_connect_string_has_soci_mysql_keys)
{
    auto e = pg();
    e.drv = driver::mysql;
    e.options["sslca"] = "/ca.pem";
    BOOST_TEST(e.connect_string() == "host=db1 port=3306 db=app user=u password=p connect_timeout=5 sslca=/ca.pem");
}

BOOST_AUTO_TEST_CASE(values_with_spaces_quotes_backslashes_or_nothing_are_quoted)
{
    auto e = pg();
    e.password = R"(a b'c\d)";
    e.options["application_name"] = "";
    BOOST_TEST(e.connect_string() ==
               R"(host=db1 port=5432 dbname=app user=u password='a b\'c\\d' connect_timeout=5 application_name='')");
}

BOOST_AUTO_TEST_CASE(empty_fields_are_left_out)
{
    endpoint_config e;
    e.host = "h";
    BOOST_TEST(e.connect_string() == "host=h port=5432 connect_timeout=5");
}

BOOST_AUTO_TEST_CASE(connect_timeout_is_whole_seconds_rounded_up)
{
    auto e = pg();
    e.timeout = 2.2;
    BOOST_TEST(e.connect_string().find(" connect_timeout=3") != std::string::npos);
    e.timeout = 0.1;
    BOOST_TEST(e.connect_string().find(" connect_timeout=1") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(rendered_string_parses_back_to_the_same_fields)
{
    auto e = pg();
    e.password = R"(it's \ tricky)";
    e.database = "my db";
    // The rendered string nested in the inline form: its own quotes and backslashes escaped once more.
    std::string nested = "primary='postgresql://";
    for (char ch : e.connect_string())
    {
        if (ch == '\'' || ch == '\\')
            nested += '\\';
        nested += ch;
    }
    auto const c = load_connect_string(nested + "'");
    BOOST_TEST(c.primary.password == e.password);
    BOOST_TEST(c.primary.database == e.database);
}

BOOST_AUTO_TEST_CASE(effective_port_is_the_drivers_default)
{
    endpoint_config e;
    BOOST_TEST(e.effective_port() == 5432);
    e.drv = driver::mysql;
    BOOST_TEST(e.effective_port() == 3306);
    e.port = 4000;
    BOOST_TEST(e.effective_port() == 4000);
}

BOOST_AUTO_TEST_CASE(address_brackets_ipv6_literals)
{
    auto e = pg();
    BOOST_TEST(e.address() == "db1:5432");
    e.host = "::1";
    BOOST_TEST(e.address() == "[::1]:5432");
}

BOOST_AUTO_TEST_CASE(describe_names_the_endpoint_without_password)
{
    auto e = pg();
    e.name = "replica-2";
    e.host = "10.0.0.3";
    e.port = 5433;
    BOOST_TEST(e.describe(false) == "replica \"replica-2\" (10.0.0.3:5433, db app, user u)");
    BOOST_TEST(pg().describe(true) == "primary \"primary\" (db1:5432, db app, user u)");
}

BOOST_AUTO_TEST_CASE(identity_is_the_same_for_the_same_resolved_configuration)
{
    auto const from_file = load_toml("[routing]\nsticky = 5\n[primary]\nhost = \"a\"\ndatabase = \"app\"\n"
                                     "password = \"p\"\n[[replicas]]\nhost = \"b\"\n", "db.toml");
    auto const from_inline = load_connect_string("primary='postgresql://host=a dbname=app password=p' "
                                                 "replica='host=b' sticky=5.0");
    BOOST_TEST(from_file.identity() == from_inline.identity());
}

BOOST_AUTO_TEST_CASE(identity_differs_when_any_field_differs)
{
    auto const a = load_connect_string("primary='host=a password=p1' replica='host=b'");
    auto const b = load_connect_string("primary='host=a password=p2' replica='host=b'");
    auto const c = load_connect_string("primary='host=a password=p1' replica='host=b weight=2'");
    BOOST_TEST(a.identity() != b.identity());
    BOOST_TEST(a.identity() != c.identity());
}

BOOST_AUTO_TEST_CASE(json_has_routing_primary_and_replicas_with_toml_field_names)
{
    auto const j = nlohmann::json::parse(to_json(load_file(fixture("design.toml"))));
    BOOST_TEST(j.at("routing").at("sticky").get<double>() == 5.0);
    BOOST_TEST(j.at("routing").at("balance").get<std::string>() == "round_robin");
    auto const& p = j.at("primary");
    BOOST_TEST(p.at("host").get<std::string>() == "127.0.0.1");
    BOOST_TEST(p.at("port").get<int>() == 5432);
    BOOST_TEST(p.at("database").get<std::string>() == "app");
    BOOST_TEST(p.at("username").get<std::string>() == "app");
    BOOST_TEST(p.at("password").get<std::string>() == "***");
    BOOST_TEST(p.at("pool").at("max").get<int>() == 10);
    BOOST_TEST(p.at("connect_string").get<std::string>() ==
               "host=127.0.0.1 port=5432 dbname=app user=app password=*** connect_timeout=5 sslmode=prefer");
    BOOST_REQUIRE_EQUAL(j.at("replicas").size(), 2u);
    BOOST_TEST(j.at("replicas")[1].at("port").get<int>() == 5433);
    BOOST_TEST(j.at("replicas")[1].at("database").get<std::string>() == "app");  // inherited, filled in
}

BOOST_AUTO_TEST_CASE(toml_output_is_valid_toml_with_inherited_fields)
{
    auto const t = toml::parse(to_toml(load_file(fixture("design.toml"))));
    BOOST_TEST(t["primary"]["password"].value_or(std::string()) == "***");
    BOOST_TEST(t["replicas"][0]["username"].value_or(std::string()) == "app");
    BOOST_TEST(t["replicas"][0]["pool"]["max"].value_or(0) == 20);
    BOOST_TEST(t["replicas"][1]["port"].value_or(0) == 5433);
    BOOST_TEST(t["replicas"][1]["connect_string"].value_or(std::string()).find("host=10.0.0.3 port=5433") == 0u);
    BOOST_TEST(t["routing"]["fallback"].value_or(false));
}

BOOST_AUTO_TEST_SUITE_END()
