#!/usr/bin/env bash
# make demo: a three-node ark cluster on this machine's loopback, each
# node an arkd process with its own state dir, socket and ports, all
# protecting the echo service of examples/cluster. No root needed.
# Ctrl-C stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BIN=$ROOT/bin
DIR=${ARK_DEMO_DIR:-/tmp/ark-demo}
export PATH="$BIN:$PATH"

for b in arkd arkctl ark-generic ark-echo; do
    [ -x "$BIN/$b" ] || { echo "demo: $BIN/$b missing: run make build" >&2; exit 1; }
done
if [ -d "$DIR" ]; then
    for s in "$DIR"/node*/arkd.sock; do
        [ -S "$s" ] && ARK_SOCKET=$s arkctl status >/dev/null 2>&1 && {
            echo "demo: a demo is already running in $DIR (stop it first)" >&2; exit 1; }
    done
    rm -rf "$DIR"
fi
mkdir -p "$DIR"
head -c 48 /dev/urandom | base64 > "$DIR/cluster.key"
chmod 600 "$DIR/cluster.key"
cat > "$DIR/cluster.yaml" <<YAML
cluster: demo
key_file: cluster.key
heartbeat: {interval: 300ms, misses: 3}
lease_timeout: 3s
raft: {heartbeat_timeout: 500ms, election_timeout: 500ms, leader_lease_timeout: 250ms}
nodes:
  - {name: node1, addresses: [127.0.0.1:7401, 127.0.0.2:7401]}
  - {name: node2, addresses: [127.0.0.1:7402, 127.0.0.2:7402]}
  - {name: node3, addresses: [127.0.0.1:7403, 127.0.0.2:7403]}
YAML
SUM=$(sha256sum "$BIN/ark-generic" | cut -d' ' -f1)
cp -r "$ROOT/examples/cluster" "$DIR/scripts"
sed "s|SCRIPTS_DIR|$DIR/scripts|" "$ROOT/examples/cluster/resources.yaml" > "$DIR/resources.yaml"

pids=()
cleanup() {
    trap - INT TERM EXIT
    echo
    echo "demo: stopping the three nodes and their services"
    for n in 1 2 3; do
        ARK_SOCKET=$DIR/node$n/arkd.sock arkctl shutdown >/dev/null 2>&1 || true
    done
    for p in "${pids[@]}"; do
        for i in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null || true
    done
    # Services of a node killed with kill -9 outlive it: stop those too.
    for f in /tmp/ark-echo-web-node*.pid; do
        [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null && rm -f "$f"
    done
    echo "demo: stopped (state and logs are in $DIR)"
}
trap cleanup INT TERM EXIT

for n in 1 2 3; do
    mkdir -p "$DIR/node$n"
    cat > "$DIR/node$n/node.yaml" <<YAML
node: node$n
cluster: demo
cluster_file: ../cluster.yaml
state_dir: state
plugin_dir: $BIN
socket: arkd.sock
log_level: info
kits:
  generic: {sha256: $SUM, path: $BIN/ark-generic}
YAML
    arkd --config "$DIR/node$n/node.yaml" > "$DIR/node$n/arkd.log" 2>&1 &
    pids+=($!)
done

export ARK_SOCKET=$DIR/node1/arkd.sock
echo "demo: waiting for the three nodes to see each other and elect a leader"
for i in $(seq 1 150); do
    st=$(arkctl status 2>/dev/null || true)
    if grep -q 'leader node' <<<"$st" && grep -q 'lease: held' <<<"$st" && [ "$(grep -c '  UP  ' <<<"$st")" = 3 ]; then
        break
    fi
    sleep 0.2
done
arkctl define -f "$DIR/resources.yaml"
arkctl start web
echo
arkctl status
cat <<TXT

The cluster runs. In another terminal:

  export ARK_SOCKET=$DIR/node1/arkd.sock   # any node's socket works (node2, node3)
  watch -n0.5 arkctl status                # resources, nodes, paths, quorum, leader
  arkctl events --follow                   # what happens, as it happens

  # Crash the active node (its arkd and its service), see web move:
  kill -9 \$(pgrep -f 'arkd --config $DIR/node1/') \$(cat /tmp/ark-echo-web-node1.pid)
  ARK_SOCKET=$DIR/node2/arkd.sock arkctl status

  # Or break the service and see it recover, then fail over:
  kill -9 \$(cat /tmp/ark-echo-web-node1.pid)
  arkctl relocate web --node node3         # move it by hand
  arkctl maintenance on node2              # keep node2's resources, unmonitored

The echo service answers on 127.0.0.1:750N of the node N that runs it
(ark-echo probe -addr 127.0.0.1:7502). Logs: $DIR/node*/arkd.log.
Press Ctrl-C to stop everything the demo started.
TXT
wait
