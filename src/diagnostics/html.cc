// RenderIndexHtml(), RenderChannelHtml(): the snapshot as plain HTML pages.
//
// No scripts, no external resources, a few lines of CSS. Every value from a
// snapshot passes through HtmlEscape() (via Cell/Esc below) exactly once;
// numbers are formatted here. Times are shown relative to the snapshot's
// time ("3.2 s ago", "in 27 s"), with the UTC time in a tooltip.

#include <cmath>
#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "src/diagnostics/diagnostics.h"

namespace warm {
namespace internal {
namespace {

namespace pb = ::warm::diagnostics::v1;

constexpr char kStyle[] = R"css(
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.4em; margin: 0 0 .2em; }
h2 { font-size: 1.1em; margin: 1.4em 0 .4em; }
table { border-collapse: collapse; margin: .3em 0; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: left;
         vertical-align: top; }
th { background: #f2f2f2; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.meta { color: #666; }
.muted { color: #888; }
.ok { background: #e3f4e3; }
.warn { background: #fff2cc; }
.bad { background: #f8d7d7; }
.detail { max-width: 48em; overflow-wrap: anywhere; }
)css";

std::string Esc(absl::string_view text) { return HtmlEscape(text); }

std::string UtcTime(int64_t unix_ms) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%E3S UTC",
                          absl::FromUnixMillis(unix_ms), absl::UTCTimeZone());
}

// A duration in the unit that reads best: "850 ms", "4.2 s", "12 min".
std::string Duration(int64_t ms) {
  if (ms < 1000) return absl::StrCat(ms, " ms");
  if (ms < 60 * 1000) return absl::StrFormat("%.1f s", ms / 1000.0);
  if (ms < 3600 * 1000) return absl::StrFormat("%.1f min", ms / 60000.0);
  if (ms < 48 * 3600 * 1000LL) return absl::StrFormat("%.1f h", ms / 3.6e6);
  return absl::StrFormat("%.1f d", ms / 8.64e7);
}

// "3.2 s ago" / "in 27 s" relative to `now_ms`, with the UTC time as a
// tooltip; `never` when t is 0.
std::string When(int64_t now_ms, int64_t t_ms,
                 absl::string_view never = "never") {
  if (t_ms == 0)
    return absl::StrCat("<span class=\"muted\">", never, "</span>");
  const std::string relative = t_ms <= now_ms ? Duration(now_ms - t_ms) + " ago"
                                              : "in " + Duration(t_ms - now_ms);
  return absl::StrCat("<span title=\"", UtcTime(t_ms), "\">", relative,
                      "</span>");
}

// A latency in ms ("-" when none).
std::string Latency(double ms) {
  if (ms < 0) return "<span class=\"muted\">-</span>";
  if (ms < 10) return absl::StrFormat("%.2f ms", ms);
  return absl::StrFormat("%.0f ms", ms);
}

std::string Codes(
    const google::protobuf::RepeatedPtrField<pb::CodeCount>& counts) {
  if (counts.empty()) return "<span class=\"muted\">none</span>";
  std::vector<std::string> parts;
  for (const pb::CodeCount& count : counts) {
    parts.push_back(absl::StrCat(Esc(count.code()), " ", count.count()));
  }
  return absl::StrJoin(parts, ", ");
}

uint64_t Failed(
    const google::protobuf::RepeatedPtrField<pb::CodeCount>& counts) {
  uint64_t failed = 0;
  for (const pb::CodeCount& count : counts) {
    if (count.code() != "OK") failed += count.count();
  }
  return failed;
}

const char* StatusClass(absl::string_view status) {
  if (status == "healthy") return "ok";
  if (status == "degraded") return "bad";
  if (status == "unhealthy") return "warn";
  return "";
}

const char* MemberClass(absl::string_view state) {
  if (state == "healthy") return "ok";
  if (state == "unhealthy" || state == "ejected" || state == "suspected") {
    return "bad";
  }
  if (state == "draining") return "warn";
  return "";
}

// <td> with already-safe HTML, and with a class.
std::string Td(absl::string_view html) {
  return absl::StrCat("<td>", html, "</td>");
}
std::string Num(uint64_t n) {
  return absl::StrCat("<td class=\"num\">", n, "</td>");
}
std::string Num(int64_t n) {
  return absl::StrCat("<td class=\"num\">", n, "</td>");
}
std::string Num(int n) { return Num(static_cast<int64_t>(n)); }
std::string TdClass(absl::string_view css, absl::string_view html) {
  if (css.empty()) return Td(html);
  return absl::StrCat("<td class=\"", css, "\">", html, "</td>");
}

std::string Header(absl::string_view title, int refresh_seconds,
                   absl::string_view root) {
  std::string out = absl::StrCat(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<title>",
      Esc(title), "</title>\n");
  if (refresh_seconds > 0) {
    absl::StrAppend(&out, "<meta http-equiv=\"refresh\" content=\"",
                    refresh_seconds, "\">\n");
  }
  absl::StrAppend(&out, "<style>", kStyle, "</style>\n</head>\n<body>\n",
                  "<p class=\"meta\"><a href=\"", root,
                  "\">all channels</a> · <a href=\"", root,
                  "channels.json\">JSON</a> · <a href=\"", root,
                  "metrics\">metrics</a> · auto-refresh: ",
                  refresh_seconds > 0 ? "<a href=\"?\">off</a>"
                                      : "<a href=\"?refresh=2\">every 2 s</a>",
                  "</p>\n");
  return out;
}

constexpr char kFooter[] = "</body>\n</html>\n";

// The addresses of a channel, with TTLs, marks, backoffs and last errors.
std::string AddressTable(const pb::Channel& c, int64_t now) {
  const pb::Resolution& r = c.resolution();
  std::string out;
  absl::StrAppend(&out,
                  "<table>\n<tr><th>address</th><th>TTL</th><th>expires</th>"
                  "<th>mark</th><th>rank</th><th>members</th><th>backoff</th>"
                  "<th>last error</th></tr>\n");
  for (const pb::Address& a : c.addresses()) {
    const std::string backoff =
        a.backoff_until_unix_ms() > 0
            ? absl::StrCat("until ", When(now, a.backoff_until_unix_ms()), " (",
                           a.evictions_in_a_row(), " evictions in a row)")
            : std::string("<span class=\"muted\">none</span>");
    const std::string error =
        a.last_error().empty()
            ? std::string("<span class=\"muted\">none</span>")
            : absl::StrCat(When(now, a.last_error_unix_ms()), ": ",
                           Esc(a.last_error()));
    absl::StrAppend(
        &out, "<tr>", Td(Esc(a.address())),
        r.dns() && !a.stale() ? Td(absl::StrCat(a.ttl_seconds(), " s"))
                              : Td("<span class=\"muted\">-</span>"),
        r.dns() && !a.stale() ? Td(When(now, a.expires_unix_ms()))
                              : Td("<span class=\"muted\">-</span>"),
        a.stale() ? TdClass("warn", "stale: left DNS, members draining")
                  : Td(""),
        a.stale() ? Td("<span class=\"muted\">-</span>") : Num(a.rank()),
        Num(a.members()), Td(backoff),
        absl::StrCat("<td class=\"detail\">", error, "</td>"), "</tr>\n");
  }
  absl::StrAppend(&out, "</table>\n");
  return out;
}

// TLS from files: which files, the certificate in use, reloads. Paths and
// certificate facts only: there is no key material in a snapshot.
std::string TlsSection(const pb::Tls& t, int64_t now) {
  auto file = [](const std::string& path) {
    return path.empty() ? std::string("<span class=\"muted\">none</span>")
                        : Esc(path);
  };
  std::string out = absl::StrCat(
      "<h2>TLS</h2>\n<table>\n<tr><th>CA file</th>", Td(file(t.ca_file())),
      "</tr>\n<tr><th>certificate file</th>", Td(file(t.cert_file())),
      "</tr>\n<tr><th>key file</th>", Td(file(t.key_file())), "</tr>\n");
  if (!t.server_name_override().empty()) {
    absl::StrAppend(&out, "<tr><th>server name</th>",
                    Td(Esc(t.server_name_override())), "</tr>\n");
  }
  if (!t.subject().empty()) {
    const bool expired = t.not_after_unix_ms() < now;
    absl::StrAppend(
        &out, "<tr><th>certificate</th>",
        Td(absl::StrCat(Esc(t.subject()), " <span class=\"muted\">issued by ",
                        Esc(t.issuer()), "</span>")),
        "</tr>\n<tr><th>expires</th>",
        TdClass(expired ? "bad" : "", When(now, t.not_after_unix_ms())),
        "</tr>\n");
  }
  absl::StrAppend(
      &out, "<tr><th>files read</th>",
      Td(absl::StrCat(When(now, t.loaded_unix_ms()), "; checked every ",
                      Duration(t.reload_interval_ms()), "; reloads: ",
                      t.reloads_ok(), " ok, ", t.reloads_failed(), " failed",
                      t.members_on_old_material() > 0
                          ? absl::StrCat("; ", t.members_on_old_material(),
                                         " members still on older files")
                          : std::string())),
      "</tr>\n");
  if (!t.last_error().empty()) {
    absl::StrAppend(&out, "<tr><th>last reload error</th>",
                    absl::StrCat("<td class=\"bad detail\">",
                                 When(now, t.last_error_unix_ms()), ": ",
                                 Esc(t.last_error()), "</td>"),
                    "</tr>\n");
  }
  absl::StrAppend(&out, "</table>\n");
  return out;
}

// The members of a channel: state, health, load, latency, ejection.
std::string MemberTable(const pb::Channel& c, int64_t now) {
  std::string out;
  absl::StrAppend(
      &out,
      "<table>\n<tr><th>id</th><th>address</th><th>state</th>"
      "<th>connection</th><th>health</th><th>pickable</th>"
      "<th>last check</th><th>in flight</th><th>calls</th>"
      "<th>latency EWMA</th><th>recent p50 / p99</th>"
      "<th>lifetime p50 / p99</th><th>age</th><th>ejection</th></tr>\n");
  for (const pb::Member& m : c.members()) {
    const std::string check =
        m.last_check_unix_ms() == 0
            ? std::string("<span class=\"muted\">not yet</span>")
            : absl::StrCat(Esc(m.last_check()), " (",
                           When(now, m.last_check_unix_ms()), ")");
    const std::string recent =
        m.recent_calls() == 0
            ? absl::StrCat("<span class=\"muted\">no calls in ",
                           Duration(m.recent_window_ms()), "</span>")
            : absl::StrCat(
                  Latency(m.recent_p50_ms()), " / ", Latency(m.recent_p99_ms()),
                  " <span class=\"muted\">(", m.recent_calls(), " calls in ",
                  Duration(m.recent_window_ms()), ")</span>");
    std::string ejection = "<span class=\"muted\">never</span>";
    if (m.ejected()) {
      ejection =
          absl::StrCat("ejected until ", When(now, m.ejected_until_unix_ms()),
                       " (ejections: ", m.times_ejected(), ")");
    } else if (m.times_ejected() > 0) {
      ejection = absl::StrCat("ejected before (", m.times_ejected(), ")");
    }
    absl::StrAppend(
        &out, "<tr>", Num(m.id()), Td(Esc(m.address())),
        TdClass(MemberClass(m.state()), Esc(m.state())),
        Td(absl::StrCat(Esc(m.connectivity()),
                        m.old_tls_material()
                            ? " <span class=\"muted\">(older TLS files; "
                              "to be recycled)</span>"
                            : "")),
        Td(Esc(m.health())), Td(m.pickable() ? "yes" : "no"),
        absl::StrCat("<td class=\"detail\">", check, "</td>"),
        Num(m.in_flight()),
        Td(absl::StrCat(m.calls_started(), " started; ",
                        Codes(m.calls_finished()))),
        Td(Latency(m.latency_ewma_ms())), Td(recent),
        Td(absl::StrCat(Latency(m.p50_ms()), " / ", Latency(m.p99_ms()))),
        Td(Duration(now - m.opened_unix_ms())), Td(ejection), "</tr>\n");
  }
  absl::StrAppend(&out,
                  "</table>\n<p class=\"meta\">Percentiles are the "
                  "upper bounds of the latency buckets they fall in; "
                  "latency runs from call creation to status.</p>\n");
  return out;
}

}  // namespace

std::string RenderIndexHtml(const pb::Snapshot& snapshot, int refresh_seconds) {
  const int64_t now = snapshot.time_unix_ms();
  std::string out = Header("warm channels", refresh_seconds, "");
  absl::StrAppend(&out, "<h1>warm channels</h1>\n<p class=\"meta\">",
                  snapshot.channels_size(), " live channel",
                  snapshot.channels_size() == 1 ? "" : "s", " at ",
                  UtcTime(now), "</p>\n");
  if (snapshot.channels().empty()) {
    absl::StrAppend(&out, "<p>No warm channel exists in this process.</p>\n",
                    kFooter);
    return out;
  }
  absl::StrAppend(
      &out,
      "<table>\n<tr><th>channel</th><th>target</th><th>state</th>"
      "<th>status</th><th>healthy / members</th><th>healthy_min</th>"
      "<th>addresses</th><th>in flight</th><th>calls</th>"
      "<th>failed calls</th><th>age</th></tr>\n");
  for (const pb::Channel& c : snapshot.channels()) {
    int addresses = 0;
    for (const pb::Address& address : c.addresses())
      addresses += !address.stale();
    uint64_t calls = 0;
    for (const pb::CodeCount& count : c.counters().calls_finished()) {
      calls += count.count();
    }
    absl::StrAppend(
        &out, "<tr>",
        Td(absl::StrCat("<a href=\"channel/", c.id(), "\">", Esc(c.name()),
                        "</a>")),
        Td(Esc(c.target())), Td(Esc(c.connectivity())),
        TdClass(StatusClass(c.status()), Esc(c.status())),
        Td(absl::StrCat(c.healthy_members(), " / ", c.members_size())),
        Num(c.healthy_min()), Num(addresses), Num(c.counters().in_flight()),
        Num(calls), Num(Failed(c.counters().calls_finished())),
        Td(Duration(now - c.created_unix_ms())), "</tr>\n");
  }
  absl::StrAppend(&out, "</table>\n", kFooter);
  return out;
}

std::string RenderChannelHtml(const pb::Snapshot& snapshot,
                              const pb::Channel& c, int refresh_seconds) {
  const int64_t now = snapshot.time_unix_ms();
  std::string out =
      Header(absl::StrCat("warm channel ", c.name()), refresh_seconds, "../");
  absl::StrAppend(&out, "<h1>warm channel ", Esc(c.name()),
                  "</h1>\n<p class=\"meta\">target ", Esc(c.target()),
                  " · metrics label ", Esc(c.metrics_label()), " · id ", c.id(),
                  " · created ", When(now, c.created_unix_ms()),
                  " · snapshot at ", UtcTime(now), "</p>\n");

  // --- summary ---------------------------------------------------------
  const pb::Counters& k = c.counters();
  absl::StrAppend(
      &out, "<table>\n", "<tr><th>state</th>", Td(Esc(c.connectivity())),
      "</tr>\n", "<tr><th>status</th>",
      TdClass(StatusClass(c.status()),
              absl::StrCat(Esc(c.status()),
                           c.degraded() ? ": unhealthy connected members "
                                          "take calls"
                                        : "")),
      "</tr>\n", "<tr><th>healthy members</th>",
      Td(absl::StrCat(c.healthy_members(), " of ", c.members_size(),
                      " (pool_size ", c.pool_size(), ", healthy_min ",
                      c.healthy_min(), ", critical_min ", c.critical_min(),
                      ")")),
      "</tr>\n", "<tr><th>pool size</th>",
      Td(c.pool_size_min() == c.pool_size_max()
             ? absl::StrCat(c.pool_size(), " (fixed); subsetting ",
                            Esc(c.subsetting()))
             : absl::StrFormat("%d (min %d, max %d; load %.1f calls in "
                               "flight, smoothed; %d grows, %d shrinks); "
                               "subsetting %s",
                               c.pool_size(), c.pool_size_min(),
                               c.pool_size_max(), c.pool_load(),
                               c.counters().pool_grows(),
                               c.counters().pool_shrinks(),
                               Esc(c.subsetting()))),
      "</tr>\n", "<tr><th>health checks</th>",
      Td(c.health_checks()
             ? absl::StrCat("on: ", k.health_checks_serving(), " serving, ",
                            k.health_checks_not_serving(), " not serving, ",
                            k.health_checks_unimplemented(), " unimplemented, ",
                            k.health_checks_failed(), " failed")
             : std::string("off")),
      "</tr>\n", "<tr><th>calls</th>",
      Td(absl::StrCat(k.in_flight(), " in flight (", k.waiting_calls(),
                      " waiting for a pickable member); finished: ",
                      Codes(k.calls_finished()))),
      "</tr>\n", "<tr><th>evictions</th>",
      Td(absl::StrCat(
          k.evictions_unhealthy(), " unhealthy, ", k.evictions_rebalanced(),
          " rebalanced, ", k.evictions_address_removed(), " address removed, ",
          k.evictions_recycled(), " recycled, ", k.evictions_shrunk(),
          " shrunk; ejections: ", k.ejections())),
      "</tr>\n</table>\n");
  if (c.has_tls()) absl::StrAppend(&out, TlsSection(c.tls(), now));

  // --- resolution and addresses --------------------------------------------
  const pb::Resolution& r = c.resolution();
  absl::StrAppend(&out, "<h2>Addresses</h2>\n");
  if (r.dns()) {
    absl::StrAppend(
        &out, "<p>DNS name ", Esc(r.host()), " port ", r.port(), ", asking ",
        r.dns_server().empty() ? std::string("the system's DNS servers")
                               : Esc(r.dns_server()),
        ". Last answer ", When(now, r.last_answer_unix_ms()), "; next refresh ",
        When(now, r.next_refresh_unix_ms(), "not planned"), ".");
    if (!r.last_error().empty()) {
      absl::StrAppend(&out, " <span class=\"bad\">Last error ",
                      When(now, r.last_error_unix_ms()), " (",
                      r.failures_in_a_row(),
                      " in a row): ", Esc(r.last_error()), "</span>");
    }
    absl::StrAppend(&out, "</p>\n");
  } else {
    absl::StrAppend(&out, "<p>A static address list.</p>\n");
  }
  if (c.addresses().empty()) {
    absl::StrAppend(&out, "<p class=\"muted\">No address yet.</p>\n");
  } else {
    absl::StrAppend(&out, AddressTable(c, now));
  }

  // --- members ----------------------------------------------------------
  absl::StrAppend(&out, "<h2>Members</h2>\n",
                  c.members().empty()
                      ? "<p class=\"muted\">No member yet.</p>\n"
                      : MemberTable(c, now));
  // --- events -----------------------------------------------------------
  absl::StrAppend(&out, "<h2>Recent events</h2>\n");
  if (c.events().empty()) {
    absl::StrAppend(&out, "<p class=\"muted\">none</p>\n");
  } else {
    absl::StrAppend(&out,
                    "<table>\n<tr><th>when</th><th>event</th><th>member</th>"
                    "<th>address</th><th>detail</th></tr>\n");
    // Newest first: what just happened is what one looks for.
    for (int i = c.events_size() - 1; i >= 0; --i) {
      const pb::Event& e = c.events(i);
      absl::StrAppend(
          &out, "<tr>", Td(When(now, e.time_unix_ms())),
          TdClass(e.severity() == "warning" ? "warn" : "", Esc(e.kind())),
          e.member_id() == 0 ? Td("") : Num(e.member_id()),
          Td(Esc(e.address())),
          absl::StrCat("<td class=\"detail\">", Esc(e.detail()), "</td>"),
          "</tr>\n");
    }
    absl::StrAppend(&out, "</table>\n");
  }
  absl::StrAppend(&out, kFooter);
  return out;
}

}  // namespace internal
}  // namespace warm
