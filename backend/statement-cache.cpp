// soci-routing: the statement cache. SOCI runs a one-time query (`sql << "...", use(x)`) with PQexecParams: the
// server parses and plans it every time. Each inner PostgreSQL connection keeps, for up to `statements` query
// texts that come again, a server-side prepared statement of its own name; a routing statement of such a text
// makes its fresh inner postgresql statement execute that name (PQexecPrepared) instead.
//
// Why names and not live inner statements: SOCI's postgresql statement backend keeps its server-side name in
// the public `statementName_` and its kind in `stType_`, executes a repeatable query by name, and DEALLOCATEs
// the name only in its destructor (clean_up() does not touch the server). So a one-time inner statement,
// prepared as usual (no I/O: it only rewrites `:name` to `$n`), with `stType_ = st_repeatable_query` and the
// cached name, runs exactly like a prepared statement, and gives the name back (cleared before it is
// destroyed). Its element backends are its own, as for any other inner statement: no element ever moves.
//
// MySQL: no cache. SOCI's mysql backend never uses server-side prepared statements (it substitutes the
// values into the text client-side), so there is nothing to keep.

#include "soci-routing-backend.h"

#include "soci-internals.h"

#include <libpq-fe.h>

#include <atomic>

namespace soci_routing
{

namespace
{

/// Names no SOCI statement uses (SOCI's are st_N), unique in the process: a stale cache can only meet
/// "prepared statement does not exist", never another statement of the same name.
std::string next_statement_name()
{
    static std::atomic<unsigned long long> counter{0};
    return "soci_routing_" + std::to_string(++counter);
}

PGconn* connection_of(soci::session& sql) noexcept
{
    return soci_internals::pg_connection(sql);
}

} // namespace

std::shared_ptr<statement_cache> obtain_statement_cache(lease& l, endpoint_config const& config)
{
    if (config.drv != driver::postgresql || config.statements <= 0)
        return nullptr;
    // Kept with the pooled connection (lease::attachment()): the next lease of the same connection finds it
    // without a lookup, and it is destroyed with the connection.
    if (l.attachment())
        return std::static_pointer_cast<statement_cache>(l.attachment());
    soci::details::session_backend* b = l.session().get_backend();
    if (b == nullptr || b->get_backend_name() != "postgresql")
        return nullptr;
    if (soci_internals::pg_single_row_mode(l.session()))
        return nullptr;
    auto c = std::make_shared<statement_cache>(static_cast<std::size_t>(config.statements));
    l.attachment() = c;
    return c;
}

statement_cache::~statement_cache() = default;

bool statement_cache::check_connection(soci::session& sql) noexcept
{
    PGconn* conn = connection_of(sql);
    if (conn == nullptr || PQstatus(conn) != CONNECTION_OK)
        return false;
    int const pid = PQbackendPID(conn);
    if (conn != conn_ || pid != pid_)
    {
        // Another connection (reconnected in place, or a new session at the same address): the names of
        // the old one died with it.
        forget_all();
        garbage_.clear();
        conn_ = conn;
        pid_ = pid;
    }
    else if (!garbage_.empty() && PQtransactionStatus(conn) != PQTRANS_INERROR)
    {
        std::vector<std::string> names;
        names.swap(garbage_);
        for (std::string const& n : names)
            deallocate(n);
    }
    return true;
}

void statement_cache::deallocate(std::string const& name) noexcept
{
    PGconn* conn = static_cast<PGconn*>(conn_);
    if (conn == nullptr)
        return;
    if (PQtransactionStatus(conn) == PQTRANS_INERROR)
    {
        // A failed transaction refuses every command: later.
        try
        {
            garbage_.push_back(name);
        }
        catch (...)
        {
        }
        return;
    }
    try
    {
        std::string const sql = "DEALLOCATE " + name;
        PQclear(PQexec(conn, sql.c_str()));
    }
    catch (...)
    {
    }
}

void statement_cache::erase(list::iterator it) noexcept
{
    if (!(*it)->name.empty())
    {
        deallocate((*it)->name);
        --prepared_;
    }
    index_.erase(std::string_view((*it)->text));
    lru_.erase(it);
}

std::shared_ptr<statement_cache_entry> statement_cache::lookup(soci::session& sql, std::string const& text)
{
    if (!check_connection(sql))
        return nullptr;
    auto found = index_.find(std::string_view(text));
    if (found != index_.end())
    {
        lru_.splice(lru_.begin(), lru_, found->second);
        return *found->second;
    }
    if (capacity_ == 0)
        return nullptr;
    // A new text is only a candidate (nothing on the server): it takes the place of the least recently used
    // candidate, never of a prepared statement, so that a stream of texts run once evicts nothing useful.
    while (lru_.size() - prepared_ >= capacity_)
    {
        if (!evict_one(false))
            return nullptr;
    }
    auto e = std::make_shared<statement_cache_entry>();
    e->text = text;
    lru_.push_front(e);
    try
    {
        index_.emplace(std::string_view(e->text), lru_.begin());
    }
    catch (...)
    {
        lru_.pop_front();
        throw;
    }
    return e;
}

bool statement_cache::evict_one(bool prepared) noexcept
{
    // The least recently used entry of that kind that no statement is using.
    for (auto it = lru_.end(); it != lru_.begin();)
    {
        --it;
        if ((*it)->users == 0 && (*it)->name.empty() != prepared)
        {
            erase(it);
            return true;
        }
    }
    return false;
}

bool statement_cache::prepare_on_server(soci::session& sql, statement_cache_entry& e,
                                        soci::details::statement_backend& st)
{
    PGconn* conn = connection_of(sql);
    if (conn == nullptr || conn != conn_)
        return false;
    PGTransactionStatusType const before = PQtransactionStatus(conn);
    if (before != PQTRANS_IDLE && before != PQTRANS_INTRANS)
        return false;  // a failed transaction: the uncached run reports it as SOCI would
    // At most `capacity` statements on the server: the least recently used one goes (DEALLOCATE).
    if (prepared_ >= capacity_ && !evict_one(true))
        return false;
    std::string name = next_statement_name();
    PGresult* res = PQprepare(conn, name.c_str(), soci_internals::pg_server_text(st).c_str(),
                              static_cast<int>(soci_internals::pg_parameter_count(st)), nullptr);
    ExecStatusType const status = PQresultStatus(res);
    if (status == PGRES_COMMAND_OK)
    {
        PQclear(res);
        e.name = std::move(name);
        ++prepared_;
        return true;
    }
    e.runs = 0;  // it must run uncached successfully again before the next attempt
    if (before == PQTRANS_IDLE || PQstatus(conn) == CONNECTION_BAD)
    {
        // Nothing was lost: the uncached execution runs (and fails, if it must) as SOCI would have.
        PQclear(res);
        return false;
    }
    // Inside a transaction block the failure aborted the transaction: the uncached execution would only say
    // so. Report the server's own error, as SOCI reports a failed one-time query.
    std::string msg = "Cannot execute query. Fatal error.";
    char const* const error = PQresultErrorMessage(res);
    if (error != nullptr && *error != '\0')
    {
        msg += " ";
        msg += error;
    }
    char const* sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    std::string const state = sqlstate != nullptr ? std::string(sqlstate) : std::string("     ");
    PQclear(res);
    throw soci::postgresql_soci_error(msg, state.c_str());
}

void statement_cache::forget_all() noexcept
{
    // Entries in use keep their (now dead) name: their execution fails with 26000 and retries uncached.
    index_.clear();
    lru_.clear();
    prepared_ = 0;
}

void statement_cache::drop(soci::session& sql, statement_cache_entry& e) noexcept
{
    auto found = index_.find(std::string_view(e.text));
    if (found == index_.end() || found->second->get() != &e)
        return;
    if (connection_of(sql) != conn_)
        return;
    erase(found->second);  // DEALLOCATE
}

} // namespace soci_routing
