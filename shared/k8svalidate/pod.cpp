// Pod specs and pod templates (core/v1 ValidatePodSpec and what it calls): containers, init
// and ephemeral containers, volumes and mounts, probes, ports, env, resources, security
// contexts, scheduling fields. Defaults the apiserver applies first are read as defaults here.
#include <algorithm>
#include <map>
#include <set>
#include <string>

#include "shared/k8svalidate/syntax.hpp"
#include "shared/k8svalidate/walker.hpp"

namespace portcullis::k8svalidate::detail {

namespace {

constexpr std::int64_t k_max_int32 = 2147483647;

std::string port_num(std::int64_t n) {
  return n >= 1 && n <= 65535 ? std::string{} : "must be between 1 and 65535, inclusive";
}

// A port given as a number (1-65535) or an IANA service name (probes, Services' targetPort).
void port_num_or_name(Ctx& ctx, std::string_view rule, const Path& p, const Node* v) {
  if (!v) return;
  if (v->type == yaml::Type::integer) {
    if (auto problem = port_num(v->value.integer); !problem.empty()) ctx.invalid(rule, p, v, problem);
  } else if (v->is_string()) {
    if (v->text.empty())
      ctx.required(rule, p, v);
    else if (auto problem = port_name(v->text); !problem.empty())
      ctx.invalid(rule, p, v, problem);
  }
}

// No absolute path and no '..' element (validateLocalDescendingPath).
std::string local_descending_path(std::string_view s) {
  if (s.starts_with("/")) return "must be a relative path";
  std::size_t start = 0;
  while (true) {
    auto slash = s.find('/', start);
    if (s.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start) == "..")
      return "must not contain '..'";
    if (slash == std::string_view::npos) return {};
    start = slash + 1;
  }
}

void key_to_paths(Ctx& ctx, const Path& p, const Node* items) {
  if (!items) return;
  for (std::size_t i = 0; i < items->items.size(); ++i) {
    const Node* it = items->items[i];
    if (!it->is_mapping()) continue;
    Path ip = p.item(i);
    auto key = str_at(it, "key");
    if (!key || key->empty()) ctx.required(rule::volumes, ip.field("key"), it);
    auto path = str_at(it, "path");
    if (!path || path->empty())
      ctx.required(rule::volumes, ip.field("path"), it);
    else if (auto problem = local_descending_path(*path); !problem.empty())
      ctx.invalid(rule::volumes, ip.field("path"), it->get("path"), problem);
    else if (path->starts_with(".."))
      ctx.invalid(rule::volumes, ip.field("path"), it->get("path"), "must not start with '..'");
    if (auto mode = int_at(it, "mode"); mode && (*mode < 0 || *mode > 0777))
      ctx.invalid(rule::volumes, ip.field("mode"), it->get("mode"), "must be a number between 0 and 0777 (octal), both inclusive");
  }
}

void default_mode(Ctx& ctx, const Path& p, const Node* source) {
  if (auto mode = int_at(source, "defaultMode"); mode && (*mode < 0 || *mode > 0777))
    ctx.invalid(rule::volumes, p.field("defaultMode"), source->get("defaultMode"),
                "must be a number between 0 and 0777 (octal), both inclusive");
}

constexpr std::string_view k_volume_sources[] = {
    "hostPath", "emptyDir",  "gitRepo",     "gcePersistentDisk", "awsElasticBlockStore", "secret",
    "nfs",      "iscsi",     "glusterfs",   "persistentVolumeClaim", "rbd",             "flexVolume",
    "cinder",   "cephfs",    "flocker",     "downwardAPI",       "fc",                   "azureFile",
    "configMap", "vsphereVolume", "quobyte", "azureDisk",        "photonPersistentDisk", "portworxVolume",
    "projected", "scaleIO",  "storageos",   "csi",               "ephemeral"};

void downward_items(Ctx& ctx, const Path& p, const Node* items) {
  if (!items) return;
  for (std::size_t i = 0; i < items->items.size(); ++i) {
    const Node* it = items->items[i];
    if (!it->is_mapping()) continue;
    Path ip = p.item(i);
    auto path = str_at(it, "path");
    if (!path || path->empty())
      ctx.required(rule::volumes, ip.field("path"), it);
    else if (auto problem = local_descending_path(*path); !problem.empty())
      ctx.invalid(rule::volumes, ip.field("path"), it->get("path"), problem);
    bool field = map_at(it, "fieldRef"), resource = map_at(it, "resourceFieldRef");
    if (field && resource)
      ctx.invalid_text(rule::volumes, ip, it, "\"\"", "fieldRef and resourceFieldRef can not be specified simultaneously");
    else if (!field && !resource)
      ctx.required(rule::volumes, ip, it, "one of fieldRef and resourceFieldRef is required");
    if (resource) {
      auto container = str_at(map_at(it, "resourceFieldRef"), "containerName");
      if (!container || container->empty())
        ctx.required(rule::volumes, ip.field("resourceFieldRef.containerName"), it);
    }
  }
}

void volume_source(Ctx& ctx, const Path& ip, const Node* vol, bool ephemeral_known) {
  int sources = 0;
  for (auto name : k_volume_sources) {
    const Node* s = vol->get(name);
    if (!s || s->type == yaml::Type::null) continue;
    if (name == "ephemeral" && !ephemeral_known) continue;  // a disabled alpha field: dropped
    if (++sources > 1) {
      ctx.forbidden(rule::volumes, ip.field(name), s, "may not specify more than 1 volume type");
      continue;
    }
    Path sp = ip.field(name);
    if (name == "hostPath") {
      auto path = str_at(s, "path");
      if (!path || path->empty())
        ctx.required(rule::volumes, sp.field("path"), s);
      else if (auto problem = local_descending_path(std::string_view(*path).substr(path->starts_with("/") ? 1 : 0));
               problem == "must not contain '..'")
        ctx.invalid(rule::volumes, sp.field("path"), s->get("path"), "must not contain '..'");
      ctx.one_of(rule::volumes, sp, s, "type",
                 {"", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket", "CharDevice", "BlockDevice"});
    } else if (name == "secret") {
      auto n = str_at(s, "secretName");
      if (!n || n->empty()) ctx.required(rule::volumes, sp.field("secretName"), s);
      default_mode(ctx, sp, s);
      key_to_paths(ctx, sp.field("items"), seq_at(s, "items"));
    } else if (name == "configMap") {
      auto n = str_at(s, "name");
      if (!n || n->empty()) ctx.required(rule::volumes, sp.field("name"), s);
      default_mode(ctx, sp, s);
      key_to_paths(ctx, sp.field("items"), seq_at(s, "items"));
    } else if (name == "persistentVolumeClaim") {
      auto n = str_at(s, "claimName");
      if (!n || n->empty()) ctx.required(rule::volumes, sp.field("claimName"), s);
    } else if (name == "nfs") {
      auto server = str_at(s, "server");
      if (!server || server->empty()) ctx.required(rule::volumes, sp.field("server"), s);
      auto path = str_at(s, "path");
      if (!path || path->empty())
        ctx.required(rule::volumes, sp.field("path"), s);
      else if (!path->starts_with("/"))
        ctx.invalid(rule::volumes, sp.field("path"), s->get("path"), "must be an absolute path");
    } else if (name == "csi") {
      auto driver = str_at(s, "driver");
      if (!driver || driver->empty()) ctx.required(rule::volumes, sp.field("driver"), s);
    } else if (name == "gitRepo") {
      auto repo = str_at(s, "repository");
      if (!repo || repo->empty()) ctx.required(rule::volumes, sp.field("repository"), s);
    } else if (name == "downwardAPI") {
      default_mode(ctx, sp, s);
      downward_items(ctx, sp.field("items"), seq_at(s, "items"));
    } else if (name == "projected") {
      default_mode(ctx, sp, s);
      if (const Node* list = seq_at(s, "sources"))
        for (std::size_t i = 0; i < list->items.size(); ++i) {
          const Node* src = list->items[i];
          if (!src->is_mapping()) continue;
          Path pp = sp.field_item("sources", i);
          int n = 0;
          for (auto k : {"secret", "configMap", "downwardAPI", "serviceAccountToken"})
            if (const Node* v = src->get(k); v && v->type != yaml::Type::null) {
              if (++n > 1) ctx.forbidden(rule::volumes, pp, src, "may not specify more than 1 volume type");
            }
          if (const Node* t = map_at(src, "serviceAccountToken")) {
            Path tp = pp.field("serviceAccountToken");
            auto path = str_at(t, "path");
            if (!path || path->empty()) ctx.required(rule::volumes, tp.field("path"), t);
            if (auto e = int_at(t, "expirationSeconds")) {
              if (*e < 600)
                ctx.invalid(rule::volumes, tp.field("expirationSeconds"), t->get("expirationSeconds"),
                            "may not specify a duration less than 10 minutes");
              else if (*e > 4294967296LL)
                ctx.invalid(rule::volumes, tp.field("expirationSeconds"), t->get("expirationSeconds"),
                            "may not specify a duration larger than 2^32 seconds");
            }
          }
          if (const Node* c = map_at(src, "configMap")) key_to_paths(ctx, pp.field("configMap.items"), seq_at(c, "items"));
          if (const Node* c = map_at(src, "secret")) key_to_paths(ctx, pp.field("secret.items"), seq_at(c, "items"));
          if (const Node* c = map_at(src, "downwardAPI")) downward_items(ctx, pp.field("downwardAPI.items"), seq_at(c, "items"));
        }
    }
  }
  // A volume without source is defaulted to an emptyDir (SetDefaults_Volume).
}

// The volumes of a pod spec: name -> whether it is a PersistentVolumeClaim.
std::map<std::string_view, bool> validate_volumes(Ctx& ctx, const Path& p, const Node* volumes) {
  std::map<std::string_view, bool> names;
  if (!volumes) return names;
  bool ephemeral_known = ctx.options().cluster && *ctx.options().cluster >= Version{1, 21};
  for (std::size_t i = 0; i < volumes->items.size(); ++i) {
    const Node* vol = volumes->items[i];
    if (!vol->is_mapping()) continue;
    Path ip = p.item(i);
    volume_source(ctx, ip, vol, ephemeral_known);
    auto name = str_at(vol, "name");
    if (!name || name->empty()) {
      ctx.required(rule::volumes, ip.field("name"), vol);
      continue;
    }
    if (auto problem = dns1123_label(*name); !problem.empty()) ctx.invalid(rule::volumes, ip.field("name"), vol->get("name"), problem);
    if (names.contains(*name))
      ctx.duplicate(rule::volumes, ip.field("name"), vol->get("name"));
    else
      names[*name] = map_at(vol, "persistentVolumeClaim") != nullptr;
  }
  return names;
}

void handler(Ctx& ctx, std::string_view rule, const Path& p, const Node* h) {
  int n = 0;
  for (auto name : {"exec", "httpGet", "tcpSocket"}) {
    const Node* v = h->get(name);
    if (!v || v->type == yaml::Type::null) continue;
    if (++n > 1) {
      ctx.forbidden(rule, p.field(name), v, "may not specify more than 1 handler type");
      continue;
    }
    Path hp = p.field(name);
    if (std::string_view(name) == "exec") {
      const Node* cmd = seq_at(v, "command");
      if (!cmd || cmd->items.empty()) ctx.required(rule, hp.field("command"), v);
    } else if (std::string_view(name) == "httpGet") {
      const Node* port = v->get("port");
      if (!port) ctx.required(rule, hp.field("port"), v);
      port_num_or_name(ctx, rule, hp.field("port"), port);
      ctx.one_of(rule, hp, v, "scheme", {"HTTP", "HTTPS"});
    } else {
      const Node* port = v->get("port");
      if (!port) ctx.required(rule, hp.field("port"), v);
      port_num_or_name(ctx, rule, hp.field("port"), port);
    }
  }
  if (n == 0) ctx.required(rule, p, h, "must specify a handler type");
}

void probe(Ctx& ctx, const Path& p, const Node* c, std::string_view key, bool success_one) {
  const Node* pr = map_at(c, key);
  if (!pr) return;
  Path pp = p.field(key);
  handler(ctx, rule::probes, pp, pr);
  for (auto f : {"initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold", "failureThreshold"})
    ctx.nonnegative(rule::probes, pp, pr, f);
  if (auto s = int_at(pr, "successThreshold"); success_one && s && *s != 1 && *s > 0)
    ctx.invalid(rule::probes, pp.field("successThreshold"), pr->get("successThreshold"), "must be 1");
}

void container_ports(Ctx& ctx, const Path& p, const Node* ports) {
  if (!ports) return;
  std::set<std::string_view> names;
  for (std::size_t i = 0; i < ports->items.size(); ++i) {
    const Node* port = ports->items[i];
    if (!port->is_mapping()) continue;
    Path ip = p.item(i);
    if (auto name = str_at(port, "name"); name && !name->empty()) {
      if (auto problem = port_name(*name); !problem.empty())
        ctx.invalid(rule::ports, ip.field("name"), port->get("name"), problem);
      else if (!names.insert(*name).second)
        ctx.duplicate(rule::ports, ip.field("name"), port->get("name"));
    }
    auto cp = int_at(port, "containerPort");
    if (!port->get("containerPort") || (cp && *cp == 0))
      ctx.required(rule::ports, ip.field("containerPort"), port);
    else if (cp)
      if (auto problem = port_num(*cp); !problem.empty())
        ctx.invalid(rule::ports, ip.field("containerPort"), port->get("containerPort"), problem);
    if (auto hp = int_at(port, "hostPort"); hp && *hp != 0)
      if (auto problem = port_num(*hp); !problem.empty())
        ctx.invalid(rule::ports, ip.field("hostPort"), port->get("hostPort"), problem);
    ctx.one_of(rule::ports, ip, port, "protocol", {"SCTP", "TCP", "UDP"});
  }
}

bool in(std::string_view s, std::initializer_list<std::string_view> set) {
  return std::find(set.begin(), set.end(), s) != set.end();
}

std::string field_path_problem(std::string_view f) {
  if (in(f, {"metadata.name", "metadata.namespace", "metadata.uid", "metadata.labels", "metadata.annotations",
             "spec.nodeName", "spec.serviceAccountName", "status.hostIP", "status.podIP", "status.podIPs"}))
    return {};
  for (auto prefix : {"metadata.labels['", "metadata.annotations['"})
    if (f.starts_with(prefix) && f.ends_with("']") && f.size() > std::string_view(prefix).size() + 2) return {};
  return "not supported";
}

void name_ref(Ctx& ctx, const Path& p, const Node* ref) {
  auto name = str_at(ref, "name");
  std::string_view n = name.value_or("");
  if (auto problem = dns1123_subdomain(n); !problem.empty())
    ctx.invalid_text(rule::env, p.field("name"), ref->get("name") ? ref->get("name") : ref, "\"" + std::string(n) + "\"", problem);
}

void key_ref(Ctx& ctx, const Path& p, const Node* ref) {
  name_ref(ctx, p, ref);
  auto key = str_at(ref, "key");
  if (!key || key->empty())
    ctx.required(rule::env, p.field("key"), ref);
  else if (auto problem = config_map_key(*key); !problem.empty())
    ctx.invalid(rule::env, p.field("key"), ref->get("key"), problem);
}

void env(Ctx& ctx, const Path& p, const Node* vars) {
  if (!vars) return;
  for (std::size_t i = 0; i < vars->items.size(); ++i) {
    const Node* v = vars->items[i];
    if (!v->is_mapping()) continue;
    Path ip = p.item(i);
    auto name = str_at(v, "name");
    if (!name || name->empty())
      ctx.required(rule::env, ip.field("name"), v);
    else if (auto problem = env_var_name(*name); !problem.empty())
      ctx.invalid(rule::env, ip.field("name"), v->get("name"), problem);
    const Node* from = map_at(v, "valueFrom");
    if (!from) continue;
    Path fp = ip.field("valueFrom");
    int sources = 0;
    if (const Node* f = map_at(from, "fieldRef")) {
      ++sources;
      auto path = str_at(f, "fieldPath");
      if (!path || path->empty())
        ctx.required(rule::env, fp.field("fieldRef.fieldPath"), f);
      else if (auto problem = field_path_problem(*path); !problem.empty() || *path == "metadata.labels" ||
                                                         *path == "metadata.annotations")
        ctx.unsupported(rule::env, fp.field("fieldRef.fieldPath"), f->get("fieldPath"),
                        {"metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName",
                         "spec.serviceAccountName", "status.hostIP", "status.podIP", "status.podIPs"});
    }
    if (const Node* r = map_at(from, "resourceFieldRef")) {
      ++sources;
      auto res = str_at(r, "resource");
      if (!res || res->empty())
        ctx.required(rule::env, fp.field("resourceFieldRef.resource"), r);
      else if (!in(*res, {"limits.cpu", "limits.memory", "limits.ephemeral-storage", "requests.cpu", "requests.memory",
                          "requests.ephemeral-storage"}) &&
               !res->starts_with("limits.hugepages-") && !res->starts_with("requests.hugepages-"))
        ctx.unsupported(rule::env, fp.field("resourceFieldRef.resource"), r->get("resource"),
                        {"limits.cpu", "limits.memory", "limits.ephemeral-storage", "requests.cpu", "requests.memory",
                         "requests.ephemeral-storage"});
    }
    if (const Node* c = map_at(from, "configMapKeyRef")) ++sources, key_ref(ctx, fp.field("configMapKeyRef"), c);
    if (const Node* s = map_at(from, "secretKeyRef")) ++sources, key_ref(ctx, fp.field("secretKeyRef"), s);
    auto value = str_at(v, "value");
    if (sources == 0)
      ctx.invalid_text(rule::env, fp, from, "\"\"",
                       "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`");
    else if (value && !value->empty())
      ctx.invalid_text(rule::env, fp, from, "\"\"", "may not be specified when `value` is not empty");
    else if (sources > 1)
      ctx.invalid_text(rule::env, fp, from, "\"\"", "may not have more than one field specified at a time");
  }
}

void env_from(Ctx& ctx, const Path& p, const Node* list) {
  if (!list) return;
  for (std::size_t i = 0; i < list->items.size(); ++i) {
    const Node* v = list->items[i];
    if (!v->is_mapping()) continue;
    Path ip = p.item(i);
    if (auto prefix = str_at(v, "prefix"); prefix && !prefix->empty())
      if (auto problem = env_var_name(*prefix); !problem.empty())
        ctx.invalid(rule::env, ip.field("prefix"), v->get("prefix"), problem);
    int sources = 0;
    for (auto key : {"configMapRef", "secretRef"}) {
      const Node* ref = map_at(v, key);
      if (!ref) continue;
      ++sources;
      auto name = str_at(ref, "name");
      if (!name || name->empty())
        ctx.required(rule::env, ip.field(key).field("name"), ref);
      else if (auto problem = dns1123_subdomain(*name); !problem.empty())
        ctx.invalid(rule::env, ip.field(key).field("name"), ref->get("name"), problem);
    }
    if (sources == 0) ctx.invalid_text(rule::env, p, v, "\"\"", "must specify one of: `configMapRef` or `secretRef`");
    if (sources > 1) ctx.forbidden(rule::env, p, v, "may not have more than one field specified at a time");
  }
}

bool standard_container_resource(std::string_view n) {
  return n == "cpu" || n == "memory" || n == "ephemeral-storage" || n.starts_with("hugepages-");
}
bool native_resource(std::string_view n) {
  return n.find('/') == std::string_view::npos || n.find("kubernetes.io/") != std::string_view::npos;
}
bool overcommit_allowed(std::string_view n) { return native_resource(n) && !n.starts_with("hugepages-"); }

void resources(Ctx& ctx, const Path& p, const Node* res, bool requests_default_to_limits) {
  if (!res) return;
  const Node* limits = map_at(res, "limits");
  const Node* requests = map_at(res, "requests");
  bool cpu_mem = false, huge = false;
  auto check_names = [&](const Node* list, const Path& lp) {
    if (!list) return;
    for (const auto& e : list->entries) {
      std::string_view n = e.key->text;
      Path kp = lp.key_of(n);
      if (auto problem = qualified_name(n); !problem.empty()) {
        ctx.invalid(rule::resources, kp, e.key, problem);
        continue;
      }
      if (n.find('/') == std::string_view::npos) {
        if (!standard_container_resource(n))
          ctx.invalid(rule::resources, kp, e.key, "must be a standard resource for containers");
      } else if (!native_resource(n) && !qualified_name(std::string("requests.") + std::string(n)).empty()) {
        ctx.invalid(rule::resources, kp, e.key, "doesn't follow extended resource name standard");
      }
      cpu_mem = cpu_mem || n == "cpu" || n == "memory";
      huge = huge || n.starts_with("hugepages-");
      if (!e.value->is_string() && e.value->type != yaml::Type::integer && e.value->type != yaml::Type::number) continue;
      auto q = e.value->is_string() ? parse_quantity(e.value->text)
                                    : std::optional<Quantity>(Quantity{e.value->type == yaml::Type::integer
                                                                           ? static_cast<double>(e.value->value.integer)
                                                                           : e.value->value.number,
                                                                       true});
      if (!q) continue;  // the schema's quantity format reports it
      if (q->value < 0)
        ctx.invalid(rule::resources, kp, e.value, "must be greater than or equal to 0");
      else if (!overcommit_allowed(n) && !n.starts_with("hugepages-") && !q->integral)
        ctx.invalid(rule::resources, kp, e.value, "must be an integer");
    }
  };
  check_names(limits, p.field("limits"));
  check_names(requests, p.field("requests"));
  auto quantity = [](const Node* v) -> std::optional<double> {
    if (!v) return std::nullopt;
    if (v->type == yaml::Type::integer) return static_cast<double>(v->value.integer);
    if (v->type == yaml::Type::number) return v->value.number;
    if (!v->is_string()) return std::nullopt;
    auto q = parse_quantity(v->text);
    return q ? std::optional<double>(q->value) : std::nullopt;
  };
  if (requests)
    for (const auto& e : requests->entries) {
      std::string_view n = e.key->text;
      const Node* limit = limits ? limits->get(n) : nullptr;
      auto rq = quantity(e.value);
      if (limit) {
        auto lq = quantity(limit);
        if (!rq || !lq) continue;
        double tolerance = 1e-9 * std::max(std::abs(*rq), std::abs(*lq));
        if (!overcommit_allowed(n) && std::abs(*rq - *lq) > tolerance)
          ctx.invalid_text(rule::resources, p.field("requests"), e.value, "\"" + std::string(e.value->text) + "\"",
                           "must be equal to " + std::string(n) + " limit");
        else if (*rq - *lq > tolerance)
          ctx.invalid_text(rule::resources, p.field("requests"), e.value, "\"" + std::string(e.value->text) + "\"",
                           "must be less than or equal to " + std::string(n) + " limit");
      } else if (!overcommit_allowed(n) && qualified_name(n).empty()) {
        ctx.required(rule::resources, p.field("limits"), res, "Limit must be set for non overcommitable resources");
      }
    }
  (void)requests_default_to_limits;
  if (huge && !cpu_mem) ctx.forbidden(rule::resources, p, res, "HugePages require cpu or memory");
}

void id_range(Ctx& ctx, const Path& p, const Node* sc, std::string_view key) {
  ctx.in_range(rule::security, p, sc, key, 0, k_max_int32);
}

void seccomp(Ctx& ctx, const Path& p, const Node* sc);

void container_security(Ctx& ctx, const Path& p, const Node* sc) {
  if (!sc) return;
  id_range(ctx, p, sc, "runAsUser");
  id_range(ctx, p, sc, "runAsGroup");
  const Node* ape = sc->get("allowPrivilegeEscalation");
  if (ape && ape->type == yaml::Type::boolean && !ape->value.boolean) {
    if (true_at(sc, "privileged"))
      ctx.invalid_text(rule::security, p, sc, "{...}", "cannot set `allowPrivilegeEscalation` to false and `privileged` to true");
    if (const Node* add = seq_at(map_at(sc, "capabilities"), "add"))
      for (const Node* cap : add->items)
        if (cap->is_string() && cap->text == "CAP_SYS_ADMIN")
          ctx.invalid_text(rule::security, p, sc, "{...}",
                           "cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN");
  }
  seccomp(ctx, p, sc);
}

void seccomp(Ctx& ctx, const Path& p, const Node* sc) {
  if (const Node* seccomp = map_at(sc, "seccompProfile")) {
    Path sp = p.field("seccompProfile");
    auto type = str_at(seccomp, "type");
    ctx.one_of(rule::security, sp, seccomp, "type", {"Localhost", "RuntimeDefault", "Unconfined"});
    auto profile = str_at(seccomp, "localhostProfile");
    if (type == "Localhost" && (!profile || profile->empty()))
      ctx.required(rule::security, sp.field("localhostProfile"), seccomp, "must be set when seccomp type is Localhost");
    else if (type && type != "Localhost" && profile)
      ctx.invalid(rule::security, sp.field("localhostProfile"), seccomp->get("localhostProfile"),
                  "can only be set when seccomp type is Localhost");
  }
}

enum class ContainerKind { regular, init, ephemeral };

void containers(Ctx& ctx, const Path& p, const Node* list, ContainerKind kind,
                const std::map<std::string_view, bool>& volumes, std::set<std::string_view>& names,
                bool requests_default_to_limits, bool host_network) {
  if (!list) return;
  for (std::size_t i = 0; i < list->items.size(); ++i) {
    const Node* c = list->items[i];
    if (!c->is_mapping()) continue;
    Path ip = p.item(i);
    auto name = str_at(c, "name");
    if (!name || name->empty()) {
      ctx.required(rule::containers, ip.field("name"), c);
    } else {
      if (auto problem = dns1123_label(*name); !problem.empty())
        ctx.invalid(rule::containers, ip.field("name"), c->get("name"), problem);
      if (!names.insert(*name).second) ctx.duplicate(rule::containers, ip.field("name"), c->get("name"));
    }
    auto image = str_at(c, "image");
    if (!image || image->empty()) ctx.required(rule::containers, ip.field("image"), c);
    if (const Node* lc = map_at(c, "lifecycle")) {
      if (kind != ContainerKind::regular) {
        ctx.invalid_text(rule::containers, ip.field("lifecycle"), lc, "{...}", "must not be set for init containers");
      } else {
        for (auto h : {"postStart", "preStop"})
          if (const Node* hn = map_at(lc, h)) handler(ctx, rule::probes, ip.field("lifecycle").field(h), hn);
      }
    }
    for (auto [key, success_one] : {std::pair{"livenessProbe", true}, std::pair{"readinessProbe", false},
                                    std::pair{"startupProbe", true}}) {
      if (kind != ContainerKind::regular) {
        if (const Node* pr = c->get(key); pr && pr->type != yaml::Type::null)
          ctx.invalid_text(rule::probes, ip.field(key), pr, "{...}",
                           kind == ContainerKind::init ? "must not be set for init containers"
                                                       : "may not be set for ephemeral containers");
        continue;
      }
      probe(ctx, ip, c, key, success_one);
    }
    if (kind == ContainerKind::ephemeral) {
      if (const Node* ports = seq_at(c, "ports"); ports && !ports->items.empty())
        ctx.forbidden(rule::containers, ip.field("ports"), ports, "cannot be set on ephemeral containers");
    } else {
      container_ports(ctx, ip.field("ports"), seq_at(c, "ports"));
    }
    if (host_network)
      if (const Node* ports = seq_at(c, "ports"))
        for (std::size_t j = 0; j < ports->items.size(); ++j) {
          auto hp = int_at(ports->items[j], "hostPort");
          auto cp = int_at(ports->items[j], "containerPort");
          if (hp && cp && *hp != 0 && *hp != *cp)
            ctx.invalid(rule::ports, ip.field_item("ports", j).field("hostPort"), ports->items[j]->get("hostPort"),
                        "must match `containerPort` when `hostNetwork` is true");
        }
    env(ctx, ip.field("env"), seq_at(c, "env"));
    env_from(ctx, ip.field("envFrom"), seq_at(c, "envFrom"));
    if (const Node* mounts = seq_at(c, "volumeMounts")) {
      std::set<std::string_view> paths;
      Path mp = ip.field("volumeMounts");
      for (std::size_t j = 0; j < mounts->items.size(); ++j) {
        const Node* m = mounts->items[j];
        if (!m->is_mapping()) continue;
        Path jp = mp.item(j);
        auto mname = str_at(m, "name");
        if (!mname || mname->empty())
          ctx.required(rule::volumes, jp.field("name"), m);
        else if (!volumes.contains(*mname))
          ctx.not_found(rule::volumes, jp.field("name"), m->get("name"));
        auto path = str_at(m, "mountPath");
        if (!path || path->empty())
          ctx.required(rule::volumes, jp.field("mountPath"), m);
        else if (!paths.insert(*path).second)
          ctx.invalid(rule::volumes, jp.field("mountPath"), m->get("mountPath"), "must be unique");
        auto sub = str_at(m, "subPath");
        if (sub && !sub->empty())
          if (auto problem = local_descending_path(*sub); !problem.empty())
            ctx.invalid(rule::volumes, mp.field("subPath"), m->get("subPath"), problem);
        if (auto expr = str_at(m, "subPathExpr"); expr && !expr->empty()) {
          if (sub && !sub->empty())
            ctx.invalid(rule::volumes, jp.field("subPathExpr"), m->get("subPathExpr"), "subPathExpr and subPath are mutually exclusive");
          else if (auto problem = local_descending_path(*expr); !problem.empty())
            ctx.invalid(rule::volumes, mp.field("subPathExpr"), m->get("subPathExpr"), problem);
        }
        ctx.one_of(rule::volumes, jp, m, "mountPropagation", {"Bidirectional", "HostToContainer", "None"});
        if (str_at(m, "mountPropagation") == "Bidirectional" && !true_at(map_at(c, "securityContext"), "privileged"))
          ctx.forbidden(rule::volumes, jp.field("mountPropagation"), m->get("mountPropagation"),
                        "Bidirectional mount propagation is available only to privileged containers");
      }
    }
    if (const Node* devices = seq_at(c, "volumeDevices"))
      for (std::size_t j = 0; j < devices->items.size(); ++j) {
        const Node* d = devices->items[j];
        Path jp = ip.field_item("volumeDevices", j);
        auto dname = str_at(d, "name");
        if (!dname || dname->empty())
          ctx.required(rule::volumes, jp.field("name"), d);
        else if (!volumes.contains(*dname))
          ctx.not_found(rule::volumes, jp.field("name"), d->get("name"));
        else if (!volumes.at(*dname))
          ctx.invalid(rule::volumes, jp.field("name"), d->get("name"), "can only use volume source type of PersistentVolumeClaim for block mode");
        auto dpath = str_at(d, "devicePath");
        if (!dpath || dpath->empty()) ctx.required(rule::volumes, jp.field("devicePath"), d);
      }
    ctx.one_of(rule::containers, ip, c, "imagePullPolicy", {"Always", "IfNotPresent", "Never"});
    ctx.one_of(rule::containers, ip, c, "terminationMessagePolicy", {"File", "FallbackToLogsOnError"});
    resources(ctx, ip.field("resources"), map_at(c, "resources"), requests_default_to_limits);
    container_security(ctx, ip.field("securityContext"), map_at(c, "securityContext"));
  }
}

void host_port_conflicts(Ctx& ctx, const Path& p, const Node* list) {
  if (!list) return;
  std::set<std::pair<std::string_view, std::int64_t>> seen;
  for (std::size_t i = 0; i < list->items.size(); ++i) {
    const Node* ports = seq_at(list->items[i], "ports");
    if (!ports) continue;
    for (std::size_t j = 0; j < ports->items.size(); ++j) {
      auto hp = int_at(ports->items[j], "hostPort");
      if (!hp || *hp == 0) continue;
      std::string_view proto = str_at(ports->items[j], "protocol").value_or("TCP");
      if (!seen.insert({proto, *hp}).second)
        ctx.duplicate(rule::ports, p.item(i).field("ports").item(j).field("hostPort"), ports->items[j]->get("hostPort"));
    }
  }
}

void node_selector_requirements(Ctx& ctx, const Path& p, const Node* list, bool fields) {
  if (!list) return;
  for (std::size_t i = 0; i < list->items.size(); ++i) {
    const Node* r = list->items[i];
    if (!r->is_mapping()) continue;
    Path ip = p.item(i);
    auto op = str_at(r, "operator");
    const Node* values = seq_at(r, "values");
    std::size_t n = values ? values->items.size() : 0;
    if (op == "In" || op == "NotIn") {
      if (n == 0) ctx.required(rule::pod, ip.field("values"), r, "must be specified when `operator` is 'In' or 'NotIn'");
    } else if (op == "Exists" || op == "DoesNotExist") {
      if (n > 0) ctx.forbidden(rule::pod, ip.field("values"), values, "may not be specified when `operator` is 'Exists' or 'DoesNotExist'");
    } else if (op == "Gt" || op == "Lt") {
      if (n != 1) ctx.required(rule::pod, ip.field("values"), r, "must be specified single value when `operator` is 'Lt' or 'Gt'");
    } else if (op) {
      ctx.invalid(rule::pod, ip.field("operator"), r->get("operator"), "not a valid selector operator");
    }
    if (auto key = str_at(r, "key")) {
      if (fields) {
        if (*key != "metadata.name") ctx.invalid(rule::pod, ip.field("key"), r->get("key"), "not a valid field selector key");
      } else if (auto problem = qualified_name(*key); !problem.empty()) {
        ctx.invalid(rule::pod, ip.field("key"), r->get("key"), problem);
      }
    }
  }
}

void node_selector_term(Ctx& ctx, const Path& p, const Node* term) {
  node_selector_requirements(ctx, p.field("matchExpressions"), seq_at(term, "matchExpressions"), false);
  node_selector_requirements(ctx, p.field("matchFields"), seq_at(term, "matchFields"), true);
}

void pod_affinity_term(Ctx& ctx, const Path& p, const Node* term) {
  if (!term) return;
  validate_label_selector(ctx, p.field("labelSelector"), map_at(term, "labelSelector"));
  if (const Node* nss = seq_at(term, "namespaces"))
    for (const Node* ns : nss->items)
      if (ns->is_string())
        if (auto problem = dns1123_label(ns->text); !problem.empty()) ctx.invalid(rule::pod, p.field("namespace"), ns, problem);
  auto key = str_at(term, "topologyKey");
  if (!key || key->empty())
    ctx.required(rule::pod, p.field("topologyKey"), term, "can not be empty");
  else if (auto problem = qualified_name(*key); !problem.empty())
    ctx.invalid(rule::pod, p.field("topologyKey"), term->get("topologyKey"), problem);
}

void weight(Ctx& ctx, const Path& p, const Node* t) {
  if (auto w = int_at(t, "weight"); w && (*w < 1 || *w > 100))
    ctx.invalid(rule::pod, p.field("weight"), t->get("weight"), "must be in the range 1-100");
}

void affinity(Ctx& ctx, const Path& p, const Node* a) {
  if (!a) return;
  if (const Node* na = map_at(a, "nodeAffinity")) {
    Path np = p.field("nodeAffinity");
    if (const Node* req = map_at(na, "requiredDuringSchedulingIgnoredDuringExecution")) {
      Path rp = np.field("requiredDuringSchedulingIgnoredDuringExecution");
      const Node* terms = seq_at(req, "nodeSelectorTerms");
      if (!terms || terms->items.empty())
        ctx.required(rule::pod, rp.field("nodeSelectorTerms"), req, "must have at least one node selector term");
      else
        for (std::size_t i = 0; i < terms->items.size(); ++i)
          node_selector_term(ctx, rp.field_item("nodeSelectorTerms", i), terms->items[i]);
    }
    if (const Node* pref = seq_at(na, "preferredDuringSchedulingIgnoredDuringExecution"))
      for (std::size_t i = 0; i < pref->items.size(); ++i) {
        Path ip = np.field_item("preferredDuringSchedulingIgnoredDuringExecution", i);
        weight(ctx, ip, pref->items[i]);
        node_selector_term(ctx, ip.field("preference"), map_at(pref->items[i], "preference"));
      }
  }
  for (auto key : {"podAffinity", "podAntiAffinity"}) {
    const Node* pa = map_at(a, key);
    if (!pa) continue;
    Path pp = p.field(key);
    if (const Node* req = seq_at(pa, "requiredDuringSchedulingIgnoredDuringExecution"))
      for (std::size_t i = 0; i < req->items.size(); ++i)
        pod_affinity_term(ctx, pp.field_item("requiredDuringSchedulingIgnoredDuringExecution", i), req->items[i]->is_mapping() ? req->items[i] : nullptr);
    if (const Node* pref = seq_at(pa, "preferredDuringSchedulingIgnoredDuringExecution"))
      for (std::size_t i = 0; i < pref->items.size(); ++i) {
        Path ip = pp.field_item("preferredDuringSchedulingIgnoredDuringExecution", i);
        weight(ctx, ip, pref->items[i]);
        pod_affinity_term(ctx, ip.field("podAffinityTerm"), map_at(pref->items[i], "podAffinityTerm"));
      }
  }
}

void tolerations(Ctx& ctx, const Path& p, const Node* list) {
  if (!list) return;
  for (std::size_t i = 0; i < list->items.size(); ++i) {
    const Node* t = list->items[i];
    if (!t->is_mapping()) continue;
    Path ip = p.item(i);
    auto key = str_at(t, "key");
    auto op = str_at(t, "operator").value_or("");
    auto value = str_at(t, "value").value_or("");
    if (key && !key->empty())
      if (auto problem = qualified_name(*key); !problem.empty()) ctx.invalid(rule::pod, ip.field("key"), t->get("key"), problem);
    if ((!key || key->empty()) && op != "Exists")
      ctx.invalid_text(rule::pod, ip.field("operator"), t, "\"" + std::string(op) + "\"",
                       "operator must be Exists when `key` is empty, which means \"match all values and all keys\"");
    if (t->get("tolerationSeconds") && t->get("tolerationSeconds")->type != yaml::Type::null &&
        str_at(t, "effect") != "NoExecute")
      ctx.invalid_text(rule::pod, ip.field("effect"), t, "\"" + std::string(str_at(t, "effect").value_or("")) + "\"",
                       "effect must be 'NoExecute' when `tolerationSeconds` is set");
    if (op == "Equal" || op.empty()) {
      if (auto problem = label_value(value); !problem.empty())
        ctx.invalid_text(rule::pod, ip.field("operator"), t, "\"" + std::string(value) + "\"", problem);
    } else if (op == "Exists") {
      if (!value.empty()) ctx.invalid_text(rule::pod, ip.field("operator"), t, "{...}", "value must be empty when `operator` is 'Exists'");
    } else {
      ctx.unsupported(rule::pod, ip.field("operator"), t->get("operator"), {"Equal", "Exists"});
    }
    if (auto effect = str_at(t, "effect"); effect && !effect->empty())
      ctx.one_of(rule::pod, ip, t, "effect", {"NoSchedule", "PreferNoSchedule", "NoExecute"});
  }
}

void pod_security(Ctx& ctx, const Path& p, const Node* spec, const Node* sc) {
  if (sc) {
    Path sp = p.field("securityContext");
    id_range(ctx, sp, sc, "runAsUser");
    id_range(ctx, sp, sc, "runAsGroup");
    id_range(ctx, sp, sc, "fsGroup");
    if (const Node* groups = seq_at(sc, "supplementalGroups"))
      for (std::size_t i = 0; i < groups->items.size(); ++i) {
        const Node* g = groups->items[i];
        if (g->type == yaml::Type::integer && (g->value.integer < 0 || g->value.integer > k_max_int32))
          ctx.invalid(rule::security, sp.field_item("supplementalGroups", i), g, "must be between 0 and 2147483647, inclusive");
      }
    ctx.one_of(rule::security, sp, sc, "fsGroupChangePolicy", {"OnRootMismatch", "Always"});
    if (const Node* sysctls = seq_at(sc, "sysctls")) {
      std::set<std::string_view> names;
      for (std::size_t i = 0; i < sysctls->items.size(); ++i) {
        const Node* s = sysctls->items[i];
        Path ip = sp.field_item("sysctls", i);
        auto name = str_at(s, "name");
        if (!name || name->empty()) {
          ctx.required(rule::security, ip.field("name"), s);
          continue;
        }
        bool ok = name->size() <= 253 && std::all_of(name->begin(), name->end(), [](char c) {
          return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' || c == '/';
        }) && std::isalnum(static_cast<unsigned char>(name->front())) && std::isalnum(static_cast<unsigned char>(name->back()));
        if (!ok)
          ctx.invalid(rule::security, ip.field("name"), s->get("name"),
                      "must have at most 253 characters and match regex ^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$");
        else if (!names.insert(*name).second)
          ctx.duplicate(rule::security, ip.field("name"), s->get("name"));
      }
    }
    seccomp(ctx, sp, sc);
  }
  if (true_at(spec, "shareProcessNamespace") && true_at(spec, "hostPID"))
    ctx.invalid_text(rule::security, p.field("securityContext.shareProcessNamespace"), spec, "true",
                     "ShareProcessNamespace and HostPID cannot both be enabled");
}

// Server-side apply (1.18-1.20) refuses lists keyed by a field with two items of one key (500:
// "duplicate entries for key"), where a create accepts them: env vars and container ports in
// every pod spec; containers, init containers, volumes and mounts where the pod spec is not
// otherwise validated (1.20 StatefulSets).
void ssa_duplicates(Ctx& ctx, const Path& p, const Node* spec, bool spec_validated) {
  if (!ctx.on(rule::ssa_duplicate)) return;
  auto keyed = [&](const Path& lp, const Node* list, std::string_view key) {
    if (!list) return;
    std::set<std::string_view> seen;
    for (std::size_t i = 0; i < list->items.size(); ++i)
      if (auto v = str_at(list->items[i], key); v && !seen.insert(*v).second)
        ctx.report(rule::ssa_duplicate, lp.item(i).field(key), list->items[i]->get(key),
                   "Duplicate value: " + value_text(list->items[i]->get(key)) +
                       ": server-side apply refuses two items with one key (500: duplicate entries for key)");
  };
  if (!spec_validated) keyed(p.field("volumes"), seq_at(spec, "volumes"), "name");
  for (auto list_key : {"containers", "initContainers"}) {
    const Node* list = seq_at(spec, list_key);
    if (!list) continue;
    Path lp = p.field(list_key);
    if (!spec_validated) keyed(lp, list, "name");
    for (std::size_t i = 0; i < list->items.size(); ++i) {
      const Node* c = list->items[i];
      Path cp = lp.item(i);
      keyed(cp.field("env"), seq_at(c, "env"), "name");
      if (!spec_validated) keyed(cp.field("volumeMounts"), seq_at(c, "volumeMounts"), "mountPath");
      if (const Node* ports = seq_at(c, "ports")) {
        std::set<std::pair<std::int64_t, std::string_view>> seen;
        for (std::size_t j = 0; j < ports->items.size(); ++j) {
          auto num = int_at(ports->items[j], "containerPort");
          if (num && !seen.insert({*num, str_at(ports->items[j], "protocol").value_or("TCP")}).second)
            ctx.report(rule::ssa_duplicate, cp.field_item("ports", j), ports->items[j],
                       "Duplicate value: containerPort " + std::to_string(*num) +
                           ": server-side apply refuses two ports with one containerPort and protocol (500: duplicate "
                           "entries for key)");
        }
      }
    }
  }
}

}  // namespace

void validate_pod_spec(Ctx& ctx, const Path& p, const Node* spec, RestartPolicies allowed) {
  if (!spec) return;
  auto volumes = validate_volumes(ctx, p.field("volumes"), seq_at(spec, "volumes"));
  const Node* regular = seq_at(spec, "containers");
  bool host_network = true_at(spec, "hostNetwork");
  std::set<std::string_view> names;
  if (!regular || regular->items.empty())
    ctx.required(rule::containers, p.field("containers"), spec);
  else
    containers(ctx, p.field("containers"), regular, ContainerKind::regular, volumes, names, false, host_network);
  containers(ctx, p.field("initContainers"), seq_at(spec, "initContainers"), ContainerKind::init, volumes, names, false,
             host_network);
  if (ctx.on(rule::ephemeral)) {
    std::set<std::string_view> ephemeral_names = names;
    containers(ctx, p.field("ephemeralContainers"), seq_at(spec, "ephemeralContainers"), ContainerKind::ephemeral,
               volumes, ephemeral_names, false, false);
  }
  host_port_conflicts(ctx, p.field("containers"), regular);
  ssa_duplicates(ctx, p, spec, true);

  std::string_view restart = str_at(spec, "restartPolicy").value_or("Always");
  const Node* restart_node = spec->get("restartPolicy");
  if (restart.empty()) restart = "Always", restart_node = nullptr;
  if (!in(restart, {"Always", "OnFailure", "Never"})) {
    ctx.unsupported(rule::pod, p.field("restartPolicy"), restart_node, {"Always", "OnFailure", "Never"});
  } else if (allowed == RestartPolicies::always && restart != "Always") {
    ctx.unsupported(rule::workload, p.field("restartPolicy"), restart_node, {"Always"});
  } else if (allowed == RestartPolicies::on_failure_or_never && restart == "Always") {
    if (restart_node)
      ctx.unsupported(rule::job, p.field("restartPolicy"), restart_node, {"OnFailure", "Never"});
    else
      ctx.required(rule::job, p.field("restartPolicy"), spec,
                   "the default, Always, is not allowed here: valid values: \"OnFailure\", \"Never\"");
  }
  ctx.one_of(rule::pod, p, spec, "dnsPolicy", {"ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"});
  if (const Node* dns = map_at(spec, "dnsConfig")) {
    Path dp = p.field("dnsConfig");
    const Node* ns = seq_at(dns, "nameservers");
    if (str_at(spec, "dnsPolicy") == "None" && (!ns || ns->items.empty()))
      ctx.required(rule::pod, dp.field("nameservers"), dns, "must provide at least one DNS nameserver when DNSPolicy is set to None");
    if (ns) {
      if (ns->items.size() > 3)
        ctx.invalid_text(rule::pod, dp.field("nameservers"), ns, "[...]", "must not have more than 3 nameservers");
      for (std::size_t i = 0; i < ns->items.size(); ++i)
        if (ns->items[i]->is_string() && !is_ip(ns->items[i]->text))
          ctx.invalid(rule::pod, dp.field_item("nameservers", i), ns->items[i], "must be valid IP address");
    }
    if (const Node* searches = seq_at(dns, "searches")) {
      if (searches->items.size() > 6)
        ctx.invalid_text(rule::pod, dp.field("searches"), searches, "[...]", "must not have more than 6 search paths");
      for (std::size_t i = 0; i < searches->items.size(); ++i) {
        const Node* s = searches->items[i];
        if (!s->is_string()) continue;
        std::string_view domain = s->text;
        if (domain.ends_with(".")) domain.remove_suffix(1);
        if (auto problem = dns1123_subdomain(domain); !problem.empty())
          ctx.invalid(rule::pod, dp.field_item("searches", i), s, problem);
      }
    }
    if (const Node* options = seq_at(dns, "options"))
      for (std::size_t i = 0; i < options->items.size(); ++i) {
        auto name = str_at(options->items[i], "name");
        if (!name || name->empty()) ctx.required(rule::pod, dp.field_item("options", i), options->items[i], "Option.Name must not be empty");
      }
  } else if (str_at(spec, "dnsPolicy") == "None") {
    ctx.required(rule::pod, p.field("dnsConfig"), spec, "must provide `dnsConfig` when `dnsPolicy` is None");
  }
  validate_labels(ctx, rule::pod, p.field("nodeSelector"), map_at(spec, "nodeSelector"));
  pod_security(ctx, p, spec, map_at(spec, "securityContext"));
  if (const Node* secrets = seq_at(spec, "imagePullSecrets"))
    for (std::size_t i = 0; i < secrets->items.size(); ++i) {
      auto name = str_at(secrets->items[i], "name");
      if (secrets->items[i]->is_mapping() && (!name || name->empty()))
        ctx.required(rule::pod, p.field_item("imagePullSecrets", i).field("name"), secrets->items[i]);
    }
  affinity(ctx, p.field("affinity"), map_at(spec, "affinity"));
  if (const Node* gates = seq_at(spec, "readinessGates"))
    for (std::size_t i = 0; i < gates->items.size(); ++i)
      ctx.syntax(rule::pod, p.field_item("readinessGates", i), gates->items[i], "conditionType", qualified_name);
  if (const Node* tsc = seq_at(spec, "topologySpreadConstraints")) {
    std::set<std::pair<std::string_view, std::string_view>> seen;
    for (std::size_t i = 0; i < tsc->items.size(); ++i) {
      const Node* c = tsc->items[i];
      if (!c->is_mapping()) continue;
      Path ip = p.field_item("topologySpreadConstraints", i);
      if (auto skew = int_at(c, "maxSkew"); !skew || *skew <= 0)
        ctx.invalid_text(rule::pod, ip.field("maxSkew"), c->get("maxSkew") ? c->get("maxSkew") : c,
                         skew ? std::to_string(*skew) : "0", "must be greater than zero");
      auto key = str_at(c, "topologyKey");
      if (!key || key->empty()) ctx.required(rule::pod, ip.field("topologyKey"), c, "can not be empty");
      auto when = str_at(c, "whenUnsatisfiable");
      if (!when || when->empty())
        ctx.required(rule::pod, ip.field("whenUnsatisfiable"), c);
      else
        ctx.one_of(rule::pod, ip, c, "whenUnsatisfiable", {"DoNotSchedule", "ScheduleAnyway"});
      if (key && when && !seen.insert({*key, *when}).second)
        ctx.duplicate(rule::pod, ip, c);
    }
  }
  ctx.syntax(rule::pod, p, spec, "serviceAccountName", [](std::string_view s) { return s.empty() ? std::string{} : dns1123_subdomain(s); });
  ctx.syntax(rule::pod, p, spec, "nodeName", [](std::string_view s) { return s.empty() ? std::string{} : dns1123_subdomain(s); });
  ctx.in_range(rule::pod, p, spec, "activeDeadlineSeconds", 1, k_max_int32);
  ctx.syntax(rule::pod, p, spec, "hostname", [](std::string_view s) { return s.empty() ? std::string{} : dns1123_label(s); });
  ctx.syntax(rule::pod, p, spec, "subdomain", [](std::string_view s) { return s.empty() ? std::string{} : dns1123_label(s); });
  tolerations(ctx, p.field("tolerations"), seq_at(spec, "tolerations"));
  if (const Node* aliases = seq_at(spec, "hostAliases"))
    for (std::size_t i = 0; i < aliases->items.size(); ++i) {
      const Node* a = aliases->items[i];
      Path ip = p.field_item("hostAliases", i);
      auto ip_text = str_at(a, "ip");
      if (!ip_text || !is_ip(*ip_text))
        ctx.invalid_text(rule::pod, ip.field("ip"), a->get("ip") ? a->get("ip") : a, value_text(a->get("ip")), "must be valid IP address");
      if (const Node* hosts = seq_at(a, "hostnames"))
        for (const Node* h : hosts->items)
          if (h->is_string())
            if (auto problem = dns1123_subdomain(h->text); !problem.empty()) ctx.invalid(rule::pod, ip.field("hostnames"), h, problem);
    }
  ctx.syntax(rule::pod, p, spec, "priorityClassName", [](std::string_view s) { return s.empty() ? std::string{} : dns1123_subdomain(s); });
  ctx.syntax(rule::pod, p, spec, "runtimeClassName", [](std::string_view s) { return dns1123_subdomain(s); });
  ctx.one_of(rule::pod, p, spec, "preemptionPolicy", {"PreemptLowerPriority", "Never"});
}

void validate_template_for_ssa(Ctx& ctx, const Path& p, const Node* tmpl) {
  if (const Node* spec = map_at(tmpl, "spec")) ssa_duplicates(ctx, p.field("spec"), spec, false);
}

void validate_pod_template(Ctx& ctx, const Path& p, const Node* tmpl, RestartPolicies allowed) {
  if (!tmpl) return;
  if (const Node* meta = map_at(tmpl, "metadata")) {
    Path mp = p.field("metadata");
    validate_labels(ctx, rule::labels, mp.field("labels"), map_at(meta, "labels"));
    if (const Node* annotations = map_at(meta, "annotations"))
      for (const auto& e : annotations->entries) {
        std::string lower(e.key->text);
        for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (auto problem = qualified_name(lower); !problem.empty())
          ctx.invalid(rule::annotations, mp.field("annotations"), e.key, problem);
      }
  }
  validate_pod_spec(ctx, p.field("spec"), map_at(tmpl, "spec"), allowed);
}

void validate_pvc_spec(Ctx& ctx, const Path& p, const Node* spec) {
  if (!spec) return;
  const Node* modes = seq_at(spec, "accessModes");
  if (!modes || modes->items.empty())
    ctx.required(rule::pvc, p.field("accessModes"), spec, "at least 1 access mode is required");
  else
    for (const Node* m : modes->items)
      if (m->is_string() && !in(m->text, {"ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany"}))
        ctx.unsupported(rule::pvc, p.field("accessModes"), m, {"ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce"});
  validate_label_selector(ctx, p.field("selector"), map_at(spec, "selector"));
  const Node* requests = map_at(map_at(spec, "resources"), "requests");
  const Node* storage = requests ? requests->get("storage") : nullptr;
  Path rp = p.field("resources");
  if (!storage) {
    ctx.required(rule::pvc, rp.field_key("requests", "storage"), spec);
  } else {
    std::optional<Quantity> q = storage->is_string() ? parse_quantity(storage->text)
                                : storage->type == yaml::Type::integer
                                    ? std::optional<Quantity>(Quantity{static_cast<double>(storage->value.integer), true})
                                    : std::nullopt;
    if (q && q->value <= 0)
      ctx.invalid(rule::pvc, rp.field_key("requests", "storage"), storage, "must be greater than zero");
  }
  if (auto sc = str_at(spec, "storageClassName"); sc && !sc->empty())
    if (auto problem = dns1123_subdomain(*sc); !problem.empty())
      ctx.invalid(rule::pvc, p.field("storageClassName"), spec->get("storageClassName"), problem);
  ctx.one_of(rule::pvc, p, spec, "volumeMode", {"Block", "Filesystem"});
}

}  // namespace portcullis::k8svalidate::detail
