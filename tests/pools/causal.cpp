// Causal positions without a server: merge, coverage, history, and tokens (what an application passes between
// processes, so malformed and foreign tokens must be clear errors).

#include <boost/test/unit_test.hpp>

#include "causal.h"

#include <soci/soci-backend.h>

using namespace soci_routing;

namespace
{

causal_position pg(std::uint32_t timeline, std::uint64_t lsn)
{
    causal_position p;
    p.timeline = timeline;
    p.lsn = lsn;
    return p;
}

causal_position gtids(std::string const& text)
{
    auto p = parse_gtid_list(text);
    BOOST_REQUIRE(p);
    return *p;
}

std::string error_of(std::string const& token, driver d)
{
    try
    {
        parse_token(token, d);
    }
    catch (soci::soci_error const& e)
    {
        return e.what();
    }
    return "";
}

} // namespace

BOOST_AUTO_TEST_SUITE(causal_positions)

BOOST_AUTO_TEST_CASE(positions_of_a_scope_only_grow)
{
    causal_position p = pg(1, 100);
    merge(p, pg(1, 50));
    BOOST_TEST(p.lsn == 100u);
    merge(p, pg(1, 150));
    BOOST_TEST(p.lsn == 150u);
    merge(p, pg(2, 10));  // a later timeline replaces the older one's position
    BOOST_TEST(p.timeline == 2u);
    BOOST_TEST(p.lsn == 10u);
    merge(p, pg(1, 999));  // an older timeline never comes back
    BOOST_TEST(p.timeline == 2u);
    BOOST_TEST(p.lsn == 10u);

    causal_position m = gtids("0-1-14,1-2-7");
    merge(m, gtids("0-1-12,2-3-1"));
    BOOST_TEST(gtid_list(m) == "0-1-14,1-2-7,2-3-1");
    merge(m, gtids("0-5-20"));
    BOOST_TEST(gtid_list(m) == "0-5-20,1-2-7,2-3-1");
}

BOOST_AUTO_TEST_CASE(a_replica_covers_a_position_once_it_replayed_it)
{
    BOOST_TEST(covers(pg(0, 100), pg(1, 100)));
    BOOST_TEST(!covers(pg(0, 99), pg(1, 100)));
    BOOST_TEST(covers(pg(0, 0), causal_position{}));
    BOOST_TEST(covers(gtids("0-1-14,1-2-7"), gtids("0-1-14")));
    BOOST_TEST(!covers(gtids("0-1-13,1-2-7"), gtids("0-1-14")));
    BOOST_TEST(!covers(gtids("1-2-7"), gtids("0-1-1,1-2-7")));  // a domain it never saw
}

BOOST_AUTO_TEST_CASE(a_position_of_another_history_is_told_apart)
{
    BOOST_TEST(same_history(pg(1, 500), pg(1, 100)));  // ahead of a primary position read earlier: same timeline
    BOOST_TEST(!same_history(pg(1, 500), pg(2, 900)));  // a promotion since
    BOOST_TEST(!same_history(pg(0, 500), pg(1, 900)));  // no timeline: unknown history
    BOOST_TEST(same_history(gtids("0-1-14"), gtids("0-1-20,1-2-7")));
    BOOST_TEST(!same_history(gtids("0-1-14"), gtids("0-2-20")));  // another server writes domain 0 now
    BOOST_TEST(!same_history(gtids("3-1-1"), gtids("0-1-20")));   // a domain the primary does not have
    BOOST_TEST(!same_history(gtids("0-1-30"), gtids("0-1-20")));  // ahead of what the primary was seen with
}

BOOST_AUTO_TEST_CASE(tokens_round_trip)
{
    causal_position const p = pg(3, 0x1'0300'0060ull);
    BOOST_TEST(to_token(p, driver::postgresql) == "pg:3:1/3000060");
    BOOST_TEST((parse_token("pg:3:1/3000060", driver::postgresql) == p));
    BOOST_TEST(parse_token("pg:3:1/3000060", driver::postgresql).lsn == 0x1'0300'0060ull);
    causal_position const m = gtids("0-1-14,1-2-7");
    BOOST_TEST(to_token(m, driver::mysql) == "mariadb:0-1-14,1-2-7");
    BOOST_TEST((parse_token("mariadb:0-1-14,1-2-7", driver::mysql) == m));
    BOOST_TEST(to_token(causal_position{}, driver::postgresql) == "");
    BOOST_TEST(parse_token("", driver::mysql).empty());
}

BOOST_AUTO_TEST_CASE(malformed_and_foreign_tokens_are_clear_errors)
{
    BOOST_TEST(error_of("mariadb:0-1-14", driver::postgresql).find("it is a MariaDB token") != std::string::npos);
    BOOST_TEST(error_of("pg:1:0/1", driver::mysql).find("it is a PostgreSQL token") != std::string::npos);
    for (char const* bad : {"pg:", "pg:1", "pg:1:", "pg:0:0/1", "pg:1:0/", "pg:1:0/1 ", "pg:1:100000000/0",
                            "pg:4294967296:0/1", "pg:-1:0/1", "x", " pg:1:0/1"})
        BOOST_TEST(error_of(bad, driver::postgresql).find("Invalid causal token") == 0u, bad);
    for (char const* bad : {"mariadb:", "mariadb:0-1", "mariadb:0-1-", "mariadb:0-1-2,", "mariadb:a-1-2",
                            "mariadb:0-1-99999999999999999999", "mysql:0-1-2", "3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5"})
        BOOST_TEST(error_of(bad, driver::mysql).find("Invalid causal token") == 0u, bad);
    // What the message shows of a hostile token is short and printable.
    std::string const hostile = "pg:\x01\xff" + std::string(1000, 'z');
    std::string const message = error_of(hostile, driver::postgresql);
    BOOST_TEST(message.size() < 400u);
    BOOST_TEST(message.find('\x01') == std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
