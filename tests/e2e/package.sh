#!/usr/bin/env bash
# End to end: the Debian package made by `cpack -G DEB` (install/packaging/CPack.cmake) is
# installed with the real dpkg on this machine, run, upgraded over, removed and purged.
#
# Needs root (dpkg -i) and a machine where Portcullis is not installed: it refuses to start
# when the package, the user `portcullis` or the package's directories already exist, and it
# purges the package on every exit. The packages are built in their own build directory:
# $PORTCULLIS_PACKAGE_BUILD_DIR, else package-e2e/ next to the binary under test (a build
# tree of its own, kept between runs so that a rerun only repackages), else a temp dir.
source "$(dirname "$0")/lib.sh"
# shellcheck source=../env/kube.sh
source "$ROOT/tests/env/kube.sh"  # kube_free_port only

fatal() { echo "FATAL: $*"; exit 1; }

((EUID == 0)) || fatal "the package suite installs a .deb with dpkg and must run as root"
for tool in dpkg dpkg-deb dpkg-query dpkg-shlibdeps cpack cmake ninja curl setpriv; do
  command -v "$tool" >/dev/null || fatal "'$tool' is missing (install/deps.sh installs it)"
done
k_dirs=(/etc/portcullis /var/lib/portcullisd /var/log/portcullisd /var/lib/portcullis)
k_unit=/usr/lib/systemd/system/portcullisd.service
dpkg-query -W -f='${db:Status-Status}' portcullis 2>/dev/null | grep -qv not-installed &&
  fatal "the package portcullis is already on this machine ($(dpkg-query -W -f='${Version} ${db:Status-Abbrev}' portcullis)); the suite would purge it"
getent passwd portcullis >/dev/null && fatal "a user 'portcullis' exists; the suite would delete it on purge"
getent group portcullis >/dev/null && fatal "a group 'portcullis' exists; the suite would delete it on purge"
for d in "${k_dirs[@]}" /usr/bin/portcullis /usr/bin/portcullis-hook /usr/bin/portcullisd "$k_unit"; do
  [[ ! -e $d ]] || fatal "$d exists; the suite would remove it on purge"
done

# dpkg_run ARGS...: dpkg, waiting up to 120 s while another dpkg or apt holds its lock; sets
# OUT and STATUS. Never prompts: stdin is /dev/null, so a conffile question is an error.
dpkg_run() {
  local deadline=$((SECONDS + 120))
  while :; do
    OUT=$(DEBIAN_FRONTEND=noninteractive dpkg "$@" </dev/null 2>&1)
    STATUS=$?
    ((STATUS != 0)) && grep -qi 'lock.*\(locked\|another process\)' <<<"$OUT" && ((SECONDS < deadline)) || return 0
    sleep 0.5
  done
}

DAEMON_PID=""
TOUCHED_DPKG=0
suite_teardown() {
  if [[ -n $DAEMON_PID ]]; then
    kill -9 "$DAEMON_PID" 2>/dev/null
    wait "$DAEMON_PID" 2>/dev/null
    DAEMON_PID=""
  fi
  if ((TOUCHED_DPKG)); then
    if dpkg-query -W -f='${db:Status-Status}' portcullis 2>/dev/null | grep -qv not-installed; then
      dpkg_run --purge portcullis
      ((STATUS == 0)) || echo "teardown: dpkg --purge portcullis failed: $OUT"
    fi
    # Whatever a broken postrm left behind (the preconditions proved none of it was there).
    getent passwd portcullis >/dev/null && userdel portcullis
    getent group portcullis >/dev/null && groupdel portcullis
    rm -rf "${k_dirs[@]}"
    TOUCHED_DPKG=0
  fi
}
trap suite_teardown EXIT

# --- the two packages: the project's version, and the same with a bumped version -----------
REUSE_BUILD=0
if [[ -n ${PORTCULLIS_PACKAGE_BUILD_DIR:-} ]]; then
  PKG_BUILD=$PORTCULLIS_PACKAGE_BUILD_DIR
elif [[ -n ${PORTCULLIS_BUILD_BIN:-} && -f $(dirname "$PORTCULLIS_BUILD_BIN")/../CPackConfig.cmake ]]; then
  # The build of the binaries under test: package it as it is (no second build; CI's budget).
  PKG_BUILD=$(cd "$(dirname "$PORTCULLIS_BUILD_BIN")/.." && pwd)
  REUSE_BUILD=1
elif [[ -n ${PORTCULLIS_BUILD_BIN:-} ]]; then
  PKG_BUILD=$(cd "$(dirname "$PORTCULLIS_BUILD_BIN")/.." && pwd)/package-e2e
else
  PKG_BUILD=$SUITE_TMP/build
fi
VERSION=$(sed -n 's/^project(portcullis VERSION \([0-9.]*\).*/\1/p' "$ROOT/CMakeLists.txt")
[[ -n $VERSION ]] || fatal "cannot read the project version from CMakeLists.txt"
k_suffix=+e2e2

# build_package SUFFIX OUTDIR: configures, builds and packages; prints the .deb's path.
build_package() {
  local suffix=$1 out=$2 log=$SUITE_TMP/build-package${1:-}.log
  mkdir -p "$out"
  if ((REUSE_BUILD)); then
    { ninja -C "$PKG_BUILD" portcullis portcullis-hook portcullisd && (cd "$PKG_BUILD" && cpack -G DEB -B "$out" -R "$VERSION$suffix"); } \
      >"$log" 2>&1 || { tail -n 30 "$log" >&2; return 1; }
  else {
    cmake -S "$ROOT" -B "$PKG_BUILD" -G Ninja -DPORTCULLIS_TESTS=OFF \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPORTCULLIS_PACKAGE_VERSION_SUFFIX="$suffix" &&
      ninja -C "$PKG_BUILD" &&
      (cd "$PKG_BUILD" && cpack -G DEB -B "$out")
  } >"$log" 2>&1 || { tail -n 30 "$log" >&2; return 1; }
  fi
  local debs=("$out"/portcullis_*.deb)
  [[ ${#debs[@]} -eq 1 && -f ${debs[0]} ]] || { echo "cpack made no single .deb in $out: $(ls "$out")" >&2; return 1; }
  echo "${debs[0]}"
}
echo "  building the packages in $PKG_BUILD"
DEB1=$(build_package "" "$SUITE_TMP/deb1") || fatal "cannot build the package"
DEB2=$(build_package "$k_suffix" "$SUITE_TMP/deb2") || fatal "cannot build the upgrade package"

# --- helpers ---------------------------------------------------------------------------------
expect_file() { [[ -f $1 ]] || fail "$1 is missing"; }
expect_absent() { [[ ! -e $1 ]] || fail "$1 is still there"; }
expect_owner_mode() {  # expect_owner_mode PATH USER:GROUP MODE
  local got
  got=$(stat -c '%U:%G %a' "$1" 2>/dev/null) || { fail "$1 is missing"; return; }
  [[ $got == "$2 $3" ]] || fail "$1 is $got, expected $2 $3"
}
package_status() { dpkg-query -W -f='${db:Status-Abbrev}${Version}' portcullis 2>/dev/null; }

# --- tests, in order: each phase starts where the previous one left the machine ---------------

test_1_the_package_has_its_files_computed_depends_and_conffiles() {
  local field
  field=$(dpkg-deb -f "$DEB1" Version)
  [[ $field == "$VERSION-1" ]] || fail "version is $field, expected $VERSION-1"
  field=$(dpkg-deb -f "$DEB2" Version)
  [[ $field == "$VERSION$k_suffix-1" ]] || fail "upgrade version is $field, expected $VERSION$k_suffix-1"
  dpkg --compare-versions "$(dpkg-deb -f "$DEB2" Version)" gt "$(dpkg-deb -f "$DEB1" Version)" ||
    fail "the upgrade package's version does not sort after the first"
  field=$(dpkg-deb -f "$DEB1" Depends)
  # dpkg-shlibdeps: the libraries the binaries link, with versions; adduser for postinst.
  local dep
  for dep in adduser "libc6 (>= " "libgit2-1.5" "libssl3" "libyaml-0-2" "libstdc++6"; do
    grep -qF -- "$dep" <<<"$field" || fail "Depends lacks $dep: $field"
  done
  run dpkg-deb -c "$DEB1"
  local f
  for f in ./usr/bin/portcullis ./usr/bin/portcullis-hook ./usr/bin/portcullisd ./etc/portcullis/server.yaml ./etc/portcullis/daemon.yaml \
    ./usr/lib/systemd/system/portcullisd.service ./usr/share/portcullis/schemas/daemon.schema.json \
    ./usr/share/portcullis/schemas/server-config.schema.json ./usr/share/portcullis/schemas/policy.schema.json \
    ./usr/share/portcullis/kubernetes/portcullisd-rbac.yaml ./usr/share/portcullis/kubernetes/rbac-for-kinds.sh; do
    grep -qE " $f\$" <<<"$OUT" || fail "the package lacks $f"
  done
  grep -qE ' \./usr/local/| \./(home|tmp|work)/' <<<"$OUT" && fail "the package holds files outside /usr and /etc: $(grep -E ' \./(usr/local|home|tmp|work)/' <<<"$OUT")"
  grep -E ' \./usr/bin/portcullis$' <<<"$OUT" | grep -q '^-rwxr-xr-x root/root' || fail "portcullis is not root-owned 0755"
  local ctrl=$SUITE_TMP/$CURRENT_TEST/control
  dpkg-deb -e "$DEB1" "$ctrl"
  [[ $(sort "$ctrl/conffiles") == $'/etc/portcullis/daemon.yaml\n/etc/portcullis/server.yaml' ]] ||
    fail "conffiles is: $(cat "$ctrl/conffiles")"
  for f in postinst prerm postrm; do
    [[ -x $ctrl/$f ]] || fail "$f is not an executable maintainer script"
    sh -n "$ctrl/$f" || fail "$f is not valid sh"
  done
  # Stripped: no debug sections in the shipped binaries.
  local x=$SUITE_TMP/$CURRENT_TEST/x
  dpkg-deb -x "$DEB1" "$x"
  if command -v readelf >/dev/null; then
    readelf -S "$x/usr/bin/portcullisd" | grep -q '\.debug_info' && fail "portcullisd is not stripped"
  fi
}

test_2_install_creates_the_user_and_dirs_and_a_disabled_hardened_unit() {
  TOUCHED_DPKG=1
  dpkg_run -i "$DEB1"
  expect_status 0
  [[ $(package_status) == "ii $VERSION-1" ]] || fail "dpkg-query says: $(package_status)"
  local f
  for f in /usr/bin/portcullis /usr/bin/portcullis-hook /usr/bin/portcullisd /etc/portcullis/server.yaml /etc/portcullis/daemon.yaml "$k_unit" \
    /usr/share/portcullis/schemas/{daemon,server-config,policy}.schema.json; do
    expect_file "$f"
  done
  # The system user: a system uid, no login, home in its state directory; its own group.
  local entry uid shell home
  entry=$(getent passwd portcullis) || { fail "no user portcullis"; return; }
  IFS=: read -r _ _ uid _ _ home shell <<<"$entry"
  ((uid < 1000)) || fail "portcullis has uid $uid, not a system uid"
  [[ $shell == /usr/sbin/nologin ]] || fail "portcullis has shell $shell"
  [[ $home == /var/lib/portcullisd ]] || fail "portcullis has home $home"
  getent group portcullis >/dev/null || fail "no group portcullis"
  [[ $(id -gn portcullis) == portcullis ]] || fail "portcullis' primary group is $(id -gn portcullis)"
  expect_owner_mode /var/lib/portcullisd portcullis:portcullis 750
  expect_owner_mode /var/log/portcullisd portcullis:portcullis 750
  expect_owner_mode /var/lib/portcullis root:root 755
  expect_owner_mode /etc/portcullis/daemon.yaml root:root 644
  # Installed disabled: nothing wants it, nothing started it.
  compgen -G "/etc/systemd/system/*.wants/portcullisd.service" >/dev/null && fail "the unit was enabled by the package"
  # The hardening the unit promises.
  local d
  for d in User=portcullis Group=portcullis NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes PrivateTmp=yes \
    PrivateDevices=yes StateDirectory=portcullisd LogsDirectory=portcullisd 'CapabilityBoundingSet=' \
    'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX' SystemCallFilter=@system-service \
    MemoryDenyWriteExecute=yes RestrictSUIDSGID=yes ProtectKernelTunables=yes ProtectControlGroups=yes \
    'ConditionPathExists=/etc/portcullis/daemon.yaml' 'ExecStart=/usr/bin/portcullisd --config /etc/portcullis/daemon.yaml'; do
    grep -qxF -- "$d" "$k_unit" || fail "the unit lacks $d"
  done
  if command -v systemd-analyze >/dev/null; then
    run systemd-analyze verify "$k_unit"
    expect_status 0
    [[ -z $OUT ]] || fail "systemd-analyze verify complains: $OUT"
    # The offline security review: exposure 0 (best) .. 10; under 2 is "OK" in its words.
    run systemd-analyze security --offline=yes --no-pager "$k_unit"
    local exposure
    exposure=$(sed -n 's/.*Overall exposure level for portcullisd.service: \([0-9.]*\).*/\1/p' <<<"$OUT")
    [[ -n $exposure ]] || fail "no exposure level from systemd-analyze security: $OUT"
    awk -v e="${exposure:-99}" 'BEGIN { exit !(e < 2.0) }' || fail "exposure level $exposure is not under 2.0:"$'\n'"$(grep -E '^✗' <<<"$OUT")"
    echo "    systemd-analyze security: exposure $exposure"
  else
    echo "    note: no systemd-analyze on this machine: the unit was not verified (install/deps.sh installs systemd)"
  fi
  run /usr/bin/portcullisd --help
  expect_status 0
  expect_output "Usage: portcullisd"
  run /usr/bin/portcullisd --version
  expect_output "portcullisd $VERSION"
  run portcullis version
  expect_status 0
  expect_output "portcullis $VERSION"
  [[ $(command -v portcullis) == /usr/bin/portcullis ]] || fail "portcullis on PATH is $(command -v portcullis)"
  # The examples are valid: the daemon's loader (schemas/daemon.schema.json) and the hook's.
  run /usr/bin/portcullisd --config /etc/portcullis/daemon.yaml --check-config
  expect_status 0
  expect_output "is valid (1 targets)"
  local repo=$SUITE_TMP/$CURRENT_TEST/check.git
  git init -q --bare "$repo"
  run /usr/bin/portcullis install --repo "$repo" --config /etc/portcullis/server.yaml
  expect_status 0
}

test_3_the_installed_gate_and_daemon_run_for_real() {
  [[ -x /usr/bin/portcullis ]] || { fail "the package is not installed"; return; }
  # The gate, installed with the example config, fails closed until the schema store exists.
  local dir=$SUITE_TMP/$CURRENT_TEST
  local server=$dir/server.git
  git init -q --bare "$server"
  run /usr/bin/portcullis install --repo "$server" --config /etc/portcullis/server.yaml
  expect_status 0
  grep -q "'/usr/bin/portcullis-hook' hook pre-receive" "$server/hooks/pre-receive" ||
    fail "pre-receive does not run /usr/bin/portcullis-hook: $(cat "$server/hooks/pre-receive")"
  local clone
  clone=$(new_clone "$server")
  configmap settings | put "$clone" environments/smoke/settings.yaml
  commit "$clone"
  push "$clone" origin HEAD:main
  expect_rejected
  expect_output "the schema store cannot be used"
  sed '/^schemaStore:/d' /etc/portcullis/server.yaml >"$dir/server.yaml"
  run /usr/bin/portcullis install --repo "$server" --config "$dir/server.yaml"
  expect_status 0
  push "$clone" origin HEAD:main
  expect_accepted
  local rev
  rev=$(git -C "$server" rev-parse main)

  # The daemon as the user portcullis, with the package's state and log directories.
  chmod 755 "$SUITE_TMP" "$dir"
  chmod -R a+rX "$server"
  local port
  port=$(kube_free_port) || { fail "no free port"; return; }
  cat >"$dir/daemon.yaml" <<YAML
listen: 127.0.0.1:$port
stateDir: /var/lib/portcullisd
auditLog: /var/log/portcullisd/audit.jsonl
repository: {url: "file://$server", branch: main}
targets:
  - {name: smoke, path: environments/smoke, kubeconfig: $dir/no-cluster.kubeconfig}
YAML
  chmod 644 "$dir/daemon.yaml"
  # The repository belongs to another user (root, as the Git server's user would): the daemon,
  # as portcullis, reads it without any safe.directory setting.
  HOME=/var/lib/portcullisd setpriv --reuid=portcullis --regid=portcullis --init-groups \
    /usr/bin/portcullisd --config "$dir/daemon.yaml" >"$dir/daemon.log" 2>&1 &
  DAEMON_PID=$!
  poll_until 10 curl -fsS -o /dev/null "http://127.0.0.1:$port/healthz" 2>/dev/null ||
    fail "portcullisd did not answer /healthz: $(tail -5 "$dir/daemon.log")"
  # It fetched the pushed commit into its mirror (the cluster is unreachable on purpose).
  poll_until 20 bash -c "curl -fsS http://127.0.0.1:$port/v1/targets | grep -q '\"desiredRevision\":\"$rev\"'" ||
    fail "portcullisd did not fetch $rev: $(curl -sS "http://127.0.0.1:$port/v1/targets") $(tail -5 "$dir/daemon.log")"
  [[ -n $(find /var/lib/portcullisd -mindepth 1 -maxdepth 1) ]] || fail "nothing in /var/lib/portcullisd"
  [[ -z $(find /var/lib/portcullisd /var/log/portcullisd -mindepth 1 ! -user portcullis) ]] ||
    fail "files not owned by portcullis: $(find /var/lib/portcullisd /var/log/portcullisd -mindepth 1 ! -user portcullis | head -3)"
  expect_file /var/log/portcullisd/audit.jsonl
  kill -TERM "$DAEMON_PID"
  poll_until 10 bash -c "! kill -0 $DAEMON_PID 2>/dev/null" || fail "portcullisd did not stop on SIGTERM"
  wait "$DAEMON_PID"
  local rc=$?
  DAEMON_PID=""
  ((rc == 0)) || fail "portcullisd exited with $rc after SIGTERM"
}

test_4_upgrade_keeps_edited_conffiles_state_and_user() {
  [[ $(package_status) == "ii $VERSION-1" ]] || { fail "not at $VERSION-1 before the upgrade: $(package_status)"; return; }
  local uid marker=/var/lib/portcullisd/e2e-marker
  uid=$(id -u portcullis)
  sed -i 's/^pollInterval: .*/pollInterval: 30s/' /etc/portcullis/daemon.yaml
  printf '# edited by the package suite\n' >>/etc/portcullis/daemon.yaml
  cp /etc/portcullis/daemon.yaml "$SUITE_TMP/$CURRENT_TEST/daemon.yaml.edited"
  run /usr/bin/portcullisd --config /etc/portcullis/daemon.yaml --check-config
  expect_status 0
  install -o portcullis -g portcullis -m 0640 /dev/null "$marker"
  chmod 0700 /var/lib/portcullisd  # an administrator's change is kept
  # No --force-conf* option: a question about a conffile would fail on /dev/null.
  dpkg_run -i "$DEB2"
  expect_status 0
  [[ $(package_status) == "ii $VERSION$k_suffix-1" ]] || fail "dpkg-query says: $(package_status)"
  cmp -s /etc/portcullis/daemon.yaml "$SUITE_TMP/$CURRENT_TEST/daemon.yaml.edited" || fail "the edited daemon.yaml was replaced"
  local pristine=$SUITE_TMP/$CURRENT_TEST/pristine
  dpkg-deb -x "$DEB2" "$pristine"
  cmp -s /etc/portcullis/server.yaml "$pristine/etc/portcullis/server.yaml" || fail "server.yaml is not the package's"
  compgen -G "/etc/portcullis/*.dpkg-*" >/dev/null && fail "dpkg left $(ls /etc/portcullis/*.dpkg-*)"
  [[ $(id -u portcullis) == "$uid" ]] || fail "the user's uid changed from $uid to $(id -u portcullis)"
  expect_file "$marker"
  [[ -n $(find /var/lib/portcullisd -maxdepth 1 -name '*.git') ]] || fail "the daemon's mirror is gone"
  expect_owner_mode /var/lib/portcullisd portcullis:portcullis 700
  run /usr/bin/portcullisd --version
  expect_output "portcullisd $VERSION"
}

test_5_remove_keeps_conffiles_and_purge_removes_files_user_and_state() {
  dpkg_run -r portcullis
  expect_status 0
  [[ $(package_status) == rc* ]] || fail "after remove dpkg-query says: $(package_status)"
  expect_absent /usr/bin/portcullis
  expect_absent /usr/bin/portcullisd
  expect_absent "$k_unit"
  expect_absent /usr/share/portcullis
  expect_file /etc/portcullis/daemon.yaml
  getent passwd portcullis >/dev/null || fail "remove (not purge) deleted the user"
  [[ -d /var/lib/portcullisd ]] || fail "remove (not purge) deleted the state"
  dpkg_run --purge portcullis
  expect_status 0
  dpkg-query -W -f='${db:Status-Status}' portcullis 2>/dev/null | grep -qv not-installed &&
    fail "after purge dpkg-query says: $(package_status)"
  local d
  for d in "${k_dirs[@]}"; do expect_absent "$d"; done
  getent passwd portcullis >/dev/null && fail "purge left the user portcullis"
  getent group portcullis >/dev/null && fail "purge left the group portcullis"
}

run_suite "$@"
