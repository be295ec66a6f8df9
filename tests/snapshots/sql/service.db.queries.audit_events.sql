-- Every SQL statement service.db.queries.audit_events sends, as PostgreSQL receives it.
-- Generated; do not edit. Rewrite with: make snapshots  (or: pytest tests/snapshots --snapshot-update)

-- ARCHIVE_SELECT_OLD
select row_to_json(e)::text from iam.audit_events as e where e.occurred_at < %s order by e.occurred_at, e.id;

-- ARCHIVE_DELETE_OLD
delete from iam.audit_events where occurred_at < %s;

-- BYPASSES_RLS
select rolsuper or rolbypassrls from pg_catalog.pg_roles where rolname = current_user;
