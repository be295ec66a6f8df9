-- migrate:up

-- Organizations a user may create per hour, counted in the rate-limit
-- buckets under a digest of the user id. The API passes the limit
-- (ORGANIZATION_CREATE_PER_HOUR) and calls this in the statement that
-- creates the organization: a creation that fails rolls its count back.
-- Returns the seconds to wait when the limit is reached (nothing counted),
-- else 0 with this creation counted.
create function iam.take_organization_quota(p_per_hour integer)
returns integer
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  v_bucket text;
  v_wait integer;
begin
  if iam.current_user_id() is null then
    raise exception 'no caller' using errcode = 'insufficient_privilege';
  end if;
  v_bucket := iam.rate_limit_key('organization-create', iam.current_user_id()::text);
  v_wait := iam.rate_limit_slide(v_bucket, 3600, p_per_hour, true);
  if v_wait > 0 then
    -- Refused attempts do not push the wait further out.
    update iam.rate_limit_buckets set hits = hits - 1
    where bucket = v_bucket
      and window_start = pg_catalog.to_timestamp(
        pg_catalog.floor(extract(epoch from pg_catalog.now()) / 3600) * 3600);
    return iam.rate_limit_slide(v_bucket, 3600, p_per_hour, false);
  end if;
  return 0;
end
$$;

alter function iam.take_organization_quota(integer) owner to iam_definer;
revoke execute on function iam.take_organization_quota(integer) from public;
grant execute on function iam.take_organization_quota(integer) to iam_authenticated;

-- migrate:down

drop function iam.take_organization_quota(integer);
