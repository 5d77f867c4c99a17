// soci-routing: the into proxy. Records the definition and forwards to the inner element of the statement's
// current inner statement; element_proxy replays the definition when the statement moves.

#include "soci-routing-backend.h"

namespace soci_routing
{

using namespace soci::details;

routing_standard_into_type_backend::~routing_standard_into_type_backend()
{
    clean_up();
}

void routing_standard_into_type_backend::define_by_pos(int& position, void* data, exchange_type type)
{
    position_ = position;
    data_ = data;
    type_ = type;
    if (type == x_blob || type == x_rowid)
        statement_->require_primary();
    define(&position);
}

void routing_standard_into_type_backend::pre_exec(int num)
{
    forward_pre_exec(num);
}

void routing_standard_into_type_backend::pre_fetch()
{
    inner().pre_fetch();
    note_pre();
}

void routing_standard_into_type_backend::post_fetch(bool got_data, bool called_from_fetch, soci::indicator* ind)
{
    inner().post_fetch(got_data, called_from_fetch, ind);
}

void routing_standard_into_type_backend::clean_up()
{
    forget_definition();
}

standard_into_type_backend* routing_standard_into_type_backend::make_inner(statement_backend& st)
{
    return st.make_into_type_backend();
}

void routing_standard_into_type_backend::apply_definition(standard_into_type_backend& inner, int& position)
{
    inner.define_by_pos(position, data_, type_);
}

void routing_standard_into_type_backend::replay_pre(standard_into_type_backend& inner)
{
    inner.pre_fetch();
}

} // namespace soci_routing
