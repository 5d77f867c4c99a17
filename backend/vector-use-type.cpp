// soci-routing: the vector use proxy (bulk inserts and updates). Records the binding and forwards to the inner
// element; element_proxy replays it when the statement moves.

#include "soci-routing-backend.h"

namespace soci_routing
{

using namespace soci::details;

routing_vector_use_type_backend::~routing_vector_use_type_backend()
{
    clean_up();
}

void routing_vector_use_type_backend::record(int* position, std::string const* name, void* data, exchange_type type,
                                             bool bulk, std::size_t begin, std::size_t* end)
{
    by_name_ = name != nullptr;
    if (by_name_)
        name_ = *name;
    else
        position_ = *position;
    data_ = data;
    type_ = type;
    bulk_ = bulk;
    begin_ = begin;
    end_ = end;
    define(position);
}

void routing_vector_use_type_backend::bind_by_pos(int& position, void* data, exchange_type type)
{
    record(&position, nullptr, data, type, false, 0, nullptr);
}

void routing_vector_use_type_backend::bind_by_pos_bulk(int& position, void* data, exchange_type type,
                                                       std::size_t begin, std::size_t* end)
{
    record(&position, nullptr, data, type, true, begin, end);
}

void routing_vector_use_type_backend::bind_by_name(std::string const& name, void* data, exchange_type type)
{
    record(nullptr, &name, data, type, false, 0, nullptr);
}

void routing_vector_use_type_backend::bind_by_name_bulk(std::string const& name, void* data, exchange_type type,
                                                        std::size_t begin, std::size_t* end)
{
    record(nullptr, &name, data, type, true, begin, end);
}

void routing_vector_use_type_backend::pre_exec(int num)
{
    forward_pre_exec(num);
}

void routing_vector_use_type_backend::pre_use(soci::indicator const* ind)
{
    inner().pre_use(ind);
    last_ind_ = ind;
    note_pre();
}

std::size_t routing_vector_use_type_backend::size()
{
    return inner().size();
}

void routing_vector_use_type_backend::clean_up()
{
    forget_definition();
}

vector_use_type_backend* routing_vector_use_type_backend::make_inner(statement_backend& st)
{
    return st.make_vector_use_type_backend();
}

void routing_vector_use_type_backend::apply_definition(vector_use_type_backend& inner, int& position)
{
    if (by_name_)
    {
        if (bulk_)
            inner.bind_by_name_bulk(name_, data_, type_, begin_, end_);
        else
            inner.bind_by_name(name_, data_, type_);
    }
    else
    {
        if (bulk_)
            inner.bind_by_pos_bulk(position, data_, type_, begin_, end_);
        else
            inner.bind_by_pos(position, data_, type_);
    }
}

void routing_vector_use_type_backend::replay_pre(vector_use_type_backend& inner)
{
    inner.pre_use(last_ind_);
}

} // namespace soci_routing
