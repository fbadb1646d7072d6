#!/bin/bash
# Creates the two roles the service uses, neither of them a superuser. The official postgres
# image runs this once, on an empty data directory, as the superuser $POSTGRES_USER; the local
# twin runs the very same file on a new data directory.
#   owner ($DB_OWNER_USER): owns the database and its schema; migrations, seeding, training and
#          the operator commands run as it (the one-shot `migrate` service, never the API).
#   app   ($APP_DB_USER):   what the web workers connect as; table privileges are granted by
#          the migration that creates the tables.
set -euo pipefail
: "${DB_OWNER_USER:?DB_OWNER_USER must be set (see .env_db_owner.example)}"
: "${DB_OWNER_PASSWORD:?DB_OWNER_PASSWORD must be set (see .env_db_owner.example)}"
: "${APP_DB_USER:?APP_DB_USER must be set (see .env_db_app.example)}"
: "${APP_DB_PASSWORD:?APP_DB_PASSWORD must be set (see .env_db_app.example)}"

# Passwords are read from the environment by psql itself (\getenv), so they appear neither
# in the SQL text nor on a command line that `ps` would show.
psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<'SQL'
\getenv owner DB_OWNER_USER
\getenv owner_password DB_OWNER_PASSWORD
\getenv app_user APP_DB_USER
\getenv app_password APP_DB_PASSWORD
\getenv db POSTGRES_DB
SET password_encryption = 'scram-sha-256';
CREATE ROLE :"owner" LOGIN PASSWORD :'owner_password'
    NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION;
CREATE ROLE :"app_user" LOGIN PASSWORD :'app_password'
    NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION;
-- The owner owns the database, and so (PostgreSQL 15: pg_database_owner) its public schema.
ALTER DATABASE :"db" OWNER TO :"owner";
-- Nobody but the owner may create objects; the app role may only connect and use the schema.
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT CONNECT ON DATABASE :"db" TO :"app_user";
GRANT USAGE ON SCHEMA public TO :"app_user";
SQL
