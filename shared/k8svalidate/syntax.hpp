#pragma once
// The string grammars of the Kubernetes apiserver's validation (apimachinery's
// util/validation, resource.ParseQuantity, robfig/cron's standard parser as CronJob uses it in
// 1.20), written from their definitions. Each returns an empty string when `s` is valid, else
// the apiserver's explanation of what a valid value looks like.
#include <optional>
#include <string>
#include <string_view>

namespace portcullis::k8svalidate {

// [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63 characters.
std::string dns1123_label(std::string_view s);
// [a-z]([-a-z0-9]*[a-z0-9])?, at most 63 characters.
std::string dns1035_label(std::string_view s);
// dot-separated DNS-1123 labels (of any length each), at most 253 characters.
std::string dns1123_subdomain(std::string_view s);
// [prefix/]name: prefix a DNS-1123 subdomain, name at most 63 of [-A-Za-z0-9_.] starting and
// ending with an alphanumeric character.
std::string qualified_name(std::string_view s);
// Empty, or at most 63 of [-A-Za-z0-9_.] starting and ending with an alphanumeric character.
std::string label_value(std::string_view s);
// An IANA service name: at most 15 of [-a-z0-9], at least one letter, no "--", no '-' at
// either end.
std::string port_name(std::string_view s);
// [-._a-zA-Z][-._a-zA-Z0-9]*
std::string env_var_name(std::string_view s);
// [-._a-zA-Z0-9]+, at most 253 characters, not "." or "..", not starting with "..".
std::string config_map_key(std::string_view s);
// Not "." or "..", no '/' or '%' (names of RBAC objects, path segments).
std::string path_segment_name(std::string_view s);
// A wildcard DNS-1123 subdomain: "*." followed by a subdomain.
std::string wildcard_dns1123_subdomain(std::string_view s);
// An IPv4 or IPv6 address as Go's net.ParseIP reads it.
bool is_ip(std::string_view s);
// An address/prefix as Go's net.ParseCIDR reads it.
bool is_cidr(std::string_view s);

// A parsed resource.Quantity: the value as a double (enough to compare requests and limits)
// and whether it is a whole number.
struct Quantity {
  double value = 0;
  bool integral = true;
};
// resource.ParseQuantity's grammar: <signedNumber><suffix>, number digits with at most one
// '.', suffix one of the binary (Ki..Ei), decimal (n u m "" k M G T P E) or exponent (e/E with
// a signed integer) forms. nullopt when `s` is not a quantity.
std::optional<Quantity> parse_quantity(std::string_view s);

// robfig/cron v1 ParseStandard: five fields (minute hour day-of-month month day-of-week) with
// *, ?, lists, ranges, steps and month/day names, or a descriptor (@yearly, @every 1h, ...).
// Empty when valid, else why not.
std::string cron_schedule(std::string_view s);

// Go's time.ParseDuration, for "@every": "1h30m", "90s", "1.5h".
bool is_go_duration(std::string_view s);

}  // namespace portcullis::k8svalidate
