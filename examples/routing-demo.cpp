// routing-demo: what soci-routing does, statement by statement.
//
//   routing-demo [CONFIG] [--driver postgresql|mysql]
//
// CONFIG is a soci-routing TOML file or a `routing://...` connect string; by default $SOCI_ROUTING_PG_TOML
// ($SOCI_ROUTING_MYSQL_TOML with --driver mysql), as `ci/clusters env` sets them. The session is opened the
// way any SOCI program opens one, by name; the plugin's optional API (soci/routing/soci-routing.h) tells where
// each statement ran and why, and the per-endpoint counts at the end.

#include <soci/routing/soci-routing.h>
#include <soci/soci.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <map>
#include <string>
#include <thread>

namespace
{

void usage(std::ostream& os)
{
    os << "usage: routing-demo [CONFIG] [--driver postgresql|mysql]\n"
          "  CONFIG: a soci-routing TOML file or a routing://... connect string\n"
          "          (default: $SOCI_ROUTING_PG_TOML, or $SOCI_ROUTING_MYSQL_TOML with --driver mysql)\n";
}

/// Prints one statement with the endpoint that ran it and the routing reason.
class reporter
{
public:
    explicit reporter(soci::session& sql) : sql_(sql) {}

    void show(std::string const& text, std::string const& result = std::string())
    {
        std::string const where = soci::routing.last_endpoint(sql_);
        std::string const why = soci::routing.last_reason(sql_);
        ++counts_[where];
        std::printf("  %-62s -> %-10s %-16s%s\n", text.c_str(), where.c_str(), ("(" + why + ")").c_str(),
                    result.empty() ? "" : ("  = " + result).c_str());
    }

    void note(std::string const& text) { std::printf("\n  # %s\n", text.c_str()); }

    std::map<std::string, int> const& counts() const { return counts_; }
    void add(std::string const& where, int n) { counts_[where] += n; }

private:
    soci::session& sql_;
    std::map<std::string, int> counts_;
};

} // namespace

int main(int argc, char** argv)
{
    std::string driver = "postgresql";
    std::string config;
    for (int i = 1; i < argc; ++i)
    {
        std::string const a = argv[i];
        if (a == "--driver" && i + 1 < argc)
            driver = argv[++i];
        else if (a.rfind("--driver=", 0) == 0)
            driver = a.substr(9);
        else if (a == "-h" || a == "--help")
        {
            usage(std::cout);
            return 0;
        }
        else if (!a.empty() && a[0] == '-')
        {
            std::cerr << "routing-demo: unknown option " << a << "\n";
            usage(std::cerr);
            return 2;
        }
        else
            config = a;
    }
    if (config.empty())
    {
        char const* var = driver == "mysql" || driver == "mariadb" ? "SOCI_ROUTING_MYSQL_TOML" : "SOCI_ROUTING_PG_TOML";
        if (char const* v = std::getenv(var))
            config = v;
        if (config.empty())
        {
            std::cerr << "routing-demo: no configuration: give a TOML file, or set " << var
                      << " (eval \"$(ci/clusters env)\")\n";
            return 2;
        }
    }
    std::string const connect = config.rfind("routing://", 0) == 0 ? config : "routing://config=" + config;

    try
    {
        // Plain SOCI: the routing backend is loaded by name, like any other.
        soci::session sql(connect);
        bool const pg = sql.get_backend_name() == "postgresql";
        std::string const port = pg ? "inet_server_port()" : "@@port";
        std::string const table = "routing_demo_posts";
        reporter r(sql);

        std::printf("soci-routing demo: backend \"%s\", routed: %s\n", sql.get_backend_name().c_str(),
                    soci::routing.is_routed(sql) ? "yes" : "no");

        r.note("a schema change and a write go to the primary");
        sql << "drop table if exists " + table;
        r.show("drop table if exists " + table);
        sql << "create table " + table + " (id integer primary key, title varchar(100))";
        r.show("create table " + table + " (...)");
        int id = 1;
        std::string title = "hello, replicas";
        sql << "insert into " + table + " (id, title) values (:id, :title)", soci::use(id), soci::use(title);
        r.show("insert into " + table + " ... values (1, 'hello, replicas')");

        r.note("read-your-writes: right after the write, reads stay on the primary (the sticky window)");
        int n = 0;
        sql << "select count(*) from " + table, soci::into(n);
        r.show("select count(*) from " + table, std::to_string(n));

        r.note("after the window, reads go to a replica: this session's own for `rebalance` seconds");
        int p = 0;
        auto const deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
        do
        {
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
            sql << "select " + port, soci::into(p);
        } while (soci::routing.last_reason(sql) == "sticky" && std::chrono::steady_clock::now() < deadline);
        r.show("select " + port, std::to_string(p));
        for (int i = 0; i != 3; ++i)
        {
            sql << "select " + port, soci::into(p);
            r.show("select " + port, std::to_string(p));
        }
        sql << "select count(*) from " + table, soci::into(n);
        r.show("select count(*) from " + table, std::to_string(n));
        {
            // `balance` spreads the sessions: the next one reads from the next replica.
            soci::session other(connect);
            reporter o(other);
            other << "select " + port, soci::into(p);
            o.show("select " + port + "   [another session]", std::to_string(p));
            for (auto const& [where, count] : o.counts())
                r.add(where, count);
        }

        r.note("a transaction runs entirely on the primary");
        {
            soci::transaction tr(sql);
            sql << "select count(*) from " + table, soci::into(n);
            r.show("select count(*) from " + table + "   [in transaction]", std::to_string(n));
            id = 2;
            title = "in a transaction";
            sql << "insert into " + table + " (id, title) values (:id, :title)", soci::use(id), soci::use(title);
            r.show("insert into " + table + " ...   [in transaction]");
            tr.commit();
        }

        r.note("locking reads and data-modifying statements go to the primary, whatever they look like");
        sql << "select id from " + table + " where id = 1 for update", soci::into(id);
        r.show("select id from " + table + " where id = 1 for update");
        if (pg)
        {
            sql << "with moved as (update " + table + " set title = 'edited' where id = 2 returning id) "
                   "select count(*) from moved",
                soci::into(n);
            r.show("with moved as (update ... returning id) select count(*) ...", std::to_string(n));
        }
        else
        {
            sql << "update " + table + " set title = 'edited' where id = 2";
            r.show("update " + table + " set title = 'edited' where id = 2");
        }

        r.note("use_primary: a block that must read fresh data");
        {
            auto primary_only = soci::routing.use_primary(sql);
            sql << "select " + port, soci::into(p);
            r.show("select " + port + "   [use_primary]", std::to_string(p));
        }

        r.note("use_replica: a block that accepts replica staleness, even inside the window");
        {
            auto replica_ok = soci::routing.use_replica(sql);
            sql << "select " + port, soci::into(p);
            r.show("select " + port + "   [use_replica]", std::to_string(p));
        }

        // The update above opened the read-after-write window again: the rest reads under use_replica.
        auto replica_ok = soci::routing.use_replica(sql);
        r.note("a SET runs on the primary and follows the session: replayed on the replicas it reads from "
               "[use_replica from here on]");
        std::string const set = pg ? "set application_name = 'routing-demo'" : "set @routing_demo = 'routing-demo'";
        std::string const get = pg ? "select current_setting('application_name')" : "select @routing_demo";
        sql << set;
        r.show(set);
        std::string value;
        sql << get, soci::into(value);
        r.show(get, value);

        r.note("a read-only transaction runs on one replica, from BEGIN to COMMIT");
        {
            soci::routing_read_only_transaction tr(sql);
            r.show(pg ? "begin read only" : "start transaction read only");
            sql << "select count(*) from " + table, soci::into(n);
            r.show("select count(*) from " + table, std::to_string(n));
            sql << "select " + port, soci::into(p);
            r.show("select " + port, std::to_string(p));
            tr.commit();
            r.show("commit");
        }

        r.note("a temporary table lives on one primary connection: it pins the session there until it is dropped");
        std::string const temp = "routing_demo_scratch";
        sql << "create temporary table " + temp + " (i integer)";
        r.show("create temporary table " + temp + " (i integer)");
        sql << "select " + port, soci::into(p);
        r.show("select " + port, std::to_string(p));
        sql << "drop table " + temp;
        r.show("drop table " + temp);
        sql << "select " + port, soci::into(p);
        r.show("select " + port, std::to_string(p));

        r.note("consistency = \"causal\": a read right after a write goes to a replica that has replayed it "
               "(a session of its own)");
        {
            soci::session causal(connect + " consistency=causal");
            reporter rc(causal);
            id = 3;
            title = "read back from a replica";
            causal << "insert into " + table + " (id, title) values (:id, :title)", soci::use(id), soci::use(title);
            rc.show("insert into " + table + " ... values (3, '" + title + "')");
            std::string back;
            causal << "select title from " + table + " where id = 3", soci::into(back);
            rc.show("select title from " + table + " where id = 3", back);
            std::string const token = soci::routing.causal_token(causal);
            std::printf("  %-62s    %s\n", "soci::routing.causal_token(sql)", token.c_str());
            soci::session elsewhere(connect + " consistency=causal");
            reporter re(elsewhere);
            soci::routing.require(elsewhere, token);  // another process would do this with the token it was given
            elsewhere << "select title from " + table + " where id = 3", soci::into(back);
            re.show("select title ... where id = 3   [another session, require(token)]", back);
            for (auto const& c : rc.counts())
                r.add(c.first, c.second);
            for (auto const& c : re.counts())
                r.add(c.first, c.second);
        }

        sql << "drop table " + table;
        r.show("drop table " + table);

        std::printf("\nstatements per endpoint (this demo):\n");
        for (auto const& c : r.counts())
            std::printf("  %-12s %d\n", c.first.c_str(), c.second);
        try
        {
            soci::routing_stats const stats = soci::routing.stats(sql);
            std::printf("\nstatements per endpoint (soci::routing.stats, this process):\n");
            for (auto const& e : stats.endpoints)
                std::printf("  %-12s %-8s %-22s %llu\n", e.name.c_str(), e.role.c_str(), e.address.c_str(),
                            static_cast<unsigned long long>(e.statements));
        }
        catch (std::exception const& e)
        {
            std::printf("  (stats unavailable: %s)\n", e.what());
        }
    }
    catch (std::exception const& e)
    {
        std::cerr << "routing-demo: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
