#!/usr/bin/env bash
# Prepares what spillway's Docker runtime and tests need on a Debian 12 host
# where no container registry is reachable:
#   1. Debian's docker.io and debootstrap (installed when missing),
#   2. a running dockerd (no bridge, no iptables: containers use host networking),
#   3. a local image holding Debian's haproxy and nginx, built with debootstrap
#      and `docker import`, because nothing can be pulled.
# Idempotent: every step is skipped when its result is already there.
#
# Environment:
#   SPILLWAY_DOCKER_IMAGE   image name (default spillway/proxies:bookworm)
#   SPILLWAY_CACHE_DIR      where downloaded packages and the root filesystem
#                           tarball are kept (default /var/cache/spillway)
#   SPILLWAY_DOCKERD_LOG    dockerd's log file (default /var/log/spillway-dockerd.log)
set -euo pipefail

IMAGE="${SPILLWAY_DOCKER_IMAGE:-spillway/proxies:bookworm}"
SUITE="bookworm"
INCLUDE="haproxy,nginx-light"
CACHE_DIR="${SPILLWAY_CACHE_DIR:-/var/cache/spillway}"
DOCKERD_LOG="${SPILLWAY_DOCKERD_LOG:-/var/log/spillway-dockerd.log}"
DOCKERD_FLAGS=(--storage-driver=vfs --bridge=none --iptables=false --ip-masq=false)
DOCKERD_WAIT_SECONDS=60

started_at=$(date +%s)
say() { printf 'docker-setup: %s\n' "$*"; }
die() { printf 'docker-setup: error: %s\n' "$*" >&2; exit 1; }
elapsed() { echo "$(( $(date +%s) - started_at ))s"; }

need_root() {
  [ "$(id -u)" -eq 0 ] || die "$1 needs root; run this script as root (sudo bash .ci/docker-setup.sh)"
}

# --- 1. packages -------------------------------------------------------------
install_packages() {
  local missing=()
  command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
  command -v docker >/dev/null 2>&1 || missing+=(docker.io)
  command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
  if [ "${#missing[@]}" -eq 0 ]; then
    say "docker.io and debootstrap already installed"
    return
  fi
  need_root "installing ${missing[*]}"
  local pkgs
  pkgs=$(printf '%s\n' "${missing[@]}" | sort -u | paste -sd' ')
  export DEBIAN_FRONTEND=noninteractive
  if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
    say "apt-get update (no package lists yet)"
    apt-get update -qq
  fi
  say "installing ${pkgs}"
  # With recommends: docker.io's (apparmor, cgroupfs-mount) and debootstrap's
  # (debian-archive-keyring, to check the mirror's signature) are what made it
  # work on this kind of machine. NEEDRESTART_SUSPEND keeps needrestart quiet.
  export NEEDRESTART_SUSPEND=1
  # shellcheck disable=SC2086
  if ! apt-get install -y -qq $pkgs >/dev/null; then
    say "install failed with the current package lists; apt-get update and retry"
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq $pkgs >/dev/null
  fi
}

# --- 2. engine ---------------------------------------------------------------
engine_answers() { docker info >/dev/null 2>&1; }

start_dockerd() {
  if engine_answers; then
    say "docker engine already answering ($(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?'))"
    return
  fi
  need_root "starting dockerd"
  if [ ! -e /sys/fs/cgroup/cgroup.controllers ] && [ ! -d /sys/fs/cgroup/memory ] && command -v cgroupfs-mount >/dev/null 2>&1; then
    say "no cgroup hierarchy mounted; running cgroupfs-mount"
    cgroupfs-mount
  fi
  mkdir -p "$(dirname "$DOCKERD_LOG")"
  say "starting dockerd ${DOCKERD_FLAGS[*]} (log: ${DOCKERD_LOG})"
  # setsid: dockerd must outlive this script and not get its terminal's signals.
  setsid dockerd "${DOCKERD_FLAGS[@]}" >>"$DOCKERD_LOG" 2>&1 </dev/null &
  local pid=$!
  local deadline=$(( $(date +%s) + DOCKERD_WAIT_SECONDS ))
  until engine_answers; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 25 "$DOCKERD_LOG" >&2 || true
      die "dockerd exited before answering; its log is above"
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      kill "$pid" 2>/dev/null || true
      tail -n 25 "$DOCKERD_LOG" >&2 || true
      die "dockerd did not answer 'docker info' within ${DOCKERD_WAIT_SECONDS}s and was stopped; its log is above"
    fi
    sleep 0.5
  done
  say "dockerd up, pid $(cat /var/run/docker.pid 2>/dev/null || echo "$pid"), engine $(docker version --format '{{.Server.Version}}')"
}

# --- 3. image ----------------------------------------------------------------
# Prints the first Debian mirror that apt is configured with for suite $1, read
# from the one-line (.list) and deb822 (.sources) formats. Files apt ignores
# (any other extension) are ignored here too.
find_mirror() {
  local suite="$1" f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    awk -v suite="$suite" '
      $1 == "deb" {
        i = 2
        if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
        if ($(i + 1) == suite) { print $i; exit }
      }' "$f"
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk -v suite="$suite" '
      function flush() {
        if (types ~ /(^| )deb( |$)/ && enabled != "no" && (" " suites " ") ~ (" " suite " ") && uris != "") {
          split(uris, u, " "); print u[1]; found = 1
        }
        types = ""; suites = ""; uris = ""; enabled = ""
      }
      /^[ \t]*#/ { next }
      /^[ \t]*$/ { flush(); if (found) exit; next }
      { key = tolower($1); sub(/:$/, "", key); $1 = ""; sub(/^ +/, "")
        if (key == "types") types = $0
        else if (key == "suites") suites = $0
        else if (key == "uris") uris = $0
        else if (key == "enabled") enabled = tolower($0) }
      END { if (!found) flush() }' "$f"
  done
}

# debootstrap only knows one suite; the host's haproxy and nginx come from
# ${SUITE}-security, so the image takes the same fixes (and versions) from there.
upgrade_from_security() {
  local root="$1" log="$2" mirror="$3" security
  security=$(find_mirror "${SUITE}-security" | head -n 1)
  if [ -z "$security" ]; then
    say "no ${SUITE}-security source in apt's configuration; the image keeps ${SUITE}'s versions"
    return
  fi
  say "applying ${SUITE}-security updates"
  local list="$root/etc/apt/sources.list.d/spillway-build.list"
  printf 'deb %s %s main\ndeb %s %s-security main\n' "$mirror" "$SUITE" "$security" "$SUITE" >"$list"
  # Package scripts must not start services: the chroot shares the host's network.
  printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
  chmod 755 "$root/usr/sbin/policy-rc.d"
  if ! { DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get update -qq &&
         DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get upgrade -y -qq \
           -o Dpkg::Options::=--force-confold; } >>"$log" 2>&1; then
    tail -n 20 "$log" | sed -e "s#${mirror}#<mirror>#g" -e "s#${security}#<mirror>#g" >&2
    die "upgrading the image from ${SUITE}-security failed (log: ${log})"
  fi
  rm -f "$list" "$root/usr/sbin/policy-rc.d"
}

build_image() {
  if docker image inspect "$IMAGE" >/dev/null 2>&1; then
    say "image ${IMAGE} already present"
    return
  fi
  need_root "building ${IMAGE} with debootstrap"
  local arch
  arch=$(dpkg --print-architecture)
  local key="${SUITE}-minbase-${INCLUDE//,/-}-${arch}"
  local debs="${CACHE_DIR}/debootstrap-${key}.tgz"
  local rootfs_tar="${CACHE_DIR}/rootfs-${key}.tar"
  mkdir -p "$CACHE_DIR"

  if [ ! -s "$rootfs_tar" ]; then
    local mirror
    mirror=$(find_mirror "$SUITE" | head -n 1)
    [ -n "$mirror" ] || die "no apt source for '${SUITE}' found in /etc/apt/sources.list or /etc/apt/sources.list.d/; add one so debootstrap has a mirror"
    local work
    work=$(mktemp -d /var/tmp/spillway-rootfs.XXXXXX)
    # shellcheck disable=SC2064
    trap "rm -rf '${work}'" EXIT
    local log="${CACHE_DIR}/debootstrap.log"
    : >"$log"
    if [ ! -s "$debs" ]; then
      say "downloading ${SUITE} minbase + ${INCLUDE} packages (mirror from apt sources) into ${debs}"
      if ! debootstrap --variant=minbase --include="$INCLUDE" --make-tarball="${debs}.part" \
          "$SUITE" "$work/dl" "$mirror" >>"$log" 2>&1; then
        tail -n 20 "$log" | sed "s#${mirror}#<mirror>#g" >&2
        die "debootstrap could not download the packages (log: ${log})"
      fi
      mv "${debs}.part" "$debs"
    else
      say "using cached packages ${debs}"
    fi
    say "bootstrapping root filesystem"
    if ! debootstrap --variant=minbase --include="$INCLUDE" --unpack-tarball="$debs" \
        "$SUITE" "$work/root" "$mirror" >>"$log" 2>&1; then
      tail -n 20 "$log" | sed "s#${mirror}#<mirror>#g" >&2
      die "debootstrap failed (log: ${log})"
    fi
    upgrade_from_security "$work/root" "$log" "$mirror"
    # What the image never needs: package caches and indexes, docs, message
    # translations. With the vfs storage driver every container creation copies
    # the whole image, so each megabyte here is paid on every start.
    rm -rf "$work/root/var/cache/apt/"*.bin "$work/root/var/cache/apt/archives/"*.deb \
      "$work/root/var/lib/apt/lists/"* "$work/root/usr/share/doc/"* "$work/root/usr/share/man/"* \
      "$work/root/usr/share/info/"* "$work/root/usr/share/locale/"* "$work/root/usr/share/lintian/"*
    # Host-specific files debootstrap copied in; Docker mounts its own at run time.
    : >"$work/root/etc/apt/sources.list"
    : >"$work/root/etc/resolv.conf"
    : >"$work/root/etc/hostname"
    say "packing root filesystem into ${rootfs_tar}"
    tar --numeric-owner -C "$work/root" -cf "${rootfs_tar}.part" .
    mv "${rootfs_tar}.part" "$rootfs_tar"
    rm -rf "$work"
    trap - EXIT
  else
    say "using cached root filesystem ${rootfs_tar}"
  fi

  # Versions go into labels so reports can name them without starting a container.
  local versions_dir
  versions_dir=$(mktemp -d)
  tar -C "$versions_dir" -xf "$rootfs_tar" ./var/lib/dpkg/status
  local haproxy_v nginx_v
  haproxy_v=$(dpkg-query --admindir="$versions_dir/var/lib/dpkg" -W -f '${Version}' haproxy)
  nginx_v=$(dpkg-query --admindir="$versions_dir/var/lib/dpkg" -W -f '${Version}' nginx-light)
  rm -rf "$versions_dir"

  say "importing ${IMAGE} (haproxy ${haproxy_v}, nginx-light ${nginx_v})"
  docker import \
    --change 'CMD ["/bin/bash"]' \
    --change "LABEL org.opencontainers.image.title=spillway-proxies" \
    --change "LABEL spillway.haproxy.version=${haproxy_v}" \
    --change "LABEL spillway.nginx.version=${nginx_v}" \
    "$rootfs_tar" "$IMAGE" >/dev/null
  say "image ${IMAGE} built: $(docker image inspect "$IMAGE" --format '{{.Id}} {{.Size}} bytes')"
}

install_packages
start_dockerd
build_image
say "done in $(elapsed)"
