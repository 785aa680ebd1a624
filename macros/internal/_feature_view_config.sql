{#
  Resolves a feature view's declaration: explicit arguments win, then the
  model's `config.meta.feature_layer`, with entity names resolved through
  the project var `feature_layer.entities`. Everything a macro needs about a
  feature view comes from here, so the rules are checked in one place and an
  error always names the model and the fix.
#}
{% macro _feature_view_config(entity_keys=none, timestamp=none, created_timestamp=none, ttl=none) %}
  {%- set meta = config.meta_get('feature_layer', {}) if execute else {} -%}
  {%- set where = "model '" ~ (model.name if model is defined and model.name is defined else 'unknown') ~ "'" -%}
  {#- A dbt unit test renders the model's SQL under a node of its own that
      carries none of the model's config, and the tested model is not in its
      graph: the unit test repeats the declaration as a var override. -#}
  {%- if execute and not meta and model is defined and model.tested_node_unique_id is defined -%}
    {%- set meta = var('feature_layer_view', none) -%}
    {%- if meta is none -%}
      {{ exceptions.raise_compiler_error(
           "featurelayer: unit test '" ~ model.name ~ "' of " ~ model.tested_node_unique_id ~ " cannot see the "
           ~ "model's meta (dbt gives unit tests a node of their own). Repeat the declaration in the unit test: "
           ~ "`overrides: vars: feature_layer_view: {entities: [...], timestamp: ..., ttl: ...}`.") }}
    {%- endif -%}
  {%- endif -%}
  {%- set meta = meta if meta is mapping else {} -%}

  {%- set keys = entity_keys if entity_keys is not none else feature_layer._entity_join_keys(meta.get('entities'), where) -%}
  {%- if keys is string -%}{%- set keys = [keys] -%}{%- endif -%}
  {%- set ts = timestamp if timestamp is not none else meta.get('timestamp') -%}
  {%- set created = created_timestamp if created_timestamp is not none else meta.get('created_timestamp') -%}
  {%- set ttl_value = ttl if ttl is not none else meta.get('ttl') -%}

  {%- if execute -%}
    {%- if not keys -%}
      {{ exceptions.raise_compiler_error(
           "featurelayer: " ~ where ~ " has no entity join keys. Add `entities: [<entity name>]` under "
           ~ "`config: meta: feature_layer:` in its YAML (entities are declared in dbt_project.yml vars "
           ~ "`feature_layer: entities:`), or pass entity_keys=[...] to the macro. Got: " ~ keys) }}
    {%- endif -%}
    {%- if not ts or ts is not string -%}
      {{ exceptions.raise_compiler_error(
           "featurelayer: " ~ where ~ " has no event timestamp column. Add `timestamp: <column>` under "
           ~ "`config: meta: feature_layer:` in its YAML, or pass timestamp='<column>'. Got: " ~ ts) }}
    {%- endif -%}
    {%- for name in (keys or []) + [ts] + ([created] if created else []) -%}
      {%- if name is not string or not modules.re.match('^[A-Za-z_][A-Za-z0-9_]*$', name) -%}
        {{ exceptions.raise_compiler_error(
             "featurelayer: " ~ where ~ " names column " ~ name ~ ", which is not a plain identifier "
             ~ "(letters, digits, underscore). Rename the column in the model's SQL.") }}
      {%- endif -%}
    {%- endfor -%}
  {%- endif -%}

  {{ return({
      'entity_keys': keys or [],
      'timestamp': ts or 'event_timestamp',
      'created_timestamp': created,
      'ttl_seconds': feature_layer._parse_ttl(ttl_value, where) if execute else none,
  }) }}
{% endmacro %}


{% macro _entity_join_keys(entity_names, where) %}
  {%- if not entity_names -%}{{ return([]) }}{%- endif -%}
  {%- if entity_names is string -%}{%- set entity_names = [entity_names] -%}{%- endif -%}
  {%- set declared = var('feature_layer', {}).get('entities', {}) -%}
  {%- set keys = [] -%}
  {%- for name in entity_names -%}
    {%- if name not in declared -%}
      {%- if execute -%}
        {{ exceptions.raise_compiler_error(
             "featurelayer: " ~ where ~ " uses entity '" ~ name ~ "', which is not declared. Declare it in "
             ~ "dbt_project.yml under `vars: feature_layer: entities: " ~ name ~ ": {join_keys: [...]}`. "
             ~ "Declared entities: " ~ (declared.keys() | list | sort)) }}
      {%- endif -%}
    {%- else -%}
      {%- set join_keys = declared[name].get('join_keys') -%}
      {%- if join_keys is string -%}{%- set join_keys = [join_keys] -%}{%- endif -%}
      {%- if not join_keys and execute -%}
        {{ exceptions.raise_compiler_error(
             "featurelayer: entity '" ~ name ~ "' (used by " ~ where ~ ") declares no join_keys in "
             ~ "dbt_project.yml vars. Got: " ~ declared[name]) }}
      {%- endif -%}
      {%- for key in join_keys or [] -%}
        {%- if key not in keys -%}{%- do keys.append(key) -%}{%- endif -%}
      {%- endfor -%}
    {%- endif -%}
  {%- endfor -%}
  {{ return(keys) }}
{% endmacro %}
