#!/usr/bin/env bash
# End to end: the status page in a real browser (Debian's chromium, headless, driven over the
# DevTools protocol by puppeteer-core; no downloaded browser) against a running portcullisd and
# a real kube-apiserver. After a push, a drift and a failed sync, the page shows them without
# a reload (server-sent events); strings from Git and the cluster (a ref name, a file name, a
# field manager) that carry HTML are shown as text, never run; axe-core finds no serious or
# critical accessibility violation; screenshots are kept in tests/e2e/artifacts/statuspage.
# Also: the token (cookie from ?token=, 401 without), CSP, bounded event streams, keep-alive
# comments, and a shutdown with streams open.
source "$(dirname "$0")/lib.sh"
# shellcheck source=daemon_lib.sh
source "$(dirname "$0")/daemon_lib.sh"

ARTIFACTS=${STATUSPAGE_ARTIFACTS:-$E2E_DIR/artifacts/statuspage}
mkdir -p "$ARTIFACTS"
command -v chromium >/dev/null || { echo "FATAL: chromium is missing (install/deps.sh)"; exit 1; }
# The browser driver's packages (puppeteer-core, axe-core), pinned by package-lock.json,
# installed once into a cache directory outside the checkout.
NPM_DIR=${STATUSPAGE_NPM_DIR:-/var/cache/portcullis/npm-statuspage}
if ! cmp -s "$E2E_DIR/browser/package-lock.json" "$NPM_DIR/package-lock.json" || [[ ! -d $NPM_DIR/node_modules/puppeteer-core ]]; then
  mkdir -p "$NPM_DIR" && cp "$E2E_DIR/browser/package.json" "$E2E_DIR/browser/package-lock.json" "$NPM_DIR/" &&
    npm ci --prefix "$NPM_DIR" --ignore-scripts --no-audit --no-fund >/dev/null 2>&1 ||
    { echo "FATAL: cannot install the browser driver's npm packages into $NPM_DIR"; exit 1; }
fi
cp "$E2E_DIR/browser/driver.mjs" "$NPM_DIR/driver.mjs"

TOKEN=$SUITE_TMP/read.token
printf 'read-%s' "$RANDOM$RANDOM$RANDOM" >"$TOKEN"
HOSTILE_FILE='<img src=x onerror=window.__pwned=1>'
HOSTILE_REF='<svg/onload=window.__pwned=2>'
HOSTILE_MANAGER='<img src=y onerror=window.__pwned=3>'

# daemon_lib's target_field, with the read token.
target_field() { curl -fsS -H "Authorization: Bearer $(cat "$TOKEN")" "$DAEMON_URL/v1/targets" 2>/dev/null | jq -r ".targets[0].$1"; }

# page_daemon NAME [EXTRA]: a target NAME (detectOnly: drift stays visible) whose daemon reads
# with a token, links commits and shows the gate's audit log.
page_daemon() {
  local dir=$SUITE_TMP/$CURRENT_TEST
  TARGET_EXTRA="detectOnly: true" DAEMON_EXTRA="api:
  readTokenFile: $TOKEN
statusPage:
  commitUrl: https://git.example.com/ops/config/commit/{commit}
  gateAuditLog: $dir/server.git/portcullis/audit.jsonl
${2:-}" setup_target "$1"
}

# browser URL: starts the driver (coproc BROWSER); `ask LINE` sends a command, sets ANSWER.
browser() {
  coproc BROWSER { exec node "$NPM_DIR/driver.mjs" "$1" "$ARTIFACTS" 2>>"$SUITE_TMP/$CURRENT_TEST/browser.log"; }
  DAEMON_PIDS+=("$BROWSER_PID")
}
ask() {
  ANSWER=""
  printf '%s\n' "$1" >&"${BROWSER[1]}" || { ANSWER="fail: the browser is gone: $(tail -3 "$SUITE_TMP/$CURRENT_TEST/browser.log")"; return 1; }
  IFS= read -r -t 90 ANSWER <&"${BROWSER[0]}" || ANSWER="fail: no answer from the browser: $(tail -3 "$SUITE_TMP/$CURRENT_TEST/browser.log")"
  [[ $ANSWER == ok* ]]
}
# expect_page MS EXPR WHAT: the page comes to show EXPR (polled in the page, no reload).
expect_page() { ask "wait $(($1 * 1000)) $2" || fail "the page does not show $3: $ANSWER"; }
close_browser() {
  local pid=$BROWSER_PID
  printf 'quit\n' >&"${BROWSER[1]}" 2>/dev/null
  # The driver exits after closing chromium; a driver that does not is killed by the deadline.
  poll_until 20 bash -c "! ps -o stat= -p $pid | grep -qv Z" || kill -9 "$pid" 2>/dev/null
  wait "$pid" || fail "the browser driver failed: $(tail -3 "$SUITE_TMP/$CURRENT_TEST/browser.log")"
}

# JavaScript over the page: the target's article, and a cell text test.
T="document.querySelector('article[data-target=\"page\"]')"
has_text() { printf "(%s||document.body).innerText.includes(%s)" "${2:-document.body}" "$(jq -Rn --arg s "$1" '$s')"; }

test_page_shows_push_drift_and_failed_sync_live() {
  page_daemon page
  configmap settings | put "$CLONE" environments/page/settings.yaml
  commit "$CLONE" "first"
  push "$CLONE" origin HEAD:main
  expect_accepted
  start_daemon
  wait_synced
  local first second
  first=$(git -C "$SERVER" rev-parse main)
  browser "$DAEMON_URL/status?token=$(cat "$TOKEN")"
  expect_page 30 "$T && $T.querySelector('.state [data-value]').dataset.value === 'Synced'" "the target Synced"
  expect_page 5 "$T.querySelector('.applied a').href === 'https://git.example.com/ops/config/commit/$first'" "the applied commit linked"
  expect_page 5 "$(has_text 'v1 ConfigMap page/settings' "$T")" "the applied ConfigMap in the recent syncs"
  expect_page 10 "document.querySelector('#gate td [data-value=\"accepted\"]') !== null" "the accepted push in the gate decisions"
  ask "shot 1-synced" || fail "screenshot: $ANSWER"

  # A push: the page follows it by server-sent events, without a reload.
  ask "eval window.__marker = 'same page'" || fail "eval: $ANSWER"
  configmap second | put "$CLONE" environments/page/second.yaml
  commit "$CLONE" "second"
  push "$CLONE" origin HEAD:main
  expect_accepted
  second=$(git -C "$SERVER" rev-parse main)
  expect_page 30 "$T.querySelector('.applied a') && $T.querySelector('.applied a').href.endsWith('$second')" "the second push applied"
  expect_page 5 "$(has_text 'v1 ConfigMap page/second' "$T")" "the second ConfigMap applied"
  expect_page 5 "window.__marker === 'same page'" "the update in the same page (no reload)"

  # A drift, made by a field manager whose name is HTML.
  kubectl patch configmap settings -n page --field-manager "$HOSTILE_MANAGER" -p '{"data":{"key":"changed"}}' >/dev/null ||
    fail "kubectl patch failed"
  expect_page 30 "$T.querySelector('.state [data-value]').dataset.value === 'OutOfSync'" "the target OutOfSync"
  expect_page 5 "$(has_text '/data/key' "$T")" "the drifted field"
  expect_page 5 "$(has_text "$HOSTILE_MANAGER" "$T")" "who changed it, as text"
  ask "shot 2-drift" || fail "screenshot: $ANSWER"

  # A push the gate rejects, to a ref whose name is HTML.
  put "$CLONE" environments/page/broken.yaml 'apiVersion: v1
kind: ConfigMap
metadata: {name: [broken'
  commit "$CLONE" "broken"
  push "$CLONE" origin "HEAD:refs/heads/$HOSTILE_REF"
  expect_rejected
  git -C "$CLONE" reset -q --hard HEAD~1
  expect_page 20 "document.querySelector('#gate td [data-value=\"rejected\"]') !== null" "the rejected push"
  expect_page 5 "$(has_text "refs/heads/$HOSTILE_REF" "document.querySelector('#gate')")" "the hostile ref name, as text"

  # A sync that fails (the reconciler may not write NetworkPolicies), from a file named in HTML.
  put "$CLONE" "environments/page/$HOSTILE_FILE.yaml" 'apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: deny
spec:
  podSelector: {}
'
  commit "$CLONE" "a policy the daemon may not write"
  push "$CLONE" origin HEAD:main
  expect_accepted
  expect_page 30 "$T.querySelector('.state [data-value]').dataset.value === 'Failed'" "the target Failed"
  expect_page 5 "$T.querySelector('.error').textContent.length > 10" "the sync's error"
  expect_page 5 "$T.querySelector('tbody [data-value=\"Failed\"]') !== null" "the failed sync in the recent syncs"
  ask "shot 3-failed" || fail "screenshot: $ANSWER"

  # Nothing from Git or the cluster became markup or ran.
  expect_page 2 "window.__pwned === undefined" "no injected script run"
  expect_page 2 "document.querySelectorAll('main img, main svg').length === 0" "no injected element"

  # Accessibility: axe-core in the page, on a desktop and a phone viewport; the keyboard's first
  # stop is the skip link.
  ask "axe" || fail "axe: $ANSWER"
  [[ $ANSWER == "ok 0 "* ]] || fail "axe found serious or critical violations: $ANSWER (see $ARTIFACTS/axe.json)"
  ask "tab 1"
  [[ $ANSWER == "ok A Skip to content" ]] || fail "the first Tab stop is not the skip link: $ANSWER"
  ask "viewport 390 844" || fail "viewport: $ANSWER"
  # (A phone viewport reloads the page: it signs in again by its cookie and goes live.)
  expect_page 20 "document.getElementById('connection').textContent.startsWith('Live')" "live updates on a phone"
  expect_page 5 "$T !== null" "the target on a phone"
  expect_page 5 "document.documentElement.scrollWidth <= 390 + 1" "the page within a phone's width (no sideways scroll)"
  ask "shot 4-phone" || fail "screenshot: $ANSWER"
  ask "axe" || fail "axe: $ANSWER"
  [[ $ANSWER == "ok 0 "* ]] || fail "axe on a phone found serious or critical violations: $ANSWER"
  close_browser
  for f in 1-synced 2-drift 3-failed 4-phone; do
    [[ -s $ARTIFACTS/$f.png ]] || fail "no screenshot $f.png"
  done
}

test_token_cookie_and_headers() {
  page_daemon token
  commit "$CLONE" "empty"
  push "$CLONE" origin HEAD:main
  start_daemon
  local headers body
  headers=$(curl -sS -D - -o "$SUITE_TMP/$CURRENT_TEST/page.html" "$DAEMON_URL/status")
  grep -qi "^content-security-policy: default-src 'none'; script-src 'self'" <<<"$headers" || fail "no CSP: $headers"
  grep -qi '^x-content-type-options: nosniff' <<<"$headers" || fail "no nosniff"
  grep -q '<script src="/status.js" defer></script>' "$SUITE_TMP/$CURRENT_TEST/page.html" || fail "the page has no script of its own"
  ! grep -q '<script>' "$SUITE_TMP/$CURRENT_TEST/page.html" || fail "inline script in the page"
  ! grep -q 'token' <(grep -o 'environments/token' "$SUITE_TMP/$CURRENT_TEST/page.html") || fail "the open page carries data"
  for path in /v1/status /v1/events /v1/targets /metrics; do
    [[ $(curl -s -o /dev/null -w '%{http_code}' "$DAEMON_URL$path") == 401 ]] || fail "$path answers without the token"
  done
  [[ $(curl -s -o /dev/null -w '%{http_code}' "$DAEMON_URL/status?token=wrong") == 401 ]] || fail "a wrong token signs in"
  headers=$(curl -sS -D - -o /dev/null "$DAEMON_URL/status?token=$(cat "$TOKEN")")
  grep -q '^HTTP/1.1 303' <<<"$headers" || fail "no redirect after sign-in: $headers"
  grep -qi '^location: /status' <<<"$headers" || fail "the redirect keeps the token in the address"
  local cookie
  cookie=$(grep -i '^set-cookie:' <<<"$headers" | tr -d '\r')
  grep -q 'HttpOnly' <<<"$cookie" && grep -q 'SameSite=Strict' <<<"$cookie" || fail "cookie not HttpOnly/SameSite=Strict: $cookie"
  ! grep -qF "$(cat "$TOKEN")" <<<"$cookie" || fail "the cookie is the token itself"
  local jar=${cookie#*: }
  jar=${jar%%;*}
  body=$(curl -fsS -H "Cookie: $jar" "$DAEMON_URL/v1/status") || fail "the cookie does not read /v1/status"
  jq -e '.targets[0].name == "token"' <<<"$body" >/dev/null || fail "wrong document: $body"
  [[ $(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: portcullis_read=${jar#*=}x" "$DAEMON_URL/v1/status") == 401 ]] ||
    fail "a wrong cookie reads"
  [[ $(curl -s -o /dev/null -w '%{http_code}' -X POST --data-urlencode "token=$(cat "$TOKEN")" "$DAEMON_URL/status/sign-in") == 303 ]] ||
    fail "the sign-in form does not sign in"
  # In a browser without the token: the sign-in form, no data.
  browser "$DAEMON_URL/status"
  expect_page 20 "!document.getElementById('sign-in').hidden" "the sign-in form"
  expect_page 2 "document.querySelector('label[for=token]').textContent === 'Read token'" "a labelled token field"
  expect_page 2 "document.querySelectorAll('article.target').length === 0" "no data before sign-in"
  ask "shot 0-sign-in" || fail "screenshot: $ANSWER"
  ask "axe" || fail "axe: $ANSWER"
  [[ $ANSWER == "ok 0 "* ]] || fail "axe on the sign-in page: $ANSWER"
  close_browser
}

# stream FILE: a live-update stream with the token, in the background (STREAM_PID).
stream() {
  : >"$1"
  curl -sN -H "Authorization: Bearer $(cat "$TOKEN")" "$DAEMON_URL/v1/events" >"$1" 2>/dev/null &
  STREAM_PID=$!
  DAEMON_PIDS+=("$STREAM_PID")
}

test_event_streams_bounded_kept_alive_and_closed_at_shutdown() {
  page_daemon streams "  maxEventStreams: 2"
  commit "$CLONE" "empty"
  push "$CLONE" origin HEAD:main
  start_daemon
  local dir=$SUITE_TMP/$CURRENT_TEST a b
  stream "$dir/a"; a=$STREAM_PID
  stream "$dir/b"; b=$STREAM_PID
  poll_until 10 grep -q '^event: status' "$dir/a" || fail "no status event on stream a: $(head -c 300 "$dir/a")"
  poll_until 10 grep -q '^event: status' "$dir/b" || fail "no status event on stream b"
  grep -q '^retry: 3000' "$dir/a" || fail "no retry advice"
  [[ $(curl -s -m 5 -o /dev/null -w "%{http_code}" -H "Authorization: Bearer $(cat "$TOKEN")" "$DAEMON_URL/v1/events") == 503 ]] ||
    fail "a third stream was accepted past maxEventStreams 2"
  # A quiet stream gets a keep-alive comment every 15 s (past the 10 s request deadline: a
  # stream is not cut while its client reads).
  poll_until 25 grep -q '^: keep-alive' "$dir/a" || fail "no keep-alive comment within 25 s"
  kill "$a" 2>/dev/null
  # The slot is freed when a client goes.
  poll_until 10 bash -c "[[ \$(curl -s -m 2 -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer $(cat "$TOKEN")' $DAEMON_URL/v1/events) != 503 ]]" ||
    fail "a closed stream's slot is not freed"
  # SIGTERM with a stream open: the daemon ends promptly, the stream with it.
  kill -TERM "$DAEMON_PID"
  poll_until 10 bash -c "! kill -0 $DAEMON_PID 2>/dev/null" || fail "portcullisd did not stop with a stream open"
  poll_until 5 bash -c "! kill -0 $b 2>/dev/null" || fail "the stream outlived the daemon"
}

run_suite "$@"
