// soci-routing: the vector into proxy (bulk selects). SOCI calls size() and resize() directly, so the proxy
// always keeps a live inner element.

#include "soci-routing-backend.h"

namespace soci_routing
{

using namespace soci::details;

routing_vector_into_type_backend::~routing_vector_into_type_backend()
{
    clean_up();
}

vector_into_type_backend& routing_vector_into_type_backend::inner()
{
    if (!inner_ && statement_ != nullptr)
        statement_->ensure_inner();
    if (!inner_)
        throw soci::soci_error("routing: vector into element used after its statement was cleaned up");
    return *inner_;
}

void routing_vector_into_type_backend::define_inner(statement_backend& st)
{
    inner_.reset(st.make_vector_into_type_backend());
    int position = position_;
    if (bulk_)
        inner_->define_by_pos_bulk(position, data_, type_, begin_, end_);
    else
        inner_->define_by_pos(position, data_, type_);
}

void routing_vector_into_type_backend::define_by_pos_bulk(int& position, void* data, exchange_type type,
                                                          std::size_t begin, std::size_t* end)
{
    position_ = position;
    data_ = data;
    type_ = type;
    bulk_ = true;
    begin_ = begin;
    end_ = end;
    defined_ = true;
    drop_inner();
    if (!attached_)
    {
        statement_->attach(this);
        attached_ = true;
    }
    if (statement_backend* st = statement_->inner())
    {
        inner_.reset(st->make_vector_into_type_backend());
        inner_->define_by_pos_bulk(position, data, type, begin, end);
    }
    else
    {
        ++position;
    }
}

void routing_vector_into_type_backend::define_by_pos(int& position, void* data, exchange_type type)
{
    position_ = position;
    data_ = data;
    type_ = type;
    bulk_ = false;
    defined_ = true;
    drop_inner();
    if (!attached_)
    {
        statement_->attach(this);
        attached_ = true;
    }
    if (statement_backend* st = statement_->inner())
    {
        inner_.reset(st->make_vector_into_type_backend());
        inner_->define_by_pos(position, data, type);
    }
    else
    {
        ++position;
    }
}

void routing_vector_into_type_backend::pre_exec(int num)
{
    inner().pre_exec(num);
    pending_pre_exec_ = num;
}

void routing_vector_into_type_backend::pre_fetch()
{
    inner().pre_fetch();
    pending_pre_fetch_ = true;
}

void routing_vector_into_type_backend::post_fetch(bool got_data, soci::indicator* ind)
{
    inner().post_fetch(got_data, ind);
}

void routing_vector_into_type_backend::resize(std::size_t sz)
{
    inner().resize(sz);
}

std::size_t routing_vector_into_type_backend::size()
{
    return inner().size();
}

void routing_vector_into_type_backend::clean_up()
{
    drop_inner();
    defined_ = false;
    // SOCI deletes the element right after (or redefines it, after undefine_and_bind()).
    if (attached_ && statement_ != nullptr)
        statement_->detach(this);
    attached_ = false;
}

void routing_vector_into_type_backend::drop_inner() noexcept
{
    discard_inner_element(inner_);
}

void routing_vector_into_type_backend::replay_definition(statement_backend& inner)
{
    if (defined_)
        define_inner(inner);
}

void routing_vector_into_type_backend::replay_execution()
{
    if (!inner_)
        return;
    if (pending_pre_fetch_)
        inner_->pre_fetch();
    if (pending_pre_exec_ >= 0)
        inner_->pre_exec(pending_pre_exec_);
}

void routing_vector_into_type_backend::execution_done() noexcept
{
    pending_pre_exec_ = -1;
    pending_pre_fetch_ = false;
}

void routing_vector_into_type_backend::orphan() noexcept
{
    drop_inner();
    statement_ = nullptr;
    attached_ = false;
}

} // namespace soci_routing
