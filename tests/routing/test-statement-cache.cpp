// Integration tests of the statement cache (backend/statement-cache.cpp) on the real clusters: a repeated
// one-time query text runs as one server-side prepared statement per inner PostgreSQL connection, observed in
// pg_prepared_statements of that very connection. Each session uses one replica with a one-connection pool,
// so that every read runs on the same replica connection, and a use_primary guard for the primary's.
// On MariaDB (SOCI_ROUTING_TEST_DRIVER=mysql) there is no cache: only the correctness cases run.

#define BOOST_TEST_MODULE routing_statement_cache
#include <boost/test/unit_test.hpp>

#include "routing-fixture.h"

#include <soci/postgresql/soci-postgresql.h>
#include <soci/routing/soci-routing.h>
#include <soci/soci.h>

#include <string>
#include <vector>

using namespace routing_test;
namespace utf = boost::unit_test;

namespace
{

/// An inline routing configuration: the primary, one replica with a one-connection pool, `statements`
/// cached per connection. `tag` makes the cluster (and so its connections) this test's own.
std::string cache_cs(int statements, std::string const& tag, std::string const& extra = "sticky=0")
{
    BOOST_REQUIRE(!profile().replicas.empty());
    return "primary='" + profile().driver + "://" + profile().primary + " statements=" + std::to_string(statements)
        + "' replica='" + profile().replicas.front() + " name=cache_" + tag + " pool_max=1' " + extra;
}

/// The server-side statements of the connection `sql` runs this read on whose text contains `needle`.
/// Its text starts with a comment, so the cache never keeps it (it would take a place in the cache).
long long prepared_count(soci::session& sql, std::string const& needle)
{
    long long n = -1;
    sql << "/* uncached */ select count(*) from pg_prepared_statements where strpos(statement, :t) > 0",
        soci::use(needle), soci::into(n);
    return n;
}

/// Rows (id, v = id * 10, s = 's<id>') 1..count, replicated.
void fill(scratch_table& t, int count)
{
    for (int id = 1; id <= count; ++id)
    {
        int v = id * 10;
        std::string s = "s" + std::to_string(id);
        t.srv.primary << "insert into " + t.name + " (id, v, s) values (:id, :v, :s)", soci::use(id),
            soci::use(v), soci::use(s);
    }
    t.wait_replicated();
}

} // namespace

BOOST_AUTO_TEST_CASE(repeated_one_time_reads_share_one_server_side_statement, *utf::precondition(pg_only()))
{
    servers srv;
    scratch_table t(srv, "cache_loop");
    fill(t, 10);
    soci::session sql(soci::routing, cache_cs(16, "loop"));

    std::string const q = "select v from " + t.name + " where id = :id";
    for (int i = 0; i != 50; ++i)
    {
        int id = i % 10 + 1;
        int v = -1;
        sql << q, soci::use(id), soci::into(v);
        BOOST_TEST(v == id * 10);
    }
    BOOST_TEST(srv.is_replica_port(port_of(sql)));
    BOOST_TEST(prepared_count(sql, t.name) == 1);

    // Another routing session leasing the same pooled connection finds it prepared still.
    {
        soci::session again(soci::routing, cache_cs(16, "loop"));
        for (int id = 1; id <= 3; ++id)
        {
            int v = -1;
            again << q, soci::use(id), soci::into(v);
            BOOST_TEST(v == id * 10);
        }
        BOOST_TEST(prepared_count(again, t.name) == 1);
    }
}

BOOST_AUTO_TEST_CASE(a_prepared_statement_moved_back_to_a_connection_finds_its_server_side_statement_there,
                     *utf::precondition(pg_only()))
{
    // Reads and writes alternate (a read-your-writes window, use_primary): a prepared statement moves between
    // the primary's connection and a replica's. Each connection keeps its server-side statement, so coming
    // back costs no PREPARE and leaving costs no DEALLOCATE.
    servers srv;
    scratch_table t(srv, "cache_moves");
    fill(t, 3);
    soci::session sql(soci::routing, cache_cs(16, "moves"));
    std::string const q = "select v from " + t.name + " where id = :id";
    int id = 1;
    int v = -1;
    soci::statement st = (sql.prepare << q, soci::use(id), soci::into(v));
    auto names_on_primary = [&] {
        auto guard = soci::routing.use_primary(sql);
        std::string names;
        sql << "/* uncached */ select coalesce(string_agg(name, ','), '') from pg_prepared_statements "
               "where strpos(statement, :t) > 0",
            soci::use(t.name), soci::into(names);
        return names;
    };
    std::string first;
    for (int round = 0; round != 3; ++round)
    {
        {
            auto guard = soci::routing.use_primary(sql);
            id = 1;
            st.execute(true);
            BOOST_TEST(v == 10);
            BOOST_TEST(soci::routing.last_endpoint(sql) == "primary");
        }
        std::string const names = names_on_primary();
        BOOST_TEST(!names.empty());
        if (round == 0)
            first = names;
        BOOST_TEST(names == first);  // the same server-side statement, not a new one
        id = 2;
        st.execute(true);
        BOOST_TEST(v == 20);
        BOOST_TEST(soci::routing.last_endpoint(sql) != "primary");
    }
    BOOST_TEST(prepared_count(sql, t.name) == 1);  // the replica's, prepared once
}

BOOST_AUTO_TEST_CASE(a_prepared_statement_with_an_error_fails_at_prepare_as_in_soci, *utf::precondition(pg_only()))
{
    soci::session sql(soci::routing, cache_cs(16, "prepare_error"));
    int v = 0;
    auto prepare = [&](std::string const& text) { soci::statement st = (sql.prepare << text, soci::into(v)); };
    BOOST_CHECK_EXCEPTION(prepare("select v from no_such_table_here where id = 1"), soci::soci_error,
                          [](soci::soci_error const& e) {
                              return std::string(e.what()).find("no_such_table_here") != std::string::npos;
                          });
    // A syntax error too, and the session goes on.
    BOOST_CHECK_THROW(prepare("select from where"), soci::soci_error);
    sql << "select 7", soci::into(v);
    BOOST_TEST(v == 7);
}

BOOST_AUTO_TEST_CASE(a_text_run_once_is_not_prepared, *utf::precondition(pg_only()))
{
    servers srv;
    scratch_table t(srv, "cache_once");
    fill(t, 2);
    soci::session sql(soci::routing, cache_cs(16, "once"));

    int v = -1;
    sql << "select v from " + t.name + " where id = 2", soci::into(v);
    BOOST_TEST(v == 20);
    BOOST_TEST(prepared_count(sql, t.name) == 0);
    sql << "select v from " + t.name + " where id = 2", soci::into(v);
    BOOST_TEST(prepared_count(sql, t.name) == 1);
}

BOOST_AUTO_TEST_CASE(statements_zero_prepares_nothing, *utf::precondition(pg_only()))
{
    servers srv;
    scratch_table t(srv, "cache_off");
    fill(t, 5);
    soci::session sql(soci::routing, cache_cs(0, "off"));

    for (int i = 0; i != 20; ++i)
    {
        int id = i % 5 + 1;
        int v = -1;
        sql << "select v from " + t.name + " where id = :id", soci::use(id), soci::into(v);
        BOOST_TEST(v == id * 10);
    }
    BOOST_TEST(prepared_count(sql, t.name) == 0);
    {
        auto guard = soci::routing.use_primary(sql);
        for (int i = 0; i != 5; ++i)
        {
            int v = -1;
            sql << "select v from " + t.name + " where id = 1", soci::into(v);
            BOOST_TEST(v == 10);
        }
        BOOST_TEST(prepared_count(sql, t.name) == 0);
    }
}

BOOST_AUTO_TEST_CASE(the_least_recently_used_text_is_deallocated_beyond_the_limit, *utf::precondition(pg_only()))
{
    servers srv;
    scratch_table t(srv, "cache_lru");
    fill(t, 3);
    soci::session sql(soci::routing, cache_cs(2, "lru"));

    std::vector<std::string> const texts = {"select v from " + t.name + " where id = :id",
                                            "select v + 1 from " + t.name + " where id = :id",
                                            "select v + 2 from " + t.name + " where id = :id"};
    for (std::size_t k = 0; k != texts.size(); ++k)
    {
        for (int id = 1; id <= 3; ++id)
        {
            int v = -1;
            sql << texts[k], soci::use(id), soci::into(v);
            BOOST_TEST(v == id * 10 + static_cast<int>(k));
        }
        BOOST_TEST(prepared_count(sql, t.name) == static_cast<long long>(k == 0 ? 1 : 2));
    }
    BOOST_TEST(prepared_count(sql, "v + 1") == 1);
    BOOST_TEST(prepared_count(sql, "v + 2") == 1);
    BOOST_TEST(prepared_count(sql, "select v from") == 0);  // the least recently used one went

    // The evicted text still runs (and comes back, evicting the next one).
    for (int id = 1; id <= 3; ++id)
    {
        int v = -1;
        sql << texts[0], soci::use(id), soci::into(v);
        BOOST_TEST(v == id * 10);
    }
    BOOST_TEST(prepared_count(sql, t.name) == 2);
}

BOOST_AUTO_TEST_CASE(texts_run_once_do_not_evict_prepared_statements, *utf::precondition(pg_only()))
{
    servers srv;
    scratch_table t(srv, "cache_oneoff");
    fill(t, 3);
    soci::session sql(soci::routing, cache_cs(2, "oneoff"));

    std::string const a = "select v from " + t.name + " where id = :id";
    std::string const b = "select s from " + t.name + " where id = :id";
    for (int id = 1; id <= 3; ++id)
    {
        int v = -1;
        std::string s;
        sql << a, soci::use(id), soci::into(v);
        sql << b, soci::use(id), soci::into(s);
    }
    BOOST_TEST(prepared_count(sql, t.name) == 2);

    // Ten texts with their values inlined, each run once: candidates, never prepared, never evicting.
    for (int k = 0; k != 10; ++k)
    {
        int v = -1;
        sql << "select v + " + std::to_string(k) + " from " + t.name + " where id = 1", soci::into(v);
        BOOST_TEST(v == 10 + k);
    }
    BOOST_TEST(prepared_count(sql, t.name) == 2);
    BOOST_TEST(prepared_count(sql, "select v from") == 1);
    BOOST_TEST(prepared_count(sql, "select s from") == 1);
}

BOOST_AUTO_TEST_CASE(cached_reads_follow_route_changes, *utf::precondition(pg_only()))
{
    servers srv;
    scratch_table t(srv, "cache_route");
    fill(t, 3);
    soci::session sql(soci::routing, cache_cs(16, "route", "sticky=0.5"));
    std::string const q = "select v from " + t.name + " where id = :id";
    std::string const where = "select inet_server_port() from " + t.name + " where id = :id";

    auto read = [&](int id) {
        int v = -1;
        sql << q, soci::use(id), soci::into(v);
        return v;
    };
    auto port = [&](int id) {
        int p = -1;
        sql << where, soci::use(id), soci::into(p);
        return p;
    };

    for (int i = 0; i != 5; ++i)
    {
        BOOST_TEST(read(1) == 10);
        BOOST_TEST(srv.is_replica_port(port(1)));
    }
    BOOST_TEST(prepared_count(sql, t.name) == 2);

    // A write: the reads move to the primary for the window, and see it there at once.
    sql << "update " + t.name + " set v = 11 where id = 1";
    for (int i = 0; i != 5; ++i)
    {
        BOOST_TEST(read(1) == 11);
        BOOST_TEST(port(1) == srv.primary_port);
    }
    BOOST_TEST(prepared_count(sql, t.name) >= 2);  // on the primary's connection (with the update)

    // Back on the replica after the window, where the statement is still prepared.
    sleep_seconds(0.6);
    t.wait_replicated();
    srv.wait_replicated("select v from " + t.name + " where id = 1");
    for (int i = 0; i != 5; ++i)
    {
        BOOST_TEST(read(1) == 11);
        BOOST_TEST(srv.is_replica_port(port(1)));
    }
    BOOST_TEST(prepared_count(sql, t.name) == 2);
}

BOOST_AUTO_TEST_CASE(discard_all_and_deallocate_all_keep_cached_queries_working, *utf::precondition(pg_only()))
{
    servers srv;
    scratch_table t(srv, "cache_discard");
    fill(t, 3);
    soci::session sql(soci::routing, cache_cs(16, "discard"));
    auto guard = soci::routing.use_primary(sql);
    std::string const q = "select v from " + t.name + " where id = :id";

    auto loop = [&] {
        for (int id = 1; id <= 3; ++id)
        {
            int v = -1;
            sql << q, soci::use(id), soci::into(v);
            BOOST_TEST(v == id * 10);
        }
    };

    loop();
    BOOST_TEST(prepared_count(sql, t.name) == 1);
    sql << "DISCARD ALL";  // pins the session to the primary: the connection the cache is on
    BOOST_TEST(prepared_count(sql, t.name) == 0);
    loop();
    BOOST_TEST(prepared_count(sql, t.name) == 1);

    sql << "deallocate all";
    BOOST_TEST(prepared_count(sql, t.name) == 0);
    loop();
    BOOST_TEST(prepared_count(sql, t.name) == 1);
}

BOOST_AUTO_TEST_CASE(a_statement_deallocated_behind_the_cache_runs_uncached, *utf::precondition(pg_only()))
{
    servers srv;
    scratch_table t(srv, "cache_behind");
    fill(t, 3);
    soci::session sql(soci::routing, cache_cs(16, "behind"));
    auto guard = soci::routing.use_primary(sql);
    std::string const q = "select v from " + t.name + " where id = :id";

    for (int id = 1; id <= 3; ++id)
    {
        int v = -1;
        sql << q, soci::use(id), soci::into(v);
    }
    std::string name;
    sql << "/* uncached */ select name from pg_prepared_statements where strpos(statement, :t) > 0",
        soci::use(t.name), soci::into(name);
    BOOST_REQUIRE(!name.empty());
    sql << "deallocate " + name;  // the cache cannot tell: the server answers 26000 next time

    int id = 2;
    int v = -1;
    sql << q, soci::use(id), soci::into(v);
    BOOST_TEST(v == 20);
    for (id = 1; id <= 3; ++id)
    {
        sql << q, soci::use(id), soci::into(v);
        BOOST_TEST(v == id * 10);
    }
    BOOST_TEST(prepared_count(sql, t.name) == 1);
}

BOOST_AUTO_TEST_CASE(a_table_recreated_with_other_columns_does_not_break_cached_queries,
                     *utf::precondition(pg_only()))
{
    servers srv;
    std::string const name = table_name("cache_recreate");
    soci::session sql(soci::routing, cache_cs(16, "recreate"));
    auto guard = soci::routing.use_primary(sql);
    sql << "drop table if exists " + name;
    sql << "create table " + name + " (id integer, v integer)";
    sql << "insert into " + name + " values (1, 10)";
    std::string const q = "select * from " + name + " where id = :id";
    for (int i = 0; i != 3; ++i)
    {
        int id = 1;
        soci::row r;
        sql << q, soci::use(id), soci::into(r);
        BOOST_TEST(r.size() == 2u);
    }
    BOOST_TEST(prepared_count(sql, name) == 1);

    // The prepared plan's result type changes: PostgreSQL refuses it (0A000); the query runs uncached.
    sql << "drop table " + name;
    sql << "create table " + name + " (id integer, v varchar(10), w integer)";
    sql << "insert into " + name + " values (1, 'ten', 3)";
    for (int i = 0; i != 3; ++i)
    {
        int id = 1;
        soci::row r;
        sql << q, soci::use(id), soci::into(r);
        BOOST_REQUIRE(r.size() == 3u);
        BOOST_TEST(r.get<std::string>(1) == "ten");
        BOOST_TEST(r.get<int>(2) == 3);
    }
    sql << "drop table " + name;
}

// A parameter's type is fixed when the server prepares the statement: a table created again with another type
// for that column makes the old statement fail (22P02, 42804) where plain SOCI, which sends the text every
// time, succeeds. The query runs uncached, as SOCI runs it (SOCI's own suite does this with soci_test).
BOOST_AUTO_TEST_CASE(a_column_recreated_with_another_type_does_not_break_cached_statements,
                     *utf::precondition(pg_only()))
{
    servers srv;
    std::string const name = table_name("cache_retype");
    soci::session sql(soci::routing, cache_cs(16, "retype"));
    auto guard = soci::routing.use_primary(sql);
    sql << "drop table if exists " + name;
    sql << "create table " + name + " (val bigint)";
    std::string const ins = "insert into " + name + " (val) values (:val)";
    for (int i = 0; i != 3; ++i)
    {
        long long v = i;
        sql << ins, soci::use(v);
    }
    BOOST_TEST(prepared_count(sql, name) == 1);
    sql << "drop table " + name;
    sql << "create table " + name + " (val uuid)";
    for (int i = 0; i != 3; ++i)
    {
        std::string u = "cd2dcb78-3817-442e-b12a-17c7e42669a" + std::to_string(i);
        sql << ins, soci::use(u);
    }
    long long n = -1;
    sql << "select count(*) from " + name, soci::into(n);
    BOOST_TEST(n == 3);
    // A genuine error of a cached statement is still the application's, as plain SOCI gives it.
    std::string bad = "not a uuid";
    try
    {
        sql << ins, soci::use(bad);
        BOOST_ERROR("a bad uuid was accepted");
    }
    catch (soci::postgresql_soci_error const& e)
    {
        BOOST_TEST(e.sqlstate() == "22P02");
    }
    sql << "drop table " + name;
}

BOOST_AUTO_TEST_CASE(cached_texts_exchange_every_kind_of_element)
{
    servers srv;
    scratch_table t(srv, "cache_elements");
    soci::session sql(soci::routing, cache_cs(16, "elements"));
    auto guard = soci::routing.use_primary(sql);

    // Bulk use, twice the same text (the second run cached on PostgreSQL).
    for (int round = 0; round != 3; ++round)
    {
        std::vector<int> ids, vs;
        std::vector<std::string> ss;
        std::vector<soci::indicator> inds;
        for (int k = 1; k <= 4; ++k)
        {
            int const id = round * 4 + k;
            ids.push_back(id);
            vs.push_back(id * 10);
            ss.push_back("s" + std::to_string(id));
            inds.push_back(id % 4 == 0 ? soci::i_null : soci::i_ok);
        }
        sql << "insert into " + t.name + " (id, v, s) values (:id, :v, :s)", soci::use(ids), soci::use(vs),
            soci::use(ss, inds);
    }
    for (int round = 0; round != 3; ++round)
    {
        // Indicators, by name.
        for (int id = 1; id <= 12; ++id)
        {
            std::string s;
            soci::indicator ind = soci::i_ok;
            int v = 0;
            sql << "select v, s from " + t.name + " where id = :id", soci::use(id, "id"), soci::into(v),
                soci::into(s, ind);
            BOOST_TEST(v == id * 10);
            if (id % 4 == 0)
                BOOST_TEST(ind == soci::i_null);
            else
                BOOST_TEST((ind == soci::i_ok && s == "s" + std::to_string(id)));
        }
        // A null use value.
        {
            int v = 0;
            soci::indicator in = soci::i_null;
            int nothing = 0;
            long long n = -1;
            sql << "select count(*) from " + t.name + " where v = :v", soci::use(nothing, in), soci::into(n);
            BOOST_TEST(n == 0);
            static_cast<void>(v);
        }
        // Vector into.
        {
            std::vector<int> got(20);
            int upto = 6;
            sql << "select id from " + t.name + " where id <= :n order by id", soci::use(upto), soci::into(got);
            BOOST_REQUIRE(got.size() == 6u);
            BOOST_TEST(got.back() == 6);
        }
        // Row.
        {
            soci::row r;
            int id = 5;
            sql << "select id, v, s from " + t.name + " where id = :id", soci::use(id), soci::into(r);
            BOOST_REQUIRE(r.size() == 3u);
            BOOST_TEST(r.get<int>(1) == 50);
            BOOST_TEST(r.get<std::string>(2) == "s5");
        }
        // Rowset (a prepared statement: the cache's too, prepared once on the connection for all three rounds).
        {
            int n = 0;
            soci::rowset<int> rs = (sql.prepare << "select id from " + t.name + " order by id");
            for (int id : rs)
                n += id > 0;
            BOOST_TEST(n == 12);
        }
    }
    if (is_pg())
        BOOST_TEST(prepared_count(sql, t.name) == 6);  // insert, select v s, count, vector, row, rowset
}

BOOST_AUTO_TEST_CASE(errors_of_cached_statements_reach_the_application_intact)
{
    servers srv;
    scratch_table t(srv, "cache_errors");
    soci::session sql(soci::routing, cache_cs(16, "errors"));
    std::string const ins = "insert into " + t.name + " (id, v) values (:id, :v)";
    {
        soci::transaction tr(sql);
        for (int id = 1; id <= 5; ++id)
        {
            int v = id;
            sql << ins, soci::use(id), soci::use(v);
        }
        tr.commit();
    }
    {
        soci::transaction tr(sql);
        int id = 3;
        int v = 0;
        bool failed = false;
        try
        {
            sql << ins, soci::use(id), soci::use(v);
        }
        catch (soci::postgresql_soci_error const& e)
        {
            failed = true;
            BOOST_TEST(e.sqlstate() == "23505");
        }
        catch (soci::soci_error const& e)
        {
            failed = true;
            BOOST_TEST(!is_pg());
        }
        BOOST_TEST(failed);
        tr.rollback();
    }
    long long n = -1;
    srv.primary << "select count(*) from " + t.name, soci::into(n);
    BOOST_TEST(n == 5);
    // The connection and its cache are fine after the failed transaction.
    {
        soci::transaction tr(sql);
        int id = 6;
        int v = 6;
        sql << ins, soci::use(id), soci::use(v);
        tr.commit();
    }
    srv.primary << "select count(*) from " + t.name, soci::into(n);
    BOOST_TEST(n == 6);
}
