// soci-routing: the vector into proxy (bulk fetches, rowsets). Records the definition and forwards to the
// inner element; element_proxy replays it when the statement moves.

#include "soci-routing-backend.h"

namespace soci_routing
{

using namespace soci::details;

routing_vector_into_type_backend::~routing_vector_into_type_backend()
{
    clean_up();
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
    define(&position);
}

void routing_vector_into_type_backend::define_by_pos(int& position, void* data, exchange_type type)
{
    position_ = position;
    data_ = data;
    type_ = type;
    bulk_ = false;
    define(&position);
}

void routing_vector_into_type_backend::pre_exec(int num)
{
    forward_pre_exec(num);
}

void routing_vector_into_type_backend::pre_fetch()
{
    inner().pre_fetch();
    note_pre();
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
    forget_definition();
}

vector_into_type_backend* routing_vector_into_type_backend::make_inner(statement_backend& st)
{
    return st.make_vector_into_type_backend();
}

void routing_vector_into_type_backend::apply_definition(vector_into_type_backend& inner, int& position)
{
    if (bulk_)
        inner.define_by_pos_bulk(position, data_, type_, begin_, end_);
    else
        inner.define_by_pos(position, data_, type_);
}

void routing_vector_into_type_backend::replay_pre(vector_into_type_backend& inner)
{
    inner.pre_fetch();
}

} // namespace soci_routing
