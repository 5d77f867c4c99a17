// soci-routing: the statement proxy. Records the query, decides the route at every execute, and keeps an
// inner statement of the chosen endpoint's driver, re-prepared (bindings replayed) when the target changes.

#include "soci-routing-backend.h"

#include <algorithm>
#include <utility>

namespace soci_routing
{

namespace
{

using soci::details::statement_backend;

/// Adds context to an error on its way to the application, keeping its type and message.
void add_context(std::exception const& e, std::string const& context)
{
    if (auto* se = dynamic_cast<soci::soci_error const*>(&e))
        const_cast<soci::soci_error*>(se)->add_context(context);
}

} // namespace

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

void routing_statement_backend::drop_inner() noexcept
{
    // Inner elements read their inner statement's internals: they go first.
    for (routing_element* e : elements_)
        e->drop_inner();
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

void routing_statement_backend::detach(routing_element* e) noexcept
{
    auto it = std::find(elements_.begin(), elements_.end(), e);
    if (it != elements_.end())
        elements_.erase(it);
}

std::shared_ptr<endpoint_handle> routing_statement_backend::choose(char const*& reason)
{
    route_state facts = state_->facts(class_);
    facts.primary_only_exchange = primary_only_;
    facts.procedure = procedure_;
    route_decision d = route(class_, facts);
    if (d.target == route_target::primary)
    {
        reason = d.reason;
        return state_->primary_;
    }

    // A replica: keep the one the inner statement is on while it stays usable (no re-preparation, and a
    // once statement prepared on a replica runs there).
    if (endpoint_ && !endpoint_->is_primary() && !endpoint_->broken_ && endpoint_->pool_->usable())
    {
        reason = d.reason;
        return endpoint_;
    }

    std::uint64_t exclude = 0;
    std::string failures;
    endpoint_pool* first_failed = nullptr;
    cluster& c = *state_->cluster_;
    for (std::size_t attempt = 0; attempt <= c.replica_count(); ++attempt)
    {
        endpoint_pool* p = c.pick_replica(exclude);
        if (p == nullptr)
            break;
        std::size_t const index = state_->index_of(p);
        try
        {
            std::shared_ptr<endpoint_handle> h = state_->replica_handle(index);
            reason = d.reason;
            return h;
        }
        catch (std::exception const& e)
        {
            // The pool recorded the connect failure; try another replica, then the primary.
            exclude |= std::uint64_t(1) << (index & 63);
            if (first_failed == nullptr)
                first_failed = p;
            if (!failures.empty())
                failures += "; ";
            failures += redact(e.what());
            facts.replica_failed = true;
        }
    }
    if (!facts.replica_failed)
        facts.replica_unavailable = true;
    d = route(class_, facts);
    if (d.target == route_target::none)
    {
        if (failures.empty())
            throw soci::soci_error("No replica can serve this read and fallback is off.");
        throw soci::soci_error("No replica could serve this read and fallback is off: " + failures);
    }
    if (first_failed != nullptr)
        first_failed->record_fallback();
    reason = d.reason;
    return state_->primary_;
}

void routing_statement_backend::move_to(std::shared_ptr<endpoint_handle> target, bool replay_execution)
{
    drop_inner();
    endpoint_ = std::move(target);
    try
    {
        inner_.reset(endpoint_->session().get_backend()->make_statement_backend());
        inner_->alloc();
        inner_->prepare(query_, type_);
        for (routing_element* e : elements_)
            e->replay_definition(*inner_);
        if (replay_execution)
        {
            for (routing_element* e : elements_)
                e->replay_execution();
        }
    }
    catch (...)
    {
        // Half-built: drop it; the next use prepares again (ensure_inner()).
        drop_inner();
        throw;
    }
}

void routing_statement_backend::place(bool replay_execution)
{
    char const* reason = "";
    std::shared_ptr<endpoint_handle> target = choose(reason);
    reason_ = reason;
    if (!inner_ || target != endpoint_)
    {
        try
        {
            move_to(std::move(target), replay_execution);
        }
        catch (std::exception const& e)
        {
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
        // The primary's errors reach the application as they are. A broken connection must not go back to
        // the pool when the session closes: the next session would get it.
        if (classify_failure(e, state_->driver_, &endpoint_->session()) == failure_class::connection)
        {
            endpoint_->broken_ = true;
            endpoint_->lease_.discard();
            endpoint_->pool_->record_failure(failure_class::connection, redact(e.what()));
        }
        throw;
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
    pool.record_fallback();
    reason_ = d.reason;
    move_to(state_->primary_, replay_execution);
}

void routing_statement_backend::prepare(std::string const& query, soci::details::statement_type type)
{
    query_ = query;
    type_ = type;
    class_ = classify(query_, state_->dialect_, state_->classify_options_);
    prepared_ = true;
    drop_inner();
    // Prepare where the statement would run now: a PostgreSQL repeatable query is prepared on the server
    // here, and its errors (syntax, missing table) belong to prepare.
    place(false);
}

statement_backend::exec_fetch_result routing_statement_backend::execute(int number)
{
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
            finish_execution();
            throw;
        }
        state_->note_executed(class_, procedure_, *endpoint_, reason_);
        finish_execution();
        return r;
    }

    exec_fetch_result r;
    try
    {
        state_->sync_failover();
        place(true);
        endpoint_->pool_->record_routed(class_.why);
        try
        {
            r = inner_->execute(number);
        }
        catch (std::exception const& e)
        {
            // SOCI has not seen a row of this execution yet: a replica's failure may be retried.
            recover_or_rethrow(e, true);
            endpoint_->pool_->record_routed(class_.why);
            r = inner_->execute(number);
        }
    }
    catch (...)
    {
        finish_execution();
        throw;
    }
    if (!endpoint_->is_primary())
        endpoint_->pool_->record_success();
    state_->note_executed(class_, procedure_, *endpoint_, reason_);
    finish_execution();
    return r;
}

void routing_statement_backend::finish_execution() noexcept
{
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
    std::unique_ptr<statement_backend> st(state_->primary_->session().get_backend()->make_statement_backend());
    return st->rewrite_for_procedure_call(query);
}

int routing_statement_backend::prepare_for_describe()
{
    // PostgreSQL and MySQL run the query here: this is where the execution is routed.
    int n = 0;
    try
    {
        state_->sync_failover();
        place(true);
        endpoint_->pool_->record_routed(class_.why);
        try
        {
            n = inner_->prepare_for_describe();
        }
        catch (std::exception const& e)
        {
            recover_or_rethrow(e, true);
            endpoint_->pool_->record_routed(class_.why);
            n = inner_->prepare_for_describe();
        }
    }
    catch (...)
    {
        finish_execution();
        throw;
    }
    described_ = true;
    return n;
}

void routing_statement_backend::describe_column(int col_num, soci::data_type& dtype, std::string& column_name)
{
    ensure_inner().describe_column(col_num, dtype, column_name);
}

soci::details::standard_into_type_backend* routing_statement_backend::make_into_type_backend()
{
    return new routing_standard_into_type_backend(*this);
}

soci::details::standard_use_type_backend* routing_statement_backend::make_use_type_backend()
{
    return new routing_standard_use_type_backend(*this);
}

soci::details::vector_into_type_backend* routing_statement_backend::make_vector_into_type_backend()
{
    return new routing_vector_into_type_backend(*this);
}

soci::details::vector_use_type_backend* routing_statement_backend::make_vector_use_type_backend()
{
    return new routing_vector_use_type_backend(*this);
}

} // namespace soci_routing
