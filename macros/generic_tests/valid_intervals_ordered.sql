{#
  Fails on any row of a feature table whose validity interval is inverted or
  missing a bound, or that overlaps the next interval of the same entity:
  with these impossible, a point-in-time lookup matches at most one row.
  Empty intervals (valid_from = valid_to: corrections superseded at the same
  event time) match nothing and are allowed.

  >>> data_tests:
  >>>   - feature_layer.valid_intervals_ordered:
  >>>       entity_keys: [user_id]
#}
{% test valid_intervals_ordered(model, entity_keys) %}
  {{ return(adapter.dispatch('test_valid_intervals_ordered', 'feature_layer')(model, entity_keys)) }}
{% endtest %}

{% macro default__test_valid_intervals_ordered(model, entity_keys) %}
  {%- if entity_keys is string -%}{%- set entity_keys = [entity_keys] -%}{%- endif -%}
  {%- if not entity_keys -%}
    {{ exceptions.raise_compiler_error(
         "featurelayer: valid_intervals_ordered on " ~ model ~ " needs entity_keys, e.g. "
         ~ "`entity_keys: [user_id]`. Got: " ~ entity_keys) }}
  {%- endif -%}
with intervals as (
    select
        {% for key in entity_keys %}{{ key }},{% endfor %}
        valid_from,
        valid_to,
        lead(valid_from) over (
            partition by {{ entity_keys | join(', ') }}
            order by valid_from, valid_to
        ) as next_valid_from
    from {{ model }}
    where valid_from is null or valid_to is null or valid_from <> valid_to
)

select *
from intervals
where valid_from is null
   or valid_to is null
   or valid_from > valid_to
   or next_valid_from < valid_to
{% endmacro %}
