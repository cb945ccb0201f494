# The primary's first start in compose.yaml (docker-entrypoint-initdb.d, run once, on an empty data
# folder): the role its standby copies and streams it as, allowed replication and nothing else.
# A primary initialised before it: run the same statement once (README.md, "PostgreSQL failing over").
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v user="$POSTGRES_REPLICATION_USER" -v password="$POSTGRES_REPLICATION_PASSWORD" <<'SQL'
CREATE ROLE :"user" WITH REPLICATION LOGIN PASSWORD :'password';
SQL
