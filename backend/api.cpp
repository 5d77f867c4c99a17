// soci-routing: the optional API of soci-routing.h (members of the factory object, guards).

#include "soci-routing-backend.h"

#include <algorithm>

namespace soci
{

using soci_routing::find_routing_backend;
using soci_routing::require_routing_backend;

namespace
{

void require_causal(soci_routing::session_state const& st, char const* what)
{
    if (!st.causal_)
        throw soci_error(std::string("soci::routing.") + what + "() needs [routing] consistency = \"causal\"; "
                         "this session's cluster (" + st.cluster_->config().source + ") uses \"window\".");
}

} // namespace

bool routing_backend_factory::is_routed(session& sql) const
{
    return find_routing_backend(sql) != nullptr;
}

std::string routing_backend_factory::last_endpoint(session& sql) const
{
    soci_routing::session_state const& st = *require_routing_backend(sql).state();
    return st.last_pool_ != nullptr ? st.last_pool_->name() : std::string();
}

std::string routing_backend_factory::last_reason(session& sql) const
{
    return require_routing_backend(sql).state()->last_reason_;
}

void routing_backend_factory::set_scope(session& sql, std::shared_ptr<routing_scope> scope) const
{
    soci_routing::session_state& st = *require_routing_backend(sql).state();
    st.scope_ = scope ? std::move(scope) : std::make_shared<routing_scope>();
}

std::shared_ptr<routing_scope> routing_backend_factory::get_scope(session& sql) const
{
    return require_routing_backend(sql).state()->scope_;
}

std::string routing_backend_factory::causal_token(session& sql) const
{
    soci_routing::session_state& st = *require_routing_backend(sql).state();
    require_causal(st, "causal_token");
    soci_routing::causal_position const* position = st.causal_requirement();
    if (position == nullptr)
        return {};
    return soci_routing::to_token(*position, st.driver_);
}

void routing_backend_factory::require(session& sql, std::string const& token) const
{
    soci_routing::session_state& st = *require_routing_backend(sql).state();
    require_causal(st, "require");
    soci_routing::scope_access::require(*st.scope_, st.cluster_.get(), soci_routing::parse_token(token, st.driver_));
}

void routing_backend_factory::begin_read_only(session& sql) const
{
    bool const mysql = require_routing_backend(sql).state()->driver_ == soci_routing::driver::mysql;
    sql << (mysql ? "START TRANSACTION READ ONLY" : "BEGIN READ ONLY");
}

routing_read_only_transaction::routing_read_only_transaction(session& sql) : sql_(sql)
{
    routing.begin_read_only(sql_);
}

routing_read_only_transaction::~routing_read_only_transaction()
{
    if (!active_)
        return;
    try
    {
        sql_.rollback();
    }
    catch (...)
    {
        // As soci::transaction: a destructor does not throw.
    }
}

void routing_read_only_transaction::commit()
{
    active_ = false;
    sql_.commit();
}

void routing_read_only_transaction::rollback()
{
    active_ = false;
    sql_.rollback();
}

routing_use_primary routing_backend_factory::use_primary(session& sql) const
{
    return routing_use_primary(sql);
}

routing_use_replica routing_backend_factory::use_replica(session& sql) const
{
    return routing_use_replica(sql);
}

routing_stats routing_backend_factory::stats(session& sql) const
{
    return require_routing_backend(sql).state()->cluster_->stats();
}

routing_check routing_backend_factory::check(session& sql) const
{
    return require_routing_backend(sql).state()->cluster_->check();
}

routing_check routing_backend_factory::check(std::string const& source) const
{
    return soci_routing::check_cluster(soci_routing::load_source(source));
}

routing_classification routing_backend_factory::classify(std::string const& sql, std::string const& dialect) const
{
    soci_routing::dialect d;
    if (dialect == "postgresql" || dialect == "pg")
        d = soci_routing::dialect::postgresql;
    else if (dialect == "mysql" || dialect == "mariadb")
        d = soci_routing::dialect::mysql;
    else
        throw soci_error("Unknown SQL dialect \"" + dialect + "\": expected \"postgresql\" or \"mysql\".");

    soci_routing::classification const c = soci_routing::classify(sql, d);
    // By text alone: route() with no session state says what the classification allows.
    soci_routing::route_decision const r = soci_routing::route(c, soci_routing::route_state{});
    routing_classification out;
    out.target = soci_routing::to_string(r.target);
    out.reason = soci_routing::to_string(c.why);
    // BEGIN READ ONLY and the like: the whole transaction runs on a replica.
    if (c.begins_transaction && soci_routing::begins_replica_transaction(sql, d))
    {
        out.target = "replica";
        out.reason = "read_only_transaction";
    }
    out.kind = soci_routing::to_string(c.kind);
    out.is_write = c.is_write;
    out.begins_transaction = c.begins_transaction;
    out.ends_transaction = c.ends_transaction;
    out.pins_session = c.pins_session;
    return out;
}

routing_use_primary::routing_use_primary(session& sql) : sql_(sql)
{
    ++require_routing_backend(sql_).state()->force_primary_;
}

routing_use_primary::~routing_use_primary()
{
    // After session::reconnect() the backend is a new one: never go below zero.
    if (auto* b = find_routing_backend(sql_))
        b->state()->force_primary_ = std::max(0, b->state()->force_primary_ - 1);
}

routing_use_replica::routing_use_replica(session& sql) : sql_(sql)
{
    ++require_routing_backend(sql_).state()->force_replica_;
}

routing_use_replica::~routing_use_replica()
{
    if (auto* b = find_routing_backend(sql_))
        b->state()->force_replica_ = std::max(0, b->state()->force_replica_ - 1);
}

} // namespace soci
