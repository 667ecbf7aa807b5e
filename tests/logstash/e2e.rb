# encoding: utf-8
# Why this file exists: the plugin's end-to-end tests in a real Logstash
# (8.9.2, built by the real-logstash kit), run by tests/logstash/run as part
# of scripts/test. It builds the gem from this work tree, installs it with
# `bin/logstash-plugin install --local` into a copy of the kit's Logstash,
# fills a real memcached with misp-load from misp-sim (serving
# examples/demo/misp-fixture.json), runs real pipelines (stdin json_lines ->
# filters -> stdout json_lines) and checks what Logstash printed.
#
#   jruby tests/logstash/e2e.rb BIN_DIR     (BIN_DIR holds misp-sim, misp-load)
#   MISP_E2E_KEEP=1 keeps the work directory; MISP_E2E_GEM=path skips the gem build.
#
# Logstash starts take most of the time (about 10 s each on 2 cores), so the
# cases share one installed home and as few runs as they can.
require_relative "lib/real_logstash"
require_relative "lib/expected_matches"
require_relative "lib/checks"

ROOT = RealLogstash::ROOT
PIPELINES = File.join(__dir__, "pipelines")
FIXTURE = File.join(ROOT, "examples/demo/misp-fixture.json")
SEED = File.join(ROOT, "examples/seed")
# The fields of pipelines/enrich.conf, with the namespace each is inferred to be.
ENRICH_FIELDS = {
  "[destination][ip]" => "ip", "[source][ip]" => "ip", "[dns][resolved_ip]" => "ip",
  "[dns][question][name]" => "domain", "[process][hash][sha256]" => "sha256",
  "[process][hash][sha1]" => "sha1", "[file][pe][imphash]" => "imphash", "[dll][pe][imphash]" => "imphash"
}.freeze
MISP_URL = "https://misp.example.org".freeze

def pipeline(name)
  File.join(PIPELINES, name)
end

def dig(event, reference)
  reference.scan(/\[([^\]]+)\]/).flatten.reduce(event) { |h, k| h.is_a?(Hash) ? h[k] : nil }
end

# The 145 sample Sysmon events, each with [e2e][seq] so that the output can
# be matched to the input whatever order the workers emit it in.
def sysmon_events
  Dir[File.join(ROOT, "spec/fixtures/winlogbeat-sysmon/*.ndjson")].sort
    .flat_map { |f| File.readlines(f).map { |l| JSON.parse(l) } }
    .each_with_index.map { |e, i| e.merge("e2e" => { "seq" => i }) }
end

# "[dns][resolved_ip]" -> "dns.resolved_ip", as [misp][matches] names fields.
def dotted(reference)
  reference.scan(/\[([^\]]+)\]/).flatten.join(".")
end

# [field, event id, type] of each entry the plugin wrote on an event.
def written_matches(event)
  Array(dig(event, "[misp][matches]")).map { |m| [m["field"], m["event_id"], m["type"]] }
end

def tags(event)
  Array(event["tags"])
end

bin_dir = ARGV[0] or abort "usage: e2e.rb BIN_DIR (holding misp-sim and misp-load)"
work = Dir.mktmpdir("ls-e2e-")
at_exit { ENV["MISP_E2E_KEEP"] ? warn("work directory kept: #{work}") : FileUtils.rm_rf(work) }
t = Checks.new

# ---- set-up: gem, Logstash home, memcached filled by misp-load from misp-sim
home = nil
services = nil
memcached = nil
misp_url = nil
expected = ExpectedMatches.new(FIXTURE)
events = sysmon_events
t.setup("build the gem, install it into a copy of the kit's Logstash, fill memcached") do
  gem = ENV["MISP_E2E_GEM"] || RealLogstash.build_gem(work)
  home = RealLogstash::Home.install(gem, work, quick_start: true)
  services = RealLogstash::Services.new(work, bin_dir)
  memcached = services.memcached
  misp_url = services.misp_sim(FIXTURE)
  services.misp_load(memcached, misp_url)
end

t.test "bin/logstash-plugin list shows the installed plugin and its version" do
  out = home.plugin!("list", "--verbose")
  t.check(out.include?("logstash-filter-misp_enrich (#{RealLogstash.version})"),
          "logstash-filter-misp_enrich (#{RealLogstash.version}) is listed", out)
end

t.test "bin/logstash -t accepts a valid misp_enrich pipeline" do
  status, out = home.test_config([pipeline("enrich.conf")], env: { "MEMCACHED" => memcached })
  t.check(status.success?, "exit status 0", out)
  t.check(out.include?("Configuration OK"), "prints Configuration OK", out)
end

t.test "bin/logstash -t rejects an invalid misp_enrich setting, naming it" do
  status, out = home.test_config([pipeline("invalid.conf")])
  t.check(!status.success?, "exit status is not 0", out)
  t.check(out =~ /Invalid setting for misp_enrich filter plugin/ && out.include?("domain_match"),
          "the error names misp_enrich and domain_match", out)
end

# Checks one run of the 145 events through pipelines/enrich.conf.
def check_enrichment(t, run, events, expected, ecs)
  out = run.events
  t.check(run.stray_output.empty?, "stdout holds only events", run.stray_output.first(5).join)
  seqs = out.map { |e| dig(e, "[e2e][seq]") }
  t.check(seqs.sort == (0...events.size).to_a, "each of the #{events.size} events came out once",
          "got #{out.size} events; missing #{((0...events.size).to_a - seqs).first(10)}, " \
          "repeated #{seqs.select { |s| seqs.count(s) > 1 }.uniq.first(10)}")
  by_seq = Hash[out.map { |e| [dig(e, "[e2e][seq]"), e] }]
  want = Hash[events.map { |e| [dig(e, "[e2e][seq]"), expected.for(e, ENRICH_FIELDS).map { |f, *m| [dotted(f), *m] }.sort] }]
  hits = want.reject { |_, m| m.empty? }.keys.sort
  t.check(hits.size == 20, "the fixture says 20 of the 145 events match an IDS indicator", "expected #{hits.size}")
  enriched = by_seq.select { |_, e| e.key?("misp") }.keys.sort
  t.check(enriched == hits, "exactly those events are enriched",
          "missed #{hits - enriched}, not expected #{enriched - hits}")
  wrong = hits.select { |s| by_seq[s] && written_matches(by_seq[s]).sort != want[s] }
  t.check(wrong.empty?, "each enriched event has the expected [field, MISP event, type] matches",
          wrong.first(3).map { |s| "event #{s}: want #{want[s]}, got #{written_matches(by_seq[s]).sort}" }.join("\n"))
  inconsistent = enriched.reject do |s|
    e = by_seq[s]
    m = Array(dig(e, "[misp][matches]"))
    dig(e, "[misp][event_id]") == m.map { |x| x["event_id"] } && dig(e, "[misp][type]") == m.map { |x| x["type"] } &&
      dig(e, "[misp][url]") == m.map { |x| "#{MISP_URL}/events/view/#{x['event_id']}" }
  end
  t.check(inconsistent.empty?, "[misp][event_id], [misp][type] and [misp][url] follow [misp][matches]",
          inconsistent.first(2).map { |s| JSON.generate(by_seq[s]["misp"]) }.join("\n"))
  # add_tag / add_field / tag_on_match: on enriched events only.
  bad_tags = by_seq.reject do |s, e|
    hit = enriched.include?(s)
    tags(e).include?("e2e_matched") == hit && tags(e).include?("misp_hit") == hit &&
      (hit ? dig(e, "[e2e][matched_ids]") == dig(e, "[misp][event_id]").join(",") : dig(e, "[e2e][matched_ids]").nil?)
  end
  t.check(bad_tags.empty?, "add_tag, add_field and tag_on_match on enriched events only (add_field sees [misp])",
          bad_tags.first(2).map { |s, e| "event #{s}: tags #{tags(e)}, e2e #{e['e2e']}" }.join("\n"))
  failed = by_seq.select { |_, e| tags(e).include?("_misp_enrich_failure") }.keys
  t.check(failed.empty?, "no event tagged _misp_enrich_failure", "tagged: #{failed.first(10)}")
  with_threat = by_seq.select { |_, e| dig(e, "[threat][enrichments]") }.keys.sort
  if ecs == :v8
    t.check(with_threat == enriched, "threat.enrichments on the enriched events only",
            "with: #{with_threat}, enriched: #{enriched}")
    bad = enriched.reject do |s|
      e = by_seq[s]
      list = Array(dig(e, "[threat][enrichments]"))
      list.map { |x| [x.dig("matched", "field"), x.dig("misp", "event_id"), x.dig("misp", "type")] } == written_matches(e) &&
        list.all? { |x| x.dig("indicator", "provider") == "MISP" && x.dig("matched", "atomic").is_a?(String) }
    end
    t.check(bad.empty?, "one ECS enrichment per match (matched.field, provider MISP, matched.atomic)",
            bad.first(2).map { |s| JSON.generate(by_seq[s]["threat"]) }.join("\n"))
  else
    t.check(with_threat.empty?, "no threat.enrichments with ecs_compatibility disabled", "on events #{with_threat.first(10)}")
  end
  problems = run.misp_problems
  t.check(problems.empty?, "no ERROR or WARN line from the plugin in Logstash's log", problems.first(5).join)
end

t.test "145 Sysmon events, 2 workers, pipeline.ordered false, pipeline.ecs_compatibility v8" do
  run = home.run([pipeline("enrich.conf")], events, env: { "MEMCACHED" => memcached },
                 settings: %w[--pipeline.workers 2 --pipeline.ordered false --pipeline.ecs_compatibility v8
                              --pipeline.batch.size 16])
  check_enrichment(t, run, events, expected, :v8)
end

t.test "the same with pipeline.ecs_compatibility disabled" do
  run = home.run([pipeline("enrich.conf")], events, env: { "MEMCACHED" => memcached },
                 settings: %w[--pipeline.workers 2 --pipeline.ordered false --pipeline.ecs_compatibility disabled
                              --pipeline.batch.size 16])
  check_enrichment(t, run, events, expected, :disabled)
end

t.test "the seed's pipeline (examples/seed) and misp_enrich agree on [misp][event_id] and [misp][type]" do
  run = home.run([File.join(SEED, "02-filter.conf"), pipeline("seed-set-aside.conf"), pipeline("seed-fields.conf")],
                 events, env: { "MEMCACHED" => memcached, "SEED_DIR" => SEED })
  out = run.events
  t.check(out.size == events.size, "#{events.size} events out", "got #{out.size}")
  seed_hits = 0
  array_only = 0
  disagree = []
  inconsistent = []
  out.each do |e|
    seed = e["seed"] || {}
    ours = written_matches(e)
    inconsistent << e unless dig(e, "[misp][event_id]").to_a == ours.map { |m| m[1] } &&
                             dig(e, "[misp][type]").to_a == ours.map { |m| m[2] }
    # The one documented difference: the seed looks an array up as one
    # string joined with commas (a key that never exists when it has
    # several elements); misp_enrich looks each element up.
    joined = Array(dig(e, "[dns][resolved_ip]")).size > 1
    comparable = joined ? ours.reject { |m| m[0] == "dns.resolved_ip" } : ours
    array_only += 1 if comparable.empty? && !ours.empty?
    seed_pairs = Array(seed["event_id"]).zip(Array(seed["type"]))
    seed_hits += 1 unless seed_pairs.empty?
    disagree << [dig(e, "[e2e][seq]"), seed_pairs, comparable] if seed_pairs != comparable.map { |m| m[1..2] }
  end
  t.check(inconsistent.empty?, "misp_enrich's [misp][event_id]/[misp][type] follow its [misp][matches]",
          inconsistent.first(2).map { |e| JSON.generate(e["misp"]) }.join("\n"))
  t.check(disagree.empty?, "event by event, same [misp][event_id] and [misp][type] in the same order",
          disagree.first(5).map { |s, a, b| "event #{s}: seed #{a}, misp_enrich #{b}" }.join("\n"))
  # From the fixture: 6 events with destination.ip 40.77.226.250, the
  # registered domains atwola.com and turn.com, one single resolved IP.
  t.check(seed_hits == 9, "the seed's pipeline enriched 9 events (not a comparison of nothing)", "it enriched #{seed_hits}")
  t.check(array_only > 0, "#{array_only} events with several resolved IPs are enriched by misp_enrich only", "none")
  leftovers = out.count { |e| e.key?("enrich") }
  t.check(leftovers.zero?, "the seed's blocks removed [enrich]", "#{leftovers} events kept it")
  problems = run.misp_problems
  t.check(problems.empty?, "no ERROR or WARN line from the plugin in Logstash's log", problems.first(5).join)
end

t.test "memcached down when the pipeline starts: it starts, tags, then enriches once memcached is back" do
  down = "127.0.0.1:#{RealLogstash.free_port}"
  hit = events.find { |e| dig(e, "[destination][ip]") == "40.77.226.250" }           # MISP event 2
  in_range = events.find { |e| Array(dig(e, "[dns][resolved_ip]")).include?("151.101.1.194") } # 151.101.0.0/16, event 3
  plain = { "message" => "no field to look up" }
  seq = 1000
  next_event = lambda { |e| seq += 1; [seq, e.merge("e2e" => { "seq" => seq })] }
  run = home.start([pipeline("memcached-down.conf")], env: { "MEMCACHED" => down })
  begin
    run.wait_for_log(/Pipeline started/)
    t.check(true, "the pipeline started with memcached down")
    s_hit, e_hit = next_event.call(hit)
    s_plain, e_plain = next_event.call(plain)
    run.send([e_hit, e_plain])
    out = run.wait_for(60, "the two events sent while memcached is down") { |evs| evs.size >= 2 && evs }
    by_seq = Hash[out.map { |e| [dig(e, "[e2e][seq]"), e] }]
    t.check(tags(by_seq[s_hit]).include?("_misp_enrich_failure") && !by_seq[s_hit].key?("misp"),
            "an event with values to look up comes out un-enriched, tagged _misp_enrich_failure", JSON.generate(by_seq[s_hit]))
    t.check(!tags(by_seq[s_plain]).include?("_misp_enrich_failure"),
            "an event with nothing to look up is not tagged", JSON.generate(by_seq[s_plain]))
    # memcached comes back and misp-load fills it; no event is sent in
    # between, so no "not an indicator" answer can be cached before the load.
    services.memcached(Integer(down.split(":").last))
    services.misp_load(down, misp_url)
    # Until both are enriched: an exact IP, and an IP in a CIDR range (the
    # range index, which the plugin could not read at start, is read again
    # every range_refresh_interval).
    back = {}
    deadline = Time.now + 60
    until back.size == 2 || Time.now > deadline
      sent = { exact: next_event.call(hit), range: next_event.call(in_range) }
      run.send(sent.values.map(&:last))
      sent.each do |kind, (s, _)|
        got = run.wait_for(30, "event #{s}") { |evs| evs.find { |x| dig(x, "[e2e][seq]") == s } }
        back[kind] ||= s if got.key?("misp")
      end
      sleep 0.5 unless back.size == 2
    end
    t.check(back[:exact], "enrichment resumes by itself once memcached is back (within 60 s)")
    t.check(back[:range], "CIDR range matches resume too (within 60 s)")
    if back.size == 2
      later = (1..5).flat_map { [next_event.call(hit), next_event.call(in_range)] }
      run.send(later.map(&:last))
      seqs = later.map(&:first)
      got = run.wait_for(60, "10 more events") { |evs| x = evs.select { |e| seqs.include?(dig(e, "[e2e][seq]")) }; x.size == 10 && x }
      ok = got.all? { |e| Array(dig(e, "[misp][event_id]")).include?(dig(e, "[destination][ip]") ? "2" : "3") && !tags(e).include?("_misp_enrich_failure") }
      t.check(ok, "the events after them are all enriched and not tagged", got.map { |e| JSON.generate(e["misp"]) + " #{tags(e)}" }.join("\n"))
    end
    run.finish(120)
  ensure
    run.stop unless run.exited?
  end
end

t.test "bin/logstash-plugin remove removes it" do
  home.plugin!("remove", "logstash-filter-misp_enrich")
  out = home.plugin!("list")
  t.check(!out.include?("logstash-filter-misp_enrich"), "no longer listed", out)
  t.check(!File.read(File.join(home.path, "Gemfile")).include?("misp_enrich"), "no longer in Logstash's Gemfile")
end

exit t.summary
