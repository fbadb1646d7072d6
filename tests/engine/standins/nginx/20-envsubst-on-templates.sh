#!/bin/sh
# Renders every *.template under the templates folder into the output folder, keeping
# subfolders, with envsubst restricted to the variables defined in the environment (so nginx's
# own $host stays as it is). As the image's user: when the output folder is not writable by
# it, the image logs an error and carries on (nginx then starts without those files).
# Our own code for the stand-in; folders and suffix from the documented NGINX_ENVSUBST_* names.
set -eu
templates="${NGINX_ENVSUBST_TEMPLATE_DIR:-/etc/nginx/templates}"
suffix="${NGINX_ENVSUBST_TEMPLATE_SUFFIX:-.template}"
output="${NGINX_ENVSUBST_OUTPUT_DIR:-/etc/nginx/conf.d}"
[ -d "$templates" ] || exit 0
if [ ! -w "$output" ]; then
    echo "$0: ERROR: $output is not writable by uid $(id -u): $templates not rendered" >&2
    exit 0
fi
defined=$(env | sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)=.*/${\1}/p' | tr '\n' ' ')
find "$templates" -follow -type f -name "*$suffix" | while read -r template; do
    relative="${template#"$templates"/}"
    target="$output/${relative%"$suffix"}"
    mkdir -p "$(dirname "$target")"
    echo "$0: rendering $template into $target"
    envsubst "$defined" < "$template" > "$target"
done
