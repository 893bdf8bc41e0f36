# Throwaway services for the test suite, sourced by scripts/test.
#
# start_postgres: initdb + pg_ctl in a new temp directory, on a free loopback port, with TLS
#   on (a throwaway CA signs a certificate for `localhost` only, so host-name checks can be
#   tested against 127.0.0.1); exports AUTODB_TEST_PG_URL (superuser, database `postgres`)
#   and AUTODB_TEST_PG_CA (the CA's PEM). As root, the server runs as the `postgres` system
#   user (PostgreSQL refuses to run as root).
# start_moto: a moto server (.venv/, see scripts/bootstrap) on a free loopback port; exports
#   AWS_ENDPOINT_URL and dummy credentials so the AWS SDK talks to it and nothing else.
# stop_services: stops both and removes the temp directory (installed as an EXIT trap).

AUTODB_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
AUTODB_SERVICES_DIR=""
AUTODB_MOTO_PID=""

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

pg_bin_dir() {
  if command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(readlink -f "$(command -v pg_ctl)")"
  else
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
  fi
}

as_pg_user() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_postgres() {
  local bin port
  bin=$(pg_bin_dir)
  [ -x "$bin/initdb" ] || { echo "PostgreSQL server binaries not found" >&2; return 1; }
  AUTODB_SERVICES_DIR=$(mktemp -d /tmp/autodb-test.XXXXXX)
  chmod 755 "$AUTODB_SERVICES_DIR"
  mkdir -p "$AUTODB_SERVICES_DIR/pg"
  [ "$(id -u)" = 0 ] && chown postgres: "$AUTODB_SERVICES_DIR/pg"
  port=$(free_port)
  as_pg_user "$bin/initdb" -D "$AUTODB_SERVICES_DIR/pg/data" -U postgres --auth=trust -E UTF8 --no-locale >/dev/null
  make_certificates "$AUTODB_SERVICES_DIR/pg"
  # Many small databases, one per test: keep the server lean and fast.
  as_pg_user "$bin/pg_ctl" -D "$AUTODB_SERVICES_DIR/pg/data" -l "$AUTODB_SERVICES_DIR/pg/server.log" -w \
    -o "-p $port -k $AUTODB_SERVICES_DIR/pg -c listen_addresses=127.0.0.1 -c ssl=on -c ssl_cert_file=$AUTODB_SERVICES_DIR/pg/server.crt -c ssl_key_file=$AUTODB_SERVICES_DIR/pg/server.key -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
    start >/dev/null
  export AUTODB_TEST_PG_URL="postgresql://postgres@127.0.0.1:$port/postgres"
  export AUTODB_TEST_PG_CA="$AUTODB_SERVICES_DIR/pg/ca.pem"
  echo "PostgreSQL ($("$bin/postgres" --version)) on 127.0.0.1:$port"
}

make_certificates() {
  local dir=$1
  (
    cd "$dir"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=autodb test CA" \
      -keyout ca.key -out ca.pem 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key -out server.csr 2>/dev/null
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
      -extfile <(printf "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n") -out server.crt 2>/dev/null
    chmod 600 server.key ca.key
    chmod 644 ca.pem server.crt
    [ "$(id -u)" = 0 ] && chown postgres: server.key server.crt
    true
  )
}

start_moto() {
  local port i
  port=$(free_port)
  # moto from the repository's virtual environment (scripts/bootstrap).
  "$AUTODB_REPO/.venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"${AUTODB_SERVICES_DIR:-/tmp}/moto.log" 2>&1 &
  AUTODB_MOTO_PID=$!
  for i in $(seq 1 100); do
    if python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/')" 2>/dev/null; then
      break
    fi
    sleep 0.2
  done
  export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
  export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
  unset AWS_PROFILE AWS_SESSION_TOKEN
  echo "moto on 127.0.0.1:$port"
}

stop_services() {
  [ -n "$AUTODB_MOTO_PID" ] && kill "$AUTODB_MOTO_PID" 2>/dev/null
  if [ -n "$AUTODB_SERVICES_DIR" ] && [ -d "$AUTODB_SERVICES_DIR/pg/data" ]; then
    as_pg_user "$(pg_bin_dir)/pg_ctl" -D "$AUTODB_SERVICES_DIR/pg/data" -m immediate stop >/dev/null 2>&1
  fi
  [ -n "$AUTODB_SERVICES_DIR" ] && rm -rf "$AUTODB_SERVICES_DIR"
  return 0
}
