-- PLACEHOLDER until the official staging lands
select 'A'::text as freq, 'N'::text as reporting_type, 'SH_H2O_SAFE'::text as series, '404'::text as ref_area,
 '_T'::text as sex, '_T'::text as age, '_T'::text as urbanisation, '_T'::text as income_wealth_quantile,
 '_T'::text as education_lev, '_T'::text as occupation, '_T'::text as cust_breakdown, '_T'::text as composite_breakdown,
 '_T'::text as disability_status, '_T'::text as activity, '_T'::text as product, '2025'::text as time_period,
 62.0::double precision as obs_value, 'PT'::text as unit_measure, '0'::text as unit_mult, 'A'::text as obs_status,
 'C'::text as nature, null::double precision as lower_bound, null::double precision as upper_bound,
 'KNBS'::text as source_detail, null::text as comment_obs, 'official'::text as source_type, 'knbs_kenya'::text as partners, null::bigint as n
