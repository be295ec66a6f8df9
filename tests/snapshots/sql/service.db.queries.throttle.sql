-- Every SQL statement service.db.queries.throttle sends, as PostgreSQL receives it.
-- Generated; do not edit. Rewrite with: make snapshots  (or: pytest tests/snapshots --snapshot-update)

-- throttle_client()
select iam.throttle_client(%s, %s, %s);

-- login_attempt()
select wait_seconds, slow_down, user_id, password_hash, is_active, organization_id, organization_name, role from iam.login_attempt(%s, %s, %s, %s, %s, %s, %s);

-- login_succeeded()
select iam.login_succeeded(%s, %s, %s);

-- login_failed()
select iam.login_failed(%s, %s);
