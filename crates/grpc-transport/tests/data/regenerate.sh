#!/bin/sh
# Regenerates the test TLS files in this folder:
#   ca.pem      a test CA certificate (its key is thrown away)
#   server.pem  a leaf certificate for DNS localhost and IP 127.0.0.1, signed by that CA
#   server.key  the leaf's private key, PKCS#8 PEM
# ECDSA P-256 with SHA-256, valid from 2000-01-01 to 2125-01-01: fixed dates, so neither a
# machine clock running a little behind nor the passing years break the tests. All three files
# change together when this runs. Needs OpenSSL 3 (`openssl ca` sets the dates).
set -eu
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
start=20000101000000Z
end=21250101000000Z

touch "$tmp/index.txt"
cat > "$tmp/openssl.cnf" <<CNF
[ca]
default_ca = test_ca

[test_ca]
database = $tmp/index.txt
serial = $tmp/serial
new_certs_dir = $tmp
default_md = sha256
policy = policy_any
unique_subject = no
email_in_dn = no

[policy_any]
organizationName = optional
commonName = supplied

[req]
distinguished_name = dn
prompt = no

[dn]

# The CA: may sign certificates and nothing else.
[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

# The server leaf: TLS server authentication for localhost and 127.0.0.1.
[v3_server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
CNF

sign() { # sign CSR OUT EXTENSIONS [extra openssl ca options]
    csr=$1 out=$2 ext=$3
    shift 3
    openssl ca -batch -notext -config "$tmp/openssl.cnf" -rand_serial \
        -startdate "$start" -enddate "$end" -extensions "$ext" \
        -in "$csr" -out "$out" "$@"
}

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/ca.key"
openssl req -new -config "$tmp/openssl.cnf" -key "$tmp/ca.key" \
    -subj "/O=grpc-rust tests/CN=grpc-rust test CA" -out "$tmp/ca.csr"
sign "$tmp/ca.csr" ca.pem v3_ca -selfsign -keyfile "$tmp/ca.key"

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out server.key
openssl req -new -config "$tmp/openssl.cnf" -key server.key \
    -subj "/O=grpc-rust tests/CN=localhost" -out "$tmp/server.csr"
sign "$tmp/server.csr" server.pem v3_server -cert ca.pem -keyfile "$tmp/ca.key"

openssl verify -CAfile ca.pem server.pem
