#!/usr/bin/env bash
# `ray up` / `ray submit` / `ray down` for real, on a one-machine cluster (cluster-local.yaml: provider
# `local`, head 127.0.0.1 over SSH): tokenizes the demo audio shards on the cluster, tokenizes them
# again with a plain local run, and checks that every token shard has the same sha256.
#
#   scripts/cluster_smoke.sh [--audio DIR] [--codec DIR] [--keep]      (or: make cluster-smoke)
#
# --audio/--codec default to data/shards/audio and models/codec (what `make demo` makes); when they
# are missing the script builds them in its scratch copy (`dvc repro train_codec`, a few minutes).
# Needs root (it installs openssh-server and rsync with apt-get when missing, and starts sshd).
#
# Everything happens in a scratch dir under /tmp: a copy of the repo (the tree git sees; .venv linked),
# copies of the inputs, both outputs. sshd runs in its own PID and mount namespace (unshare) with the
# scratch dir as root's home and a private /tmp/ray, so that the `ray stop` that `ray up`/`ray down`
# run on the head stops this cluster's Ray only, never another Ray on the machine, and nothing is
# written to the real home. At exit the namespace is killed (its sshd and every process in it).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
AUDIO=$REPO/data/shards/audio
CODEC=$REPO/models/codec
KEEP=0
while [ $# -gt 0 ]; do
  case "$1" in
    --audio) AUDIO=$(realpath -m "$2"); shift 2 ;;
    --codec) CODEC=$(realpath -m "$2"); shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "cluster_smoke: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

say() { printf '\n== %s\n' "$*"; }
die() { echo "cluster_smoke: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (it installs and starts sshd)"
[ -x "$REPO/.venv/bin/ray" ] || die "$REPO/.venv has no ray: run \`make install\` first"
command -v unshare >/dev/null || die "unshare (util-linux) is needed to keep \`ray stop\` to this cluster"

SCRATCH=$(mktemp -d /tmp/audiogen-cluster-smoke.XXXXXX)
KEY=$HOME/.ssh/audiogen_cluster_ed25519   # the path cluster-local.yaml names
NS_PID=""
cleanup() {
  rc=$?
  if [ -n "$NS_PID" ]; then
    say "ray down"
    (cd "$SCRATCH/repo" && timeout 120 ray down -y cluster-local.yaml) || echo "ray down failed (rc $?)"
    # The namespace's PID 1 is unshare's child (sshd): killing it ends every process in the namespace,
    # and unshare (which blocks SIGTERM) then reaps it and exits.
    NS_INIT=$(ps -o pid= --ppid "$NS_PID" | tr -d ' ')
    kill -KILL ${NS_INIT:-$NS_PID} 2>/dev/null || true
    wait "$NS_PID" 2>/dev/null || true
  fi
  if [ "$KEEP" = 1 ] || [ $rc != 0 ]; then echo "scratch kept: $SCRATCH"; else rm -rf "$SCRATCH"; fi
  exit $rc
}
trap cleanup EXIT

say "sshd and rsync"
if ! [ -x /usr/sbin/sshd ] || ! command -v rsync >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server rsync >/dev/null
fi
mkdir -p /run/sshd /tmp/ray "$HOME/.ssh" "$SCRATCH/home/.ssh"
chmod 700 "$HOME/.ssh" "$SCRATCH/home" "$SCRATCH/home/.ssh"
ssh-keygen -A >/dev/null
[ -f "$KEY" ] || ssh-keygen -q -t ed25519 -N "" -C audiogen-cluster-smoke -f "$KEY"
cp "$KEY.pub" "$SCRATCH/home/.ssh/authorized_keys"   # the namespace's ~/.ssh/authorized_keys
chmod 600 "$SCRATCH/home/.ssh/authorized_keys"
echo "# audiogen cluster smoke: the head's ~/.bashrc (cluster-local.yaml's setup commands add to it)" \
  >"$SCRATCH/home/.bashrc"
# The venv's base Python may live under the real home (pyenv): show that folder in the namespace's home.
PY_REAL=$(readlink -f "$REPO/.venv/bin/python")
HOME_DIRS=""
case "$PY_REAL" in "$HOME"/*) d=${PY_REAL#"$HOME"/}; HOME_DIRS=${d%%/*} ;; esac
if (exec 3<>/dev/tcp/127.0.0.1/22) 2>/dev/null; then die "127.0.0.1:22 is taken by another sshd; stop it first"; fi
unshare --pid --kill-child --mount-proc --propagation private sh -c '
  set -e; mount -t tmpfs tmpfs /tmp/ray
  for d in $3; do mkdir -p "$1/$d"; mount --bind "$2/$d" "$1/$d"; done
  mount --rbind "$1" "$2"
  exec /usr/sbin/sshd -D -e -o ListenAddress=127.0.0.1 -o PidFile=none -o PermitRootLogin=prohibit-password' \
  sh "$SCRATCH/home" "$HOME" "$HOME_DIRS" >"$SCRATCH/sshd.log" 2>&1 &
NS_PID=$!
SSH="ssh -i $KEY -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
for _ in $(seq 50); do $SSH root@127.0.0.1 true 2>/dev/null && break; sleep 0.2; done
$SSH root@127.0.0.1 'echo "ssh root@127.0.0.1 ok: home $HOME, $(ls /proc | grep -c "^[0-9]") processes in its namespace"' \
  || { cat "$SCRATCH/sshd.log"; die "ssh to root@127.0.0.1 failed"; }

say "scratch copy of the repo: $SCRATCH/repo"
mkdir -p "$SCRATCH/repo"
(cd "$REPO" && git ls-files -z -co --exclude-standard | tar --null -T - --ignore-failed-read -cf - 2>/dev/null) \
  | tar -xf - -C "$SCRATCH/repo"
ln -s "$REPO/.venv" "$SCRATCH/repo/.venv"
export PATH="$SCRATCH/repo/.venv/bin:$PATH" RAY_AUTH_MODE=disabled DVC_NO_ANALYTICS=1 HF_HUB_OFFLINE=1 \
  RAY_USAGE_STATS_ENABLED=0
cd "$SCRATCH/repo"

say "inputs"
mkdir -p "$SCRATCH/in"
if [ -f "$AUDIO/shards.json" ] && [ -f "$CODEC/model.safetensors" ]; then
  cp -r "$AUDIO" "$SCRATCH/in/audio" && cp -r "$CODEC" "$SCRATCH/in/codec"   # a stable snapshot
else
  echo "no $AUDIO/shards.json or $CODEC/model.safetensors: building them here (dvc repro train_codec)"
  git init -q . && python -m pipeline.with_ray dvc repro train_codec
  cp -r data/shards/audio "$SCRATCH/in/audio" && cp -r models/codec "$SCRATCH/in/codec"
fi
echo "audio: $(ls "$SCRATCH/in/audio"/*.tar | wc -l) shards, codec $(ls "$SCRATCH/in/codec" | tr "\n" " ")(copied to $SCRATCH/in)"

say "local run: python pipeline/tokenize.py"
RAY_ADDRESS=local python pipeline/tokenize.py --codec "$SCRATCH/in/codec" --shards "$SCRATCH/in/audio" \
  --out "$SCRATCH/tokens_local" 2>&1 | grep -v '^\s*$' | tail -n 3

say "ray up -y cluster-local.yaml"
ray up -y --no-config-cache cluster-local.yaml

say "ray submit cluster-local.yaml pipeline/tokenize.py"
ray submit cluster-local.yaml pipeline/tokenize.py -- --codec "$SCRATCH/in/codec" --shards "$SCRATCH/in/audio" \
  --out "$SCRATCH/tokens_cluster"
ray exec cluster-local.yaml 'ray status 2>/dev/null | sed -n "1,12p"; ls ~/audiogen | head -3; which python'

say "compare token shards (sha256)"
python - "$SCRATCH/tokens_local" "$SCRATCH/tokens_cluster" <<'EOF'
import hashlib, sys
from pathlib import Path

local, cluster = (Path(p) for p in sys.argv[1:3])
digest = lambda p: hashlib.sha256(p.read_bytes()).hexdigest()
a = {p.name: digest(p) for p in sorted(local.glob("*.tar"))}
b = {p.name: digest(p) for p in sorted(cluster.glob("*.tar"))}
for name in sorted(a.keys() | b.keys()):
    print(f"{'==' if a.get(name) == b.get(name) else '!='} {name} {a.get(name, '-')[:16]} {b.get(name, '-')[:16]}")
if not a or a != b:
    sys.exit(f"cluster_smoke: FAIL: the cluster's token shards differ from the local run's ({len(a)} vs {len(b)} shards)")
print(f"cluster_smoke: OK: {len(a)} token shards, byte-identical between `ray submit` and the local run")
EOF
