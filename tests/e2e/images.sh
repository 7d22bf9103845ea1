#!/usr/bin/env bash
# End to end: image automation (issue 18). A real registry (Debian's docker-registry with TLS and
# htpasswd; tests/env/registry.sh), a real bare repository with Portcullis' hooks, portcullisd
# on a real kube-apiserver with images.enabled: a new tag in the registry becomes a signed bot
# commit in Git, which the gate judges like a person's push; dev takes it and the daemon
# applies it; prod is refused until staging has it and the soak has passed, then lands.
# Broken and hostile registries (a small fake one, tests/e2e/images/fake_registry.py), an edit
# a person made first, and a race with a person's push.
source "$(dirname "$0")/lib.sh"
# shellcheck source=daemon_lib.sh
source "$(dirname "$0")/daemon_lib.sh"
# shellcheck source=../env/registry.sh
source "$ROOT/tests/env/registry.sh"
command -v jq >/dev/null || { echo "FATAL: jq is missing (install/deps.sh installs it)"; exit 2; }

REG_DIR=$SUITE_TMP/registry
mkdir -p "$REG_DIR"
registry_start "$REG_DIR" || { echo "FATAL: the registry did not start"; exit 1; }
FAKE_PIDS=()
# run_suite calls suite_teardown before the suite's files go, and the registry's and the Git
# servers' pid files are among them: everything this suite started stops there (and again,
# harmlessly, in the EXIT trap when the suite ends early).
eval "$(declare -f suite_teardown | sed '1s/^suite_teardown/daemon_suite_teardown/')"
suite_teardown() {
  local p
  for p in "${FAKE_PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
  if declare -F ssh_git_stop >/dev/null; then
    ssh_git_stop "$SUITE_TMP/gitsrv"
    http_git_stop "$SUITE_TMP/gitsrv"
  fi
  registry_stop "$REG_DIR"
  daemon_suite_teardown
}
trap suite_teardown EXIT

# The bot's signing key, and the allowed-signers file that verifies its commits.
BOT_KEY=$SUITE_TMP/bot_ed25519
ssh-keygen -q -t ed25519 -N '' -C portcullis-bot -f "$BOT_KEY" || { echo "FATAL: ssh-keygen"; exit 1; }
printf 'bot@portcullis.example %s\n' "$(cut -d' ' -f1,2 "$BOT_KEY.pub")" >"$SUITE_TMP/allowed_signers"

APP=$REGISTRY_HOST/team/app
registry_push_image team/app 1.0.0 >/dev/null || { echo "FATAL: cannot push to the registry"; exit 1; }

# marked_deployment NAME IMAGE POLICY: a Deployment whose image carries the policy's marker.
marked_deployment() {
  deployment "$1" "$2" | sed "s|image: $2\$|image: $2 # {\"\$imagepolicy\": \"$3\"}|"
}

# images_policy SOAK [POLICIES]: .portcullis.yaml with dev, staging and prod (protected,
# promoted from staging with SOAK) and the image policies (default: app on dev, staging, prod).
images_policy() {
  local policies=${2:-"  - {name: app, image: $APP, environments: [dev, staging, prod], semver: {range: '>=1.0.0 <2'}}"}
  printf '%s\n' "environments:
  - {name: dev, path: environments/dev}
  - {name: staging, path: environments/staging}
  - name: prod
    path: environments/prod
    protected: true
    promotion: {from: staging, soak: $1}
images:
  policies:
$policies"
}

# setup_images SOAK [POLICIES] [REGISTRIES]: a server with dev/staging/prod at app 1.0.0 (pushed
# before the promotion rule), then the policy; a daemon (not started) syncing dev with image
# automation on, polling every second, pushing over file:// as portcullis-bot.
setup_images() {
  local registries=${3:-"    - {host: $REGISTRY_HOST, caFile: $REGISTRY_CA_FILE, credentialsFile: $REGISTRY_CREDENTIALS_FILE}"}
  POLL=1s DAEMON_EXTRA="images:
  enabled: true
  pollInterval: 1s
  registryUnavailableAfter: ${UNAVAILABLE_AFTER:-5m}
  registries:
$registries
  bot:
    name: portcullis-bot
    email: bot@portcullis.example
    signingKeyFile: $BOT_KEY
${ALERTS:-}" images_target
  local env
  for env in dev staging prod; do
    marked_deployment app "$APP:1.0.0" app | put "$CLONE" "environments/$env/app.yaml"
  done
  commit "$CLONE" "three environments at 1.0.0"
  push "$CLONE" origin HEAD:main
  expect_accepted
  images_policy "${SOAK:-1h}" "${2:-}" | put "$CLONE" .portcullis.yaml
  commit "$CLONE" "promotion and image policies"
  push "$CLONE" origin HEAD:main
  expect_accepted
}

# images_target: like setup_target dev (environments/dev), as a target and namespace of the
# test's own (the suite's daemons and inventories would otherwise meet).
images_target() {
  NS=img-$(tr -dc a-z0-9 </dev/urandom | head -c 8)
  TARGET=$NS  # the inventory is named after the target: one per test
  new_daemon "  - name: $TARGET
    path: environments/dev
    kubeconfig: $KDIR/kubeconfig-portcullisd
    namespace: $NS"
  put "$CLONE" environments/dev/namespace.yaml "$(printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n' "$NS")"
}

# stop_bot_daemon: the test's daemon goes (the next test's must not share the registry or Git).
stop_bot_daemon() { kill -9 "$DAEMON_PID" 2>/dev/null; }

start_bot_daemon() {
  REMOTE_USER=portcullis-bot start_daemon
}

# file_at ENV: environments/ENV/app.yaml on the server's main.
file_at() { git -C "$SERVER" show "main:environments/$1/app.yaml" 2>/dev/null; }
has_version() { file_at "$1" | grep -q "image: $APP:$2 "; }
image_field() { curl -fsS "$DAEMON_URL/v1/images" 2>/dev/null | jq -r "$1"; }
image_state() { image_field ".images[] | select(.policy == \"$1\" and .environment == \"$2\") | .state"; }
state_is() { [[ $(image_state "$1" "$2") == "$3" ]]; }
state_in() { local st; st=$(image_state "$1" "$2"); [[ " ${*:3} " == *" $st "* ]]; }
metrics_have() { local m; m=$(curl -fsS "$DAEMON_URL/metrics" 2>/dev/null); grep -qF -- "$1" <<<"$m"; }
live_is() { [[ $(live_image) == "$1" ]]; }
live_image() { kubectl get deployment app -n "$NS" -o jsonpath='{.spec.template.spec.containers[0].image}' 2>/dev/null; }

test_a_new_tag_reaches_dev_through_the_gate_and_prod_after_the_soak() {
  SOAK=25s setup_images
  start_bot_daemon
  wait_synced 60
  poll_until 20 state_is app dev UpToDate || fail "the watcher never saw dev up to date: $(curl -fsS "$DAEMON_URL/v1/images")"
  local before t0 t1
  before=$(git -C "$SERVER" rev-parse main)
  t0=$(date +%s%N)
  registry_push_image team/app 1.1.0 >/dev/null || fail "push of 1.1.0 to the registry"
  poll_until 20 has_version dev 1.1.0 || fail "no commit brought 1.1.0 to dev: $(curl -fsS "$DAEMON_URL/v1/images")"
  t1=$(date +%s%N)
  echo "    new tag -> commit in Git: $(((t1 - t0) / 1000000)) ms"
  # One commit per environment, by the bot, signed, naming image, versions and policy.
  local dev_commit
  dev_commit=$(git -C "$SERVER" log --format=%H -1 main -- environments/dev/app.yaml)
  [[ $(git -C "$SERVER" log -1 --format='%an <%ae>|%cn' "$dev_commit") == "portcullis-bot <bot@portcullis.example>|portcullis-bot" ]] ||
    fail "the commit is not the bot's: $(git -C "$SERVER" log -1 --format='%an <%ae>|%cn' "$dev_commit")"
  [[ $(git -C "$SERVER" diff --name-only "$dev_commit^" "$dev_commit") == environments/dev/app.yaml ]] ||
    fail "the dev commit touches more than dev: $(git -C "$SERVER" diff --name-only "$dev_commit^" "$dev_commit")"
  git -C "$SERVER" -c gpg.ssh.allowedSignersFile="$SUITE_TMP/allowed_signers" verify-commit "$dev_commit" >/dev/null 2>&1 ||
    fail "the bot's commit is not signed by its key"
  local msg
  msg=$(git -C "$SERVER" log -1 --format=%B "$dev_commit")
  grep -q "1.0.0" <<<"$msg" && grep -q "1.1.0" <<<"$msg" && grep -q "app" <<<"$msg" || fail "the message lacks image, versions or policy: $msg"
  # Only the image scalar changed; the marker stays.
  [[ $(git -C "$SERVER" diff "$dev_commit^" "$dev_commit" | grep -c '^[-+] ') == 2 ]] || fail "more than the image line changed"
  file_at dev | grep -qF "image: $APP:1.1.0 # {\"\$imagepolicy\": \"app\"}" || fail "the marker is gone: $(file_at dev)"
  # The daemon applies it.
  poll_until 30 live_is "$APP:1.1.0" || fail "the apiserver's Deployment has $(live_image)"
  # staging lands too; prod is refused by the gate (soak) and reported.
  poll_until 20 has_version staging 1.1.0 || fail "staging did not get 1.1.0"
  poll_until 20 state_is app prod Rejected || fail "prod not reported Rejected: $(curl -fsS "$DAEMON_URL/v1/images")"
  image_field '.images[] | select(.environment == "prod") | .reason' | grep -q "promotion.soak" ||
    fail "the gate's reason is not reported: $(image_field '.images[] | select(.environment == "prod") | .reason')"
  has_version prod 1.0.0 || fail "prod changed before the soak"
  run "$PORTCULLIS" status --daemon "$DAEMON_URL"
  grep -qE '^app +prod +Rejected +1\.1\.0 .*refs/heads/main' <<<"$OUT" || fail "portcullis status lacks the rejected update: $OUT"
  metrics_have 'portcullis_image_updates_total{policy="app",environment="prod",result="rejected"}' ||
    fail "no rejected-update metric"
  # After the soak, a later poll lands it.
  poll_until 60 has_version prod 1.1.0 || fail "prod never got 1.1.0 after the soak: $(curl -fsS "$DAEMON_URL/v1/images")"
  [[ $(git -C "$SERVER" rev-list --count "$before..main") == 3 ]] ||
    fail "expected 3 bot commits, got $(git -C "$SERVER" rev-list --count "$before..main")"
  # Nothing more to do: no empty commits on later polls.
  local tip
  tip=$(git -C "$SERVER" rev-parse main)
  poll_until 10 state_is app prod UpToDate || fail "prod not UpToDate after landing"
  [[ $(git -C "$SERVER" rev-parse main) == "$tip" ]] || fail "the bot committed again with nothing to change"
  metrics_have 'portcullis_image_registry_up{registry="'"$REGISTRY_HOST"'"} 1' || fail "registry_up metric"
  stop_bot_daemon
}

test_wrong_credentials_and_an_untrusted_certificate_are_reported_not_fatal() {
  local bad=$SUITE_TMP/$CURRENT_TEST/bad.credentials
  mkdir -p "$(dirname "$bad")"
  printf '%s:wrong-password\n' "$REGISTRY_USERNAME" >"$bad"
  chmod 600 "$bad"
  setup_images 1h "" "    - {host: $REGISTRY_HOST, caFile: $REGISTRY_CA_FILE, credentialsFile: $bad}"
  start_bot_daemon
  wait_synced 60
  poll_until 20 state_is app dev RegistryUnavailable || fail "wrong credentials not reported: $(curl -fsS "$DAEMON_URL/v1/images")"
  image_field '.images[0].reason' | grep -q "refused the configured credentials" || fail "reason: $(image_field '.images[0].reason')"
  grep -q wrong-password "$DAEMON_LOG" && fail "the password reached the log"
  curl -fsS "$DAEMON_URL/v1/images" | grep -q wrong-password && fail "the password reached the status"
  # The file is rotated: the next poll reads it again, no restart.
  cp "$REGISTRY_CREDENTIALS_FILE" "$bad.new" && mv -f "$bad.new" "$bad"
  touch -d '+1 second' "$bad"
  poll_until 20 state_in app dev UpToDate Committed || fail "rotated credentials not used: $(image_field '.images[0].reason')"
  # The system's CAs do not trust the test CA: TLS is verified by default.
  kill -9 "$DAEMON_PID"
  sed -i "s|caFile: $REGISTRY_CA_FILE, ||" "$DAEMON_CONFIG"
  start_bot_daemon
  poll_until 20 state_is app dev RegistryUnavailable || fail "an untrusted certificate was accepted"
  image_field '.images[0].reason' | grep -qi "certificate\|SSL" || fail "reason: $(image_field '.images[0].reason')"
  stop_bot_daemon
}

# A fake registry serving broken and hostile answers on plain http (loopback).
start_fake_registry() {
  command -v python3 >/dev/null || fail "python3 is missing (the fake registry needs it)"
  local dir=$SUITE_TMP/$CURRENT_TEST
  python3 "$E2E_DIR/images/fake_registry.py" "$dir/fake.port" >"$dir/fake.log" 2>&1 &
  FAKE_PIDS+=($!)
  disown $!
  poll_until 10 test -s "$dir/fake.port" || fail "the fake registry did not start: $(cat "$dir/fake.log")"
  FAKE_HOST=127.0.0.1:$(cat "$dir/fake.port")
  SLOW_HOST=localhost:$(cat "$dir/fake.port")
}

test_broken_and_hostile_registries_are_contained() {
  start_fake_registry
  start_receiver
  local policies="" r
  # slow on a host name of its own (localhost:PORT): a registry that times out is backed off
  # as a whole, and alerts; the others answer.
  for r in garbage huge endless hostile; do
    policies+="  - {name: $r, image: $FAKE_HOST/$r, environments: [dev], semver: {range: '*'}}"$'\n'
  done
  policies+="  - {name: slow, image: $SLOW_HOST/slow, environments: [dev], semver: {range: '*'}}"$'\n'
  UNAVAILABLE_AFTER=2s ALERTS="alerts:
  providers:
    - {name: hook, type: webhook, url: $RECEIVER_URL/alerts, events: [registryUnavailable]}" \
    setup_images 1h "${policies%$'\n'}" "    - {host: $FAKE_HOST, url: http://$FAKE_HOST, timeout: 2s, requestsPerSecond: 200}
    - {host: $SLOW_HOST, url: http://$SLOW_HOST, timeout: 2s}"
  for r in garbage huge endless hostile; do
    marked_deployment "$r" "$FAKE_HOST/$r:1.0.0" "$r" | put "$CLONE" "environments/dev/$r.yaml"
  done
  marked_deployment slow "$SLOW_HOST/slow:1.0.0" slow | put "$CLONE" environments/dev/slow.yaml
  commit "$CLONE" "deployments of the fake registry's images"
  push "$CLONE" origin HEAD:main
  expect_accepted
  start_bot_daemon
  wait_synced 60
  poll_until 30 state_in huge dev Committed UpToDate ||
    fail "huge: $(curl -fsS "$DAEMON_URL/v1/images" | jq -c '.images[] | select(.policy == "huge")')"
  git -C "$SERVER" show main:environments/dev/huge.yaml | grep -q "image: $FAKE_HOST/huge:1.0.9999 " || fail "10,000 tags: not the highest chosen"
  [[ $(image_field '.images[] | select(.policy == "huge") | .tagsSeen') == 10000 ]] || fail "huge: tagsSeen"
  poll_until 20 state_is hostile dev UpToDate || fail "hostile: $(curl -fsS "$DAEMON_URL/v1/images" | jq -c '.images[] | select(.policy == "hostile")')"
  git -C "$SERVER" show main:environments/dev/hostile.yaml | grep -q "image: $FAKE_HOST/hostile:1.2.0 " || fail "hostile: the valid tag was not chosen"
  [[ $(image_field '.images[] | select(.policy == "hostile") | .tagsRejected') == 3 ]] || fail "hostile: the bad names were not set aside"
  for r in garbage endless slow; do
    poll_until 30 state_is "$r" dev RegistryUnavailable || fail "$r: $(image_state "$r" dev)"
  done
  image_field '.images[] | select(.policy == "garbage") | .reason' | grep -q "not a tag list" || fail "garbage: reason"
  image_field '.images[] | select(.policy == "endless") | .reason' | grep -q "more than .* pages\|did not arrive\|deadline" ||
    fail "endless: $(image_field '.images[] | select(.policy == "endless") | .reason')"
  # The daemon stays healthy and keeps syncing while the registry misbehaves.
  curl -fsS --max-time 2 -o /dev/null "$DAEMON_URL/healthz" || fail "healthz does not answer"
  git -C "$CLONE" pull -q --rebase origin main 2>/dev/null
  configmap still-syncing | put "$CLONE" environments/dev/cm.yaml
  commit "$CLONE" "a person's change"
  push "$CLONE" origin HEAD:main
  expect_accepted
  wait_synced 30
  expect_received /alerts '.kind == "registryUnavailable"' "registryUnavailable alert"
  kill -0 "$DAEMON_PID" || fail "portcullisd died"
  git -C "$SERVER" show main:environments/dev/hostile.yaml | grep -q '\.\./' && fail "a hostile tag reached Git"
  stop_bot_daemon
}

test_a_person_racing_the_bot_on_its_line_is_planned_over_and_a_same_edit_makes_no_commit() {
  setup_images 1h "  - {name: app, image: $APP, environments: [dev], semver: {range: '>=1.0.0 <2'}}"
  registry_push_image team/app 1.2.0 >/dev/null || fail "registry push"
  # The bot stops right before its first push; a person pushes meanwhile.
  PORTCULLIS_TEST_PAUSE_AT=image-push start_bot_daemon
  poll_until 30 grep -q "paused at fault point" "$DAEMON_LOG" || fail "the bot never reached its push"
  local clone
  clone=$(new_clone "$SERVER")
  configmap person | put "$clone" environments/dev/person.yaml
  # ... and sets the very line the bot is changing to another version (an edit conflict).
  sed -i "s|$APP:1.0.0|$APP:1.0.5|" "$clone/environments/dev/app.yaml"
  git -C "$clone" add -A
  commit "$clone" "a person's change, on the bot's line too"
  push "$clone" origin HEAD:main
  expect_accepted
  local person
  person=$(git -C "$SERVER" rev-parse main)
  kill -CONT "$DAEMON_PID"
  poll_until 20 has_version dev 1.2.0 || fail "the bot did not land after the race: $(tail -5 "$DAEMON_LOG")"
  git -C "$SERVER" merge-base --is-ancestor "$person" main || fail "the person's commit was overwritten"
  [[ $(git -C "$SERVER" rev-parse main^) == "$person" ]] || fail "the bot's commit is not on the person's tip"
  git -C "$SERVER" show main:environments/dev/person.yaml >/dev/null 2>&1 || fail "the person's file is gone"
  git -C "$SERVER" log -1 --format=%B main | grep -q "1.0.5" || fail "the bot's message does not name the version it replaced (1.0.5)"
  file_at dev | grep -qF "# {\"\$imagepolicy\": \"app\"}" || fail "the marker is gone"
  # A person sets the same version first: the bot has nothing to commit.
  kill -STOP "$DAEMON_PID"
  registry_push_image team/app 1.3.0 >/dev/null || fail "registry push"
  git -C "$clone" pull -q origin main 2>/dev/null
  sed -i "s|$APP:1.2.0|$APP:1.3.0|" "$clone/environments/dev/app.yaml"
  git -C "$clone" add -A
  commit "$clone" "a person bumps app to 1.3.0 by hand"
  push "$clone" origin HEAD:main
  expect_accepted
  local tip
  tip=$(git -C "$SERVER" rev-parse main)
  kill -CONT "$DAEMON_PID"
  poll_until 20 state_is app dev UpToDate || fail "not UpToDate: $(image_state app dev)"
  [[ $(git -C "$SERVER" rev-parse main) == "$tip" ]] || fail "the bot committed on top of the same edit"
  stop_bot_daemon
}

# --- The bot pushes the way a person does: ssh and smart HTTP (tests/env/gitserver.sh) --------

# gitservers_start: sshd and nginx + git http-backend, once, for the transport test only.
GDIR=$SUITE_TMP/gitsrv
gitservers_start() {
  [[ -n ${GIT_USER:-} ]] && return 0
  # shellcheck source=../env/gitserver.sh
  source "$ROOT/tests/env/gitserver.sh"
  chmod 711 "$SUITE_TMP"
  git config --global --add safe.directory '*'
  ssh_git_start "$GDIR" || { fail "sshd did not start"; return 1; }
  http_git_start "$GDIR" || { fail "nginx + git http-backend did not start"; return 1; }
  GIT_USER=$(_gs_user)
  chgrp "$GIT_USER" "$SECRET" && chmod 640 "$SECRET"
}

test_the_bot_pushes_over_ssh_and_smart_http_as_itself() {
  gitservers_start || return
  local dir=$SUITE_TMP/$CURRENT_TEST rel=$CURRENT_TEST/config.git bot_ssh bot_http_pw
  bot_ssh=$(ssh_git_add_key "$GDIR" portcullis-bot) || { fail "no ssh key for the bot"; return; }
  http_git_add_user "$GDIR" portcullis-bot >/dev/null || { fail "no http user for the bot"; return; }
  bot_http_pw=$GDIR/http/users/portcullis-bot.password
  PORT=$(free_port)
  DAEMON_URL=http://127.0.0.1:$PORT
  printf 'notify:\n  targets:\n    - {url: %s/v1/events, secretFile: %s}\n' "$DAEMON_URL" "$SECRET" >"$dir/server.yaml"
  chmod 644 "$dir/server.yaml"
  SERVER=$(git_server_new_repo "$GDIR" "$rel") || { fail "cannot create the served repository"; return; }
  runuser -u "$GIT_USER" -- "$PORTCULLIS" install --repo "$SERVER" --config "$dir/server.yaml" >/dev/null ||
    { fail "portcullis install failed"; return; }
  NS=img-$(tr -dc a-z0-9 </dev/urandom | head -c 8)
  TARGET=$NS
  CLONE=$dir/clone
  git -c core.sshCommand="$SSH_GIT_SSH_COMMAND" clone -q "$SSH_GIT_URL/$rel" "$CLONE" 2>/dev/null || { fail "clone"; return; }
  git -C "$CLONE" config core.sshCommand "$SSH_GIT_SSH_COMMAND"
  put "$CLONE" environments/dev/namespace.yaml "$(printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n' "$NS")"
  marked_deployment app "$APP:1.0.0" app | put "$CLONE" environments/dev/app.yaml
  images_policy 1h "  - {name: app, image: $APP, environments: [dev], semver: {range: '>=1.0.0 <2'}}" | put "$CLONE" .portcullis.yaml
  commit "$CLONE" "dev at 1.0.0, one policy"
  push "$CLONE" origin HEAD:main
  expect_accepted
  # bot_config URL KEYS: the daemon fetches over ssh; the bot pushes to URL with KEYS.
  bot_config() {
    cat >"$dir/daemon.yaml" <<YAML
listen: 127.0.0.1:$PORT
secretFile: $SECRET
stateDir: $dir/state
pollInterval: 60s
repository:
  url: $SSH_GIT_URL/$rel
  sshKeyFile: $SSH_GIT_KEY
  knownHostsFile: $SSH_GIT_KNOWN_HOSTS
targets:
  - {name: $TARGET, path: environments/dev, kubeconfig: $KDIR/kubeconfig-portcullisd, namespace: $NS}
images:
  enabled: true
  pollInterval: 1s
  registries:
    - {host: $REGISTRY_HOST, caFile: $REGISTRY_CA_FILE, credentialsFile: $REGISTRY_CREDENTIALS_FILE}
  bot:
    name: portcullis-bot
    email: bot@portcullis.example
    signingKeyFile: $BOT_KEY
    pushUrl: $1
$2
YAML
    DAEMON_CONFIG=$dir/daemon.yaml
    DAEMON_LOG=$dir/daemon.log
  }
  local v
  for transport in ssh https; do
    if [[ $transport == ssh ]]; then
      bot_config "$SSH_GIT_URL/$rel" "    sshKeyFile: $bot_ssh
    knownHostsFile: $SSH_GIT_KNOWN_HOSTS"
      v=1.5.0
    else
      bot_config "$HTTP_GIT_URL/$rel" "    username: portcullis-bot
    passwordFile: $bot_http_pw
    caFile: $HTTP_GIT_CA_FILE"
      v=1.6.0
    fi
    start_daemon
    registry_push_image team/app "$v" >/dev/null || fail "registry push"
    poll_until 30 has_version dev "$v" || fail "$transport: no bot commit with $v: $(curl -fsS "$DAEMON_URL/v1/images"); $(tail -3 "$DAEMON_LOG")"
    local pusher
    pusher=$(tail -1 "$SERVER/portcullis/audit.jsonl" 2>/dev/null | jq -r '.pusher')
    [[ $pusher == portcullis-bot ]] || fail "$transport: the gate saw pusher $pusher"
    git -C "$SERVER" -c gpg.ssh.allowedSignersFile="$SUITE_TMP/allowed_signers" verify-commit main >/dev/null 2>&1 ||
      fail "$transport: the bot's commit is not signed"
    grep -q "$(cat "$bot_http_pw")" "$DAEMON_LOG" && fail "$transport: the bot's password reached the log"
    kill -9 "$DAEMON_PID"
  done
}

run_suite "$@"
