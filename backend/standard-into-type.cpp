// soci-routing: the into proxy. Records the definition and forwards to the inner element of the statement's
// current inner statement; replays the definition when the statement moves.

#include "soci-routing-backend.h"

namespace soci_routing
{

using namespace soci::details;

routing_standard_into_type_backend::~routing_standard_into_type_backend()
{
    clean_up();
}

standard_into_type_backend& routing_standard_into_type_backend::inner()
{
    if (!inner_ && statement_ != nullptr)
        statement_->ensure_inner();
    if (!inner_)
        throw soci::soci_error("routing: into element used after its statement was cleaned up");
    return *inner_;
}

void routing_standard_into_type_backend::define_by_pos(int& position, void* data, exchange_type type)
{
    position_ = position;  // before the inner element advances it
    data_ = data;
    type_ = type;
    defined_ = true;
    if (type == x_blob || type == x_rowid)
        statement_->require_primary();
    drop_inner();
    if (!attached_)
    {
        statement_->attach(this);
        attached_ = true;
    }
    if (statement_backend* st = statement_->inner())
    {
        inner_.reset(st->make_into_type_backend());
        inner_->define_by_pos(position, data, type);
    }
    else
    {
        ++position;
    }
}

void routing_standard_into_type_backend::pre_exec(int num)
{
    inner().pre_exec(num);
    pending_pre_exec_ = num;
}

void routing_standard_into_type_backend::pre_fetch()
{
    inner().pre_fetch();
    pending_pre_fetch_ = true;
}

void routing_standard_into_type_backend::post_fetch(bool got_data, bool called_from_fetch, soci::indicator* ind)
{
    inner().post_fetch(got_data, called_from_fetch, ind);
}

void routing_standard_into_type_backend::clean_up()
{
    drop_inner();
    defined_ = false;
    // SOCI deletes the element right after (or redefines it, after undefine_and_bind()).
    if (attached_ && statement_ != nullptr)
        statement_->detach(this);
    attached_ = false;
}

void routing_standard_into_type_backend::drop_inner() noexcept
{
    discard_inner_element(inner_);
}

void routing_standard_into_type_backend::replay_definition(statement_backend& inner)
{
    if (!defined_)
        return;
    inner_.reset(inner.make_into_type_backend());
    int position = position_;
    inner_->define_by_pos(position, data_, type_);
}

void routing_standard_into_type_backend::replay_execution()
{
    if (!inner_)
        return;
    if (pending_pre_fetch_)
        inner_->pre_fetch();
    if (pending_pre_exec_ >= 0)
        inner_->pre_exec(pending_pre_exec_);
}

void routing_standard_into_type_backend::execution_done() noexcept
{
    pending_pre_exec_ = -1;
    pending_pre_fetch_ = false;
}

void routing_standard_into_type_backend::orphan() noexcept
{
    drop_inner();
    statement_ = nullptr;
    attached_ = false;
}

} // namespace soci_routing
