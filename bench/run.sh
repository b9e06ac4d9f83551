#!/usr/bin/env bash
# notify-bridge benchmark (bench/README.md): builds the release bridge and the bench
# program, then runs every scenario against the local RabbitMQ. Arguments go to the bench
# program, e.g. `bench/run.sh --quick`, `bench/run.sh --messages 50000 --runs 5`,
# `bench/run.sh --only baseline,md5`. The last line printed is `RESULT key=value …`.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null && [ -z "${NOTIFY_BRIDGE_TEST_AMQP:-}" ]; then
  echo "RabbitMQ does not answer on 127.0.0.1:5672 (start it, or .ci/run does)" >&2
  exit 1
fi
command -v openssl >/dev/null || { echo "openssl is needed for the rsa yardstick" >&2; exit 1; }

cargo build --release --quiet --bin notify-bridge --example bench
exec target/release/examples/bench "$@"
