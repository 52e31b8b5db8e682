#!/usr/bin/env bash
# Builds the hub's container image and checks, with real processes, that a hub in it serves
# home nodes on this machine: the founder's node (on the host) appoints the containerised hub,
# posts, and goes offline; a newcomer on the host, whose invite names only the hub, gets the
# community's entries from the hub, and the hub gets the newcomer's join request. Also waits
# for Docker's health check (`kith status` in the container) to say healthy.
#
# Skips (exit 0, saying why) when there is no docker client or no daemon answering.
# Everything listens on 127.0.0.1 (the container shares the host's network).
#
# Environment:
#   KITH_RUST_IMAGE, KITH_RUNTIME_IMAGE  base images for the build (default: the Dockerfile's);
#                                        contrib/docker/local-images.sh makes local ones
#   KITH                                 the host's kith binary (default: built with cargo)
#   KITH_IMAGE                           the tag to build (default: kith-test:latest)
#   KITH_DOCKER_BUILD_FLAGS              more `docker build` flags (e.g. --cpu-shares 128)
#   KITH_IMAGE_BUILT=1                   use the image already tagged KITH_IMAGE, do not build
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
image=${KITH_IMAGE:-kith-test:latest}

if ! command -v docker >/dev/null 2>&1; then
    echo "SKIP: no docker client on this machine"; exit 0
fi
if ! docker info >/dev/null 2>&1; then
    echo "SKIP: no Docker daemon answers (start dockerd, or run where one runs)"; exit 0
fi

work=$(mktemp -d /tmp/kith-docker-test.XXXXXX)
volume="kith-test-hub-$$"
container="kith-test-hub-$$"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    docker rm -f "$container" >/dev/null 2>&1 || true
    docker volume rm -f "$volume" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*"
    echo "--- hub logs"; docker logs --tail 40 "$container" 2>&1 || true
    for log in "$work"/*.log; do echo "--- $log"; tail -20 "$log"; done
    exit 1
}

# Polls a command for up to $1 seconds.
wait_for() {
    local seconds=$1 what=$2; shift 2
    local deadline=$((SECONDS + seconds))
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || fail "timed out after ${seconds}s waiting until $what"
        sleep 1
    done
    echo "ok: $what"
}

if [[ ${KITH_IMAGE_BUILT:-} == 1 ]]; then
    docker image inspect "$image" >/dev/null 2>&1 || { echo "FAIL: no image $image to use"; exit 1; }
    echo "== using the image already built: $image"
else
echo "== building $image"
build_args=()
[[ -n ${KITH_RUST_IMAGE:-} ]] && build_args+=(--build-arg "RUST_IMAGE=$KITH_RUST_IMAGE")
[[ -n ${KITH_RUNTIME_IMAGE:-} ]] && build_args+=(--build-arg "RUNTIME_IMAGE=$KITH_RUNTIME_IMAGE")
read -r -a extra_flags <<<"${KITH_DOCKER_BUILD_FLAGS:-}"
DOCKER_BUILDKIT=0 docker build --network host "${build_args[@]}" "${extra_flags[@]}" -t "$image" "$repo"
fi
echo "image size: $(docker image inspect --format '{{.Size}}' "$image") bytes"
[[ $(docker image inspect --format '{{.Config.User}}' "$image") != "" ]] || fail "the image runs as root"

kith=${KITH:-}
if [[ -z $kith ]]; then
    (cd "$repo" && cargo build -q -p kith-cli --bin kith)
    kith="$repo/target/debug/kith"
fi
alice="$work/alice" bob="$work/bob"
k() { local home=$1; shift; "$kith" --home "$home" "$@"; }
hub() { docker exec "$container" kith "$@"; }
json_field() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
run_home() {
    local home=$1 name=$2
    RUST_LOG=info "$kith" --home "$home" run --listen /ip4/127.0.0.1/tcp/0 --no-mdns --api 127.0.0.1:0 \
        --sync-interval 2s >"$work/$name.out" 2>"$work/$name.log" &
    pids+=($!)
    wait_for 30 "$name's node answers" k "$home" status
}

echo "== the founder's node on the host"
k "$alice" init --name Alice >/dev/null
k "$alice" community create "Test Street" >/dev/null
run_home "$alice" alice
alice_pid=${pids[-1]}

echo "== the hub in a container joins and the founder appoints it"
hub_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
docker volume create "$volume" >/dev/null
invite=$(k "$alice" invite)
docker run --rm --network host -v "$volume:/var/lib/kith" "$image" join "$invite" --name "Library hub" >/dev/null
docker run -d --name "$container" --network host -v "$volume:/var/lib/kith" \
    --health-interval 2s --health-start-period 5s \
    "$image" run --hub --no-mdns --listen "/ip4/127.0.0.1/tcp/$hub_port" --api 127.0.0.1:0 \
    --sync-interval 2s --log-format json >/dev/null
wait_for 60 "the hub's node answers in the container" hub status
[[ $(docker exec "$container" id -u) != 0 ]] || fail "the hub runs as root"
pending_hub() { k "$alice" members --pending --json | grep -q '"Library hub"'; }
wait_for 60 "the founder sees the hub's join request" pending_hub
k "$alice" appoint "Library hub" --hub >/dev/null
is_hub() { [[ $(hub status --json | json_field '["role"]') == hub ]]; }
wait_for 60 "the hub's own node says it is a hub" is_hub
healthy() { [[ $(docker inspect --format '{{.State.Health.Status}}' "$container") == healthy ]]; }
wait_for 60 "Docker's health check (kith status) says healthy" healthy
# The logs are stderr (stdout has kith run's greeting for people).
hub_logs_json() {
    docker logs "$container" 2>&1 >/dev/null | head -20 \
        | python3 -c 'import json,sys; lines=[json.loads(l) for l in sys.stdin if l.strip()]; assert lines'
}
wait_for 10 "the hub logs JSON lines on stderr" hub_logs_json

echo "== the founder posts, makes an invite naming only the hub, and goes offline"
post=$(k "$alice" offer "Lifts to the surgery" --category transport)
hub_has_post() { hub board --json | grep -q "$post"; }
wait_for 60 "the hub holds the founder's offer" hub_has_post
hub_peer=$(hub status --json | json_field '["peer_id"]')
bob_invite=$(k "$alice" invite --hub "/ip4/127.0.0.1/tcp/$hub_port/p2p/$hub_peer")
kill -TERM "$alice_pid"
wait "$alice_pid" || true
echo "ok: the founder's node stopped"

echo "== a newcomer on the host syncs with the hub alone"
k "$bob" join "$bob_invite" --name Bob >/dev/null
run_home "$bob" bob
hub_entries=$(hub status --json | json_field '["entries"]')
bob_caught_up() {
    [[ $(k "$bob" status --json | json_field '["community_name"]') == "Test Street" ]] \
        && (($(k "$bob" status --json | json_field '["entries"]') >= hub_entries))
}
wait_for 60 "the newcomer holds the hub's $hub_entries entries" bob_caught_up
bob_sees_post() { k "$bob" board --json | grep -q "$post"; }
wait_for 30 "the newcomer sees the founder's offer" bob_sees_post
hub_has_bob() { hub members --pending --json | grep -q '"Bob"'; }
wait_for 60 "the hub holds the newcomer's join request" hub_has_bob

echo "PASS: a hub in the container serves home nodes on the host"
