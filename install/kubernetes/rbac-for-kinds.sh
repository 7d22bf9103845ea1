#!/usr/bin/env bash
# Prints least-privilege RBAC for portcullisd: for each resource a target manages, exactly the
# verbs it uses: get, create, patch (server-side apply), delete (prune), list and watch (drift
# detection, narrowed to its own objects by the portcullis.io/target label); plus its inventory
# (the ConfigMaps in the inventory namespace).
#
# Per target (recommended): --namespaces gives the target's namespaces (daemon.yaml `namespaces`,
# each spelled out: RBAC has no globs). It prints a Role in each of them, a Role for the target's
# inventory in the inventory namespace, a ClusterRole only for the cluster-scoped resources of
# --cluster, and with --service-account the target's own ServiceAccount and the bindings.
# Without --namespaces: one ClusterRole for every namespace (one identity for all targets).
#
# Usage: rbac-for-kinds.sh [--name NAME] [--no-watch] [--no-inventory] [--rules-only]
#                          [--namespaces NS,...] [--cluster RESOURCE]... [--inventory-namespace NS]
#                          [--service-account TARGET [--token-secret] | --user USER] RESOURCE...
#   RESOURCE       GROUP/RESOURCE or GROUP/VERSION/RESOURCE, as `kubectl api-resources` names
#                  them: apps/deployments, v1/configmaps (the core group: v1/..., core/...),
#                  networking.k8s.io/v1/ingresses, apiextensions.k8s.io/customresourcedefinitions.
#                  A Kind (apps/Deployment) is turned into its resource the way the apiserver
#                  guesses it (lowercase plural); a note on stderr says so.
#   --name NAME    metadata.name of the roles and bindings (default portcullis:reconciler, or
#                  portcullis:target:TARGET with --service-account)
#   --no-watch     without list and watch: for a reconciler that does not detect drift
#   --no-inventory only the managed resources
#   --rules-only   print the `rules:` list alone (of the namespaced Roles with --namespaces)
#   --namespaces NS,...  Roles in these namespaces instead of a ClusterRole
#   --cluster RESOURCE   (with --namespaces) a cluster-scoped resource the target writes (its
#                  clusterKinds), in a ClusterRole; v1/namespaces: its own Namespace objects, get,
#                  patch and delete limited to the namespaces listed (create cannot be limited by name)
#   --inventory-namespace NS  daemon.yaml's inventoryNamespace (default portcullis-system)
#   --service-account TARGET  (with --namespaces) the target's own identity: ServiceAccount
#                  portcullisd-TARGET in the inventory namespace, bound to every role printed
#   --token-secret (with --service-account) also its long-lived token Secret, whose token and
#                  ca.crt the daemon's kubeconfig for the target names (apply it with kubectl, not
#                  through Git: the gate keeps Secrets out of Git)
#   --user USER    bind every role printed to this user instead
#
# Examples: rbac-for-kinds.sh --service-account prod --namespaces shop apps/deployments v1/services | kubectl apply -f -
#           rbac-for-kinds.sh apps/deployments v1/configmaps v1/services | kubectl apply -f -
# Exit status: 0, or 2 on a usage error (nothing is printed then).
set -euo pipefail

usage() {
  sed -n '2,/^# Exit status/s/^# \{0,1\}//p' "$0" >&2
  exit 2
}
die() {
  echo "rbac-for-kinds.sh: $*" >&2
  exit 2
}

args=("$@")
name=""
watch=1 inventory=1 rules_only=0
namespaces="" inventory_ns=portcullis-system sa_target="" user="" token_secret=0
specs=() cluster_specs=()
while (($#)); do
  case $1 in
    --name) (($# >= 2)) || usage; name=$2; shift 2 ;;
    --name=*) name=${1#--name=}; shift ;;
    --no-watch) watch=0; shift ;;
    --no-inventory) inventory=0; shift ;;
    --rules-only) rules_only=1; shift ;;
    --namespaces) (($# >= 2)) || usage; namespaces=$2; shift 2 ;;
    --namespaces=*) namespaces=${1#--namespaces=}; shift ;;
    --cluster) (($# >= 2)) || usage; cluster_specs+=("$2"); shift 2 ;;
    --cluster=*) cluster_specs+=("${1#--cluster=}"); shift ;;
    --inventory-namespace) (($# >= 2)) || usage; inventory_ns=$2; shift 2 ;;
    --inventory-namespace=*) inventory_ns=${1#--inventory-namespace=}; shift ;;
    --service-account) (($# >= 2)) || usage; sa_target=$2; shift 2 ;;
    --service-account=*) sa_target=${1#--service-account=}; shift ;;
    --token-secret) token_secret=1; shift ;;
    --user) (($# >= 2)) || usage; user=$2; shift 2 ;;
    --user=*) user=${1#--user=}; shift ;;
    -h | --help) usage ;;
    --) shift; specs+=("$@"); break ;;
    -*) echo "rbac-for-kinds.sh: unknown option $1" >&2; usage ;;
    *) specs+=("$1"); shift ;;
  esac
done

dns_label='^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'
[[ -z $sa_target || -z $user ]] || die "--service-account and --user exclude each other"
[[ -z $sa_target || -n $namespaces ]] || die "--service-account needs --namespaces (a target's identity is confined to them)"
((!token_secret)) || [[ -n $sa_target ]] || die "--token-secret needs --service-account"
((${#cluster_specs[@]} == 0)) || [[ -n $namespaces ]] || die "--cluster needs --namespaces (without it every rule is cluster-wide)"
[[ -z $sa_target ]] || [[ $sa_target =~ $dns_label ]] || die "$sa_target is not a target name"
[[ -z $user ]] || [[ $user =~ ^[^[:space:]\"\\]+$ ]] || die "$user is not a user name"
[[ $inventory_ns =~ $dns_label ]] || die "$inventory_ns is not a namespace name"
[[ -n $name ]] || name=${sa_target:+portcullis:target:$sa_target}
[[ -n $name ]] || name=portcullis:reconciler
[[ $name =~ ^[a-z0-9]([-a-z0-9.:]*[a-z0-9])?$ ]] || die "$name is not a role name"
ns_list=()
if [[ -n $namespaces ]]; then
  IFS=, read -r -a ns_list <<<"$namespaces"
  for ns in "${ns_list[@]}"; do
    [[ $ns =~ [*?\[] ]] && die "namespace $ns: RBAC has no globs; list every namespace the target writes into"
    [[ $ns =~ $dns_label ]] || die "$ns is not a namespace name"
    [[ $ns != "$inventory_ns" ]] || die "namespace $ns is the inventory namespace: no target may write there"
  done
fi
((${#specs[@]} || ${#cluster_specs[@]} || inventory)) || { echo "rbac-for-kinds.sh: no resources given" >&2; usage; }

# In the order the shipped roles list them.
if ((watch)); then
  managed_verbs="get list watch create patch delete"
  namespace_verbs="get list watch create patch"
else
  managed_verbs="get create patch delete"
  namespace_verbs="get create patch"
fi

# The apiserver's guess of a Kind's resource (apimachinery UnsafeGuessKindToResource).
guess_resource() {
  local r=${1,,}
  case $r in
    *s) echo "${r}es" ;;
    *y) echo "${r%y}ies" ;;
    *) echo "${r}s" ;;
  esac
}

is_version() { [[ $1 =~ ^v[0-9]+((alpha|beta)[0-9]+)?$ ]]; }

# parse_spec SPEC: sets GROUP and RESOURCE.
parse_spec() {
  local spec=$1 kind
  local -a parts
  IFS=/ read -r -a parts <<<"$spec"
  GROUP="" RESOURCE=""
  case ${#parts[@]} in
    2)
      if is_version "${parts[0]}" || [[ ${parts[0]} == core ]]; then GROUP=""; else GROUP=${parts[0]}; fi
      RESOURCE=${parts[1]}
      ;;
    3)
      is_version "${parts[1]}" || die "$spec: ${parts[1]} is not an API version"
      GROUP=${parts[0]}
      [[ $GROUP == core ]] && GROUP=""
      RESOURCE=${parts[2]}
      ;;
    *) die "$spec: expected GROUP/RESOURCE or GROUP/VERSION/RESOURCE" ;;
  esac
  [[ -z $GROUP || $GROUP =~ ^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$ ]] ||
    die "$spec: $GROUP is not an API group"
  if [[ $RESOURCE =~ ^[A-Z][A-Za-z0-9]*$ ]]; then
    kind=$RESOURCE
    RESOURCE=$(guess_resource "$kind")
    echo "rbac-for-kinds.sh: kind $kind taken as resource $RESOURCE (check with kubectl api-resources)" >&2
  fi
  [[ $RESOURCE =~ ^[a-z][a-z0-9]*$ ]] || die "$spec: $RESOURCE is not a resource name (lowercase plural, e.g. deployments)"
}

# Rule sets: "group|verbs|resourceNames" -> space-separated resources. `rules` go into the
# ClusterRole (no --namespaces) or the namespaced Roles; `cluster_rules` into the ClusterRole of
# --cluster; `inventory_rules` into the inventory Role.
declare -A rules=() cluster_rules=() inventory_rules=()
add_rule() {  # add_rule SET GROUP RESOURCE VERBS [NAMES]
  local -n set=$1
  local key="$2|$4|${5:-}"
  [[ " ${set[$key]:-} " == *" $3 "* ]] || set[$key]="${set[$key]:-} $3"
}
has_rule() {  # has_rule SET GROUP RESOURCE VERBS
  local -n set=$1
  [[ -n ${set["$2|$4|"]:-} && " ${set["$2|$4|"]} " == *" $3 "* ]]
}

for spec in "${specs[@]}"; do
  parse_spec "$spec"
  add_rule rules "$GROUP" "$RESOURCE" "$managed_verbs"
done
for spec in "${cluster_specs[@]}"; do
  parse_spec "$spec"
  if [[ -z $GROUP && $RESOURCE == namespaces ]]; then
    # Its own Namespace objects: by name, but for create (RBAC cannot narrow it by name) and the
    # watch (it lists Namespaces labelled with its targets).
    add_rule cluster_rules "" namespaces "get patch delete" "${ns_list[*]}"
    add_rule cluster_rules "" namespaces "create"
    ((watch)) && add_rule cluster_rules "" namespaces "list watch"
  else
    add_rule cluster_rules "$GROUP" "$RESOURCE" "$managed_verbs"
  fi
done

if ((inventory)); then
  if [[ -n $namespaces ]]; then
    # Its inventory ConfigMaps (listed to find stray shards); the namespace is made once by the
    # installer (namespace.yaml), not by a target.
    add_rule inventory_rules "" configmaps "get list create patch delete"
  else
    # Namespaces are created and labelled, never deleted, unless a target manages them too.
    has_rule rules "" namespaces "$managed_verbs" || add_rule rules "" namespaces "$namespace_verbs"
    has_rule rules "" configmaps "$managed_verbs" || add_rule rules "" configmaps "$managed_verbs"
  fi
fi

# flow "a b c" -> [a, b, c]
flow() { echo "[${1// /, }]"; }

print_rules() {  # print_rules SET INDENT
  local -n set=$1
  local indent=$2 key group verbs names res sorted
  local -a keys
  # The core group first, then by group; within a group, the widest verbs first.
  mapfile -t keys < <(printf '%s\n' "${!set[@]}" | LC_ALL=C sort -t '|' -k1,1 -k2,2r -k3,3)
  for key in "${keys[@]}"; do
    IFS='|' read -r group verbs names <<<"$key"
    sorted=$(tr ' ' '\n' <<<"${set[$key]}" | sed '/^$/d' | LC_ALL=C sort -u | tr '\n' ' ')
    res=$(flow "${sorted% }")
    printf '%s- apiGroups: ["%s"]\n' "$indent" "$group"
    printf '%s  resources: %s\n' "$indent" "$res"
    [[ -z $names ]] || printf '%s  resourceNames: %s\n' "$indent" "$(flow "$names")"
    printf '%s  verbs: %s\n' "$indent" "$(flow "$verbs")"
  done
}

if ((rules_only)); then
  print_rules rules ""
  exit 0
fi

labels=$'  labels:\n    app.kubernetes.io/part-of: portcullis'
[[ -z $sa_target ]] || labels+=$'\n    portcullis.io/target: '"$sa_target"
subject() {
  if [[ -n $sa_target ]]; then
    printf 'subjects:\n  - kind: ServiceAccount\n    name: portcullisd-%s\n    namespace: %s\n' "$sa_target" "$inventory_ns"
  else
    printf 'subjects:\n  - apiGroup: rbac.authorization.k8s.io\n    kind: User\n    name: "%s"\n' "$user"
  fi
}
binding() {  # binding KIND ROLE-KIND [NAMESPACE]
  [[ -n $sa_target || -n $user ]] || return 0
  printf -- '---\napiVersion: rbac.authorization.k8s.io/v1\nkind: %s\nmetadata:\n  name: "%s"\n' "$1" "$name"
  [[ -z ${3:-} ]] || printf '  namespace: %s\n' "$3"
  printf '%s\n' "$labels"
  printf 'roleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: %s\n  name: "%s"\n' "$2" "$name"
  subject
}
role() {  # role KIND SET [NAMESPACE]
  printf -- '---\napiVersion: rbac.authorization.k8s.io/v1\nkind: %s\nmetadata:\n  name: "%s"\n' "$1" "$name"
  [[ -z ${3:-} ]] || printf '  namespace: %s\n' "$3"
  printf '%s\nrules:\n' "$labels"
  print_rules "$2" "  "
}

echo "# Generated by: rbac-for-kinds.sh ${args[*]}"
if [[ -z $namespaces ]]; then
  role ClusterRole rules | sed '1d'
  binding ClusterRoleBinding ClusterRole
  exit 0
fi
if [[ -n $sa_target ]]; then
  printf 'apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: portcullisd-%s\n  namespace: %s\n%s\n' \
    "$sa_target" "$inventory_ns" "$labels"
  if ((token_secret)); then
    # Its token, filled in by the controller manager: portcullisd.yaml mounts it for the
    # target's kubeconfig.
    printf -- '---\napiVersion: v1\nkind: Secret\ntype: kubernetes.io/service-account-token\nmetadata:\n'
    printf '  name: portcullisd-%s-token\n  namespace: %s\n  annotations:\n    kubernetes.io/service-account.name: portcullisd-%s\n%s\n' \
      "$sa_target" "$inventory_ns" "$sa_target" "$labels"
  fi
fi
for ns in "${ns_list[@]}"; do
  ((${#rules[@]})) || break
  role Role rules "$ns"
  binding RoleBinding Role "$ns"
done
if ((${#inventory_rules[@]})); then
  role Role inventory_rules "$inventory_ns"
  binding RoleBinding Role "$inventory_ns"
fi
if ((${#cluster_rules[@]})); then
  role ClusterRole cluster_rules
  binding ClusterRoleBinding ClusterRole
fi
