# encoding: utf-8
# Side-by-side benchmark in a real Logstash 8.9.2 (not a test: it measures),
# run by bench/logstash. The same pipeline three times, over the same events
# and the same memcached (misp-load filled it from misp-sim's generated
# indicators):
#
#   stdin (json_lines) -> FILTER -> stdout (a line per event, to a file)
#
#   none        no filter: what Logstash itself costs (input, codecs, output)
#   seed        the seed's filter blocks, examples/seed/02-filter.conf (one
#               memcached + ruby + mutate block per field)
#   misp_enrich bench/logstash-misp_enrich.conf (the seed's four fields)
#
# The events are bench/pipeline.rb's (its Generator: Sysmon-shaped events
# from the fixtures, Zipf-popular values, BENCH_LS_HITS percent carrying an
# indicator in one of the seed's fields). Logstash reads them from a file on
# stdin, with its default settings (2 workers on this machine, batches of
# 125, jvm.options as shipped: full JIT, 1 GB heap). The rate is events out
# over the time from "Pipeline started" to "Pipeline terminated" in
# Logstash's log (JVM start-up and pipeline compilation left out); the wall
# clock of the whole run (start-up included) is printed beside it. (The node
# stats API answered HTTP 500 with an empty body for whole runs on this
# machine, intermittently, so the rate does not depend on it.) Each pipeline runs
# BENCH_LS_REPS times, interleaved (none, seed, misp_enrich, none, ...), and
# the median is reported. Prints a Markdown table.
#
#   jruby bench/logstash.rb BIN_DIR     (BIN_DIR holds misp-sim and misp-load)
#
# Environment: BENCH_LS_EVENTS (default 200000), BENCH_LS_REPS (default 3),
# BENCH_LS_HITS (percent, default 1), BENCH_LS_VARIANTS (default "none seed
# misp_enrich"), BENCH_LS_KEEP=1 (keep the work directory: logs, events),
# BENCH_ATTRIBUTES (misp-sim
# --generate, default 133000: about 100,000 IDS attributes, as
# bench/pipeline), BENCH_SEED (default 42). Needs
# LOGSTASH_HOME and GEM_PATH as bench/pipeline does (bench/logstash sets them).
require_relative "../tests/logstash/lib/real_logstash"
require_relative "pipeline"

module LogstashBench
  ROOT = File.expand_path("..", __dir__)
  VARIANTS = {
    "none" => [],
    "seed" => [File.join(ROOT, "examples/seed/02-filter.conf")],
    "misp_enrich" => [File.join(ROOT, "bench/logstash-misp_enrich.conf")]
  }.freeze
  LABELS = {
    "none" => "no filter (stdin → stdout only)",
    "seed" => "seed's pipeline (memcached + ruby + mutate per field)",
    "misp_enrich" => "misp_enrich stanza"
  }.freeze
  # One short line per event: cheap to write, and says whether it was enriched.
  OUTPUT = %(output { stdout { codec => line { format => "%{[misp][event_id]}" } } }\n).freeze
  UNENRICHED = "%{[misp][event_id]}".freeze

  module_function

  # The time of the first log line matching pattern (Logstash's log stamps
  # lines to the millisecond: [2026-12-04T22:26:05,939]).
  def log_time(run, pattern)
    line = run.log.find { |l| l =~ pattern } or return nil
    stamp = line[/\A\[(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d),(\d{3})\]/] && $~.captures.map(&:to_i)
    stamp && Time.utc(*stamp[0, 6]) + stamp[6] / 1000.0
  end

  # Runs one pipeline over the events file; returns { rate:, wall:, out:,
  # enriched: }: rate in events/s from "Pipeline started" to "Pipeline
  # terminated" in Logstash's log (JVM start-up and compilation of the
  # pipeline left out, shut-down included), wall the whole bin/logstash run.
  def measure(home, filters, events_file, n, memcached, dir)
    out_file = File.join(dir, "out-#{Time.now.to_f}.txt")
    run = home.start(filters, env: { "MEMCACHED" => memcached, "SEED_DIR" => File.join(ROOT, "examples/seed") },
                              input_file: events_file, output: OUTPUT, output_file: out_file)
    run.finish(3600)
    # bin/logstash's own notices ("Using system java: ...") go to stdout too.
    lines = File.foreach(out_file).reject { |l| RealLogstash::LAUNCHER_NOTICES.any? { |re| l =~ re } }
    enriched = lines.count { |l| l.chomp != UNENRICHED }
    File.delete(out_file)
    started = log_time(run, /Pipeline started/)
    ended = log_time(run, /Pipeline terminated/)
    rate = started && ended && ended > started ? lines.size / (ended - started) : nil
    { rate: rate, wall: run.elapsed, out: lines.size, enriched: enriched }
  end

  def main(bin_dir)
    n = Integer(ENV.fetch("BENCH_LS_EVENTS", "200000"))
    reps = Integer(ENV.fetch("BENCH_LS_REPS", "3"))
    hits = Float(ENV.fetch("BENCH_LS_HITS", "1"))
    work = Dir.mktmpdir("bench-ls-")
    at_exit { ENV["BENCH_LS_KEEP"] ? warn("work directory kept: #{work}") : FileUtils.rm_rf(work) }
    variants = ENV.fetch("BENCH_LS_VARIANTS", VARIANTS.keys.join(" ")).split

    services = RealLogstash::Services.new(work, bin_dir)
    memcached = services.memcached(memory_mb: 1024)
    attributes = Integer(ENV.fetch("BENCH_ATTRIBUTES", "133000"))
    services.misp_load(memcached, services.misp_sim(generate: attributes))
    warn "misp-load: #{attributes} generated attributes from misp-sim -> memcached #{memcached}"

    gen = PipelineBench::Generator.new(PipelineBench::Loaded.new(memcached), Integer(ENV.fetch("BENCH_SEED", "42")))
    events_file = File.join(work, "events.ndjson")
    # In chunks of 10,000 (each with its share of hits), to keep the heap small.
    File.open(events_file, "w") do |f|
      n.step(1, -10_000) { |left| gen.events([left, 10_000].min, hits).each { |e| f.puts(JSON.generate(e)) } }
    end
    expected_hits = (n * hits / 100.0).round
    warn "#{n} events (#{expected_hits} carry an indicator) in #{events_file}"

    warn "building the gem and installing it into a copy of the kit's Logstash"
    home = RealLogstash::Home.install(RealLogstash.build_gem(work), work)

    results = Hash.new { |h, k| h[k] = [] }
    reps.times do |rep|
      variants.each do |name|
        r = measure(home, VARIANTS.fetch(name), events_file, n, memcached, work)
        warn format("run %d/%d %-12s %8s events/s, %5.1f s wall clock, %d out, %d enriched; load %s",
                    rep + 1, reps, name, r[:rate] ? PipelineBench.fmt(r[:rate]) : "?", r[:wall], r[:out], r[:enriched], PipelineBench.loadavg)
        results[name] << r
      end
    end

    rate_of = ->(name) { rs = results[name].map { |r| r[:rate] }.compact; rs.empty? ? nil : PipelineBench.median(rs) }
    seed_rate = rate_of.call("seed")
    puts "| real Logstash 8.9.2, #{n} events, #{hits.to_i == hits ? hits.to_i : hits}% with an indicator | events/s (median of #{reps}) | vs seed | bin/logstash wall clock, start-up included (median) | events out | enriched |"
    puts "|---|---:|---:|---:|---:|---:|"
    variants.each do |name|
      rs = results[name]
      rate = rate_of.call(name)
      outs = rs.map { |r| r[:out] }.uniq
      enriched = rs.map { |r| r[:enriched] }.uniq
      puts format("| %s | %s | %s | %.1f s | %s | %s |", LABELS[name], rate ? PipelineBench.fmt(rate) : "?",
                  name == "none" || !rate || !seed_rate ? "" : format("%.1f×", rate / seed_rate), PipelineBench.median(rs.map { |r| r[:wall] }),
                  outs.map { |o| PipelineBench.fmt(o) }.join(" / "), enriched.map { |o| PipelineBench.fmt(o) }.join(" / "))
    end
    ok = results.values.flatten.all? { |r| r[:out] == n && r[:rate] } &&
         results["seed"].to_a.map { |r| r[:enriched] } == results["misp_enrich"].to_a.map { |r| r[:enriched] }
    warn "every run put out all #{n} events, and seed and misp_enrich enriched as many: #{ok ? 'yes' : 'NO'}"
    exit(ok ? 0 : 1)
  end
end

LogstashBench.main(*ARGV) if __FILE__ == $PROGRAM_NAME
