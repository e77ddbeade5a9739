#!/bin/sh
# One-shot (compose service temporal-schema, image temporalio/admin-tools): creates Temporal's two databases on
# duka's PostgreSQL and brings their schemas up to this Temporal version. Safe to re-run: `create` ignores an
# existing database, `setup-schema -v 0.0` skips a database that already has a schema version.
set -eu
: "${POSTGRES_SEEDS:?}" "${POSTGRES_USER:?}" "${SQL_PASSWORD:?}"
SCHEMA_DIR=/etc/temporal/schema/postgresql/v12

setup() { # setup <database> <temporal|visibility>
  echo "temporal-schema: $1 ($2)"
  temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "${DB_PORT:-5432}" -u "$POSTGRES_USER" --db "$1" create
  temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "${DB_PORT:-5432}" -u "$POSTGRES_USER" --db "$1" setup-schema -v 0.0
  temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "${DB_PORT:-5432}" -u "$POSTGRES_USER" --db "$1" update-schema -d "$SCHEMA_DIR/$2/versioned"
}

setup "${DBNAME:-temporal}" temporal
setup "${VISIBILITY_DBNAME:-temporal_visibility}" visibility
echo 'temporal-schema: done'
