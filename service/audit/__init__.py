"""DBA audit tooling: policy drift (check), the enforced role matrix (matrix), RLS lint."""
