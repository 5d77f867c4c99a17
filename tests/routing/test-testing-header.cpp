// soci/routing/testing.h as an application uses it: classification checks with no server.

#define BOOST_TEST_MODULE routing_testing_header
#include <boost/test/unit_test.hpp>

#include <soci/routing/testing.h>

#include <soci/backend-loader.h>

#include <algorithm>

BOOST_AUTO_TEST_CASE(reads_route_to_a_replica_by_classification)
{
    SOCI_ROUTING_CHECK_ROUTES_TO("SELECT count(*) FROM posts", "replica");
    SOCI_ROUTING_CHECK_ROUTES_TO("WITH t AS (SELECT 1) SELECT * FROM t", "replica");
    SOCI_ROUTING_CHECK_ROUTES_TO_DIALECT("SHOW TABLES", "mysql", "replica");
    SOCI_ROUTING_CHECK_ROUTES_TO("BEGIN READ ONLY", "replica");  // the whole read-only transaction
}

BOOST_AUTO_TEST_CASE(writes_locks_and_transactions_route_to_the_primary_by_classification)
{
    SOCI_ROUTING_CHECK_ROUTES_TO("INSERT INTO posts(title) VALUES('x')", "primary");
    SOCI_ROUTING_CHECK_ROUTES_TO("SELECT * FROM posts FOR UPDATE", "primary");
    SOCI_ROUTING_CHECK_ROUTES_TO("BEGIN", "primary");
    SOCI_ROUTING_CHECK_ROUTES_TO("SET search_path = app", "primary");
    SOCI_ROUTING_CHECK_ROUTES_TO_DIALECT("SELECT * FROM t LOCK IN SHARE MODE", "mysql", "primary");
}

BOOST_AUTO_TEST_CASE(routes_to_reports_a_mismatch_with_the_reason)
{
    boost::test_tools::predicate_result r = soci::routing_testing::routes_to("DELETE FROM posts", "replica");
    BOOST_TEST(!r);
    std::string const message = r.message().str();
    BOOST_TEST(message.find("primary") != std::string::npos);
    BOOST_TEST(message.find("write") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(classify_names_kind_and_flags)
{
    soci::routing_classification const c = soci::routing.classify("COMMIT");
    BOOST_TEST(c.target == "primary");
    BOOST_TEST(c.kind == "transaction_control");
    BOOST_TEST(c.ends_transaction);
    BOOST_CHECK_THROW(soci::routing.classify("SELECT 1", "oracle"), soci::soci_error);
}

BOOST_AUTO_TEST_CASE(register_factory_routing_makes_the_backend_known_by_name)
{
    register_factory_routing();
    std::vector<std::string> const names = soci::dynamic_backends::list_all();
    BOOST_TEST((std::find(names.begin(), names.end(), "routing") != names.end()));
    BOOST_TEST(factory_routing() == &soci::routing);
}
