-- migrate:up

-- Brute-force protection for /auth/login and /auth/register. The counters
-- live in the database so that every worker, instance and serverless
-- invocation shares them. Keys are SHA-256 digests: no email or address is
-- stored in clear.
create table iam.rate_limit_buckets (
  bucket        text not null,
  window_start  timestamptz not null,
  hits          integer not null,
  constraint rate_limit_buckets_pkey primary key (bucket, window_start)
);
create index rate_limit_buckets_window_idx on iam.rate_limit_buckets (window_start);

alter table iam.rate_limit_buckets enable row level security;
alter table iam.rate_limit_buckets force row level security;

create function iam.rate_limit_key(p_kind text, p_value text) returns text
language sql immutable
set search_path = ''
as $$
  select p_kind || ':' || pg_catalog.encode(
    pg_catalog.sha256(pg_catalog.convert_to(pg_catalog.lower(pg_catalog.btrim(p_value)), 'UTF8')),
    'hex')
$$;

-- Seconds until the bucket's fixed window ends when it already holds
-- p_limit hits, else 0. p_count adds this hit first.
create function iam.rate_limit_take(p_bucket text, p_window_seconds integer, p_limit integer,
                                    p_count boolean)
returns integer
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  v_start timestamptz := pg_catalog.to_timestamp(
    pg_catalog.floor(extract(epoch from pg_catalog.now()) / p_window_seconds) * p_window_seconds);
  v_hits integer;
begin
  if p_count then
    insert into iam.rate_limit_buckets as b (bucket, window_start, hits)
    values (p_bucket, v_start, 1)
    on conflict (bucket, window_start) do update set hits = b.hits + 1
    returning b.hits into v_hits;
    -- Now and then, forget windows that ended long ago.
    if pg_catalog.random() < 0.01 then
      delete from iam.rate_limit_buckets
      where window_start < pg_catalog.now() - interval '1 day';
    end if;
  else
    select b.hits into v_hits from iam.rate_limit_buckets as b
    where b.bucket = p_bucket and b.window_start = v_start;
  end if;

  if coalesce(v_hits, 0) > p_limit or (not p_count and coalesce(v_hits, 0) >= p_limit) then
    return greatest(1, pg_catalog.ceil(extract(epoch from
      v_start + pg_catalog.make_interval(secs => p_window_seconds) - pg_catalog.now())))::integer;
  end if;
  return 0;
end
$$;

-- One call per auth request: count it against the client address, and
-- refuse a login for an email that has failed too often lately. Returns the
-- seconds to wait (Retry-After), 0 to go ahead.
create function iam.throttle_auth(p_client text, p_email text,
                                  p_client_limit integer, p_client_window integer,
                                  p_failure_limit integer, p_failure_window integer)
returns integer
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  v_wait integer;
begin
  v_wait := iam.rate_limit_take(iam.rate_limit_key('client', p_client), p_client_window,
                                p_client_limit, true);
  if v_wait > 0 or p_email is null then
    return v_wait;
  end if;
  return iam.rate_limit_take(iam.rate_limit_key('login-failure', p_email), p_failure_window,
                             p_failure_limit, false);
end
$$;

create function iam.record_login_failure(p_email text, p_failure_window integer)
returns void
language sql volatile security definer
set search_path = ''
as $$
  select iam.rate_limit_take(iam.rate_limit_key('login-failure', p_email), p_failure_window,
                             2147483647, true)
$$;

alter function iam.rate_limit_take(text, integer, integer, boolean) owner to iam_definer;
alter function iam.throttle_auth(text, text, integer, integer, integer, integer) owner to iam_definer;
alter function iam.record_login_failure(text, integer) owner to iam_definer;

revoke execute on function
  iam.rate_limit_key(text, text),
  iam.rate_limit_take(text, integer, integer, boolean),
  iam.throttle_auth(text, text, integer, integer, integer, integer),
  iam.record_login_failure(text, integer)
  from public;
grant execute on function iam.rate_limit_key(text, text) to iam_definer;
grant execute on function
  iam.throttle_auth(text, text, integer, integer, integer, integer),
  iam.record_login_failure(text, integer)
  to iam_anon;

-- migrate:down

drop function iam.record_login_failure(text, integer);
drop function iam.throttle_auth(text, text, integer, integer, integer, integer);
drop function iam.rate_limit_take(text, integer, integer, boolean);
drop function iam.rate_limit_key(text, text);
drop table iam.rate_limit_buckets;
