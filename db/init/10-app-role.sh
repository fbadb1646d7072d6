#!/bin/bash
# Creates the API's least-privilege role. The official postgres image runs this once, on an
# empty data directory, as $POSTGRES_USER; the local twin runs the very same file on a new
# data directory. Table privileges are granted by the migration that creates the tables.
set -euo pipefail
: "${APP_DB_USER:?APP_DB_USER must be set (see .env_db.example)}"
: "${APP_DB_PASSWORD:?APP_DB_PASSWORD must be set (see .env_db.example)}"

# The password is read from the environment by psql itself (\getenv), so it appears neither
# in the SQL text nor on a command line that `ps` would show.
psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<'SQL'
\getenv app_user APP_DB_USER
\getenv app_password APP_DB_PASSWORD
\getenv db POSTGRES_DB
SET password_encryption = 'scram-sha-256';
CREATE ROLE :"app_user" LOGIN PASSWORD :'app_password'
    NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION;
-- Nobody but the owner may create objects; the app role may only connect and use the schema.
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT CONNECT ON DATABASE :"db" TO :"app_user";
GRANT USAGE ON SCHEMA public TO :"app_user";
SQL
