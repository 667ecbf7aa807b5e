# encoding: utf-8
# The demo's last step: pushes the sample Sysmon events through the real
# misp_enrich filter (its Ruby code and native library) under JRuby, in
# Logstash-sized batches, and prints what it added. Logstash itself cannot be
# installed here, so the filter runs under the specs' stand-in for the
# Logstash plugin API (spec/support), which only the demo and specs use.
#
#   jruby examples/demo/run.rb MEMCACHED_ADDR MISP_URL EVENTS.ndjson...
root = File.expand_path("../..", __dir__)
$LOAD_PATH.unshift(File.join(root, "logstash-filter-misp/lib"), File.join(root, "spec/support"))
require "logstash_stand_in"
require "logstash/filters/misp_enrich"
require "json"

memcached, misp_url, *files = ARGV
abort "usage: run.rb MEMCACHED_ADDR MISP_URL EVENTS.ndjson..." if files.empty?

config = {
  "memcached" => [memcached],
  "misp_url" => misp_url,
  "fields" => ["[destination][ip]", "[source][ip]", "[dns][resolved_ip]", "[dns][question][name]",
               "[process][hash][sha256]", "[process][hash][sha1]", "[file][pe][imphash]", "[dll][pe][imphash]"],
  "tag_on_match" => ["misp_hit"]
}
puts "misp_enrich #{MispEnrich::Native.version}, fields: #{config['fields'].join(' ')}"
filter = LogStash::Filters::MispEnrich.new(config)
events = files.flat_map { |f| File.readlines(f).map { |l| LogStash::Event.new(JSON.parse(l)) } }
started = Time.now
out = LogStashStandIn.run_batch(filter, events, :batch_size => 125)
elapsed = Time.now - started

hits = out.select { |e| e.get("misp") }
hits.each do |e|
  puts
  puts "#{e.get('@timestamp')}  #{e.get('[event][code]') && "sysmon #{e.get('[event][code]')}"}  #{e.get('[process][name]')}"
  e.get("[misp][matches]").each do |m|
    via = m["match"] == "exact" ? "" : " (#{m['match']} match on #{m['indicator']})"
    puts "  #{m['field']} = #{m['value']}#{via}"
    puts "    MISP event #{m['event_id']} #{m['type']}: #{m['info']} [#{m['threat_level']}, TLP:#{m['tlp']}]"
    puts "    #{m['url']}"
  end
end
failures = out.count { |e| Array(e.get("tags")).include?("_misp_enrich_failure") }
stats = filter.instance_variable_get(:@engine).stats
filter.close
puts
puts "#{out.size} events in, #{out.size} out, #{hits.size} enriched, #{failures} tagged as failures " \
     "(#{(elapsed * 1000).round} ms); engine: #{stats['lookups']} lookups, #{stats['matches']} matches"
puts "one enriched event as Elasticsearch would receive it (misp and threat fields):"
sample = hits.first
puts JSON.pretty_generate("misp" => sample.get("misp"), "threat" => sample.get("threat")) if sample
exit(out.size == events.size && failures.zero? && !hits.empty? ? 0 : 1)
