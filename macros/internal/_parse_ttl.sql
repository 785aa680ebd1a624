{#
  A ttl is written the way people say it: "30d", "12h", "1d12h", "90m",
  "3600s", "2w", with a unit, largest first; 0 (or nothing) means no ttl, as
  in Feast. A bare number other than 0 is refused: "30" read as seconds once
  emptied training sets that meant 30 days. It becomes whole seconds, so every
  warehouse adds the same interval. The Python registry parses the same
  grammar (featurelayer/_registry/ttl.py) and a test keeps the two in step.
#}
{% macro _parse_ttl(ttl, where='a feature view') %}
  {%- if ttl is none or ttl == '' -%}{{ return(none) }}{%- endif -%}
  {%- set text = (ttl | string) | trim | lower -%}
  {%- if ttl is number or modules.re.match('^[+-]?\\d+(\\.\\d*)?$', text) -%}
    {%- if (text | float) == 0 -%}{{ return(none) }}{%- endif -%}
    {{ exceptions.raise_compiler_error(
         "featurelayer: " ~ where ~ " has ttl " ~ ttl ~ " with no unit. Write it with one, e.g. '" ~ text ~ "s', '"
         ~ text ~ "m', '" ~ text ~ "h' or '" ~ text ~ "d' (units w/d/h/m/s, largest first), or 0 for no ttl.") }}
  {%- endif -%}
  {%- set pattern = '^(?:(\\d+)w)?(?:(\\d+)d)?(?:(\\d+)h)?(?:(\\d+)m)?(?:(\\d+)s)?$' -%}
  {%- set match = modules.re.match(pattern, text) -%}
  {%- if text == '' or match is none -%}
    {{ exceptions.raise_compiler_error(
         "featurelayer: " ~ where ~ " has a ttl that does not parse: '" ~ ttl ~ "'. Write it with units "
         ~ "w/d/h/m/s, largest first, e.g. '30d', '12h', '1d12h', '3600s', or 0 for no ttl.") }}
  {%- endif -%}
  {%- set parts = match.groups() -%}
  {%- set seconds = ((parts[0] or 0) | int) * 604800 + ((parts[1] or 0) | int) * 86400
                  + ((parts[2] or 0) | int) * 3600 + ((parts[3] or 0) | int) * 60 + ((parts[4] or 0) | int) -%}
  {%- if seconds <= 0 -%}{{ return(none) }}{%- endif -%}
  {{ return(seconds) }}
{% endmacro %}
