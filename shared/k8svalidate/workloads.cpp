// apps (Deployment, StatefulSet, DaemonSet, ReplicaSet), batch (Job, CronJob), policy (PDB),
// autoscaling (HPA).
#include <algorithm>

#include "shared/k8svalidate/syntax.hpp"
#include "shared/k8svalidate/walker.hpp"

namespace portcullis::k8svalidate::detail {

namespace {

bool percent(std::string_view s) {
  return s.size() >= 2 && s.back() == '%' &&
         std::all_of(s.begin(), s.end() - 1, [](char c) { return c >= '0' && c <= '9'; });
}

// The value of an int-or-percent as apps' getIntOrPercentValue reads it; nullopt when invalid.
std::optional<std::int64_t> int_or_percent(const Node* v) {
  if (!v) return std::nullopt;
  if (v->type == yaml::Type::integer) return v->value.integer;
  if (v->is_string() && percent(v->text)) return std::atoll(std::string(v->text.substr(0, v->text.size() - 1)).c_str());
  return std::nullopt;
}

// ValidatePositiveIntOrPercent and IsNotMoreThan100Percent (when `at_most_100`).
void positive_int_or_percent(Ctx& ctx, std::string_view rule, const Path& p, const Node* v, bool at_most_100) {
  if (!v) return;
  if (v->is_string()) {
    if (!percent(v->text)) {
      ctx.invalid(rule, p, v, "must be an integer or percentage (e.g '5%')");
      return;
    }
    if (at_most_100 && std::atoll(std::string(v->text.substr(0, v->text.size() - 1)).c_str()) > 100)
      ctx.invalid(rule, p, v, "must not be greater than 100%");
  } else if (v->type == yaml::Type::integer && v->value.integer < 0) {
    ctx.invalid(rule, p, v, "must be greater than or equal to 0");
  }
}

// A required, non-empty selector (`empty_kind`: "deployment" ...) matching the template labels.
void selector_and_template(Ctx& ctx, const Path& sp, const Node* spec, std::string_view empty_kind, bool required) {
  Path p = sp.field("selector");
  const Node* sel = map_at(spec, "selector");
  const Node* tmpl = map_at(spec, "template");
  const Node* labels = map_at(map_at(tmpl, "metadata"), "labels");
  if (!sel) {
    if (required)
      ctx.required(rule::selector, p, spec);
    else if (!labels || labels->entries.empty() || true)
      ctx.invalid_text(rule::selector, sp.field("template.metadata.labels"), tmpl ? tmpl : spec,
                       "map[...]", "`selector` does not match template `labels`");
    return;
  }
  validate_label_selector(ctx, p, sel);
  const Node* ml = map_at(sel, "matchLabels");
  const Node* me = seq_at(sel, "matchExpressions");
  if ((!ml || ml->entries.empty()) && (!me || me->items.empty())) {
    ctx.invalid_text(rule::selector, p, sel, "{...}", "empty selector is invalid for " + std::string(empty_kind));
    return;
  }
  if (!selector_matches(sel, labels))
    ctx.invalid_text(rule::selector, sp.field("template.metadata.labels"),
                     labels ? labels : (tmpl ? tmpl : spec), "map[...]", "`selector` does not match template `labels`");
}

void template_required(Ctx& ctx, const Path& sp, const Node* spec, RestartPolicies allowed) {
  const Node* tmpl = map_at(spec, "template");
  Path tp = sp.field("template");
  if (!map_at(tmpl, "spec")) {
    ctx.required(rule::containers, tp.field("spec.containers"), tmpl ? tmpl : spec);
    validate_pod_template(ctx, tp, tmpl, allowed);
    return;
  }
  validate_pod_template(ctx, tp, tmpl, allowed);
}

void no_deadline(Ctx& ctx, const Path& sp, const Node* spec, std::string_view kind) {
  const Node* ads = map_at(map_at(spec, "template"), "spec");
  if (ads && ads->get("activeDeadlineSeconds") && ads->get("activeDeadlineSeconds")->type != yaml::Type::null)
    ctx.forbidden(rule::workload, sp.field("template.spec.activeDeadlineSeconds"),
                  ads->get("activeDeadlineSeconds"), "activeDeadlineSeconds in " + std::string(kind) + " is not Supported");
}

void deployment(Ctx& ctx, const Node* spec, std::string_view kind) {
  Path root;
  Path sp = root.field("spec");
  if (!spec) {
    ctx.required(rule::selector, sp.field("selector"), nullptr);
    return;
  }
  ctx.nonnegative(rule::workload, sp, spec, "replicas");
  selector_and_template(ctx, sp, spec, kind == "Deployment" ? "deployment" : "deployment", true);
  template_required(ctx, sp, spec, RestartPolicies::always);
  no_deadline(ctx, sp, spec, kind == "Deployment" ? "ReplicaSet" : "ReplicaSet");
  ctx.nonnegative(rule::workload, sp, spec, "minReadySeconds");
  ctx.nonnegative(rule::workload, sp, spec, "revisionHistoryLimit");
  if (kind != "Deployment") return;
  if (const Node* strategy = map_at(spec, "strategy")) {
    Path stp = sp.field("strategy");
    std::string_view type = str_at(strategy, "type").value_or("RollingUpdate");
    if (type.empty()) type = "RollingUpdate";
    const Node* ru = strategy->get("rollingUpdate");
    bool has_ru = ru && ru->type != yaml::Type::null;
    if (type == "Recreate") {
      if (has_ru) ctx.forbidden(rule::workload, stp.field("rollingUpdate"), ru, "may not be specified when strategy `type` is 'Recreate'");
    } else if (type == "RollingUpdate") {
      const Node* mu = map_at(ru, "maxUnavailable");
      mu = ru && ru->is_mapping() ? ru->get("maxUnavailable") : nullptr;
      const Node* ms = ru && ru->is_mapping() ? ru->get("maxSurge") : nullptr;
      Path rp = stp.field("rollingUpdate");
      positive_int_or_percent(ctx, rule::workload, rp.field("maxUnavailable"), mu, true);
      positive_int_or_percent(ctx, rule::workload, rp.field("maxSurge"), ms, false);
      auto u = mu ? int_or_percent(mu) : std::optional<std::int64_t>(25);
      auto s = ms ? int_or_percent(ms) : std::optional<std::int64_t>(25);
      if (u == 0 && s == 0) ctx.invalid(rule::workload, rp.field("maxUnavailable"), mu, "may not be 0 when `maxSurge` is 0");
    } else {
      ctx.unsupported(rule::workload, stp, strategy->get("type"), {"Recreate", "RollingUpdate"});
    }
  }
  ctx.nonnegative(rule::workload, sp, spec, "progressDeadlineSeconds");
  auto min_ready = int_at(spec, "minReadySeconds").value_or(0);
  const Node* pds = spec->get("progressDeadlineSeconds");
  std::int64_t deadline = pds && pds->type == yaml::Type::integer ? pds->value.integer : 600;
  if ((!pds || pds->type == yaml::Type::integer) && deadline <= min_ready)
    ctx.invalid_text(rule::workload, sp.field("progressDeadlineSeconds"), pds ? pds : spec, std::to_string(deadline),
                     "must be greater than minReadySeconds");
}

void statefulset(Ctx& ctx, const Node* spec) {
  Path root;
  Path sp = root.field("spec");
  if (!spec) {
    ctx.required(rule::selector, sp.field("selector"), nullptr);
    return;
  }
  if (auto pmp = str_at(spec, "podManagementPolicy"); pmp && !pmp->empty() && *pmp != "OrderedReady" && *pmp != "Parallel")
    ctx.invalid(rule::workload, sp.field("podManagementPolicy"), spec->get("podManagementPolicy"),
                "must be 'OrderedReady' or 'Parallel'");
  if (const Node* us = map_at(spec, "updateStrategy")) {
    Path up = sp.field("updateStrategy");
    std::string_view type = str_at(us, "type").value_or("RollingUpdate");
    if (type.empty()) type = "RollingUpdate";
    const Node* ru = us->get("rollingUpdate");
    if (type == "OnDelete") {
      if (ru && ru->type != yaml::Type::null)
        ctx.invalid_text(rule::workload, up.field("rollingUpdate"), ru, "{...}", "only allowed for updateStrategy 'RollingUpdate'");
    } else if (type == "RollingUpdate") {
      ctx.nonnegative(rule::workload, up.field("rollingUpdate"), map_at(us, "rollingUpdate"), "partition");
    } else {
      ctx.invalid(rule::workload, up, us->get("type"), "must be 'RollingUpdate' or 'OnDelete'");
    }
  }
  ctx.nonnegative(rule::workload, sp, spec, "replicas");
  selector_and_template(ctx, sp, spec, "statefulset", true);
  // 1.20 validates the template's labels, annotations and restart policy, not its pod spec.
  const Node* tmpl = map_at(spec, "template");
  if (const Node* meta = map_at(tmpl, "metadata"))
    validate_labels(ctx, rule::labels, sp.field("template.labels"), map_at(meta, "labels"));
  std::string_view restart = str_at(map_at(tmpl, "spec"), "restartPolicy").value_or("Always");
  if (!restart.empty() && restart != "Always")
    ctx.unsupported(rule::workload, sp.field("template.spec.restartPolicy"),
                    map_at(tmpl, "spec")->get("restartPolicy"), {"Always"});
  no_deadline(ctx, sp, spec, "StatefulSet");
  validate_template_for_ssa(ctx, sp.field("template"), tmpl);
  ctx.nonnegative(rule::workload, sp, spec, "revisionHistoryLimit");
}

void daemonset(Ctx& ctx, const Node* spec) {
  Path root;
  Path sp = root.field("spec");
  if (!spec) {
    ctx.required(rule::selector, sp.field("selector"), nullptr);
    return;
  }
  selector_and_template(ctx, sp, spec, "daemonset", true);
  template_required(ctx, sp, spec, RestartPolicies::always);
  no_deadline(ctx, sp, spec, "DaemonSet");
  ctx.nonnegative(rule::workload, sp, spec, "minReadySeconds");
  ctx.nonnegative(rule::workload, sp, spec, "templateGeneration");
  ctx.nonnegative(rule::workload, sp, spec, "revisionHistoryLimit");
  if (const Node* us = map_at(spec, "updateStrategy")) {
    Path up = sp.field("updateStrategy");
    std::string_view type = str_at(us, "type").value_or("RollingUpdate");
    if (type.empty()) type = "RollingUpdate";
    if (type == "RollingUpdate") {
      const Node* ru = map_at(us, "rollingUpdate");
      const Node* mu = ru ? ru->get("maxUnavailable") : nullptr;
      Path rp = up.field("rollingUpdate");
      positive_int_or_percent(ctx, rule::workload, rp.field("maxUnavailable"), mu, true);
      if (mu && int_or_percent(mu) == 0) ctx.invalid(rule::workload, rp.field("maxUnavailable"), mu, "cannot be 0");
    } else if (type != "OnDelete") {
      ctx.unsupported(rule::workload, up.field("type"), us->get("type"), {"OnDelete", "RollingUpdate"});
    }
  }
}

// validateJobSpec: counts, template, restart policy.
void job_spec(Ctx& ctx, const Path& sp, const Node* spec) {
  for (auto f : {"parallelism", "completions", "activeDeadlineSeconds", "backoffLimit", "ttlSecondsAfterFinished"})
    ctx.nonnegative(rule::job, sp, spec, f);
  template_required(ctx, sp, spec, RestartPolicies::on_failure_or_never);
}

void job(Ctx& ctx, const Node& object, const Node* spec) {
  Path root;
  Path sp = root.field("spec");
  // The name becomes the value of the job-name label of its pods.
  if (auto name = str_at(map_at(&object, "metadata"), "name"); name && name->size() > 63)
    ctx.invalid(rule::job, root.field("metadata.name"), object.at({"metadata", "name"}), "must be no more than 63 characters");
  if (!spec) {
    ctx.required(rule::containers, sp.field("template.spec.containers"), nullptr);
    return;
  }
  job_spec(ctx, sp, spec);
  const Node* sel = map_at(spec, "selector");
  if (true_at(spec, "manualSelector")) {
    if (!sel) {
      ctx.required(rule::job, sp.field("selector"), spec);
    } else {
      validate_label_selector(ctx, sp.field("selector"), sel);
      if (!selector_matches(sel, map_at(map_at(map_at(spec, "template"), "metadata"), "labels")))
        ctx.invalid_text(rule::selector, sp.field("template.metadata.labels"), sel, "map[...]",
                         "`selector` does not match template `labels`");
    }
  } else if (sel) {
    ctx.invalid_text(rule::job, sp.field("selector"), sel, "{...}", "`selector` not auto-generated");
  }
}

void cronjob(Ctx& ctx, const Node& object, const Node* spec) {
  Path root;
  if (auto name = str_at(map_at(&object, "metadata"), "name"); name && name->size() > 52)
    ctx.invalid(rule::cronjob, root.field("metadata.name"), object.at({"metadata", "name"}),
                "must be no more than 52 characters");
  Path sp = root.field("spec");
  if (!spec) {
    ctx.required(rule::schedule, sp.field("schedule"), nullptr);
    return;
  }
  auto schedule = str_at(spec, "schedule");
  if (!schedule || schedule->empty())
    ctx.required(rule::schedule, sp.field("schedule"), spec);
  else if (auto problem = cron_schedule(*schedule); !problem.empty())
    ctx.invalid(rule::schedule, sp.field("schedule"), spec->get("schedule"), problem);
  ctx.nonnegative(rule::cronjob, sp, spec, "startingDeadlineSeconds");
  ctx.one_of(rule::cronjob, sp, spec, "concurrencyPolicy", {"Allow", "Forbid", "Replace"});
  ctx.nonnegative(rule::cronjob, sp, spec, "successfulJobsHistoryLimit");
  ctx.nonnegative(rule::cronjob, sp, spec, "failedJobsHistoryLimit");
  const Node* jt = map_at(spec, "jobTemplate");
  Path jp = sp.field("jobTemplate.spec");
  const Node* js = map_at(jt, "spec");
  if (!js) {
    ctx.required(rule::containers, jp.field("template.spec.containers"), jt ? jt : spec);
    return;
  }
  job_spec(ctx, jp, js);
  if (const Node* sel = js->get("selector"); sel && sel->type != yaml::Type::null)
    ctx.invalid_text(rule::cronjob, jp.field("selector"), sel, "{...}", "`selector` will be auto-generated");
  if (true_at(js, "manualSelector"))
    ctx.unsupported(rule::cronjob, jp.field("manualSelector"), js->get("manualSelector"), {"nil", "false"});
}

void pdb(Ctx& ctx, const Node* spec) {
  if (!spec) return;
  Path root;
  Path sp = root.field("spec");
  const Node* min = spec->get("minAvailable");
  const Node* max = spec->get("maxUnavailable");
  if (min && max && min->type != yaml::Type::null && max->type != yaml::Type::null)
    ctx.invalid_text(rule::pdb, sp, spec, "{...}", "minAvailable and maxUnavailable cannot be both set");
  positive_int_or_percent(ctx, rule::pdb, sp.field("minAvailable"), min, true);
  positive_int_or_percent(ctx, rule::pdb, sp.field("maxUnavailable"), max, true);
  validate_label_selector(ctx, sp.field("selector"), map_at(spec, "selector"));
}

void cross_version_ref(Ctx& ctx, const Path& p, const Node* ref, const Node* parent) {
  for (auto key : {"kind", "name"}) {
    auto v = str_at(ref, key);
    if (!v || v->empty())
      ctx.required(rule::hpa, p.field(key), ref ? ref : parent);
    else if (auto problem = path_segment_name(*v); !problem.empty())
      ctx.invalid(rule::hpa, p.field(key), ref->get(key), problem);
  }
}

void hpa(Ctx& ctx, const Node* spec, std::string_view version) {
  Path root;
  Path sp = root.field("spec");
  if (!spec) {
    ctx.invalid_text(rule::hpa, sp.field("maxReplicas"), nullptr, "0", "must be greater than 0");
    return;
  }
  auto min = int_at(spec, "minReplicas");
  if (min && *min < 1)
    ctx.invalid(rule::hpa, sp.field("minReplicas"), spec->get("minReplicas"), "must be greater than or equal to 1");
  auto max = int_at(spec, "maxReplicas");
  if (!spec->get("maxReplicas") || (max && *max < 1))
    ctx.invalid_text(rule::hpa, sp.field("maxReplicas"), spec->get("maxReplicas") ? spec->get("maxReplicas") : spec,
                     std::to_string(max.value_or(0)), "must be greater than 0");
  else if (max && min && *max < *min)
    ctx.invalid(rule::hpa, sp.field("maxReplicas"), spec->get("maxReplicas"), "must be greater than or equal to `minReplicas`");
  cross_version_ref(ctx, sp.field("scaleTargetRef"), map_at(spec, "scaleTargetRef"), spec);
  if (version == "v1") {
    if (auto t = int_at(spec, "targetCPUUtilizationPercentage"); t && *t < 1)
      ctx.invalid(rule::hpa, sp.field("targetCPUUtilizationPercentage"), spec->get("targetCPUUtilizationPercentage"),
                  "must be greater than 0");
    return;
  }
  const Node* metrics = seq_at(spec, "metrics");
  if (!metrics) return;
  for (std::size_t i = 0; i < metrics->items.size(); ++i) {
    const Node* m = metrics->items[i];
    if (!m->is_mapping()) continue;
    Path ip = sp.field_item("metrics", i);
    auto type = str_at(m, "type");
    static constexpr std::pair<std::string_view, std::string_view> k_sources[] = {
        {"Object", "object"}, {"Pods", "pods"}, {"Resource", "resource"}, {"External", "external"},
        {"ContainerResource", "containerResource"}};
    int populated = 0;
    std::string_view expected;
    for (auto [t, key] : k_sources) {
      if (key == "containerResource") continue;  // an alpha source (1.20), dropped when disabled
      if (map_at(m, key)) ++populated;
      if (type == t) expected = key;
    }
    if (!type || type->empty()) {
      ctx.required(rule::hpa, ip.field("type"), m, "must specify a metric source type");
      continue;
    }
    if (expected.empty()) {
      ctx.unsupported(rule::hpa, ip.field("type"), m->get("type"), {"External", "Object", "Pods", "Resource"});
      continue;
    }
    if (!map_at(m, expected))
      ctx.required(rule::hpa, ip, m, "must populate information for the given metric source");
    else if (populated > 1)
      ctx.forbidden(rule::hpa, ip, m, "must populate the given metric source only");
    if (expected == "resource") {
      const Node* r = map_at(m, "resource");
      auto name = str_at(r, "name");
      if (r && (!name || name->empty())) ctx.required(rule::hpa, ip.field("resource.name"), r, "must specify a resource name");
      const Node* target = map_at(r, "target");
      Path tp = ip.field("resource.target");
      auto ttype = str_at(target, "type");
      if (target && (!ttype || ttype->empty()))
        ctx.required(rule::hpa, tp.field("type"), target, "must specify a metric target type");
      else if (target && *ttype != "Utilization" && *ttype != "Value" && *ttype != "AverageValue")
        ctx.invalid(rule::hpa, tp.field("type"), target->get("type"), "must be either Utilization, Value, or AverageValue");
      else if (ttype == "Utilization") {
        auto u = int_at(target, "averageUtilization");
        if (!u) ctx.required(rule::hpa, tp.field("averageUtilization"), target, "must set averageUtilization when type is Utilization");
        else if (*u <= 0) ctx.invalid(rule::hpa, tp.field("averageUtilization"), target->get("averageUtilization"), "must be greater than 0");
      }
    }
  }
}

}  // namespace

void validate_workload(Ctx& ctx, const Node& object, std::string_view group, std::string_view version,
                       std::string_view kind) {
  const Node* spec = map_at(&object, "spec");
  if (group == "apps") {
    if (kind == "Deployment" || kind == "ReplicaSet") deployment(ctx, spec, kind);
    if (kind == "StatefulSet") statefulset(ctx, spec);
    if (kind == "DaemonSet") daemonset(ctx, spec);
  } else if (group == "batch") {
    if (kind == "Job") job(ctx, object, spec);
    if (kind == "CronJob") cronjob(ctx, object, spec);
  } else if (group == "policy") {
    pdb(ctx, spec);
  } else if (group == "autoscaling") {
    hpa(ctx, spec, version);
  }
}

}  // namespace portcullis::k8svalidate::detail
