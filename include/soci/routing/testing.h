// soci-routing: Boost.Test helpers for applications that want their own suites to assert where statements go.
//
//   #define BOOST_TEST_MODULE app
//   #include <boost/test/included/unit_test.hpp>   // or unit_test.hpp with BOOST_TEST_DYN_LINK
//   #include <soci/routing/testing.h>
//
//   BOOST_AUTO_TEST_CASE(report_query_is_a_replica_read)
//   {
//       // By classification alone, no server: "replica" or "primary".
//       SOCI_ROUTING_CHECK_ROUTES_TO("SELECT count(*) FROM posts", "replica");
//       SOCI_ROUTING_CHECK_ROUTES_TO("SELECT * FROM posts FOR UPDATE", "primary");
//   }
//
//   BOOST_AUTO_TEST_CASE(insert_runs_on_the_primary)
//   {
//       soci::session sql("routing://config=test.toml");
//       // On a live session: runs the statement, then checks the endpoint that actually ran it:
//       // "primary", "replica" (any replica) or an endpoint name such as "replica-1".
//       SOCI_ROUTING_CHECK_RAN_ON(sql, "primary", sql << "INSERT INTO posts(title) VALUES('x')");
//   }
//
// Link the application's test with the plugin (-lsoci_routing): the helpers use its API.

#ifndef SOCI_ROUTING_TESTING_H_INCLUDED
#define SOCI_ROUTING_TESTING_H_INCLUDED

#include <soci/routing/soci-routing.h>
#include <soci/soci.h>

#include <boost/test/unit_test.hpp>

#include <string>

namespace soci
{
namespace routing_testing
{

/// True when the plugin's classifier sends `sql_text` to `expected` ("replica" or "primary").
inline boost::test_tools::predicate_result routes_to(std::string const& sql_text, std::string const& expected,
                                                     std::string const& dialect = "postgresql")
{
    routing_classification const c = routing.classify(sql_text, dialect);
    if (c.target == expected)
        return true;
    boost::test_tools::predicate_result r(false);
    r.message() << "\"" << sql_text << "\" routes to " << c.target << " (reason " << c.reason << "), expected "
                << expected;
    return r;
}

/// The role ("primary" or "replica") of the endpoint named `name` in the cluster `sql` is routed over.
inline std::string role_of(session& sql, std::string const& name)
{
    for (routing_endpoint_stats const& e : routing.stats(sql).endpoints)
    {
        if (e.name == name)
            return e.role;
    }
    return std::string();
}

/// True when the last statement of `sql` ran on `expected`: "primary", "replica" (any replica), or an
/// endpoint name ("replica-2").
inline boost::test_tools::predicate_result ran_on(session& sql, std::string const& expected)
{
    if (!routing.is_routed(sql))
    {
        boost::test_tools::predicate_result r(false);
        r.message() << "the session is not a routing session";
        return r;
    }
    std::string const where = routing.last_endpoint(sql);
    bool ok = where == expected;
    if (!ok && !where.empty() && (expected == "primary" || expected == "replica"))
        ok = role_of(sql, where) == expected;
    if (ok)
        return true;
    boost::test_tools::predicate_result r(false);
    r.message() << "the last statement ran on " << (where.empty() ? std::string("no endpoint") : where)
                << " (reason " << routing.last_reason(sql) << "), expected " << expected;
    return r;
}

} // namespace routing_testing
} // namespace soci

/// Checks, by classification alone (no server), that `sql_text` goes to `expected` ("replica"/"primary").
#define SOCI_ROUTING_CHECK_ROUTES_TO(sql_text, expected) \
    BOOST_CHECK(::soci::routing_testing::routes_to((sql_text), (expected)))
#define SOCI_ROUTING_REQUIRE_ROUTES_TO(sql_text, expected) \
    BOOST_REQUIRE(::soci::routing_testing::routes_to((sql_text), (expected)))
/// The same for a dialect: "postgresql" or "mysql".
#define SOCI_ROUTING_CHECK_ROUTES_TO_DIALECT(sql_text, dialect, expected) \
    BOOST_CHECK(::soci::routing_testing::routes_to((sql_text), (expected), (dialect)))

/// Runs the statement (the trailing arguments, commas allowed) on the routing session `sql`, then checks
/// the endpoint that ran it: "primary", "replica" or an endpoint name.
#define SOCI_ROUTING_CHECK_RAN_ON(sql, expected, ...) \
    do \
    { \
        __VA_ARGS__; \
        BOOST_CHECK(::soci::routing_testing::ran_on((sql), (expected))); \
    } while (0)
#define SOCI_ROUTING_REQUIRE_RAN_ON(sql, expected, ...) \
    do \
    { \
        __VA_ARGS__; \
        BOOST_REQUIRE(::soci::routing_testing::ran_on((sql), (expected))); \
    } while (0)
/// Checks where the last statement of `sql` ran, without running one.
#define SOCI_ROUTING_CHECK_LAST_RAN_ON(sql, expected) \
    BOOST_CHECK(::soci::routing_testing::ran_on((sql), (expected)))

#endif // SOCI_ROUTING_TESTING_H_INCLUDED
