# encoding: utf-8
# What writing one match costs on the real logstash-core Event (not a test):
# MispEnrich::Writer#write of one IP match with event metadata, with ECS v8
# and with ECS disabled, then Filters::Base#filter_matched, then one
# JSON.parse of the event metadata (Engine#decode parses it once per MISP
# event per batch). Needs no memcached. Prints µs per event, 5 passes each
# (the first ones include JIT warm-up).
#
#   LOGSTASH_HOME=$(scripts/logstash-home) \
#   GEM_PATH="$LOGSTASH_HOME/vendor/bundle/jruby/2.6.0:/usr/share/rubygems-integration/all" \
#   jruby -Xcompile.invokedynamic=true bench/writer_profile.rb
$LOAD_PATH.unshift(File.expand_path("../spec/support", __dir__))
require "logstash_core"
LogStash::Logging::Logger.configure_logging("warn")
require "logstash/filters/misp_enrich"

module WriterProfile
  module_function

  N = MispEnrich::Native
  FIELD = MispEnrich::FieldMap::Field.new("[destination][ip]", "destination.ip", "ip")
  MATCH = N::Match.new("ip", :exact, "203.0.113.7", [N::Entry.new("42", "ip-dst")])
  META = { "42" => { "id" => "42", "info" => "Emotet wave", "threat_level" => "high", "tags" => ["tlp:amber", "x"],
                     "date" => "2024-01-01", "org" => "CIRCL", "uuid" => "5f1c0d2e-0000-4000-8000-000000000042" } }.freeze

  def now
    Process.clock_gettime(Process::CLOCK_MONOTONIC)
  end

  def events(n)
    Array.new(n) { LogStash::Event.new("destination" => { "ip" => "203.0.113.7" }) }
  end

  def time(label, n)
    t = now
    yield
    puts format("%-32s %.2f µs per event", label, (now - t) / n * 1e6)
  end

  def run(n = 20_000)
    %i[v8 disabled].each do |ecs|
      writer = MispEnrich::Writer.new("misp", "https://misp.example.org", ecs)
      5.times do
        evs = events(n)
        time("write, ecs #{ecs}", n) { evs.each { |e| writer.write(e, [[0, FIELD, "203.0.113.7", MATCH]], META) } }
      end
    end
    filter = LogStash::Filters::MispEnrich.new("memcached" => ["127.0.0.1:1"], "fields" => ["[destination][ip]"])
    filter.register
    json = JSON.generate(META["42"])
    5.times do
      evs = events(n)
      time("filter_matched", n) { evs.each { |e| filter.send(:filter_matched, e) } }
      time("JSON.parse of event metadata", n) { n.times { JSON.parse(json) } }
    end
    filter.close
    puts "load average: #{File.read('/proc/loadavg').split.first(3).join(' ')}"
  end
end

WriterProfile.run if __FILE__ == $PROGRAM_NAME
