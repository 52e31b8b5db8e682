#!/usr/bin/env bash
# Runs contrib/systemd/kith-hub.service under a real systemd, as its README steps install it,
# and checks that it works: systemd as PID 1 in a container (Debian bookworm, its systemd),
# the unit and the sysusers file installed, `kith` copied in. Then, with real processes:
#   - systemd-sysusers made the `kith` user; the hub joins the founder's community as that
#     user; `systemctl start kith-hub` runs it (sandboxed as the unit says, as `kith`, its
#     home in the StateDirectory /var/lib/kith, mode 0700) and the founder appoints it;
#   - a home node on the host syncs with the hub alone: the founder posts and goes offline, a
#     newcomer whose invite names only the hub gets the community's entries from it;
#   - restart on failure: the hub's process killed with SIGKILL comes back (a new PID, after
#     RestartSec) and answers again; the journal holds its JSON log lines.
# The unit is used as shipped; a drop-in only narrows `ExecStart` to a free loopback port and
# a short sync interval for the test (what an administrator's drop-in would do).
#
# Skips (exit 0, saying why) when there is no docker client, no daemon answering, or (to make
# the base image) no debootstrap or not root.
#
# systemd needs to write its cgroups and the unit's sandboxing needs namespaces: the container
# gets every capability this machine has (not `--privileged`, which asks for every one and
# fails where the daemon lacks one: here CAP_SYS_RESOURCE; with CAP_SYS_ADMIN alone the unit's
# PrivateUsers= fails), no seccomp or AppArmor profile, and the cgroup tree read-write (cgroup v1 here; systemd uses its container's own cgroup under it).
# /proc/sys and the rest of /sys stay read-only, and the image also masks every unit that
# writes to the kernel or devices (udev, sysctl, modules, binfmt, the audit socket, gettys,
# logind). It shares the host's network (the home nodes reach the hub on 127.0.0.1).
# KITH_SYSTEMD_DOCKER_FLAGS replaces these flags.
#
# Environment:
#   KITH                 the host's kith binary (default: built with cargo, debug)
#   KITH_SYSTEMD_BASE    the base image with systemd (default kith-local/debian-systemd:bookworm,
#                        made here by debootstrap when missing)
#   DEBIAN_MIRROR        for debootstrap (default http://deb.debian.org/debian)
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
base=${KITH_SYSTEMD_BASE:-kith-local/debian-systemd:bookworm}
image=kith-systemd-test:latest
container="kith-systemd-test-$$"

if ! command -v docker >/dev/null 2>&1; then
    echo "SKIP: no docker client on this machine"; exit 0
fi
if ! docker info >/dev/null 2>&1; then
    echo "SKIP: no Docker daemon answers (start dockerd, or run where one runs)"; exit 0
fi

work=$(mktemp -d /tmp/kith-systemd-test.XXXXXX)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    docker rm -f "$container" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*"
    echo "--- systemctl status kith-hub"; docker exec "$container" systemctl status --no-pager kith-hub 2>&1 | tail -20 || true
    echo "--- journal"; docker exec "$container" journalctl --no-pager -u kith-hub -n 30 2>&1 || true
    for log in "$work"/*.log; do [[ -f $log ]] && { echo "--- $log"; tail -20 "$log"; }; done
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

if ! docker image inspect "$base" >/dev/null 2>&1; then
    if [[ $(id -u) != 0 ]] || ! command -v debootstrap >/dev/null 2>&1; then
        echo "SKIP: no image $base, and making it needs root and debootstrap"; exit 0
    fi
    echo "== making $base with debootstrap"
    debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,procps bookworm "$work/root" \
        "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" >"$work/debootstrap.log" 2>&1 \
        || fail "debootstrap failed"
    rm -rf "$work/root/var/lib/apt/lists/"* "$work/root/var/cache/apt/"*.bin "$work/root/var/cache/apt/archives/"*.deb
    tar -C "$work/root" -c . | docker import \
        --change 'ENV container=docker' \
        --change 'CMD ["/lib/systemd/systemd"]' - "$base" >/dev/null
    rm -rf "$work/root"
fi

if [[ -n ${KITH_SYSTEMD_DOCKER_FLAGS:-} ]]; then
    read -r -a box_flags <<<"$KITH_SYSTEMD_DOCKER_FLAGS"
else
    box_flags=(--cap-add ALL --security-opt seccomp=unconfined --security-opt apparmor=unconfined
        -v /sys/fs/cgroup:/sys/fs/cgroup:rw --cgroupns host)
    # Less the capabilities this machine's bounding set lacks (Docker would fail to grant them).
    bounding=$((16#$(awk '/^CapBnd/ {print $2}' /proc/self/status)))
    for bit in $(seq 0 37); do
        if ((((bounding >> bit) & 1) == 0)); then
            name=$(capsh --decode="$(printf '%x' $((1 << bit)))" 2>/dev/null | sed 's/.*=cap_//')
            [[ -n $name ]] && box_flags+=(--cap-drop "$name")
        fi
    done
fi

kith=${KITH:-}
if [[ -z $kith ]]; then
    (cd "$repo" && cargo build -q -p kith-cli --bin kith)
    kith="$repo/target/debug/kith"
fi

echo "== the image: $base + kith, the unit and the sysusers file as the README installs them"
mkdir -p "$work/context"
cp "$kith" "$work/context/kith"
cp "$repo/contrib/systemd/kith-hub.service" "$repo/contrib/systemd/kith.sysusers" "$work/context/"
cat >"$work/context/Dockerfile" <<EOF
FROM $base
COPY kith /usr/local/bin/kith
COPY kith-hub.service /etc/systemd/system/kith-hub.service
COPY kith.sysusers /usr/lib/sysusers.d/kith.conf
RUN systemctl mask systemd-udevd.service systemd-udevd-control.socket systemd-udevd-kernel.socket \
      systemd-udev-trigger.service systemd-sysctl.service systemd-modules-load.service \
      systemd-binfmt.service proc-sys-fs-binfmt_misc.automount systemd-journald-audit.socket \
      getty.target console-getty.service systemd-logind.service systemd-firstboot.service \
      systemd-hwdb-update.service systemd-remount-fs.service
ENV container=docker
STOPSIGNAL SIGRTMIN+3
CMD ["/lib/systemd/systemd"]
EOF
DOCKER_BUILDKIT=0 docker build -q -t "$image" "$work/context" >/dev/null || fail "docker build failed"

alice="$work/alice" bob="$work/bob"
k() { local home=$1; shift; "$kith" --home "$home" "$@"; }
in_box() { docker exec "$container" "$@"; }
hub() { in_box runuser -u kith -- env KITH_HOME=/var/lib/kith kith "$@"; }
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

echo "== systemd as PID 1 in the container"
docker run -d --name "$container" "${box_flags[@]}" --network host \
    --tmpfs /run --tmpfs /run/lock --tmpfs /tmp "$image" >/dev/null
booted() { [[ $(in_box systemctl is-system-running 2>/dev/null) =~ ^(running|degraded)$ ]]; }
wait_for 60 "systemd has booted in the container" booted
[[ $(in_box ps -o comm= -p 1) == systemd ]] || fail "PID 1 is not systemd"
in_box systemctl --failed --no-pager --no-legend | sed 's/^/  failed unit: /'
in_box id kith >/dev/null || fail "systemd-sysusers made no kith user"

echo "== the hub joins as the kith user, then systemd starts it"
hub_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
in_box install -d -o kith -g kith -m 0700 /var/lib/kith
hub join "$(k "$alice" invite)" --name "Library hub" >/dev/null
in_box mkdir -p /etc/systemd/system/kith-hub.service.d
in_box sh -c "printf '[Service]\nExecStart=\nExecStart=/usr/local/bin/kith run --hub --no-mdns --log-format json --listen /ip4/127.0.0.1/tcp/$hub_port --sync-interval 2s\n' \
    >/etc/systemd/system/kith-hub.service.d/test.conf"
in_box systemctl daemon-reload
in_box systemctl enable --now kith-hub || fail "systemctl enable --now kith-hub failed"
wait_for 60 "the hub's node answers under systemd" hub status
[[ $(in_box systemctl show -p User --value kith-hub) == kith ]] || fail "the unit does not run as kith"
main_pid=$(in_box systemctl show -p MainPID --value kith-hub)
[[ $(in_box ps -o user= -p "$main_pid") == kith ]] || fail "the hub's process does not run as kith"
[[ $(in_box stat -c %a /var/lib/kith) == 700 ]] || fail "the StateDirectory is not 0700"
pending_hub() { k "$alice" members --pending --json | grep -q '"Library hub"'; }
wait_for 60 "the founder sees the hub's join request" pending_hub
k "$alice" appoint "Library hub" --hub >/dev/null
is_hub() { [[ $(hub status --json | json_field '["role"]') == hub ]]; }
wait_for 60 "the hub's own node says it is a hub" is_hub

echo "== a home node on the host syncs with the hub alone"
post=$(k "$alice" offer "Lifts to the surgery" --category transport)
hub_has_post() { hub board --json | grep -q "$post"; }
wait_for 60 "the hub holds the founder's offer" hub_has_post
hub_peer=$(hub status --json | json_field '["peer_id"]')
bob_invite=$(k "$alice" invite --hub "/ip4/127.0.0.1/tcp/$hub_port/p2p/$hub_peer")
kill -TERM "$alice_pid"
wait "$alice_pid" || true
echo "ok: the founder's node stopped"
k "$bob" join "$bob_invite" --name Bob >/dev/null
run_home "$bob" bob
bob_sees_post() { k "$bob" board --json | grep -q "$post"; }
wait_for 60 "the newcomer gets the founder's offer from the hub" bob_sees_post
hub_has_bob() { hub members --pending --json | grep -q '"Bob"'; }
wait_for 60 "the hub holds the newcomer's join request" hub_has_bob

echo "== restart on failure: SIGKILL the hub's process"
in_box kill -9 "$main_pid"
came_back() {
    local now
    now=$(in_box systemctl show -p MainPID --value kith-hub)
    [[ $now != 0 && $now != "$main_pid" ]] && [[ $(in_box systemctl is-active kith-hub) == active ]]
}
wait_for 60 "systemd started the hub again (a new main PID)" came_back
restarts=$(in_box systemctl show -p NRestarts --value kith-hub)
((restarts >= 1)) || fail "systemd counts no restart ($restarts)"
wait_for 60 "the restarted hub answers" hub status
still_has_post() { hub board --json | grep -q "$post"; }
wait_for 30 "the restarted hub still holds the offer" still_has_post
journal_json() {
    local lines
    lines=$(in_box journalctl -u kith-hub -o cat --no-pager | grep '^{') || return 1
    python3 -c 'import json,sys; lines=[json.loads(l) for l in sys.stdin if l.strip()]; assert lines' <<<"$lines"
}
wait_for 10 "the journal holds the hub's JSON log lines" journal_json

echo "PASS: the systemd unit runs a hub that home nodes sync with, and restarts it on failure"
