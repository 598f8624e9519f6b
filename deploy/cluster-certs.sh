#!/usr/bin/env bash
# Creates a CA and one certificate per node for the cluster link's mutual TLS
# (docs/cluster.md): deploy/cluster-certs.sh DIR NODE [NODE...]
#
#   DIR/ca.pem, DIR/ca.key          the cluster's CA (keep ca.key offline)
#   DIR/NODE.pem, DIR/NODE.key      a node's certificate and key, signed by the CA
#
# Point each node at its files: cluster.certificate = DIR/NODE.pem,
# cluster.key = DIR/NODE.key, cluster.ca = DIR/ca.pem. Any certificate the CA
# signed is a member of the cluster; one CA per cluster. Re-running keeps an
# existing CA and adds the nodes that have no certificate yet.
set -euo pipefail
if [ "$#" -lt 2 ]; then
  echo "usage: $0 DIR NODE [NODE...]" >&2
  exit 2
fi
dir="$1"
shift
mkdir -p "$dir"
umask 077
days=825
if [ ! -f "$dir/ca.pem" ]; then
  openssl req -x509 -newkey rsa:3072 -nodes -sha256 -days 3650 \
    -subj "/CN=troupe cluster CA" -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
fi
for node in "$@"; do
  case "$node" in
    *[!A-Za-z0-9._-]*) echo "$0: node names are letters, digits, '.', '_' and '-': $node" >&2; exit 2 ;;
  esac
  [ -f "$dir/$node.pem" ] && continue
  openssl req -newkey rsa:3072 -nodes -sha256 -subj "/CN=$node" \
    -keyout "$dir/$node.key" -out "$dir/$node.csr" 2>/dev/null
  printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=DNS:%s\n' \
    "$node" >"$dir/$node.ext"
  openssl x509 -req -in "$dir/$node.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
    -CAcreateserial -days "$days" -sha256 -extfile "$dir/$node.ext" -out "$dir/$node.pem" 2>/dev/null
  rm -f "$dir/$node.csr" "$dir/$node.ext"
done
chmod 644 "$dir"/*.pem
echo "certificates in $dir: ca.pem and $* (each NODE.pem with NODE.key)" >&2
