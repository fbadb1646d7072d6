#!/usr/bin/env bash
# The postgres stand-in's entrypoint (our own code). What the official image documents:
# - options alone (`-c ...`) mean `postgres -c ...`;
# - run as root, it fixes the ownership of PGDATA and the socket folder and runs itself again
#   as `postgres`;
# - on an empty PGDATA: initdb with POSTGRES_USER (default postgres), POSTGRES_PASSWORD
#   (required unless POSTGRES_HOST_AUTH_METHOD=trust) and POSTGRES_INITDB_ARGS, a
#   `host all all all` line with POSTGRES_HOST_AUTH_METHOD (default scram-sha-256) appended to
#   pg_hba.conf, then a server on the Unix socket only, started with the command's own options
#   (so `-c hba_file=...` holds during the initialisation too), POSTGRES_DB (default
#   POSTGRES_USER) created, every /docker-entrypoint-initdb.d/ file in order (*.sh run when
#   executable and sourced otherwise, *.sql through psql), and that server stopped;
# - then the command replaces this shell, so postgres is the container's main process.
set -Eeuo pipefail

if [ "${1:0:1}" = - ]; then
    set -- postgres "$@"
fi

sql() {
    psql -v ON_ERROR_STOP=1 --no-psqlrc --no-password --username "$POSTGRES_USER" "$@"
}

initialise() {
    local server_options
    if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "${POSTGRES_HOST_AUTH_METHOD:-}" != trust ]; then
        echo "the database is uninitialised and POSTGRES_PASSWORD is not set" >&2
        exit 1
    fi
    # shellcheck disable=SC2086  # the arguments are a list of words on purpose
    initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "${POSTGRES_PASSWORD:-}") \
        ${POSTGRES_INITDB_ARGS:-}
    printf '\nhost all all all %s\n' "${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}" \
        >> "$PGDATA/pg_hba.conf"
    server_options="$(printf '%q ' "${@:2}") -c listen_addresses='' -p ${PGPORT:-5432}"
    pg_ctl -D "$PGDATA" -o "$server_options" -w start
    export PGPASSWORD="${PGPASSWORD:-${POSTGRES_PASSWORD:-}}"
    if [ "$POSTGRES_DB" != postgres ]; then
        sql --dbname postgres --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";'
    fi
    local file
    for file in /docker-entrypoint-initdb.d/*; do
        case "$file" in
            *.sh)
                if [ -x "$file" ]; then
                    echo "$0: running $file"; "$file"
                else
                    echo "$0: sourcing $file"
                    # shellcheck disable=SC1090
                    . "$file"
                fi ;;
            *.sql) echo "$0: running $file"; sql --dbname "$POSTGRES_DB" -f "$file" ;;
            *) [ -e "$file" ] && echo "$0: ignoring $file" ;;
        esac
    done
    pg_ctl -D "$PGDATA" -m fast -w stop
    unset PGPASSWORD
    echo "$0: initialisation complete"
}

if [ "$1" = postgres ]; then
    export PGDATA="${PGDATA:-/var/lib/postgresql/data}"
    export POSTGRES_USER="${POSTGRES_USER:-postgres}"
    export POSTGRES_DB="${POSTGRES_DB:-$POSTGRES_USER}"
    if [ "$(id -u)" = 0 ]; then
        mkdir -p "$PGDATA"
        chown postgres:postgres "$PGDATA" /var/run/postgresql
        exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
    fi
    mkdir -p "$PGDATA"
    chmod 700 "$PGDATA" 2>/dev/null || :
    if [ ! -s "$PGDATA/PG_VERSION" ]; then
        initialise "$@"
    fi
fi
exec "$@"
