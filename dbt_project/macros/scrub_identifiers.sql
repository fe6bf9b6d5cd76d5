{#
  Identifying details in free text (testimonies), removed before anything leaves staging.

  `scrub_identifiers(text_expr, names=[])` replaces, in this order,
    - e-mail addresses                                             -> [email]
    - phone numbers: international (+880 1712345678, +254-712-345-678, +977 98...) and local
      (0712 345 678, (020) 123 4567): a '+' or a leading 0, then 7+ digits with at most two
      separators (space . - ( )) between any two                   -> [phone]
    - national-id-like runs: up to three capitals then 6+ digits, single separators allowed
      (12345678, A1234567, 1990-123-456)                           -> [id]
    - a name introduced by a cue ("My name is", "My name's", "I am", "I'm", "call me",
      "known as", Mr/Mrs/Ms/Miss/Dr): up to four capitalised words after it, initials such as
      "B.K" included; the cue stays                                 -> [name]
    - the names the raw row itself carries (the expressions in `names`, e.g. the respondent's
      name): the full name case-insensitively, then each of its words of two letters or more as a
      whole, capitalised word                                       -> [name]

  Numbers shorter than six digits (ages, years, counts) stay. The rules err on the side of
  removing: "I am Rohingya" becomes "I am [name]", a long amount such as "10 000 000" becomes [id].

  `has_identifier(text_expr)` is true when any rule but the row's own names would still remove
  something, so a scrubbed text passes it (the placeholders match no rule). The mart gate's
  singular test `assert_no_identifier_in_voices` adds the raw names of each record.

  The patterns are PostgreSQL ARE, written as template text (not Jinja strings, whose escapes
  would eat the backslashes) and quoted for SQL ('' is a quote).
#}

{% macro identifier_pattern(kind) -%}
    {%- if kind == 'email' -%}
        [[:alnum:]._%+-]+@[[:alnum:].-]+\.[[:alpha:]]{2,}
    {%- elif kind == 'phone' -%}
        (\+|\(0|\m0)[[:digit:]]([ ().-]{0,2}[[:digit:]]){6,}
    {%- elif kind == 'id' -%}
        \m[[:upper:]]{0,3}[[:digit:]]([ .-]?[[:digit:]]){5,}\M
    {%- elif kind == 'cued_name' -%}
        (\m[Mm]y +[Nn]ame +is|\m[Mm]y +[Nn]ame''s|\mI +am|\mI''m|\m[Cc]all +me|\m[Kk]nown +as|\m(Mr|Mrs|Ms|Miss|Dr)\.?)( +)[[:upper:]][[:alpha:]''-]*(\.[[:upper:]][[:alpha:]''-]*)*(( +)[[:upper:]][[:alpha:]''-]*(\.[[:upper:]][[:alpha:]''-]*)*){0,3}
    {%- else -%}
        {{ exceptions.raise_compiler_error("identifier_pattern: unknown kind '" ~ kind ~ "'") }}
    {%- endif -%}
{%- endmacro %}


{#- A regular expression matching `name_expr` literally (every character but letters, digits
    and spaces escaped), runs of spaces matching any run of spaces. -#}
{% macro name_regex(name_expr) -%}
    regexp_replace(regexp_replace(trim({{ name_expr }}), '([^[:alnum:][:space:]])', '\\\1', 'g'),
                   '[[:space:]]+', '[[:space:]]+', 'g')
{%- endmacro %}


{#- The words (two letters or more) of `name_expr` as one alternation, longest first; null when
    the name is null or has no such word. -#}
{% macro name_words_regex(name_expr) -%}
    (select string_agg(regexp_replace(w, '([^[:alnum:]])', '\\\1', 'g'), '|' order by length(w) desc, w)
       from regexp_split_to_table(trim({{ name_expr }}), '[[:space:]]+') as w
      where length(w) >= 2)
{%- endmacro %}


{#- `text_expr` with every occurrence of the name (whole words only) replaced; unchanged when the
    name is null or empty. -#}
{% macro scrub_name(text_expr, name_expr) -%}
    regexp_replace(
        regexp_replace(
            {{ text_expr }},
            '(?<![[:alnum:]_])(' || coalesce({{ name_regex(name_expr) }}, '') || ')(?![[:alnum:]_])',
            case when nullif(trim({{ name_expr }}), '') is null then '' else '[name]' end, 'gi'),
        '(?<![[:alnum:]_])(' || coalesce({{ name_words_regex(name_expr) }}, '') || ')(?![[:alnum:]_])',
        case when {{ name_words_regex(name_expr) }} is null then '' else '[name]' end, 'g')
{%- endmacro %}


{% macro scrub_identifiers(text_expr, names=[]) -%}
    {%- set scrubbed -%}
    regexp_replace(regexp_replace(regexp_replace(regexp_replace(
        {{ text_expr }},
        '{{ identifier_pattern("email") }}', '[email]', 'g'),
        '{{ identifier_pattern("phone") }}', '[phone]', 'g'),
        '{{ identifier_pattern("id") }}', '[id]', 'g'),
        '{{ identifier_pattern("cued_name") }}', '\1\3[name]', 'g')
    {%- endset -%}
    {#- a namespace: a plain `set` inside the loop would not outlive it -#}
    {%- set out = namespace(sql=scrubbed) -%}
    {%- for name in names -%}
        {%- set out.sql = scrub_name(out.sql, name) -%}
    {%- endfor -%}
    {{ out.sql }}
{%- endmacro %}


{% macro has_identifier(text_expr) -%}
    coalesce(
        {{ text_expr }} ~ '{{ identifier_pattern("email") }}'
        or {{ text_expr }} ~ '{{ identifier_pattern("phone") }}'
        or {{ text_expr }} ~ '{{ identifier_pattern("id") }}'
        or {{ text_expr }} ~ '{{ identifier_pattern("cued_name") }}',
        false)
{%- endmacro %}
