// soci-routing: the vector use proxy (bulk inserts and updates).

#include "soci-routing-backend.h"

namespace soci_routing
{

using namespace soci::details;

routing_vector_use_type_backend::~routing_vector_use_type_backend()
{
    clean_up();
}

vector_use_type_backend& routing_vector_use_type_backend::inner()
{
    if (!inner_ && statement_ != nullptr)
        statement_->ensure_inner();
    if (!inner_)
        throw soci::soci_error("routing: vector use element used after its statement was cleaned up");
    return *inner_;
}

void routing_vector_use_type_backend::bind_inner(statement_backend& st)
{
    inner_.reset(st.make_vector_use_type_backend());
    if (by_name_)
    {
        if (bulk_)
            inner_->bind_by_name_bulk(name_, data_, type_, begin_, end_);
        else
            inner_->bind_by_name(name_, data_, type_);
    }
    else
    {
        int position = position_;
        if (bulk_)
            inner_->bind_by_pos_bulk(position, data_, type_, begin_, end_);
        else
            inner_->bind_by_pos(position, data_, type_);
    }
}

void routing_vector_use_type_backend::bind_by_pos(int& position, void* data, exchange_type type)
{
    position_ = position;
    by_name_ = false;
    bulk_ = false;
    data_ = data;
    type_ = type;
    defined_ = true;
    drop_inner();
    if (!attached_)
    {
        statement_->attach(this);
        attached_ = true;
    }
    if (statement_backend* st = statement_->inner())
    {
        inner_.reset(st->make_vector_use_type_backend());
        inner_->bind_by_pos(position, data, type);
    }
    else
    {
        ++position;
    }
}

void routing_vector_use_type_backend::bind_by_pos_bulk(int& position, void* data, exchange_type type,
                                                       std::size_t begin, std::size_t* end)
{
    position_ = position;
    by_name_ = false;
    bulk_ = true;
    begin_ = begin;
    end_ = end;
    data_ = data;
    type_ = type;
    defined_ = true;
    drop_inner();
    if (!attached_)
    {
        statement_->attach(this);
        attached_ = true;
    }
    if (statement_backend* st = statement_->inner())
    {
        inner_.reset(st->make_vector_use_type_backend());
        inner_->bind_by_pos_bulk(position, data, type, begin, end);
    }
    else
    {
        ++position;
    }
}

void routing_vector_use_type_backend::bind_by_name(std::string const& name, void* data, exchange_type type)
{
    name_ = name;
    by_name_ = true;
    bulk_ = false;
    data_ = data;
    type_ = type;
    defined_ = true;
    drop_inner();
    if (!attached_)
    {
        statement_->attach(this);
        attached_ = true;
    }
    if (statement_backend* st = statement_->inner())
        bind_inner(*st);
}

void routing_vector_use_type_backend::bind_by_name_bulk(std::string const& name, void* data, exchange_type type,
                                                        std::size_t begin, std::size_t* end)
{
    name_ = name;
    by_name_ = true;
    bulk_ = true;
    begin_ = begin;
    end_ = end;
    data_ = data;
    type_ = type;
    defined_ = true;
    drop_inner();
    if (!attached_)
    {
        statement_->attach(this);
        attached_ = true;
    }
    if (statement_backend* st = statement_->inner())
        bind_inner(*st);
}

void routing_vector_use_type_backend::pre_exec(int num)
{
    inner().pre_exec(num);
    pending_pre_exec_ = num;
}

void routing_vector_use_type_backend::pre_use(soci::indicator const* ind)
{
    inner().pre_use(ind);
    last_ind_ = ind;
    pending_pre_use_ = true;
}

std::size_t routing_vector_use_type_backend::size()
{
    return inner().size();
}

void routing_vector_use_type_backend::clean_up()
{
    drop_inner();
    defined_ = false;
    // SOCI deletes the element right after (or redefines it, after undefine_and_bind()).
    if (attached_ && statement_ != nullptr)
        statement_->detach(this);
    attached_ = false;
}

void routing_vector_use_type_backend::drop_inner() noexcept
{
    discard_inner_element(inner_);
}

void routing_vector_use_type_backend::replay_definition(statement_backend& inner)
{
    if (defined_)
        bind_inner(inner);
}

void routing_vector_use_type_backend::replay_execution()
{
    if (!inner_)
        return;
    if (pending_pre_use_)
        inner_->pre_use(last_ind_);
    if (pending_pre_exec_ >= 0)
        inner_->pre_exec(pending_pre_exec_);
}

void routing_vector_use_type_backend::execution_done() noexcept
{
    pending_pre_exec_ = -1;
    pending_pre_use_ = false;
}

void routing_vector_use_type_backend::orphan() noexcept
{
    drop_inner();
    statement_ = nullptr;
    attached_ = false;
}

} // namespace soci_routing
