-- migrate:up

-- updated_at moves only when a column changes: an UPDATE that writes every
-- column back as it was (a PATCH that changes nothing) is no change. The
-- UPDATE still runs, so its policies still decide (403 for READ_ONLY).
create or replace function iam.touch_updated_at() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if new is distinct from old then
    new.updated_at := pg_catalog.now();
  end if;
  return new;
end
$$;

-- migrate:down

create or replace function iam.touch_updated_at() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.updated_at := pg_catalog.now();
  return new;
end
$$;
