#!/bin/sh
# A throwaway PKI for the TLS tests, made with the openssl command.
#
# usage: pki.sh DIR
# Writes into DIR (which must exist):
#   ca.crt ca.key              the test CA (P-256, 2 days)
#   good.crt good.key          leaf for localhost, 127.0.0.1 and ::1, signed by the CA
#   wronghost.crt wronghost.key  leaf for wrong.example only, signed by the CA
#   expired.crt expired.key    leaf for localhost/127.0.0.1/::1, valid in January 2020 only
#   unknown.crt unknown.key    leaf for localhost/127.0.0.1/::1 from another CA (other-ca.crt)
# Exits non-zero, naming the step, when openssl fails or is missing.
set -eu
dir=${1:?usage: pki.sh DIR}
command -v openssl >/dev/null 2>&1 || { echo "pki.sh: openssl not found (Debian package openssl)" >&2; exit 1; }
cd "$dir"

step() {
    what=$1
    shift
    "$@" >/dev/null 2>pki.log || { echo "pki.sh: $what failed:" >&2; cat pki.log >&2; exit 1; }
}

ca() { # NAME SUBJECT
    step "CA $1" openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$1.key" -out "$1.crt" -days 2 -subj "/CN=$2" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
}

csr() { # NAME
    step "key and CSR $1" openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$1.key" -out "$1.csr" -subj "/CN=plumb test $1"
}

ext() { # SAN
    printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=%s\n' "$1"
}

leaf() { # NAME CA SAN
    csr "$1"
    ext "$3" >"$1.ext"
    step "sign $1" openssl x509 -req -in "$1.csr" -CA "$2.crt" -CAkey "$2.key" -CAcreateserial \
        -days 2 -extfile "$1.ext" -out "$1.crt"
}

here="DNS:localhost,IP:127.0.0.1,IP:::1"
ca ca "plumb test CA"
ca other-ca "plumb unknown CA"
leaf good ca "$here"
leaf wronghost ca "DNS:wrong.example"
leaf unknown other-ca "$here"

# Expired: OpenSSL 3.0's x509 cannot set notBefore, `openssl ca` can.
csr expired
mkdir -p ca.db
: >ca.db/index.txt
echo 1000 >ca.db/serial
cat >ca.cnf <<EOF
[ca]
default_ca = test
[test]
dir = ca.db
database = ca.db/index.txt
serial = ca.db/serial
new_certs_dir = ca.db
default_md = sha256
policy = any
copy_extensions = none
[any]
commonName = supplied
[leaf]
basicConstraints = CA:FALSE
keyUsage = digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = $here
EOF
step "sign expired" openssl ca -batch -config ca.cnf -cert ca.crt -keyfile ca.key -extensions leaf \
    -startdate 20200101000000Z -enddate 20200102000000Z -in expired.csr -out expired.crt
rm -f pki.log ./*.csr ./*.ext
