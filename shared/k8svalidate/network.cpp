// networking (Ingress in networking.k8s.io/v1 and the v1beta1 spellings, NetworkPolicy,
// IngressClass) and core Services.
#include <algorithm>
#include <set>

#include "shared/k8svalidate/syntax.hpp"
#include "shared/k8svalidate/walker.hpp"

namespace portcullis::k8svalidate::detail {

namespace {

std::string port_num(std::int64_t n) {
  return n >= 1 && n <= 65535 ? std::string{} : "must be between 1 and 65535, inclusive";
}

void ingress_backend_v1(Ctx& ctx, const Path& p, const Node* b) {
  const Node* svc = map_at(b, "service");
  const Node* res = map_at(b, "resource");
  if (svc && res) {
    ctx.invalid_text(rule::ingress, p, b, "\"\"", "cannot set both resource and service backends");
    return;
  }
  if (res) {
    Path rp = p.field("resource");
    for (auto key : {"kind", "name"}) {
      auto v = str_at(res, key);
      if (!v || v->empty()) ctx.required(rule::ingress, rp.field(key), res);
      else if (auto problem = path_segment_name(*v); !problem.empty())
        ctx.invalid(rule::ingress, rp.field(key), res->get(key), problem);
    }
    if (auto g = str_at(res, "apiGroup"); g && !g->empty())
      if (auto problem = dns1123_subdomain(*g); !problem.empty())
        ctx.invalid(rule::ingress, rp.field("apiGroup"), res->get("apiGroup"), problem);
    return;
  }
  if (!svc) {
    ctx.invalid_text(rule::ingress, p, b, "\"\"", "resource or service backend is required");
    return;
  }
  Path sp = p.field("service");
  auto name = str_at(svc, "name");
  if (!name || name->empty())
    ctx.required(rule::ingress, sp.field("name"), svc);
  else if (auto problem = dns1035_label(*name); !problem.empty())
    ctx.invalid(rule::ingress, sp.field("name"), svc->get("name"), problem);
  const Node* port = map_at(svc, "port");
  auto pname = str_at(port, "name");
  auto pnum = int_at(port, "number");
  bool has_name = pname && !pname->empty(), has_number = pnum && *pnum != 0;
  if (has_name && has_number)
    ctx.invalid_text(rule::ingress, p, b, "\"\"", "cannot set both port name & port number");
  else if (has_name) {
    if (auto problem = port_name(*pname); !problem.empty())
      ctx.invalid(rule::ingress, sp.field("port.name"), port->get("name"), problem);
  } else if (has_number) {
    if (auto problem = port_num(*pnum); !problem.empty())
      ctx.invalid(rule::ingress, sp.field("port.number"), port->get("number"), problem);
  } else {
    ctx.required(rule::ingress, p, b, "port name or number is required");
  }
}

// extensions/v1beta1 and networking.k8s.io/v1beta1: serviceName and servicePort, converted.
void ingress_backend_v1beta1(Ctx& ctx, const Path& p, const Node* b) {
  const Node* res = map_at(b, "resource");
  auto name = str_at(b, "serviceName");
  const Node* port = b->get("servicePort");
  bool svc = (name && !name->empty()) || (port && port->type != yaml::Type::null);
  if (svc && res) {
    ctx.invalid_text(rule::ingress, p, b, "\"\"", "cannot set both resource and service backends");
    return;
  }
  if (res) return;
  if (!svc) {
    ctx.invalid_text(rule::ingress, p, b, "\"\"", "resource or service backend is required");
    return;
  }
  if (!name || name->empty())
    ctx.required(rule::ingress, p.field("serviceName"), b);
  else if (auto problem = dns1035_label(*name); !problem.empty())
    ctx.invalid(rule::ingress, p.field("serviceName"), b->get("serviceName"), problem);
  if (port && port->type == yaml::Type::integer && port->value.integer != 0) {
    if (auto problem = port_num(port->value.integer); !problem.empty())
      ctx.invalid(rule::ingress, p.field("servicePort"), port, problem);
  } else if (port && port->is_string() && !port->text.empty()) {
    if (auto problem = port_name(port->text); !problem.empty()) ctx.invalid(rule::ingress, p.field("servicePort"), port, problem);
  } else {
    ctx.required(rule::ingress, p, b, "port name or number is required");
  }
}

void host(Ctx& ctx, const Path& p, const Node* h) {
  if (!h || !h->is_string() || h->text.empty()) return;
  if (is_ip(h->text)) ctx.invalid(rule::ingress, p, h, "must be a DNS name, not an IP address");
  std::string problem = h->text.find('*') != std::string_view::npos ? wildcard_dns1123_subdomain(h->text)
                                                                     : dns1123_subdomain(h->text);
  if (!problem.empty()) ctx.invalid(rule::ingress, p, h, problem);
}

void ingress(Ctx& ctx, const Node& object, const Node* spec, bool v1) {
  Path root;
  Path sp = root.field("spec");
  const Node* rules = seq_at(spec, "rules");
  std::string_view backend_key = v1 ? "defaultBackend" : "backend";
  const Node* backend = map_at(spec, backend_key);
  if ((!rules || rules->items.empty()) && !backend)
    ctx.invalid_text(rule::ingress, sp, spec ? spec : &object, "[]",
                     "either `" + std::string(backend_key) + "` or `rules` must be specified");
  if (backend) {
    if (v1) ingress_backend_v1(ctx, sp.field(backend_key), backend);
    else ingress_backend_v1beta1(ctx, sp.field(backend_key), backend);
  }
  if (rules)
    for (std::size_t i = 0; i < rules->items.size(); ++i) {
      const Node* r = rules->items[i];
      if (!r->is_mapping()) continue;
      Path rp = sp.field_item("rules", i);
      host(ctx, rp.field("host"), r->get("host"));
      const Node* http = map_at(r, "http");
      if (!http) continue;
      Path hp = rp.field("http");
      const Node* paths = seq_at(http, "paths");
      if (!paths || paths->items.empty()) {
        ctx.required(rule::ingress, hp.field("paths"), http);
        continue;
      }
      for (std::size_t j = 0; j < paths->items.size(); ++j) {
        const Node* path = paths->items[j];
        if (!path->is_mapping()) continue;
        Path pp = hp.field_item("paths", j);
        std::string_view text = str_at(path, "path").value_or("");
        auto type = str_at(path, "pathType");
        if (!type && v1) {
          ctx.required(rule::ingress_path_type, pp.field("pathType"), path, "pathType must be specified");
          continue;
        }
        std::string_view t = type.value_or("ImplementationSpecific");
        if (t == "Exact" || t == "Prefix") {
          if (!text.starts_with("/"))
            ctx.invalid_text(rule::ingress, pp.field("path"), path->get("path") ? path->get("path") : path,
                             "\"" + std::string(text) + "\"", "must be an absolute path");
          if (!text.empty()) {
            for (auto seq : {"//", "/./", "/../", "%2f", "%2F"})
              if (text.find(seq) != std::string_view::npos)
                ctx.invalid(rule::ingress, pp.field("path"), path->get("path"), "must not contain '" + std::string(seq) + "'");
            for (auto suffix : {"/..", "/."})
              if (text.ends_with(suffix))
                ctx.invalid(rule::ingress, pp.field("path"), path->get("path"), "cannot end with '" + std::string(suffix) + "'");
          }
        } else if (t == "ImplementationSpecific") {
          if (!text.empty() && !text.starts_with("/"))
            ctx.invalid(rule::ingress, pp.field("path"), path->get("path"), "must be an absolute path");
        } else {
          ctx.unsupported(rule::ingress, pp.field("pathType"), path->get("pathType"), {"Exact", "ImplementationSpecific", "Prefix"});
        }
        const Node* b = map_at(path, "backend");
        static const Node k_empty{};
        if (v1) ingress_backend_v1(ctx, pp.field("backend"), b ? b : &k_empty);
        else ingress_backend_v1beta1(ctx, pp.field("backend"), b ? b : &k_empty);
      }
    }
  if (const Node* tls = seq_at(spec, "tls"))
    for (std::size_t i = 0; i < tls->items.size(); ++i) {
      if (auto secret = str_at(tls->items[i], "secretName"); secret && !secret->empty())
        if (auto problem = dns1123_subdomain(*secret); !problem.empty())
          ctx.invalid(rule::ingress, sp.field_item("tls", i).field("secretName"), tls->items[i]->get("secretName"), problem);
      if (const Node* hosts = seq_at(tls->items[i], "hosts"))
        for (std::size_t j = 0; j < hosts->items.size(); ++j)
          host(ctx, sp.field_item("tls", i).field("hosts").item(j), hosts->items[j]);
    }
  if (auto cls = str_at(spec, "ingressClassName")) {
    if (auto problem = dns1123_subdomain(*cls); !problem.empty())
      ctx.invalid(rule::ingress, sp.field("ingressClassName"), spec->get("ingressClassName"), problem);
    if (const Node* ann = map_at(map_at(&object, "metadata"), "annotations"); ann && ann->get("kubernetes.io/ingress.class"))
      ctx.invalid(rule::ingress, root.field_key("annotations", "kubernetes.io/ingress.class"),
                  ann->get("kubernetes.io/ingress.class"), "can not be set when the class field is also set");
  }
}

// An IPv4 CIDR's network and prefix length; nullopt for IPv6 or invalid text.
std::optional<std::pair<std::uint32_t, int>> ipv4_cidr(std::string_view s) {
  if (!is_cidr(s) || s.find(':') != std::string_view::npos) return std::nullopt;
  auto slash = s.find('/');
  std::uint32_t addr = 0;
  std::size_t start = 0;
  for (int i = 0; i < 4; ++i) {
    auto dot = s.find(i < 3 ? '.' : '/', start);
    addr = (addr << 8) | static_cast<std::uint32_t>(std::atoi(std::string(s.substr(start, dot - start)).c_str()));
    start = dot + 1;
  }
  int bits = std::atoi(std::string(s.substr(slash + 1)).c_str());
  std::uint32_t mask = bits == 0 ? 0 : ~std::uint32_t{0} << (32 - bits);
  return std::pair{addr & mask, bits};
}

void peer(Ctx& ctx, const Path& p, const Node* peer_node) {
  int n = 0;
  const Node* ipb = map_at(peer_node, "ipBlock");
  for (auto key : {"podSelector", "namespaceSelector"})
    if (const Node* s = map_at(peer_node, key)) {
      ++n;
      validate_label_selector(ctx, p.field(key), s);
    }
  if (ipb) {
    ++n;
    Path bp = p.field("ipBlock");
    auto cidr = str_at(ipb, "cidr");
    if (!cidr || cidr->empty()) {
      ctx.required(rule::network_policy, bp.field("cidr"), ipb);
    } else if (!is_cidr(*cidr)) {
      ctx.invalid(rule::network_policy, bp.field("cidr"), ipb->get("cidr"), "not a valid CIDR");
    } else if (const Node* except = seq_at(ipb, "except")) {
      auto outer = ipv4_cidr(*cidr);
      for (std::size_t i = 0; i < except->items.size(); ++i) {
        const Node* e = except->items[i];
        if (!e->is_string()) continue;
        if (!is_cidr(e->text)) {
          ctx.invalid(rule::network_policy, bp.field_item("except", i), e, "not a valid CIDR");
          break;
        }
        auto inner = ipv4_cidr(e->text);
        if (outer && inner) {
          std::uint32_t mask = outer->second == 0 ? 0 : ~std::uint32_t{0} << (32 - outer->second);
          if ((inner->first & mask) != outer->first || outer->second >= inner->second)
            ctx.invalid(rule::network_policy, bp.field_item("except", i), e, "must be a strict subset of `cidr`");
        }
      }
    }
  }
  if (n == 0)
    ctx.required(rule::network_policy, p, peer_node, "must specify a peer");
  else if (n > 1 && ipb)
    ctx.forbidden(rule::network_policy, p, peer_node, "may not specify both ipBlock and another peer");
}

void network_policy(Ctx& ctx, const Node* spec) {
  if (!spec) return;
  Path root;
  Path sp = root.field("spec");
  validate_label_selector(ctx, sp.field("podSelector"), map_at(spec, "podSelector"));
  for (auto [dir, peers] : {std::pair{"ingress", "from"}, std::pair{"egress", "to"}}) {
    const Node* list = seq_at(spec, dir);
    if (!list) continue;
    for (std::size_t i = 0; i < list->items.size(); ++i) {
      const Node* r = list->items[i];
      Path rp = sp.field_item(dir, i);
      if (const Node* ports = seq_at(r, "ports"))
        for (std::size_t j = 0; j < ports->items.size(); ++j) {
          const Node* port = ports->items[j];
          Path pp = rp.field_item("ports", j);
          ctx.one_of(rule::network_policy, pp, port, "protocol", {"SCTP", "TCP", "UDP"});
          const Node* v = port->get("port");
          if (v && v->type == yaml::Type::integer) {
            if (auto problem = port_num(v->value.integer); !problem.empty()) ctx.invalid(rule::network_policy, pp.field("port"), v, problem);
          } else if (v && v->is_string()) {
            if (auto problem = port_name(v->text); !problem.empty()) ctx.invalid(rule::network_policy, pp.field("port"), v, problem);
          }
        }
      if (const Node* list2 = seq_at(r, peers))
        for (std::size_t j = 0; j < list2->items.size(); ++j)
          if (list2->items[j]->is_mapping()) peer(ctx, rp.field_item(peers, j), list2->items[j]);
    }
  }
  if (const Node* types = seq_at(spec, "policyTypes")) {
    if (types->items.size() > 2)
      ctx.invalid_text(rule::network_policy, sp.field("policyTypes"), types, "[...]", "may not specify more than two policyTypes");
    for (std::size_t i = 0; i < types->items.size(); ++i) {
      const Node* t = types->items[i];
      if (t->is_string() && t->text != "Ingress" && t->text != "Egress")
        ctx.unsupported(rule::network_policy, sp.field_item("policyTypes", i), t, {"Ingress", "Egress"});
    }
  }
}

void ingress_class(Ctx& ctx, const Node* spec) {
  Path root;
  Path sp = root.field("spec");
  auto controller = str_at(spec, "controller");
  if (!controller || controller->empty()) {
    ctx.required(rule::ingress, sp.field("controller"), spec);
  } else if (controller->size() > 250) {
    ctx.too_long(rule::ingress, sp.field("controller"), spec->get("controller"), 250);
  } else {
    auto slash = controller->find('/');
    std::string problem = slash == std::string_view::npos ? "must be a domain-prefixed path (such as \"acme.io/foo\")"
                                                          : dns1123_subdomain(controller->substr(0, slash));
    if (problem.empty() && slash + 1 >= controller->size()) problem = "must be a domain-prefixed path (such as \"acme.io/foo\")";
    if (!problem.empty()) ctx.invalid(rule::ingress, sp.field("controller"), spec->get("controller"), problem);
  }
  if (const Node* params = map_at(spec, "parameters")) {
    Path pp = sp.field("parameters");
    for (auto key : {"kind", "name"}) {
      auto v = str_at(params, key);
      if (!v || v->empty()) ctx.required(rule::ingress, pp.field(key), params);
      else if (auto problem = path_segment_name(*v); !problem.empty())
        ctx.invalid(rule::ingress, pp.field(key), params->get(key), problem);
    }
    if (auto g = str_at(params, "apiGroup"); g && !g->empty())
      if (auto problem = dns1123_subdomain(*g); !problem.empty())
        ctx.invalid(rule::ingress, pp.field("apiGroup"), params->get("apiGroup"), problem);
  }
}

}  // namespace

void validate_service(Ctx& ctx, const Node& object, const Node* spec) {
  Path root;
  Path sp = root.field("spec");
  static const Node k_empty{};
  if (!spec) spec = &k_empty;
  std::string_view type = str_at(spec, "type").value_or("ClusterIP");
  auto cluster_ip = str_at(spec, "clusterIP");
  bool headless = cluster_ip == "None";
  const Node* ports = seq_at(spec, "ports");
  if ((!ports || ports->items.empty()) && !headless && type != "ExternalName")
    ctx.required(rule::service, sp.field("ports"), spec);
  if (type == "LoadBalancer" || type == "NodePort") {
    if (headless)
      ctx.invalid(rule::service, sp.field("clusterIP"), spec->get("clusterIP"),
                  "may not be set to 'None' for " + std::string(type) + " services");
    if (type == "LoadBalancer" && ports)
      for (std::size_t i = 0; i < ports->items.size(); ++i)
        if (int_at(ports->items[i], "port") == 10250)
          ctx.invalid(rule::service, sp.field_item("ports", i), ports->items[i]->get("port"),
                      "may not expose port 10250 externally since it is used by kubelet");
  } else if (type == "ExternalName") {
    std::string_view cname = str_at(spec, "externalName").value_or("");
    if (cname.ends_with(".")) cname.remove_suffix(1);
    if (cname.empty())
      ctx.required(rule::service, sp.field("externalName"), spec);
    else if (auto problem = dns1123_subdomain(cname); !problem.empty())
      ctx.invalid(rule::service, sp.field("externalName"), spec->get("externalName"), problem);
  }
  if (cluster_ip && !cluster_ip->empty() && !headless && !is_ip(*cluster_ip))
    ctx.invalid(rule::service, sp.field("clusterIP"), spec->get("clusterIP"), "must be empty, 'None', or a valid IP address");
  if (ports) {
    std::set<std::string_view> names;
    std::set<std::pair<std::string_view, std::int64_t>> seen, node_ports;
    for (std::size_t i = 0; i < ports->items.size(); ++i) {
      const Node* port = ports->items[i];
      if (!port->is_mapping()) continue;
      Path ip = sp.field_item("ports", i);
      auto name = str_at(port, "name");
      if (ports->items.size() > 1 && (!name || name->empty())) {
        ctx.required(rule::service, ip.field("name"), port);
      } else if (name && !name->empty()) {
        if (auto problem = dns1123_label(*name); !problem.empty()) ctx.invalid(rule::service, ip.field("name"), port->get("name"), problem);
        if (!names.insert(*name).second) ctx.duplicate(rule::service, ip.field("name"), port->get("name"));
      }
      auto num = int_at(port, "port");
      if (!port->get("port")) ctx.invalid_text(rule::service, ip.field("port"), port, "0", port_num(0));
      else if (num)
        if (auto problem = port_num(*num); !problem.empty()) ctx.invalid(rule::service, ip.field("port"), port->get("port"), problem);
      ctx.one_of(rule::service, ip, port, "protocol", {"SCTP", "TCP", "UDP"});
      if (!port->get("protocol"))
        ctx.required(rule::ssa_protocol, ip.field("protocol"), port,
                     "Kubernetes 1.20 and older default it to TCP, but their server-side apply fails on a port "
                     "without protocol (500: element omits key field \"protocol\"); write protocol: TCP");
      const Node* target = port->get("targetPort");
      if (target && target->type == yaml::Type::integer && target->value.integer != 0) {
        if (auto problem = port_num(target->value.integer); !problem.empty()) ctx.invalid(rule::service, ip.field("targetPort"), target, problem);
      } else if (target && target->is_string() && !target->text.empty()) {
        if (auto problem = port_name(target->text); !problem.empty()) ctx.invalid(rule::service, ip.field("targetPort"), target, problem);
      }
      if (auto ap = str_at(port, "appProtocol"))
        if (auto problem = qualified_name(*ap); !problem.empty()) ctx.invalid(rule::service, ip.field("appProtocol"), port->get("appProtocol"), problem);
      std::string_view proto = str_at(port, "protocol").value_or("TCP");
      if (num && !seen.insert({proto, *num}).second)
        ctx.invalid_text(rule::service, ip, port, "{...}", "Duplicate value");
      auto node_port = int_at(port, "nodePort");
      if (node_port && *node_port != 0) {
        if (type == "ClusterIP" || type == "ExternalName")
          ctx.forbidden(rule::service, ip.field("nodePort"), port->get("nodePort"),
                        "may not be used when `type` is '" + std::string(type) + "'");
        if (!node_ports.insert({proto, *node_port}).second)
          ctx.duplicate(rule::service, ip.field("nodePort"), port->get("nodePort"));
      }
    }
  }
  validate_labels(ctx, rule::service, sp.field("selector"), map_at(spec, "selector"));
  ctx.one_of(rule::service, sp, spec, "sessionAffinity", {"ClientIP", "None"});
  if (str_at(spec, "sessionAffinity") == "ClientIP") {
    auto timeout = int_at(map_at(map_at(spec, "sessionAffinityConfig"), "clientIP"), "timeoutSeconds");
    if (timeout && (*timeout <= 0 || *timeout > 86400))
      ctx.invalid(rule::service, sp.field("sessionAffinityConfig.clientIP.timeoutSeconds"),
                  spec->at({"sessionAffinityConfig", "clientIP", "timeoutSeconds"}), "must be greater than 0 and less than 86400");
  } else if (const Node* cfg = spec->get("sessionAffinityConfig"); cfg && cfg->type != yaml::Type::null) {
    ctx.forbidden(rule::service, sp.field("sessionAffinityConfig"), cfg, "must not be set when session affinity is None");
  }
  if (const Node* ips = seq_at(spec, "externalIPs"))
    for (std::size_t i = 0; i < ips->items.size(); ++i)
      if (ips->items[i]->is_string() && !is_ip(ips->items[i]->text))
        ctx.invalid(rule::service, sp.field_item("externalIPs", i), ips->items[i], "must be a valid IP address, (e.g. 10.9.8.7)");
  if (auto t = str_at(spec, "type"); t && !t->empty())
    ctx.one_of(rule::service, sp, spec, "type", {"ClusterIP", "ExternalName", "LoadBalancer", "NodePort"});
  if (const Node* ranges = seq_at(spec, "loadBalancerSourceRanges"); ranges && !ranges->items.empty()) {
    if (type != "LoadBalancer")
      ctx.forbidden(rule::service, sp.field("LoadBalancerSourceRanges"), ranges, "may only be used when `type` is 'LoadBalancer'");
    for (const Node* r : ranges->items)
      if (r->is_string() && !is_cidr(r->text))
        ctx.invalid(rule::service, sp.field("LoadBalancerSourceRanges"), r,
                    "must be a list of IP ranges. For example, 10.240.0.0/24,10.250.0.0/24 ");
  }
  if (auto etp = str_at(spec, "externalTrafficPolicy"); etp && !etp->empty()) {
    if (type != "LoadBalancer" && type != "NodePort")
      ctx.invalid(rule::service, sp.field("externalTrafficPolicy"), spec->get("externalTrafficPolicy"),
                  "ExternalTrafficPolicy can only be set on NodePort and LoadBalancer service");
    else
      ctx.one_of(rule::service, sp, spec, "externalTrafficPolicy", {"Local", "Cluster"});
  }
  (void)object;
}

void validate_network(Ctx& ctx, const Node& object, std::string_view group, std::string_view version,
                      std::string_view kind) {
  const Node* spec = map_at(&object, "spec");
  if (kind == "Ingress") ingress(ctx, object, spec, group == "networking.k8s.io" && version == "v1");
  if (kind == "NetworkPolicy") network_policy(ctx, spec);
  if (kind == "IngressClass") ingress_class(ctx, spec);
}

}  // namespace portcullis::k8svalidate::detail
