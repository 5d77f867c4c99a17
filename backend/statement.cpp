// soci-routing: the statement proxy. Records the query, decides the route at every execute, and keeps an
// inner statement of the chosen endpoint's driver, re-prepared (bindings replayed) when the target changes.

#include "soci-routing-backend.h"
#include "scope.h"
#include "text-facts.h"

#include "soci-internals.h"

#include <libpq-fe.h>

#include <algorithm>
#include <cctype>
#include <utility>

namespace soci_routing
{

namespace
{

using soci::details::statement_backend;

/// The first word of `sql`, lower case (at most 10 letters); empty when the text starts otherwise (a comment).
std::string first_word(std::string const& sql)
{
    return first_word_of(sql).data();
}

/// Data statements, which PostgreSQL prepares and plans: the ones worth a server-side prepared statement.
bool is_cacheable_text(std::string_view w)
{
    return w == "select" || w == "insert" || w == "update" || w == "delete" || w == "with" || w == "values"
        || w == "table";
}

/// `sql` contains `word` (lower case), in any case. Allocates nothing.
bool contains_word(std::string const& sql, std::string_view word) noexcept
{
    if (word.empty() || sql.size() < word.size())
        return false;
    for (std::size_t i = 0; i + word.size() <= sql.size(); ++i)
    {
        std::size_t k = 0;
        while (k != word.size() && std::tolower(static_cast<unsigned char>(sql[i + k])) == word[k])
            ++k;
        if (k == word.size())
            return true;
    }
    return false;
}

/// DISCARD ALL, DEALLOCATE [PREPARE] ALL: the server drops every prepared statement of the connection.
bool drops_prepared_statements(std::string const& sql) noexcept
{
    return (contains_word(sql, "discard") || contains_word(sql, "deallocate")) && contains_word(sql, "all");
}

/// What running `sql` may leave in the server session for the next borrower of the connection.
unsigned dirt_of(classification const& c, bool procedure, std::string const& sql) noexcept
{
    // Session state by classification (SET, temporary tables, session locks, LISTEN, user variables, ...), and
    // what cannot be seen into: a procedure call, several statements, an unrecognised statement.
    if (!c.pins_session && !procedure && c.why != reason::multi_statement && c.why != reason::unknown)
        return dirt_none;
    unsigned dirt = dirt_session;
    // SQL-level PREPARE outlives the statement under a name the next borrower might use.
    if (contains_word(sql, "prepare"))
        dirt |= dirt_prepared;
    return dirt;
}

} // namespace

void add_context(std::exception const& e, std::string const& context)
{
    if (auto* se = dynamic_cast<soci::soci_error const*>(&e))
        const_cast<soci::soci_error*>(se)->add_context(context);
}

routing_statement_backend::routing_statement_backend(std::shared_ptr<session_state> state)
    : state_(std::move(state))
{
}

routing_statement_backend::~routing_statement_backend()
{
    for (routing_element* e : elements_)
        e->orphan();
    elements_.clear();
    drop_inner();
}

void routing_statement_backend::clean_up()
{
    drop_inner();
    endpoint_.reset();
}

void routing_statement_backend::abandon_inner() noexcept
{
    // A child of fork() lets go of its parent's statement: the prepared statement on the server is the
    // parent's (no DEALLOCATE on its connection), and so is the cache entry.
    abandon(std::move(inner_));
    abandon(std::move(cached_));
    cached_inner_ = false;
}

void routing_statement_backend::drop_inner() noexcept
{
    if (state_->generation_ != process_generation())
        abandon_inner();
    // Inner elements read their inner statement's internals: they go first.
    for (routing_element* e : elements_)
        e->drop_inner();
    release_cached();
    if (inner_)
    {
        try
        {
            inner_->clean_up();  // PostgreSQL: DEALLOCATE of a prepared statement, through its connection
        }
        catch (...)
        {
            // The connection may be broken; the statement is gone either way.
        }
        inner_.reset();
    }
}

void routing_statement_backend::attach(routing_element* e)
{
    elements_.push_back(e);
}

void routing_statement_backend::let_go() noexcept
{
    drop_inner();
    endpoint_.reset();
}

void routing_statement_backend::detach(routing_element* e) noexcept
{
    auto it = std::find(elements_.begin(), elements_.end(), e);
    if (it != elements_.end())
        elements_.erase(it);
}

std::shared_ptr<endpoint_handle> routing_statement_backend::in_replica_transaction(char const*& reason)
{
    std::shared_ptr<endpoint_handle> const h = state_->replica_txn_;
    if (h->broken_)
    {
        // The connection broke after the transaction had answered: it is lost, and says so until it is ended.
        std::string const where = h->pool_->describe();
        if (!class_.ends_transaction)
            throw soci::soci_error("The read-only transaction on " + where
                                   + " was lost with its connection: end it (ROLLBACK) and run it again.");
        state_->end_replica_transaction();
        std::string const w = first_word(query_);
        if (w != "rollback" && w != "abort")
            throw soci::soci_error("Cannot end the read-only transaction: the connection to " + where
                                   + " broke during it.");
        reason = "read_only_transaction";
        return state_->synced_primary();  // a ROLLBACK with no transaction: harmless
    }
    // A blob or rowid is an object of the primary's connection (large objects live in its transaction).
    if (primary_only_)
        throw soci::soci_error("A blob or rowid cannot be exchanged inside a read-only transaction, which runs on "
                               + h->pool_->describe() + ": use a read-write transaction (on the primary).");
    // Session state set inside the transaction would stay on that replica connection, out of the session's
    // reach (SET LOCAL and the like, which end with the transaction, are fine).
    if (has_effect_ && effect_.kind != effect_kind::none)
        throw soci::soci_error("\"" + query_ + "\" changes session state inside a read-only transaction, which runs on "
                               + h->pool_->describe() + ": run it before the transaction begins.");
    reason = "read_only_transaction";
    return h;
}

std::shared_ptr<endpoint_handle> routing_statement_backend::choose(char const*& reason)
{
    if (state_->replica_txn_)
        return in_replica_transaction(reason);
    // BEGIN READ ONLY outside a transaction: routed as a read (a replica, unless the session's state wants the
    // primary: pinned, use_primary, read-your-writes); the transaction then stays where it began.
    classification routed = class_;
    opening_replica_txn_ = false;
    replica_txn_prelude_.clear();
    // BEGIN READ ONLY; PostgreSQL's BEGIN; SET TRANSACTION READ ONLY with nothing in between (the transaction on
    // the primary is rolled back and begins again on a replica); MySQL's SET TRANSACTION READ ONLY; START
    // TRANSACTION.
    bool const pg = state_->dialect_ == dialect::postgresql;
    bool const migrate = pg && set_read_only_ && state_->in_transaction_ && state_->txn_fresh_;
    bool const next_read_only = !pg && class_.begins_transaction && !read_only_begin_ && !state_->in_transaction_
        && !state_->next_transaction_text_.empty()
        && set_transaction_mode_of(state_->next_transaction_text_, state_->dialect_).read_only;
    bool const read_only_begin = (read_only_begin_ && !state_->in_transaction_) || migrate || next_read_only;
    if (migrate)
        replica_txn_prelude_.push_back(state_->txn_begin_text_);
    if (next_read_only)
        replica_txn_prelude_.push_back(state_->next_transaction_text_);
    if (read_only_begin)
    {
        routed.where = target::replica;
        routed.kind = statement_kind::read;
        routed.why = reason::select;
    }
    route_state facts = state_->facts(routed);
    facts.primary_only_exchange = primary_only_;
    facts.procedure = procedure_;
    if (migrate)
        facts.in_transaction = false;
    // The pending SET TRANSACTION pins the session only until this START TRANSACTION.
    if (next_read_only && state_->pinned_only_by(pin_cause::next_transaction))
        facts.pinned = false;
    route_decision d = route(routed, facts);
    if (d.target == route_target::primary)
    {
        std::shared_ptr<endpoint_handle> const p = state_->current_primary();
        if (class_.ends_transaction && state_->in_transaction_ && p && p->broken_)
        {
            // The connection broke inside the transaction: the server rolled it back. A ROLLBACK runs on a
            // fresh connection (harmless); anything else (COMMIT) must not pretend to have committed.
            state_->in_transaction_ = false;
            state_->transaction_wrote_ = false;
            std::string const w = first_word(query_);
            if (w != "rollback" && w != "abort")
                throw soci::soci_error("Cannot end the transaction: the connection to " + p->pool_->describe()
                                       + " broke during it, and the server rolled it back.");
        }
        reason = d.reason;
        return state_->synced_primary();
    }

    // Replicas where the session's settings could not be replayed are not used until the settings change.
    std::uint64_t const refused = state_->replay_failed_tag_ == state_->settings_tag_ ? state_->replay_failed_ : 0;
    cluster& c = *state_->cluster_;

    // consistency = "causal": the read needs a replica that has replayed the scope's position. A use_replica
    // guard accepts staleness.
    causal_position const* const requirement =
        state_->causal_ && !facts.forced_replica ? state_->causal_requirement() : nullptr;
    bool const causal = requirement != nullptr;
    static causal_position const nothing;
    causal_position const& required = causal ? *requirement : nothing;
    if (!causal && state_->positions_unsupported_)
    {
        // MySQL proper: no positions; the `sticky` window decides, as in window mode.
        facts = state_->facts(routed);
        facts.primary_only_exchange = primary_only_;
        facts.procedure = procedure_;
        d = route(routed, facts);
        if (d.target == route_target::primary)
        {
            reason = d.reason;
            return state_->synced_primary();
        }
    }

    // A replica: keep the one the inner statement is on while it stays usable (no re-preparation, and a
    // once statement prepared on a replica runs there).
    if (endpoint_ && !endpoint_->is_primary() && !endpoint_->broken_ && endpoint_->pool_->usable()
        && (refused & (std::uint64_t(1) << (endpoint_->replica_index_ & 63))) == 0
        && (!causal || endpoint_->pool_->has_replayed(required)))
    {
        if (state_->try_sync_replica(*endpoint_) && (!read_only_begin || open_replica_transaction(*endpoint_)))
        {
            if (causal && executing_)
                causal_outcome_ = {endpoint_->pool_, causal_outcome::replica, 0};
            reason = read_only_begin ? "read_only_transaction"
                     : causal        ? (prepare_waited_ >= 0 ? "causal_wait" : "causal_replica")
                                     : d.reason;
            return endpoint_;
        }
    }

    // Causal: replicas not known to have the position are tried last, after a wait (one per read, up to
    // causal_timeout); with causal_timeout = 0 never.
    std::uint64_t behind = 0;
    if (causal)
    {
        for (std::size_t i = 0; i != c.replica_count() && i < 64; ++i)
            if (!c.replica(i).has_replayed(required))
                behind |= std::uint64_t(1) << i;
    }
    // The prepare waits too (a server-side prepare on a replica that lacks the scope's last DDL fails), and
    // the execution counts it; a wait that ran out at the prepare is not paid again by the execution.
    bool may_wait = causal && state_->causal_timeout_.count() > 0 && !(executing_ && prepare_wait_ran_out_);
    // Some replica was left out for lack of the position: without one that has it, the read goes to the primary,
    // which has it, whatever `fallback` says (the prepare too: it must not fail where the execution would not).
    bool const causal_short = behind != 0;

    // A replica that failed to connect for this statement's prepare is not tried again for its execution:
    // one read pays one connect timeout at most.
    std::uint64_t exclude = failed_replicas_ | refused;
    if (failed_replicas_ != 0)
        facts.replica_failed = true;
    std::string failures;
    endpoint_pool* first_failed = nullptr;
    bool replay_refused = refused != 0;  // the session's settings keep some replicas out
    for (std::size_t attempt = 0; attempt <= c.replica_count(); ++attempt)
    {
        endpoint_pool* p = state_->pick_replica(exclude | behind);
        bool must_wait = false;
        if (p == nullptr && (exclude & behind) != behind && may_wait)
        {
            // The replica the statement was prepared on, when it may serve: no move.
            bool const stay = executing_ && endpoint_ && !endpoint_->is_primary() && !endpoint_->broken_
                && endpoint_->replica_index_ >= 0 && endpoint_->replica_index_ < 64
                && (exclude & (std::uint64_t(1) << endpoint_->replica_index_)) == 0 && endpoint_->pool_->usable();
            p = stay ? endpoint_->pool_ : c.pick_replica(exclude);
            must_wait = p != nullptr && may_wait;
        }
        if (p == nullptr)
            break;
        std::size_t const index = state_->index_of(p);
        try
        {
            std::shared_ptr<endpoint_handle> h = state_->replica_handle(index);
            if (!state_->try_sync_replica(*h))
            {
                // The replica refused the session's settings (counted and reported on it): another one, else
                // the primary, which has them.
                exclude |= std::uint64_t(1) << (index & 63);
                replay_refused = true;
                continue;
            }
            double waited = 0;
            if (must_wait)
            {
                may_wait = false;
                if (!wait_for(*h, required, waited))
                {
                    if (!executing_)
                        prepare_wait_ran_out_ = true;
                    exclude |= std::uint64_t(1) << (index & 63);
                    continue;
                }
                if (!executing_)
                    prepare_waited_ = waited;
            }
            if (read_only_begin && !open_replica_transaction(*h))
            {
                exclude |= std::uint64_t(1) << (index & 63);
                continue;
            }
            if (causal && executing_)
                causal_outcome_ = {p, must_wait ? causal_outcome::after_wait : causal_outcome::replica, waited};
            reason = read_only_begin ? "read_only_transaction"
                     : causal        ? (must_wait || prepare_waited_ >= 0 ? "causal_wait" : "causal_replica")
                                     : d.reason;
            return h;
        }
        catch (std::exception const& e)
        {
            // The pool recorded the connect failure; try another replica, then the primary.
            exclude |= std::uint64_t(1) << (index & 63);
            failed_replicas_ |= std::uint64_t(1) << (index & 63);
            if (first_failed == nullptr)
                first_failed = p;
            if (!failures.empty())
                failures += "; ";
            failures += redact(e.what());
            facts.replica_failed = true;
        }
    }
    if (replay_refused)
        facts.replica_failed = true;
    if (!facts.replica_failed)
        facts.replica_unavailable = true;
    // No replica had the position (or caught up within causal_timeout): the primary has it.
    if (causal_short && first_failed == nullptr && !replay_refused)
    {
        std::shared_ptr<endpoint_handle> primary = state_->synced_primary();
        causal_outcome_ = {primary->pool_, causal_outcome::primary, 0};
        reason = "causal_primary";
        return primary;
    }
    d = route(routed, facts);
    if (d.target == route_target::none)
    {
        if (failures.empty())
            throw soci::soci_error("No replica can serve this read and fallback is off.");
        throw soci::soci_error("No replica could serve this read and fallback is off: " + failures);
    }
    if (first_failed != nullptr)
        count_fallback(*first_failed);
    reason = replay_refused && first_failed == nullptr ? "replay_failed" : d.reason;
    return state_->synced_primary();
}

bool routing_statement_backend::wait_for(endpoint_handle& h, causal_position const& required, double& waited)
{
    using clock = std::chrono::steady_clock;
    endpoint_pool& pool = *h.pool_;
    auto const start = clock::now();
    bool reached = false;
    {
        socket_watchdog::watch watch = pool.watch_read(h.session());
        std::optional<causal_position> seen;
        try
        {
            seen = wait_for_position(h.session(), state_->driver_, required, state_->causal_timeout_, reached);
            if (watch.end())
                throw deadline_error(pool.read_timeout_message());
        }
        catch (std::exception const& e)
        {
            // The replica failed the wait as it would have failed the read: its health pays, the read goes on.
            bool const cut = watch.end() || dynamic_cast<deadline_error const*>(&e) != nullptr;
            failure_class const fc = cut ? failure_class::connection
                                         : classify_failure(e, state_->driver_, &h.session());
            std::string const message = cut ? pool.read_timeout_message() : redact(e.what());
            pool.record_failure(fc, message);
            if (fc == failure_class::connection)
                state_->forget_replica(h);
            if (cut)
                throw deadline_error(message);
            throw;
        }
        if (seen)
            pool.note_replayed(*seen);
    }
    waited = std::chrono::duration<double>(clock::now() - start).count();
    if (!reached)
        pool.record_causal_timeout(waited);
    return reached;
}

template <typename F>
auto routing_statement_backend::watched(F f) -> decltype(f())
{
    socket_watchdog::watch watch = endpoint_->pool_->watch_read(endpoint_->session());
    try
    {
        if constexpr (std::is_void_v<decltype(f())>)
        {
            f();
            if (!watch.end())
                return;
        }
        else
        {
            auto result = f();
            if (!watch.end())
                return result;
        }
    }
    catch (deadline_error const&)
    {
        throw;
    }
    catch (std::exception const&)
    {
        if (!watch.end())
            throw;
    }
    // Cut: whatever the driver made of it (an error, or a call that went on without the server, as the
    // statement cache's PREPARE does), the connection is gone and the read runs elsewhere.
    throw deadline_error(endpoint_->pool_->read_timeout_message());
}

void routing_statement_backend::move_to(std::shared_ptr<endpoint_handle> target, bool replay_execution)
{
    drop_inner();
    endpoint_ = std::move(target);
    try
    {
        watched([&] { prepare_inner(replay_execution); });
    }
    catch (...)
    {
        // Half-built: drop it; the next use prepares again (ensure_inner()).
        drop_inner();
        throw;
    }
}

void routing_statement_backend::prepare_inner(bool replay_execution)
{
    using steady = std::chrono::steady_clock;
    auto const start = leased_at_ != steady::time_point{} ? leased_at_ : steady::now();
    leased_at_ = {};
    inner_.reset(endpoint_->session().get_backend()->make_statement_backend());
    inner_->alloc();
    // Not inside a transaction: a cached plan that went stale there (0A000 after an ALTER TABLE elsewhere)
    // would abort the transaction, where plain SOCI's one-time query would have run (and a PREPARE that
    // fails there aborts it, where SOCI's own would have reported the error with the transaction intact).
    bool const by_cache = cacheable_ && !no_cache_ && endpoint_->cache_ && !state_->in_transaction_;
    bool const repeatable = type_ == soci::details::st_repeatable_query;
    // A repeatable query through the cache: each connection it visits keeps its server-side statement, so that
    // a statement moving between endpoints (a read-your-writes window, use_primary) pays a PREPARE once per
    // connection, and no DEALLOCATE when it leaves. It is made as a one-time query (nothing sent) and then
    // names the cache's statement.
    inner_->prepare(query_, by_cache && repeatable ? soci::details::st_one_time_query : type_);
    if (by_cache)
        use_statement_cache();
    if (by_cache && repeatable && !cached_inner_)
    {
        // The cache could not take it (full of statements in use; the server refused the PREPARE, as for a
        // syntax error or a missing table): prepared as SOCI prepares it, with SOCI's errors.
        release_cached();
        inner_.reset(endpoint_->session().get_backend()->make_statement_backend());
        inner_->alloc();
        inner_->prepare(query_, type_);
    }
    auto const prepared = steady::now();
    for (routing_element* e : elements_)
        e->replay_definition(*inner_);
    if (replay_execution)
    {
        for (routing_element* e : elements_)
            e->replay_execution();
    }
    // A replay is timed on a moved statement. A first placement defines its elements as plain SOCI does (the
    // same calls, nothing to replay): not timed, one clock read fewer per one-time statement.
    bool const replayed = placed_before_ || replay_execution;
    endpoint_->pool_->record_placement(placed_before_, lease_time_, prepared - start,
                                       replayed ? steady::now() - prepared : steady::duration{});
    placed_before_ = true;
    lease_time_ = {};
}

void routing_statement_backend::use_statement_cache()
{
    std::shared_ptr<statement_cache_entry> e = endpoint_->cache_->lookup(endpoint_->session(), query_);
    if (!e)
        return;
    cached_ = std::move(e);
    ++cached_->users;
    // A text seen for the first time runs as SOCI runs it; when it comes again, it is prepared. A repeatable
    // query is prepared at once, as SOCI prepares it.
    bool const first_run = cached_->runs == 0 && type_ != soci::details::st_repeatable_query;
    if (cached_->name.empty()
        && (first_run || !endpoint_->cache_->prepare_on_server(endpoint_->session(), *cached_, *inner_)))
        return;
    soci_internals::pg_execute_by_name(*inner_, cached_->name);
    cached_inner_ = true;
}

void routing_statement_backend::release_cached() noexcept
{
    if (cached_inner_ && inner_)
    {
        // The name is the cache's: the inner statement's destructor must not DEALLOCATE it.
        soci_internals::pg_forget_name(*inner_);
    }
    cached_inner_ = false;
    if (cached_)
    {
        --cached_->users;
        cached_.reset();
    }
}

bool routing_statement_backend::retry_uncached(std::exception const& e)
{
    if (!cached_inner_ || !endpoint_)
        return false;
    auto const* pe = dynamic_cast<soci::postgresql_soci_error const*>(&e);
    if (pe == nullptr)
        return false;
    // The server-side statement was prepared against the schema of its time: its parameter types stay those it
    // inferred then. A table dropped and created again with other column types (or a result type that changed,
    // 0A000) makes it fail where plain SOCI, which parses the text every time, would not; the server may also
    // have dropped it (26000). Such an error of a cached execution is therefore retried once as plain SOCI runs
    // it (outside a transaction block, the failed statement left nothing behind), and the entry is dropped: the
    // error that remains, if any, is the one plain SOCI would give.
    std::string const state = pe->sqlstate();
    bool const gone = state == "26000";  // invalid_sql_statement_name: the server dropped it
    bool const changed = state == "0A000";  // cached plan must not change result type (table altered)
    // 42xxx (undefined table, column, operator; datatype mismatch) and 22xxx (a value of the old parameter
    // type): what a schema change does to a statement prepared before it. Not a timeout, a conflict or a
    // constraint: those would only be paid twice.
    bool const schema = state.size() == 5 && (state.compare(0, 2, "42") == 0 || state.compare(0, 2, "22") == 0);
    if (!gone && !changed && !schema)
        return false;
    if (endpoint_->cache_)
    {
        if (gone)
            endpoint_->cache_->forget_all();
        else
            endpoint_->cache_->drop(endpoint_->session(), *cached_);
    }
    no_cache_ = true;
    // Inside a transaction block the error aborted the transaction: it reaches the application.
    PGconn* conn = soci_internals::pg_connection(endpoint_->session());
    if (conn == nullptr || PQtransactionStatus(conn) != PQTRANS_IDLE)
        return false;
    move_to(endpoint_, true);
    return true;
}

void routing_statement_backend::place(bool replay_execution)
{
    char const* reason = "";
    executing_ = replay_execution;
    causal_outcome_ = {};
    auto const start = std::chrono::steady_clock::now();
    std::shared_ptr<endpoint_handle> target = choose(reason);
    reason_ = reason;
    if (!inner_ || target != endpoint_)
    {
        auto const leased = std::chrono::steady_clock::now();
        lease_time_ = leased - start;
        if (!inner_)
            leased_at_ = leased;  // nothing to drop first: the prepare starts now
        try
        {
            move_to(std::move(target), replay_execution);
        }
        catch (std::exception const& e)
        {
            leased_at_ = {};
            recover_or_rethrow(e, replay_execution);
        }
    }
}

soci::details::statement_backend& routing_statement_backend::ensure_inner()
{
    if (!inner_)
        place(true);
    return *inner_;
}

void routing_statement_backend::recover_or_rethrow(std::exception const& e, bool replay_execution)
{
    if (!endpoint_)
        throw;
    if (endpoint_->is_primary())
    {
        // The primary's errors reach the application (never retried: a write may have committed). A broken
        // connection is discarded (the next statement leases a fresh one) and its error names the primary.
        state_->primary_failed(*endpoint_, e);
        if (class_.ends_transaction && endpoint_->broken_)
        {
            // A COMMIT / ROLLBACK whose connection broke: the transaction is over (rolled back by the server);
            // the next statement leases a fresh connection.
            state_->in_transaction_ = false;
            state_->transaction_wrote_ = false;
        }
        throw;
    }
    if (state_->replica_txn_ && endpoint_ == state_->replica_txn_)
    {
        replica_transaction_failed(e, replay_execution);
        return;
    }
    endpoint_pool& pool = *endpoint_->pool_;
    failure_class const fc = classify_failure(e, state_->driver_, &endpoint_->session());
    if (fc == failure_class::statement)
    {
        add_context(e, "on " + pool.describe());
        throw;
    }
    // A write never gets here (it never runs on a replica); a read is retried once on the primary.
    if (fc == failure_class::connection)
    {
        pool.record_failure(fc, redact(e.what()));
        state_->forget_replica(*endpoint_);
    }
    else
    {
        pool.record_failure(fc, redact(e.what()));
    }

    route_state facts = state_->facts(class_);
    facts.replica_failed = true;
    route_decision const d = route(class_, facts);
    if (d.target != route_target::primary)
    {
        add_context(e, "on " + pool.describe() + " (fallback is off)");
        throw;
    }
    count_fallback(pool);
    reason_ = d.reason;
    std::shared_ptr<endpoint_handle> primary = state_->synced_primary();
    try
    {
        move_to(primary, replay_execution);
    }
    catch (std::exception const& e2)
    {
        state_->primary_failed(*primary, e2);
        throw;
    }
}

void routing_statement_backend::replica_transaction_failed(std::exception const& e, bool replay_execution)
{
    endpoint_pool& pool = *endpoint_->pool_;
    failure_class const fc = classify_failure(e, state_->driver_, &endpoint_->session());
    // The server's answer to the statement (a write refused in a read-only transaction, a syntax error): the
    // application's, as on the primary.
    if (fc == failure_class::statement)
    {
        add_context(e, "on " + pool.describe() + " (read-only transaction)");
        throw;
    }
    pool.record_failure(fc, redact(e.what()));
    if (fc == failure_class::connection)
        endpoint_->discard();
    if (state_->replica_txn_answered_ || class_.ends_transaction)
    {
        // Rows of the transaction may have reached the application: it cannot go on elsewhere unnoticed.
        add_context(e, "on " + pool.describe() + " (read-only transaction)");
        throw;
    }
    // Nothing of it has answered yet: it begins again on the primary, and this statement runs there.
    std::vector<std::string> const begin = state_->replica_txn_begin_;
    if (fc != failure_class::connection)
        state_->forget_replica(*endpoint_);  // its transaction is abandoned: the pool rolls it back
    state_->end_replica_transaction();
    count_fallback(pool);
    reason_ = "fallback";
    std::shared_ptr<endpoint_handle> primary = state_->synced_primary();
    try
    {
        for (std::string const& s : begin)
            primary->session() << s;
        state_->settle_primary(*primary, false);
        move_to(primary, replay_execution);
    }
    catch (std::exception const& e2)
    {
        state_->primary_failed(*primary, e2);
        state_->settle_primary(*primary, true);
        throw;
    }
}

bool routing_statement_backend::open_replica_transaction(endpoint_handle& h) noexcept
{
    try
    {
        // Once: choose() runs for the prepare and again for the execution.
        if (transaction_status(h.session(), state_->driver_) != server_transaction::open)
        {
            for (std::string const& s : replica_txn_prelude_)
                h.session() << s;
        }
    }
    catch (std::exception const& e)
    {
        // Not there, then (the pool rolls back whatever began when the connection goes back).
        h.pool_->record_failure(classify_failure(e, state_->driver_, &h.session()), redact(e.what()));
        h.lease_.mark_dirty(dirt_session);
        return false;
    }
    opening_replica_txn_ = true;
    return true;
}

void routing_statement_backend::note_replica_transaction() noexcept
{
    if (endpoint_->is_primary())
        return;
    if (opening_replica_txn_ && !state_->replica_txn_)
    {
        opening_replica_txn_ = false;
        state_->replica_txn_ = endpoint_;
        state_->replica_txn_answered_ = false;
        try
        {
            state_->replica_txn_begin_ = replica_txn_prelude_;
            state_->replica_txn_begin_.push_back(query_);
        }
        catch (...)
        {
            state_->replica_txn_begin_.clear();
        }
        // What the primary had is given up: PostgreSQL's transaction (it ran nothing but BEGIN) is rolled back,
        // MySQL's pending SET TRANSACTION is reset with the connection when it goes back.
        state_->leave_primary_for_replica_transaction();
        return;
    }
    if (state_->replica_txn_ != endpoint_)
        return;
    if (class_.ends_transaction)
        state_->end_replica_transaction();
    else
        state_->replica_txn_answered_ = true;
}

void routing_statement_backend::prepare(std::string const& query, soci::details::statement_type type)
{
    state_->check_process();
    placed_on_.holds = false;
    query_ = query;
    type_ = type;
    text_facts const facts = facts_of(query_, state_->dialect_, state_->classify_options_, state_->classify_key_);
    class_ = facts.c;
    prepared_ = true;
    fallback_counted_ = false;
    failed_replicas_ = 0;
    prepare_waited_ = -1;
    prepare_wait_ran_out_ = false;
    drop_inner();
    no_cache_ = false;
    dirt_ = dirt_of(class_, procedure_, query_);
    // What a session-state statement does (a setting to replay, state that pins or unpins), and what may
    // remove pinned state though it is no session-state statement itself (DROP TABLE of a temporary table).
    std::string_view const word = facts.first_word();
    read_only_begin_ = false;
    set_read_only_ = false;
    if (word == "set")
    {
        transaction_mode const m = set_transaction_mode_of(query_, state_->dialect_);
        set_read_only_ = m.starts && m.read_only && !(m.serializable && state_->dialect_ == dialect::postgresql);
    }
    if (class_.begins_transaction)
        read_only_begin_ = begins_replica_transaction(query_, state_->dialect_);
    // (MySQL's SET TRANSACTION is transaction control to the classifier, and session state here.)
    has_effect_ = class_.pins_session || class_.kind == statement_kind::session_state || word == "drop"
        || word == "set";
    effect_ = has_effect_ ? session_effect(query_, state_->dialect_, class_) : session_effect_info{};
    cacheable_ = (type_ == soci::details::st_one_time_query || type_ == soci::details::st_repeatable_query)
        && state_->driver_ == driver::postgresql && !procedure_
        && !class_.pins_session && !class_.begins_transaction && !class_.ends_transaction
        && class_.why != reason::multi_statement && class_.why != reason::unknown && is_cacheable_text(word);
    // Prepare where the statement would run now: a PostgreSQL repeatable query is prepared on the server
    // here, and its errors (syntax, missing table) belong to prepare.
    place(false);
    // A one-time statement executes next, where it is now, unless the facts change first.
    if (type_ == soci::details::st_one_time_query)
        remember_placement();
}

void routing_statement_backend::remember_placement() noexcept
{
    // Not for what choose() does more than route: causal positions (waits, counted at the execution) and
    // read-only transactions (opened on a replica, or moved).
    session_state const& st = *state_;
    if (st.causal_ || st.replica_txn_ || opening_replica_txn_ || read_only_begin_ || set_read_only_
        || class_.begins_transaction || class_.ends_transaction)
        return;
    placed_on_ = {true, st.executions_, st.scope_.get(), scope_access::last_write(*st.scope_), st.force_primary_,
                  st.force_replica_, st.in_transaction_, st.pinned_, primary_only_};
}

void routing_statement_backend::remember_repeatable_placement() noexcept
{
    // A prepared read that ran on a replica runs there again while nothing the route depends on changes: the
    // route could only send it elsewhere for a reason among placement_facts (a window can only begin with a
    // write, and only run out with time). A statement on the primary is decided at every execution: a read
    // there goes back to a replica when its window runs out.
    if (type_ == soci::details::st_repeatable_query && endpoint_ && !endpoint_->is_primary() && !endpoint_->broken_)
        remember_placement();
}

bool routing_statement_backend::placement_holds() noexcept
{
    if (!placed_on_.holds)
        return false;
    placed_on_.holds = false;
    placement_facts const& p = placed_on_;
    if (!inner_ || !endpoint_ || endpoint_->broken_)
        return false;
    session_state const& st = *state_;
    // A statement of the session ran (a write, a setting), the application changed what the route depends on,
    // or the statement's elements bound a blob or a rowid (primary objects): decided again. (A window that ran
    // out meanwhile leaves a read on the primary: fresher, never staler.)
    if (st.executions_ != p.executions || st.scope_.get() != p.scope
        || scope_access::last_write(*st.scope_) != p.last_write || st.force_primary_ != p.force_primary
        || st.force_replica_ != p.force_replica || st.in_transaction_ != p.in_transaction || st.pinned_ != p.pinned
        || primary_only_ != p.primary_only)
        return false;
    // A replica quarantined or lagging since: decided again (choose() would move the read).
    return endpoint_->is_primary() || endpoint_->pool_->usable();
}

/// Routes the execution under way and runs `run` (the inner statement's execute or prepare_for_describe) where
/// it was placed: once more uncached when a cached server-side statement failed, once more elsewhere when the
/// endpoint failed and recover_or_rethrow() moved the statement (SOCI has seen no row of this execution yet).
/// On failure the execution is over.
template <typename Run>
auto routing_statement_backend::run_routed(Run run) -> decltype(run())
{
    try
    {
        state_->sync_failover();
        if (placement_holds())
        {
            executing_ = true;
            causal_outcome_ = {};
        }
        else
        {
            place(true);
        }
        ++state_->executions_;
        endpoint_->pool_->record_routed(class_.why);
        if (causal_outcome_.pool != nullptr && causal_outcome_.what == causal_outcome::replica && prepare_waited_ >= 0)
        {
            causal_outcome_.what = causal_outcome::after_wait;  // the wait was the prepare's
            causal_outcome_.seconds = prepare_waited_;
        }
        prepare_waited_ = -1;
        prepare_wait_ran_out_ = false;
        if (causal_outcome_.pool != nullptr)
        {
            if (causal_outcome_.what == causal_outcome::primary)
                causal_outcome_.pool->record_causal_primary();
            else
                causal_outcome_.pool->record_causal_read(causal_outcome_.what == causal_outcome::after_wait,
                                                         causal_outcome_.seconds);
        }
        try
        {
            try
            {
                return watched(run);
            }
            catch (std::exception const& e)
            {
                if (!retry_uncached(e))
                    throw;
                return watched(run);
            }
        }
        catch (std::exception const& e)
        {
            recover_or_rethrow(e, true);
            endpoint_->pool_->record_routed(class_.why);
            try
            {
                return watched(run);
            }
            catch (std::exception const& e2)
            {
                // The retry on the primary failed too: its error, naming the primary (a broken connection
                // is discarded).
                if (endpoint_->is_primary())
                    state_->primary_failed(*endpoint_, e2);
                throw;
            }
        }
    }
    catch (...)
    {
        note_failed();
        finish_execution();
        throw;
    }
}

statement_backend::exec_fetch_result routing_statement_backend::execute(int number)
{
    state_->check_process();
    if (described_)
    {
        // prepare_for_describe already ran the query where it was routed; the inner statement remembers.
        described_ = false;
        exec_fetch_result r;
        try
        {
            r = inner_->execute(number);
        }
        catch (...)
        {
            note_failed();
            finish_execution();
            throw;
        }
        note_cache_effects();
        state_->note_executed(class_, procedure_, *endpoint_, reason_, dirt_, has_effect_ ? &effect_ : nullptr, query_);
        note_replica_transaction();
        finish_execution();
        remember_repeatable_placement();
        return r;
    }

    exec_fetch_result const r = run_routed([&] { return inner_->execute(number); });
    if (!endpoint_->is_primary())
        endpoint_->pool_->record_success();
    note_cache_effects();
    state_->note_executed(class_, procedure_, *endpoint_, reason_, dirt_, has_effect_ ? &effect_ : nullptr, query_);
    note_replica_transaction();
    finish_execution();
    remember_repeatable_placement();
    return r;
}

void routing_statement_backend::note_cache_effects() noexcept
{
    if (cached_ && !cached_inner_)
        ++cached_->runs;
    // DISCARD ALL / DEALLOCATE ALL dropped the connection's prepared statements (SOCI's own st_N too).
    if (endpoint_->cache_ && (class_.pins_session || class_.why == reason::multi_statement)
        && drops_prepared_statements(query_))
        endpoint_->cache_->forget_all();
}

void routing_statement_backend::note_failed() noexcept
{
    // last_endpoint() names the endpoint that ran the last statement, failed or not.
    if (endpoint_)
    {
        state_->last_pool_ = endpoint_->pool_;
        state_->last_reason_ = reason_;
        // A statement that failed half-way (one of several) may have changed the session all the same; and an
        // error may have ended (or aborted) a transaction: the server says which.
        endpoint_->lease_.mark_dirty(dirt_);
        if (endpoint_->is_primary())
            state_->settle_primary(*endpoint_, true);
    }
}

void routing_statement_backend::count_fallback(endpoint_pool& pool) noexcept
{
    if (fallback_counted_)
        return;
    fallback_counted_ = true;
    pool.record_fallback();
}

void routing_statement_backend::finish_execution() noexcept
{
    fallback_counted_ = false;
    failed_replicas_ = 0;
    for (routing_element* e : elements_)
        e->execution_done();
}

statement_backend::exec_fetch_result routing_statement_backend::fetch(int number)
{
    // Rows of this execution may have reached the application: no re-routing from here on.
    return ensure_inner().fetch(number);
}

long long routing_statement_backend::get_affected_rows()
{
    return inner_ ? inner_->get_affected_rows() : 0;
}

int routing_statement_backend::get_number_of_rows()
{
    return inner_ ? inner_->get_number_of_rows() : 0;
}

std::string routing_statement_backend::get_parameter_name(int index) const
{
    // SOCI calls this while reporting a failed prepare: never throw.
    if (!inner_)
        return std::string();
    try
    {
        return inner_->get_parameter_name(index);
    }
    catch (...)
    {
        return std::string();
    }
}

std::string routing_statement_backend::rewrite_for_procedure_call(std::string const& query)
{
    // soci::procedure: a call may write, whatever its text looks like; it runs on the primary. The rewriting
    // is the primary driver's ("select " + call for PostgreSQL and MySQL).
    procedure_ = true;
    std::unique_ptr<statement_backend> st(state_->primary()->session().get_backend()->make_statement_backend());
    return st->rewrite_for_procedure_call(query);
}

int routing_statement_backend::prepare_for_describe()
{
    // PostgreSQL and MySQL run the query here: this is where the execution is routed.
    int const n = run_routed([&] { return inner_->prepare_for_describe(); });
    // A row or rowset read ran here: a replica (a probe of a quarantined one, too) has answered.
    if (!endpoint_->is_primary())
        endpoint_->pool_->record_success();
    if (state_->replica_txn_ && state_->replica_txn_ == endpoint_)
        state_->replica_txn_answered_ = true;
    described_ = true;
    return n;
}

void routing_statement_backend::describe_column(int col_num, soci::data_type& dtype, std::string& column_name)
{
    ensure_inner().describe_column(col_num, dtype, column_name);
}

template <typename Element>
Element* routing_statement_backend::make_element()
{
    try
    {
        return new Element(*this);
    }
    catch (...)
    {
        let_go();  // called from SOCI's define_and_bind(): see let_go()
        throw;
    }
}

soci::details::standard_into_type_backend* routing_statement_backend::make_into_type_backend()
{
    return make_element<routing_standard_into_type_backend>();
}

soci::details::standard_use_type_backend* routing_statement_backend::make_use_type_backend()
{
    return make_element<routing_standard_use_type_backend>();
}

soci::details::vector_into_type_backend* routing_statement_backend::make_vector_into_type_backend()
{
    return make_element<routing_vector_into_type_backend>();
}

soci::details::vector_use_type_backend* routing_statement_backend::make_vector_use_type_backend()
{
    return make_element<routing_vector_use_type_backend>();
}

} // namespace soci_routing
