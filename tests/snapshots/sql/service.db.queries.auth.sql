-- Every SQL statement service.db.queries.auth sends, as PostgreSQL receives it.
-- Generated; do not edit. Rewrite with: make snapshots  (or: pytest tests/snapshots --snapshot-update)

-- ME
select u.id, u.email, o.id, o.name, m.role
from iam.users as u
left join iam.member_role() as m (role) on true
left join iam.organizations as o on true
where u.id = iam.current_user_id();

-- register()
select user_id, email, organization_id, organization_name from iam.register(%s, %s, %s);

-- register_invited()
select user_id, email, organization_id, organization_name, role from iam.register_invited(%s, %s, %s);

-- set_password_hash()
select iam.set_password_hash(%s, %s, %s);

-- caller_email()
select email from iam.users where id = iam.current_user_id();

-- switch_organization()
select organization_id, organization_name, role from iam.switch_organization(%s);
