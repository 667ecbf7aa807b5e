# encoding: utf-8
# The demo's work after the build (scripts/demo), in a real Logstash 8.9.2
# (the real-logstash kit's): builds the plugin gem, installs it with
# `bin/logstash-plugin install --local` into a copy of the kit's Logstash,
# starts its own memcached and the MISP emulator serving
# examples/demo/misp-fixture.json, fills memcached with misp-load and a
# seed-style config.yml, then pipes the sample Sysmon events through
# `bin/logstash` (stdin -> examples/demo/filter.conf -> stdout) and prints
# what came out. The helpers are the end-to-end tests' (tests/logstash/lib).
# Everything it starts is stopped when it exits.
#
#   jruby examples/demo/run.rb BIN_DIR      (BIN_DIR holds misp-sim and misp-load)
require_relative "../../tests/logstash/lib/real_logstash"

root = RealLogstash::ROOT
bin_dir = ARGV[0] or abort "usage: run.rb BIN_DIR (holding misp-sim and misp-load)"
fixture = File.join(root, "examples/demo/misp-fixture.json")
files = Dir[File.join(root, "spec/fixtures/winlogbeat-sysmon/*.ndjson")].sort
work = Dir.mktmpdir("demo-")
at_exit { FileUtils.rm_rf(work) }
step = ->(text) { warn "== #{text}" }

begin
  step.call("building the plugin gem (scripts/vendor, gem build)")
  gem = RealLogstash.build_gem(work)
  step.call("installing it into a copy of the kit's Logstash 8.9.2 (bin/logstash-plugin install --local)")
  home = RealLogstash::Home.install(gem, work, quick_start: true)
  step.call("starting memcached and the MISP emulator")
  services = RealLogstash::Services.new(work, bin_dir)
  memcached = services.memcached
  misp_url = services.misp_sim(fixture)
  step.call("misp-load: MISP (#{misp_url}) -> memcached (#{memcached})")
  $stderr.puts services.misp_load(memcached, misp_url)
  events = files.flat_map { |f| File.readlines(f) }
  step.call("bin/logstash -f (stdin -> examples/demo/filter.conf -> stdout): #{events.size} sample Sysmon events")
  run = home.run([File.join(root, "examples/demo/filter.conf")], events,
                 env: { "MEMCACHED" => memcached, "MISP_URL" => misp_url })
rescue RealLogstash::Failure => e
  abort "demo failed: #{e.message}"
end

out = run.events
hits = out.select { |e| e["misp"] }.sort_by { |e| e["@timestamp"].to_s }
hits.each do |e|
  puts
  puts "#{e['@timestamp']}  #{e.dig('event', 'code') && "sysmon #{e.dig('event', 'code')}"}  #{e.dig('process', 'name')}"
  e.dig("misp", "matches").each do |m|
    via = m["match"] == "exact" ? "" : " (#{m['match']} match on #{m['indicator']})"
    puts "  #{m['field']} = #{m['value']}#{via}"
    puts "    MISP event #{m['event_id']} #{m['type']}: #{m['info']} [#{m['threat_level']}, TLP:#{m['tlp']}]"
    puts "    #{m['url']}"
  end
end
failures = out.count { |e| Array(e["tags"]).include?("_misp_enrich_failure") }
logstash = run.log.join[/"logstash\.version"=>"([^"]+)"/, 1]
native = run.log.join[/misp_enrich ready \{:native=>"([^"]+)"/, 1]
puts
puts "Logstash #{logstash}, misp_enrich #{native} (installed with bin/logstash-plugin)"
puts "#{events.size} events in, #{out.size} out, #{hits.size} enriched, #{failures} tagged as failures " \
     "(bin/logstash ran #{run.elapsed.round(1)} s, start-up included)"
puts "one enriched event as Elasticsearch would receive it (misp and threat fields):"
sample = hits.first
puts JSON.pretty_generate("misp" => sample["misp"], "threat" => sample["threat"]) if sample
exit(out.size == events.size && failures.zero? && !hits.empty? ? 0 : 1)
