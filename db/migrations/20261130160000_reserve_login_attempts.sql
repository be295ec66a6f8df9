-- migrate:up

-- Login attempts are reserved before the password is verified, in the same
-- statement that hands out the stored hash: a burst of parallel guesses gets
-- no more password checks than the limit, however fast it arrives.
--
-- Windows slide: the count of the window before, weighted by how much of it
-- still overlaps the last p_window_seconds, plus the current window's count.
-- Two windows' rows per key, no burst of twice the limit across a boundary.

-- Seconds to wait when this key is over p_limit, else 0. p_count adds this
-- hit first (a reservation); without it, the question is whether one more
-- hit would fit.
create function iam.rate_limit_slide(p_bucket text, p_window_seconds integer, p_limit integer,
                                     p_count boolean)
returns integer
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  v_now double precision := extract(epoch from pg_catalog.now());
  v_from double precision := pg_catalog.floor(v_now / p_window_seconds) * p_window_seconds;
  v_start timestamptz := pg_catalog.to_timestamp(v_from);
  v_elapsed double precision := (v_now - v_from) / p_window_seconds;
  v_hits integer;
  v_previous integer;
  v_rest integer;
begin
  if p_count then
    insert into iam.rate_limit_buckets as b (bucket, window_start, hits)
    values (p_bucket, v_start, 1)
    on conflict (bucket, window_start) do update set hits = b.hits + 1
    returning b.hits into v_hits;
    if pg_catalog.random() < 0.01 then
      delete from iam.rate_limit_buckets
      where window_start < pg_catalog.now() - interval '1 day';
    end if;
  else
    select b.hits into v_hits from iam.rate_limit_buckets as b
    where b.bucket = p_bucket and b.window_start = v_start;
  end if;
  select b.hits into v_previous from iam.rate_limit_buckets as b
  where b.bucket = p_bucket
    and b.window_start = v_start - pg_catalog.make_interval(secs => p_window_seconds);

  v_rest := coalesce(v_hits, 0) + case when p_count then 0 else 1 end;
  v_previous := coalesce(v_previous, 0);
  if v_previous * (1 - v_elapsed) + v_rest <= p_limit then
    return 0;
  end if;
  if v_rest > p_limit or v_previous = 0 then
    -- This window alone is full: wait for the next one, and in it until
    -- enough of this one's hits have slid out to admit one more.
    return greatest(1, pg_catalog.ceil((1 - v_elapsed
      + greatest(0, 1 - (p_limit - 1)::double precision / greatest(coalesce(v_hits, 0), 1)))
      * p_window_seconds))::integer;
  end if;
  -- Until enough of the window before has slid out.
  return greatest(1, pg_catalog.ceil(
    (1 - (p_limit - v_rest)::double precision / v_previous - v_elapsed) * p_window_seconds))::integer;
end
$$;

-- Register: count the request against the client (an address, or an IPv6 /64).
create function iam.throttle_client(p_client text, p_client_limit integer,
                                    p_client_window integer)
returns integer
language sql volatile security definer
set search_path = ''
as $$
  select iam.rate_limit_slide(iam.rate_limit_key('client', p_client), p_client_window,
                              p_client_limit, true)
$$;

-- Login, one statement: count the request against the client, reserve a
-- failure for this (email, client) pair, and only then hand out the stored
-- hash (iam.login_lookup). wait_seconds > 0: refused (Retry-After), no hash.
-- The reservation stands as a failure unless iam.login_succeeded() takes it
-- back. Failures of the email from every client together
-- (iam.login_failed()) never refuse: slow_down asks the caller to delay the
-- check, so that a stranger's guesses cannot lock the owner out.
create function iam.login_attempt(p_client text, p_email text, p_organization_id uuid,
                                  p_client_limit integer, p_client_window integer,
                                  p_failure_limit integer, p_failure_window integer)
returns table (wait_seconds integer, slow_down boolean, user_id uuid, password_hash text,
               is_active boolean, organization_id uuid, organization_name text,
               role iam.org_role)
language plpgsql volatile security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_wait integer;
  v_slow boolean;
begin
  v_wait := iam.rate_limit_slide(iam.rate_limit_key('client', p_client), p_client_window,
                                 p_client_limit, true);
  if v_wait = 0 then
    v_wait := iam.rate_limit_slide(iam.rate_limit_key('login-pair', p_email || ' ' || p_client),
                                   p_failure_window, p_failure_limit, true);
  end if;
  if v_wait > 0 then
    return query select v_wait, false, null::uuid, null::text, null::boolean, null::uuid,
                        null::text, null::iam.org_role;
    return;
  end if;
  v_slow := iam.rate_limit_slide(iam.rate_limit_key('login-failure', p_email), p_failure_window,
                                 p_failure_limit, false) > 0;
  -- One row even for an unknown email: the caller verifies a dummy hash.
  return query
    select 0, v_slow, l.user_id, l.password_hash, l.is_active, l.organization_id,
           l.organization_name, l.role
    from (select) as one
    left join iam.login_lookup(p_email, p_organization_id) as l on true;
end
$$;

-- The right password: the pair's failures are forgotten.
create function iam.login_succeeded(p_client text, p_email text, p_failure_window integer)
returns void
language sql volatile security definer
set search_path = ''
as $$
  delete from iam.rate_limit_buckets
  where bucket = iam.rate_limit_key('login-pair', p_email || ' ' || p_client);
$$;

-- A wrong password: counted against the email from every client together,
-- after the check. That count only slows logins down, so it need not be
-- exact under concurrency, and logins in flight for one account do not
-- slow each other down.
create function iam.login_failed(p_email text, p_failure_window integer)
returns void
language sql volatile security definer
set search_path = ''
as $$
  select iam.rate_limit_slide(iam.rate_limit_key('login-failure', p_email), p_failure_window,
                              2147483647, true);
$$;

alter function iam.rate_limit_slide(text, integer, integer, boolean) owner to iam_definer;
alter function iam.throttle_client(text, integer, integer) owner to iam_definer;
alter function iam.login_attempt(text, text, uuid, integer, integer, integer, integer)
  owner to iam_definer;
alter function iam.login_succeeded(text, text, integer) owner to iam_definer;
alter function iam.login_failed(text, integer) owner to iam_definer;

revoke execute on function
  iam.rate_limit_slide(text, integer, integer, boolean),
  iam.throttle_client(text, integer, integer),
  iam.login_attempt(text, text, uuid, integer, integer, integer, integer),
  iam.login_succeeded(text, text, integer),
  iam.login_failed(text, integer)
  from public;
grant execute on function
  iam.throttle_client(text, integer, integer),
  iam.login_attempt(text, text, uuid, integer, integer, integer, integer),
  iam.login_succeeded(text, text, integer),
  iam.login_failed(text, integer)
  to iam_anon;

-- A stored hash leaves the database only with a reserved attempt.
revoke execute on function iam.login_lookup(text, uuid) from iam_anon;

-- The fixed-window counters they replace.
drop function iam.record_login_failure(text, integer);
drop function iam.throttle_auth(text, text, integer, integer, integer, integer);
drop function iam.rate_limit_take(text, integer, integer, boolean);

-- migrate:down

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
  iam.rate_limit_take(text, integer, integer, boolean),
  iam.throttle_auth(text, text, integer, integer, integer, integer),
  iam.record_login_failure(text, integer)
  from public;
grant execute on function
  iam.throttle_auth(text, text, integer, integer, integer, integer),
  iam.record_login_failure(text, integer)
  to iam_anon;
grant execute on function iam.login_lookup(text, uuid) to iam_anon;

drop function iam.login_failed(text, integer);
drop function iam.login_succeeded(text, text, integer);
drop function iam.login_attempt(text, text, uuid, integer, integer, integer, integer);
drop function iam.throttle_client(text, integer, integer);
drop function iam.rate_limit_slide(text, integer, integer, boolean);
