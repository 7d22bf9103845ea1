#!/usr/bin/env bash
# Prints a least-privilege ClusterRole for portcullisd: its inventory (Namespaces and the
# ConfigMaps in portcullis-system) plus, for each resource a target manages, exactly the verbs
# it uses: get, create, patch (server-side apply), delete (prune), list and watch (drift
# detection, narrowed to its own objects by the portcullis.io/target label).
#
# Usage: rbac-for-kinds.sh [--name NAME] [--no-watch] [--no-inventory] [--rules-only] RESOURCE...
#   RESOURCE       GROUP/RESOURCE or GROUP/VERSION/RESOURCE, as `kubectl api-resources` names
#                  them: apps/deployments, v1/configmaps (the core group: v1/..., core/...),
#                  networking.k8s.io/v1/ingresses, apiextensions.k8s.io/customresourcedefinitions.
#                  A Kind (apps/Deployment) is turned into its resource the way the apiserver
#                  guesses it (lowercase plural); a note on stderr says so.
#   --name NAME    metadata.name of the ClusterRole (default portcullis:reconciler)
#   --no-watch     without list and watch: for a reconciler that does not detect drift
#   --no-inventory only the managed resources
#   --rules-only   print the `rules:` list alone, to paste into an existing ClusterRole
#
# Example: rbac-for-kinds.sh apps/deployments v1/configmaps v1/services | kubectl apply -f -
# Exit status: 0, or 2 on a usage error (nothing is printed then).
set -euo pipefail

usage() {
  sed -n '2,/^# Exit status/s/^# \{0,1\}//p' "$0" >&2
  exit 2
}

args=("$@")
name=portcullis:reconciler
watch=1 inventory=1 rules_only=0
specs=()
while (($#)); do
  case $1 in
    --name) (($# >= 2)) || usage; name=$2; shift 2 ;;
    --name=*) name=${1#--name=}; shift ;;
    --no-watch) watch=0; shift ;;
    --no-inventory) inventory=0; shift ;;
    --rules-only) rules_only=1; shift ;;
    -h | --help) usage ;;
    --) shift; specs+=("$@"); break ;;
    -*) echo "rbac-for-kinds.sh: unknown option $1" >&2; usage ;;
    *) specs+=("$1"); shift ;;
  esac
done
[[ $name =~ ^[a-z0-9]([-a-z0-9.:]*[a-z0-9])?$ ]] || { echo "rbac-for-kinds.sh: $name is not a ClusterRole name" >&2; exit 2; }
((${#specs[@]} || inventory)) || { echo "rbac-for-kinds.sh: no resources given" >&2; usage; }

# In the order the shipped portcullisd-rbac.yaml lists them.
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

# Rules keyed by "group|verbs" -> space-separated resources.
declare -A rules=()
add_rule() {  # add_rule GROUP RESOURCE VERBS
  local key="$1|$3"
  [[ " ${rules[$key]:-} " == *" $2 "* ]] || rules[$key]="${rules[$key]:-} $2"
}

for spec in "${specs[@]}"; do
  IFS=/ read -r -a parts <<<"$spec"
  group="" resource=""
  case ${#parts[@]} in
    2)
      if is_version "${parts[0]}" || [[ ${parts[0]} == core ]]; then group=""; else group=${parts[0]}; fi
      resource=${parts[1]}
      ;;
    3)
      is_version "${parts[1]}" || { echo "rbac-for-kinds.sh: $spec: ${parts[1]} is not an API version" >&2; exit 2; }
      group=${parts[0]}
      [[ $group == core ]] && group=""
      resource=${parts[2]}
      ;;
    *) echo "rbac-for-kinds.sh: $spec: expected GROUP/RESOURCE or GROUP/VERSION/RESOURCE" >&2; exit 2 ;;
  esac
  [[ -z $group || $group =~ ^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$ ]] ||
    { echo "rbac-for-kinds.sh: $spec: $group is not an API group" >&2; exit 2; }
  if [[ $resource =~ ^[A-Z][A-Za-z0-9]*$ ]]; then
    kind=$resource
    resource=$(guess_resource "$kind")
    echo "rbac-for-kinds.sh: kind $kind taken as resource $resource (check with kubectl api-resources)" >&2
  fi
  [[ $resource =~ ^[a-z][a-z0-9]*$ ]] ||
    { echo "rbac-for-kinds.sh: $spec: $resource is not a resource name (lowercase plural, e.g. deployments)" >&2; exit 2; }
  add_rule "$group" "$resource" "$managed_verbs"
done

if ((inventory)); then
  # Namespaces are created and labelled, never deleted, unless a target manages them too.
  [[ -n ${rules["|$managed_verbs"]:-} && " ${rules["|$managed_verbs"]} " == *" namespaces "* ]] ||
    add_rule "" namespaces "$namespace_verbs"
  [[ -n ${rules["|$managed_verbs"]:-} && " ${rules["|$managed_verbs"]} " == *" configmaps "* ]] ||
    add_rule "" configmaps "$managed_verbs"
fi

# flow "a b c" -> [a, b, c]
flow() { echo "[${1// /, }]"; }

print_rules() {
  local indent=$1 key group verbs res sorted
  local -a keys
  # The core group first, then by group; within a group, the widest verbs first.
  mapfile -t keys < <(printf '%s\n' "${!rules[@]}" | LC_ALL=C sort -t '|' -k1,1 -k2,2r)
  for key in "${keys[@]}"; do
    group=${key%%|*}
    verbs=${key#*|}
    sorted=$(tr ' ' '\n' <<<"${rules[$key]}" | sed '/^$/d' | LC_ALL=C sort -u | tr '\n' ' ')
    res=$(flow "${sorted% }")
    printf '%s- apiGroups: ["%s"]\n' "$indent" "$group"
    printf '%s  resources: %s\n' "$indent" "$res"
    printf '%s  verbs: %s\n' "$indent" "$(flow "$verbs")"
  done
}

if ((rules_only)); then
  print_rules ""
  exit 0
fi
cat <<YAML
# Generated by: rbac-for-kinds.sh ${args[*]}
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: "$name"
  labels:
    app.kubernetes.io/part-of: portcullis
rules:
YAML
print_rules "  "
