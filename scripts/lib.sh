# Shared by scripts/dev and scripts/test: a warm cargo target directory outside the clone, and
# installing redis-server when it is missing.

# A fixed target directory outside the checkout keeps builds warm between clones and CI runs; when it
# cannot be used, cargo builds cold in ./target.
if [ -z "${CARGO_TARGET_DIR:-}" ]; then
  if mkdir -p /var/cache/wa-target/ci 2>/dev/null && [ -w /var/cache/wa-target/ci ]; then
    export CARGO_TARGET_DIR=/var/cache/wa-target/ci
  fi
fi

ensure_redis_server() {
  if command -v redis-server >/dev/null 2>&1; then
    return 0
  fi
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "redis-server is missing: installing it with apt" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
    return 0
  fi
  echo "redis-server is required: install it (Debian/Ubuntu: sudo apt-get install redis-server)" >&2
  return 1
}
