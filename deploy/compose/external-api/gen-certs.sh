#!/bin/sh
# Makes a CA and a server certificate for "external-api" into /certs (once; kept in the volume).
set -eu
cd /certs
[ -f server.crt ] && exit 0
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
  -subj "/CN=podkit demo CA" -keyout ca.key -out ca.crt \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=external-api" \
  -keyout server.key -out server.csr
printf 'subjectAltName=DNS:external-api\nextendedKeyUsage=serverAuth\n' > server.ext
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 \
  -extfile server.ext -out server.crt
chmod 0644 ca.crt server.crt server.key
