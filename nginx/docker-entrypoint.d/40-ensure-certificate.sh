#!/bin/sh
# Creates a self-signed certificate when none is mounted, so that nginx never crash-loops on a
# missing file at first start. For a real one (e.g. Let's Encrypt), put fullchain.pem and
# privkey.pem in the certificate volume. Run by the nginx image's entrypoint and by the twin.
set -eu
dir="${NGINX_CERT_DIR:-/etc/nginx/certs}"
if [ -s "$dir/fullchain.pem" ] && [ -s "$dir/privkey.pem" ]; then
    exit 0
fi
mkdir -p "$dir"
umask 077
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 365 \
    -subj "/CN=${NGINX_SERVER_NAME:-localhost}" \
    -addext "subjectAltName=DNS:${NGINX_SERVER_NAME:-localhost},DNS:localhost,IP:127.0.0.1,IP:::1" \
    -keyout "$dir/privkey.pem" -out "$dir/fullchain.pem" 2>/dev/null
chmod 644 "$dir/fullchain.pem"
echo "40-ensure-certificate: created a self-signed certificate in $dir"
