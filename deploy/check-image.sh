#!/usr/bin/env bash
# Build the Aegis image and run the Helm chart's topology from it, for real, on this host.
#
#   deploy/check-image.sh          # build, run, upload, kill a worker, clean up
#   deploy/check-image.sh build    # stop after building the image
#
# Steps: install and configure podman when missing (Debian hosts, as root); build a
# local Debian bookworm base image when missing (no registry is needed; it is cached
# between runs); build deploy/Dockerfile on it (layer cache); then run one container
# per chart component from that single image, each with a read-only root, a tmpfs
# /tmp, no capabilities, no-new-privileges and uid 10001: the migrations, the gateway
# (gunicorn), one worker per stage queue (read from the stage registry inside the
# image) and beat. They talk to the host's PostgreSQL (a private database) and Redis (a
# free db index) over --network host, and share the blob store on a named volume. A
# tenant is created with `aegis` inside the gateway container; corpus files of several
# formats (and a PNG scan, and a HEIC photo when .venv has pillow-heif to encode it)
# are uploaded with curl and must all succeed; the content worker is SIGKILLed
# in the middle of a large PDF and restarted, and that document must still succeed
# exactly once. Last, aegis's S3 blob store makes a round trip from inside the image to
# a local S3 server (moto's, from .venv; skipped without it), since the image keeps
# botocore's models for S3 and the credential services only. Everything it created is
# removed on exit, failure included.
#
# Environment (all optional):
#   AEGIS_IMAGE        image to build and run          (localhost/aegis:check)
#   AEGIS_BASE_IMAGE   base image, built when missing  (localhost/aegis-base:bookworm)
#   AEGIS_CORPUS_DIR   the shared corpus               (../shared/corpus, /work/shared/corpus)
#   AEGIS_TEST_PG      admin URL of PostgreSQL         (postgresql://postgres@127.0.0.1:5432/postgres)
#   AEGIS_TEST_REDIS_HOST / AEGIS_TEST_REDIS_PORT       (127.0.0.1 / 6379)
#   DEBIAN_MIRROR      mirror for the base             (the host's apt source)
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${AEGIS_IMAGE:-localhost/aegis:check}
BASE_IMAGE=${AEGIS_BASE_IMAGE:-localhost/aegis-base:bookworm}
PG_ADMIN=${AEGIS_TEST_PG:-postgresql://postgres@127.0.0.1:5432/postgres}
REDIS_HOST=${AEGIS_TEST_REDIS_HOST:-127.0.0.1}
REDIS_PORT=${AEGIS_TEST_REDIS_PORT:-6379}
RUN_ID="aegis-check-$$-${RANDOM}"
# Bump when build_base changes, so a cached base made the old way is rebuilt.
BASE_RECIPE=2
# The builds and the workers share the host: keep them at a lower priority.
NICE=(nice -n 10)

log() { printf '%s check-image: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

# step NAME COMMAND...: run one step and print its duration.
step() {
  local name=$1 started
  shift
  started=$(date +%s.%N)
  log "step '$name' ..."
  "$@"
  log "$(awk -v n="$name" -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "step %s took %.1f s", n, b - a }')"
}

corpus_dir() {
  local candidate
  for candidate in "${AEGIS_CORPUS_DIR:-}" "$PWD/../shared/corpus" /work/shared/corpus; do
    if [ -n "$candidate" ] && [ -d "$candidate/pdf" ]; then
      (cd "$candidate" && pwd)
      return
    fi
  done
  die "the shared corpus is not found (set AEGIS_CORPUS_DIR)"
}

# ------------------------------------------------------------------------- podman
install_podman() {
  if ! command -v podman >/dev/null 2>&1 || ! command -v debootstrap >/dev/null 2>&1; then
    [ "$(id -u)" = 0 ] || die "podman and debootstrap are missing; install them as root"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=900 \
      --no-install-recommends podman buildah debootstrap runc fuse-overlayfs slirp4netns uidmap \
      >/dev/null || { apt-get update -qq -o DPkg::Lock::Timeout=900 && \
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=900 \
      --no-install-recommends podman buildah debootstrap runc fuse-overlayfs slirp4netns uidmap >/dev/null; }
  fi
  # crun refuses this host's hybrid cgroup layout: use runc. Celery and gunicorn need
  # more open files than podman's default limit inside a container.
  local conf=/etc/containers/containers.conf.d/50-aegis-check.conf
  if [ "$(id -u)" = 0 ] && [ ! -f "$conf" ]; then
    mkdir -p "$(dirname "$conf")"
    cat >"$conf" <<'EOF'
# Written by aegis deploy/check-image.sh.
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
EOF
  fi
  podman info --format '{{.Host.OCIRuntime.Name}}' >/dev/null || die "podman does not work on this host"
  log "podman $(podman version --format '{{.Client.Version}}'), runtime $(podman info --format '{{.Host.OCIRuntime.Name}}')"
}

# ------------------------------------------------------------------------- base image
host_mirror() {
  local uri
  uri=$(grep -hsE '^(URIs:|deb )' /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null \
    | grep -v security | grep -oE 'https?://[^ ]+' | head -1 || true)
  echo "${DEBIAN_MIRROR:-${uri:-http://deb.debian.org/debian}}"
}

# A minimal Debian bookworm with Debian's Python 3.11, made with debootstrap, so
# nothing is pulled from a container registry. The host's extra CA certificates go
# in so pip and apt inside the build trust the same proxies the host does.
build_base() {
  if [ "$(podman image inspect --format '{{index .Labels "org.aegis.base-recipe"}}' "$BASE_IMAGE" \
        2>/dev/null || true)" = "$BASE_RECIPE" ]; then
    log "base image $BASE_IMAGE is cached"
    return
  fi
  [ "$(id -u)" = 0 ] || die "building the base image needs root (debootstrap)"
  local root mirror security
  root=$(mktemp -d /var/tmp/aegis-base.XXXXXX)
  mirror=$(host_mirror)
  security=$(grep -hsoE 'https?://[^ ]+debian-security' /etc/apt/sources.list /etc/apt/sources.list.d/* \
    2>/dev/null | head -1 || true)
  "${NICE[@]}" debootstrap --variant=minbase \
    --include=python3,python3-venv,python-is-python3,ca-certificates \
    bookworm "$root" "$mirror" >"$root.log" 2>&1 || { tail -30 "$root.log" >&2; rm -rf "$root" "$root.log"; die "debootstrap"; }
  rm -f "$root.log"
  {
    echo "deb $mirror bookworm main"
    echo "deb $mirror bookworm-updates main"
    [ -z "$security" ] || echo "deb $security bookworm-security main"
  } >"$root/etc/apt/sources.list"
  if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
    chroot "$root" update-ca-certificates >/dev/null 2>&1
  fi
  # What a slim base leaves out: documentation, translations, apt's lists and caches;
  # and dpkg skips them in packages installed later (the Dockerfile's Tesseract).
  cat >"$root/etc/dpkg/dpkg.cfg.d/aegis-slim" <<'EOF'
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
path-exclude=/usr/share/lintian/*
EOF
  find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
    "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/* "$root"/var/log/*.log
  tar -C "$root" -c . | podman import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change "LABEL org.aegis.base-recipe=$BASE_RECIPE" \
    --change 'CMD ["python3"]' --quiet - "$BASE_IMAGE" >/dev/null
  rm -rf "$root"
  log "base image $BASE_IMAGE built from $mirror"
}

# ------------------------------------------------------------------------- image
build_image() {
  local previous
  previous=$(podman image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)
  "${NICE[@]}" podman build --layers --build-arg "PYTHON_IMAGE=$BASE_IMAGE" \
    -f deploy/Dockerfile -t "$IMAGE" . >"$WORK/build.log" 2>&1 \
    || { tail -60 "$WORK/build.log" >&2; die "podman build"; }
  # The image this build replaced, now untagged: that image alone, never a prune,
  # which would also drop the build stage's layers and so the cache of the next run.
  if [ -n "$previous" ] && [ "$previous" != "$(podman image inspect --format '{{.Id}}' "$IMAGE")" ]; then
    podman rmi "$previous" >/dev/null 2>&1 || true
  fi
  local size
  size=$(podman image inspect --format '{{.Size}}' "$IMAGE")
  log "image $IMAGE: $((size / 1000000)) MB ($(podman image inspect --format '{{.Size}}' "$BASE_IMAGE" \
    | awk '{printf "%d", $1 / 1000000}') MB of it the base)"
}

# ------------------------------------------------------------------------- resources
WORK=$(mktemp -d /tmp/aegis-check.XXXXXX)
DB_NAME=""
REDIS_DB=""
VOLUME="$RUN_ID-storage"
CONTAINERS=()

cleanup() {
  local status=$?
  set +e
  if [ "$status" != 0 ] && [ ${#CONTAINERS[@]} -gt 0 ]; then
    for c in "${CONTAINERS[@]}"; do
      echo "----- logs of $c (last 40 lines)" >&2
      podman logs --tail 40 "$c" >&2 2>&1
    done
  fi
  for c in "${CONTAINERS[@]}"; do podman rm -f -t 0 "$c" >/dev/null 2>&1; done
  [ -z "$S3_PID" ] || kill "$S3_PID" 2>/dev/null
  podman volume rm -f "$VOLUME" >/dev/null 2>&1
  if [ -n "$DB_NAME" ]; then
    psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS \"$DB_NAME\" WITH (FORCE)" >/dev/null 2>&1
  fi
  if [ -n "$REDIS_DB" ]; then
    redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" -n "$REDIS_DB" flushdb >/dev/null 2>&1
  fi
  rm -rf "$WORK"
  [ "$status" = 0 ] && log "passed" || log "failed (exit $status)"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# An empty Redis db index, claimed with the same marker key tests/harness.py's
# pick_redis_db sets, so this script and parallel test runs never share one.
claim_redis_db() {
  local databases index
  databases=$(redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" config get databases | tail -1)
  for ((index = databases - 1; index > 0; index--)); do
    if [ "$(redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" -n "$index" dbsize)" = 0 ] && \
       [ "$(redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" -n "$index" set aegis:test:claim "$RUN_ID" NX EX 3600)" = OK ]; then
      REDIS_DB=$index
      return
    fi
  done
  die "no free Redis db index"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

prepare_services() {
  DB_NAME="aegis_check_$$_${RANDOM}"
  psql -q "$PG_ADMIN" -c "CREATE DATABASE \"$DB_NAME\"" >/dev/null
  claim_redis_db
  podman volume create "$VOLUME" >/dev/null
  PORT=$(free_port)
  # Short limits so the reconciler re-enqueues the killed worker's document within
  # a minute (the same values as tests/integration/test_reliability.py).
  cat >"$WORK/env" <<EOF
AEGIS_DATABASE_URL=${PG_ADMIN%/*}/$DB_NAME
AEGIS_BROKER_URL=redis://$REDIS_HOST:$REDIS_PORT/$REDIS_DB
AEGIS_LOG_JSON=1
AEGIS_TIME_LIMIT_VALIDATE=30
AEGIS_TIME_LIMIT_METADATA=30
AEGIS_TIME_LIMIT_CONTENT=45
AEGIS_TIME_LIMIT_OCR=60
AEGIS_TIME_LIMIT_AI=60
AEGIS_VISIBILITY_TIMEOUT=120
AEGIS_RECONCILE_INTERVAL=2
EOF
  log "database $DB_NAME, Redis db $REDIS_DB, volume $VOLUME, gateway port $PORT"
}

# run_container NAME COMMAND...: one component, hardened as the chart runs it.
run_container() {
  local name="$RUN_ID-$1"
  shift
  CONTAINERS+=("$name")
  podman run -d --name "$name" --network host --read-only --tmpfs /tmp:rw,size=512m \
    --cap-drop ALL --security-opt no-new-privileges --user 10001:10001 \
    --env-file "$WORK/env" -v "$VOLUME:/data/storage" "$@" >/dev/null
}

wait_until() {  # wait_until SECONDS WHAT COMMAND...
  local deadline=$((SECONDS + $1)) what=$2
  shift 2
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || die "timed out waiting for $what"
    sleep 0.5
  done
}

migrate() {
  podman run --rm --network host --read-only --tmpfs /tmp --cap-drop ALL \
    --security-opt no-new-privileges --user 10001:10001 --env-file "$WORK/env" \
    "$IMAGE" aegis db upgrade
}

start_gateway() {
  run_container gateway -e AEGIS_HEARTBEAT_FILE= "$IMAGE" gunicorn --config=python:web.gunicorn_conf \
    "--bind=127.0.0.1:$PORT" --workers=2 --worker-tmp-dir=/tmp --access-logfile=- --no-control-socket \
    'web:create_app()'
  wait_until 120 "the gateway's /ready" curl -fsS "http://127.0.0.1:$PORT/ready"
}

start_worker() {  # start_worker STAGE
  run_container "worker-$1" -e AEGIS_HEARTBEAT_FILE=/tmp/aegis-worker.heartbeat "$IMAGE" \
    celery -A tasks worker -Q "$1" -n "$1@%h" --concurrency 1 --loglevel INFO
}

worker_ready() {  # the chart's readiness probe
  podman exec "$RUN_ID-worker-$1" test -e /tmp/aegis-worker.heartbeat.ready
}

start_workers() {
  STAGES=$(podman run --rm --read-only --network none "$IMAGE" \
    python -c 'from aegis.pipeline.registry import REGISTRY; print(" ".join(REGISTRY.queues))')
  log "stage queues from the registry: $STAGES"
  local stage
  for stage in $STAGES; do start_worker "$stage"; done
  run_container beat "$IMAGE" celery -A tasks beat --loglevel INFO
  for stage in $STAGES; do wait_until 180 "worker $stage to be ready" worker_ready "$stage"; done
}

API_KEY=""
create_tenant() {
  API_KEY=$(podman exec "$RUN_ID-gateway" aegis tenant create check-image --json \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["api_key"])')
  [ -n "$API_KEY" ] || die "no API key"
}

api() {  # api PATH [curl args...]
  local path=$1
  shift
  curl -fsS -H "Authorization: Bearer $API_KEY" "$@" "http://127.0.0.1:$PORT$path"
}

upload() {  # upload FILE -> prints the document id
  api /v1/documents -F "file=@$1" | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])'
}

status_of() {
  api "/v1/documents/$1" | python3 -c 'import json, sys; print(json.load(sys.stdin)["status"])'
}

wait_document() {  # wait_document ID NAME TIMEOUT: until succeeded; anything else fails
  local id=$1 name=$2 deadline=$((SECONDS + $3)) status
  while :; do
    status=$(status_of "$id")
    case $status in
      succeeded) log "  $name: succeeded"; return ;;
      failed|rejected) api "/v1/documents/$id" >&2; echo >&2; die "$name ended $status" ;;
    esac
    [ "$SECONDS" -lt "$deadline" ] || { api "/v1/documents/$id" >&2; die "$name still $status"; }
    sleep 1
  done
}

# Several formats, one of each family, including a scan that goes through OCR.
FILES=(
  pdf/pdflatex-4-pages.pdf
  pdf/imagemagick-CCITTFaxDecode.pdf
  office/simple.docx
  office/fake-power-point.pptx
  office/more-than-1k-cells.xlsx
  email/fake-email.eml
  email/fake-email-with-cc-and-bcc.msg
  text/fake-html.html
  text/fake-text.txt
)

# A scanned page as an image: page 1 of a corpus PDF rendered to a grayscale PNG by
# the image's own pypdfium2 (the corpus has no image files); it must go through OCR.
make_scan() {
  mkdir -p "$WORK/scan"
  chmod 777 "$WORK/scan"
  podman run --rm --network none --read-only --cap-drop ALL --user 10001:10001 \
    -v "$1/pdf:/corpus:ro" -v "$WORK/scan:/out" "$IMAGE" python -c '
import pypdfium2 as pdfium
page = pdfium.PdfDocument("/corpus/pdflatex-4-pages.pdf")[0]
page.render(scale=200 / 72, grayscale=True).to_pil().save("/out/scan.png")
'
  echo "$WORK/scan/scan.png"
}

upload_formats() {
  local corpus scan scan_id ids=() i
  corpus=$(corpus_dir)
  scan=$(make_scan "$corpus")
  for i in "${!FILES[@]}"; do ids+=("$(upload "$corpus/${FILES[$i]}")"); done
  scan_id=$(upload "$scan")
  # The same page as an iPhone's HEIC photo, read by the image's pi-heif (decode only):
  # encoded here with pillow-heif from the repository's .venv; skipped without it.
  local heic_id=""
  if .venv/bin/python -c 'import pillow_heif' >/dev/null 2>&1; then
    .venv/bin/python -c 'import sys, pillow_heif; from PIL import Image
pillow_heif.from_pillow(Image.open(sys.argv[1]).convert("RGB")).save(sys.argv[2], quality=90)' \
      "$scan" "$WORK/scan/IMG_0001.HEIC"
    heic_id=$(upload "$WORK/scan/IMG_0001.HEIC")
  else
    log "  no HEIC photo: no .venv with pillow-heif"
  fi
  for i in "${!FILES[@]}"; do wait_document "${ids[$i]}" "${FILES[$i]}" 300; done
  wait_document "$scan_id" "scan.png (page 1 of pdflatex-4-pages.pdf)" 300
  [ -z "$heic_id" ] || wait_document "$heic_id" "IMG_0001.HEIC (the same page as a HEIC photo)" 300
  # The scan really went through Tesseract inside the image and gave its words back.
  api "/v1/documents/$scan_id" >"$WORK/scan.json"
  api "/v1/documents/$scan_id/content" >"$WORK/scan-content.json"
  python3 - "$WORK/scan.json" "$WORK/scan-content.json" <<'EOF' || die "the scan was not OCRd"
import json, sys
ocr = json.load(open(sys.argv[1]))["stages"]["ocr"]
assert ocr["status"] == "succeeded", ocr
text = " ".join(page["text"] for page in json.load(open(sys.argv[2]))["pages"])
assert len(text.split()) > 50, text
print(f"scan.png: OCR gave {len(text.split())} words")
EOF
}

stage_status() {  # stage_status ID STAGE
  api "/v1/documents/$1" | python3 -c "import json, sys; print(json.load(sys.stdin)['stages']['$2']['status'])"
}

# SIGKILL the whole content worker container (main process and pool child, no warm
# shutdown) while it parses a 619-page PDF, start it again, and check the document
# succeeds with the content stage run twice, every page stored once, AI run once.
kill_worker_mid_stage() {
  local corpus id
  corpus=$(corpus_dir)
  id=$(upload "$corpus/pdf/DA-619p.pdf")
  local deadline=$((SECONDS + 180))
  until [ "$(stage_status "$id" content)" = running ]; do
    [ "$SECONDS" -lt "$deadline" ] || die "the content stage never started"
    sleep 0.05  # the stage lasts 2-10 s here: poll fast enough to kill it midway
  done
  podman kill -s KILL "$RUN_ID-worker-content" >/dev/null
  log "  SIGKILLed the content worker in the middle of the content stage"
  podman wait "$RUN_ID-worker-content" >/dev/null 2>&1 || true
  podman start "$RUN_ID-worker-content" >/dev/null
  wait_document "$id" "DA-619p.pdf (after the kill)" 300
  api "/v1/documents/$id" >"$WORK/doc.json"
  api "/v1/documents/$id/content" >"$WORK/content.json"
  python3 - "$WORK/doc.json" "$WORK/content.json" <<'EOF' || die "the killed document was not processed exactly once"
import json, sys
doc = json.load(open(sys.argv[1]))
content = json.load(open(sys.argv[2]))
stages = doc["stages"]
assert stages["content"]["attempts"] == 2, stages["content"]
assert stages["ai"]["attempts"] == 1, stages["ai"]
numbers = [page["number"] for page in content["pages"]]
assert numbers == list(range(1, 620)), (len(numbers), len(set(numbers)))
chunks = [(c.get("page_start"), c.get("page_end"), c.get("text")) for c in content["chunks"]]
assert chunks and len(chunks) == len(set(chunks)), "duplicate chunks"
print(f"content attempts 2 (the second took {stages['content']['duration_ms']} ms), ai attempts 1, "
      f"619 pages once each, {len(chunks)} distinct chunks")
EOF
}

# The S3 blob store from inside the image, against a real S3 server (moto's, from the
# repository's test virtualenv, on a free port): the Dockerfile keeps botocore's models
# for s3 and the credential services only, so this proves what is left is enough for a
# round trip through aegis's own store (check, upload, commit, read back, list, delete).
# Skipped, with a line saying so, when no virtualenv with moto is there.
S3_PID=""
s3_round_trip() {
  local python=.venv/bin/python port bucket
  if ! "$python" -c 'import moto.server, boto3' >/dev/null 2>&1; then
    log "  skipped: no .venv with moto (pip install -e '.[test]')"
    return
  fi
  port=$(free_port)
  bucket="aegis-check-$RANDOM$RANDOM"
  "$python" -c "
import sys, time
from moto.server import ThreadedMotoServer
ThreadedMotoServer(ip_address='127.0.0.1', port=$port, verbose=False).start()
print('up', flush=True)
time.sleep(3600)
" >"$WORK/moto.log" 2>&1 &
  S3_PID=$!
  wait_until 60 "the S3 server" grep -qx up "$WORK/moto.log"
  local credentials=(-e AWS_ACCESS_KEY_ID=check -e AWS_SECRET_ACCESS_KEY=check-secret
    -e AWS_DEFAULT_REGION=us-east-1 -e AWS_SHARED_CREDENTIALS_FILE=/dev/null -e AWS_CONFIG_FILE=/dev/null
    -e AWS_EC2_METADATA_DISABLED=true)
  podman run --rm --network host --read-only --tmpfs /tmp --cap-drop ALL --security-opt no-new-privileges \
    --user 10001:10001 "${credentials[@]}" -e "AEGIS_STORAGE_URL=s3://$bucket/blobs" \
    -e "AEGIS_S3_ENDPOINT_URL=http://127.0.0.1:$port" -e AEGIS_S3_ADDRESSING_STYLE=path "$IMAGE" python -c '
import hashlib
from aegis.config import load_settings
from aegis.persistence.storage import open_store
store = open_store(load_settings())
store.client.create_bucket(Bucket=store.bucket)
store.check()
data = b"aegis check-image " * 4096
incoming = store.incoming()
incoming.write(data)
store.commit(incoming, "tenant")
sha = hashlib.sha256(data).hexdigest()
assert store.exists("tenant", sha)
with store.open("tenant", sha) as blob:
    assert blob.read() == data
assert list(store.iter_blobs()) == [("tenant", sha)], list(store.iter_blobs())
store.delete("tenant", sha)
assert not store.exists("tenant", sha)
store.client.delete_bucket(Bucket=store.bucket)
print(f"S3 round trip through {store.location}: put, commit, read, list, delete")
' || die "the S3 blob store does not work in the image"
  kill "$S3_PID" 2>/dev/null
  wait "$S3_PID" 2>/dev/null || true
  S3_PID=""
}

main() {
  step "install podman" install_podman
  step "base image" build_base
  step "image build" build_image
  [ "${1:-}" != build ] || return 0
  step "database, Redis db, volume" prepare_services
  step "migrations" migrate
  step "gateway" start_gateway
  step "workers and beat" start_workers
  step "tenant" create_tenant
  step "uploads of $((${#FILES[@]} + 1)) files and a HEIC photo" upload_formats
  step "worker SIGKILLed mid-stage" kill_worker_mid_stage
  step "S3 blob store" s3_round_trip
}

main "$@"
