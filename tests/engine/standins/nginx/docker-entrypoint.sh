#!/bin/sh
# The nginx stand-in's entrypoint (our own code). What the official image documents: when the
# command is nginx, every file in /docker-entrypoint.d/ runs in version order: an executable
# *.envsh is sourced (so what it exports reaches nginx), an executable *.sh is run, anything
# else is skipped with a message. Then the command replaces this shell.
set -eu

say() {
    [ -n "${NGINX_ENTRYPOINT_QUIET_LOGS:-}" ] || echo "$0: $*"
}

if [ "${1:-}" = nginx ] || [ "${1:-}" = nginx-debug ]; then
    for step in $(find /docker-entrypoint.d -mindepth 1 -maxdepth 1 -type f | sort -V); do
        if [ ! -x "$step" ]; then
            say "skipping $step: not executable"
            continue
        fi
        # shellcheck disable=SC1090  # the image's scripts, found at run time
        case "$step" in
            *.envsh) say "sourcing $step"; . "$step" ;;
            *.sh) say "running $step"; "$step" ;;
            *) say "skipping $step" ;;
        esac
    done
    say "configuration done"
fi
exec "$@"
